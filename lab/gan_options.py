"""GAN options the course's default does not use, kept for the lab's measurements.

:class:`LabGAN` is the course's :class:`helpers.gan.ConditionalGAN` plus, through its two hooks
(``discriminator_extra_loss`` and ``augment``):

- **R1** (``r1_gamma``): a penalty on the squared gradient of D at real images (Mescheder et al. 2018);
- **LeCam** (``lecam_weight``): keeps D's outputs near moving averages of the other side's (Tseng et al. 2021);
- **ADA** (``ada_target``): an augmentation probability that adapts to D's overconfidence on reals
  (Karras et al. 2020), starting from the config's ``augment_p``;
- the **cutout** augmentation op (``GANConfig(augment="translation,cutout")`` once this module is imported).

With every option off a ``LabGAN`` trains exactly as the course's GAN. Lab scripts take these
options in ``--set`` beside the ``GANConfig`` fields (:func:`split_settings`) and train with
:func:`train_lab`, which keeps them in ``RUN_DIR/lab_options.json``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import tensorflow as tf

from helpers.config import GANConfig
from helpers.gan import AUGMENTATIONS, ConditionalGAN, build_gan, diff_augment
from helpers.training import CheckpointError, latest_checkpoint, train


@dataclasses.dataclass
class LabOptions:
    """The lab-only settings of a run (saved as ``RUN_DIR/lab_options.json``)."""

    r1_gamma: float = 0.0      # weight of the R1 penalty on real images (0: off)
    lecam_weight: float = 0.0  # weight of the LeCam regulariser (0: off)
    ada_target: float = 0.0    # ADA's target for E[sign(D(real))] (0: off, the fixed augment_p)

    def __post_init__(self):
        if not 0 <= self.ada_target < 1:
            raise ValueError(f"ada_target={self.ada_target}: use 0 (off) or a target in (0, 1), e.g. 0.6")


def cutout(images, seed):
    """Set a square about a quarter of the image's side wide, at a random centre, to 0 (mid-grey) in each image."""
    size = images.shape[1]
    half = size // 8
    centre = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed, 0, size, dtype=tf.int32)
    grid = tf.range(size)
    inside_rows = tf.abs(grid[None, :] - centre[:, :1]) < half
    inside_cols = tf.abs(grid[None, :] - centre[:, 1:]) < half
    mask = tf.cast(tf.logical_and(inside_rows[:, :, None], inside_cols[:, None, :]), images.dtype)[..., None]
    return images * (1 - mask)


AUGMENTATIONS.setdefault("cutout", cutout)  # a policy may name it once the lab is imported


class AdaptiveAugmenter(keras.layers.Layer):
    """ADA's probability ``p`` and its running sums, saved with checkpoints.

    Every 4 steps ``p`` moves by ``sign(E[sign(D(real))] - target) * n / 20000`` (``n``: the real
    images seen since the last move), clipped to [0, 0.8].
    """

    def __init__(self, p: float, target: float, **kwargs):
        super().__init__(**kwargs)
        self.target = target
        self.p = self.add_weight(shape=(), initializer=keras.initializers.Constant(p), trainable=False, name="p",
                                 aggregation="only_first_replica")
        self.signs = self.add_weight(shape=(), initializer="zeros", trainable=False, name="signs",
                                     aggregation="only_first_replica")
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count",
                                     aggregation="only_first_replica")
        self.built = True

    def accumulate(self, real_logits):
        """Add a batch of D's outputs on real images to the running sums."""
        self.signs.assign_add(tf.reduce_sum(tf.sign(tf.cast(real_logits, tf.float32))))
        self.count.assign_add(tf.cast(tf.shape(real_logits)[0], tf.float32))

    def update(self, steps_done):
        """Move ``p`` when ``steps_done`` is a multiple of 4, and then restart the sums."""
        # arithmetic rather than tf.cond: variable updates inside control flow cannot sync across replicas
        due = tf.cast(tf.equal(tf.math.floormod(steps_done, 4), 0), tf.float32)
        delta = tf.sign(self.signs / self.count - self.target) * self.count / 20_000.0
        self.p.assign(tf.clip_by_value(self.p + due * delta, 0.0, 0.8))
        self.signs.assign(self.signs * (1.0 - due))
        self.count.assign(self.count * (1.0 - due))


class LabGAN(ConditionalGAN):
    """The course's GAN with the lab's options (:class:`LabOptions`) added through its hooks."""

    def __init__(self, generator, discriminator, config: GANConfig, options: LabOptions, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.options = options
        self.augmenter = AdaptiveAugmenter(config.augment_p, options.ada_target)
        # LeCam: moving averages of D's outputs on real and generated images
        self.ema_real_logit = keras.Variable(0.0, trainable=False, name="ema_real_logit",
                                             aggregation="only_first_replica")
        self.ema_fake_logit = keras.Variable(0.0, trainable=False, name="ema_fake_logit",
                                             aggregation="only_first_replica")
        for name in ("r1", "lecam", "augment_p"):
            self.trackers[name] = keras.metrics.Mean(name=name)

    def augment(self, images, seed):
        """DiffAugment at ADA's current probability (the config's fixed one without ADA)."""
        p = tf.convert_to_tensor(self.augmenter.p) if self.options.ada_target else self.config.augment_p
        return diff_augment(images, seed, p, self.config.augment)

    def discriminator_extra_loss(self, real_aug, real_logits, fake_logits, labels):
        """R1 and LeCam terms (each only when on); also collects ADA's statistics."""
        o = self.options
        extra = tf.constant(0.0)
        if o.r1_gamma > 0:  # a second pass of D on the reals, under a tape that watches them
            with tf.GradientTape() as tape:
                tape.watch(real_aug)
                score = tf.reduce_sum(self.discriminate(real_aug, labels)[0])  # summed inside the tape
            grads = tf.cast(tape.gradient(score, real_aug), tf.float32)
            r1 = tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
            self.trackers["r1"].update_state(r1)
            extra += 0.5 * o.r1_gamma * r1
        if o.lecam_weight > 0:
            real32, fake32 = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
            lecam = (tf.reduce_mean(tf.square(tf.nn.relu(real32 - self.ema_fake_logit)))
                     + tf.reduce_mean(tf.square(tf.nn.relu(self.ema_real_logit - fake32))))
            for ema, logits in ((self.ema_real_logit, real32), (self.ema_fake_logit, fake32)):
                ema.assign(0.99 * ema + 0.01 * tf.reduce_mean(logits))
            self.trackers["lecam"].update_state(lecam)
            extra += o.lecam_weight * lecam
        if o.ada_target:
            self.augmenter.accumulate(real_logits)
        return extra

    def train_step(self, data):
        """The course's step, then ADA's update (after the generator's step, which used the same ``p``)."""
        logs = super().train_step(data)
        if self.options.ada_target:
            self.augmenter.update(self.step)
        self.trackers["augment_p"].update_state(self.augmenter.p)
        return {**logs, "augment_p": self.trackers["augment_p"].result()}


def build_lab_gan(config: GANConfig, options: LabOptions) -> LabGAN:
    """:func:`helpers.gan.build_gan`'s networks (same seed, same weights) in a :class:`LabGAN` (not compiled)."""
    keras.utils.set_random_seed(config.seed)
    course_gan = build_gan(config)
    return LabGAN(course_gan.generator, course_gan.discriminator, config, options)


def split_settings(settings: dict) -> tuple[dict, LabOptions]:
    """Split ``--set`` settings into ``GANConfig`` keyword arguments and :class:`LabOptions`."""
    lab_names = {f.name for f in dataclasses.fields(LabOptions)}
    options = LabOptions(**{k: v for k, v in settings.items() if k in lab_names})
    return {k: v for k, v in settings.items() if k not in lab_names}, options


def train_lab(data, run_dir, config: GANConfig, options: LabOptions, **kwargs):
    """:func:`helpers.training.train` with a :class:`LabGAN`; a resume with other options is refused.

    The options are written to ``RUN_DIR/lab_options.json`` beside the run's ``config.json``.
    """
    run_dir = Path(run_dir)
    path = run_dir / "lab_options.json"
    saved = json.loads(path.read_text()) if path.is_file() else None
    if saved not in (None, dataclasses.asdict(options)) and latest_checkpoint(run_dir / "checkpoints"):
        raise CheckpointError(f"{run_dir} holds a run with the lab options {saved}, not {dataclasses.asdict(options)}: "
                              f"resume with those, or choose a new run folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(options), indent=1))
    return train(data, run_dir, gan=build_lab_gan(config, options), **kwargs)

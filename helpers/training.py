"""Training a conditional GAN with ``model.fit``: one compiled step, augmentation, EMA, resume.

The pieces, each small:

- :class:`GANConfig`: every setting of a run, saved as ``RUN_DIR/config.json``.
- :class:`ConditionalGAN`: a ``keras.Model`` whose ``train_step`` updates the
  discriminator and then the generator in **one compiled step**, with
  differentiable augmentation (DiffAugment, with a fixed or ADA-style adaptive
  probability), an exponential moving average (EMA) of the generator's weights for
  sampling, hinge or non-saturating loss and an optional R1 penalty.
- Callbacks: a sample grid (fixed noise, one column per condition), a
  checkpointer (the whole training state, written atomically), a divergence
  guard, and a step/time budget with an overall ETA; plus Keras' ``CSVLogger`` and
  ``TensorBoard``.
- :func:`train`: builds or resumes a run in ``RUN_DIR`` and calls ``fit`` over the
  ``tf.data`` pipeline; :func:`export_generator` writes ``generator.keras``.

Randomness (noise, labels, augmentation) is *stateless*: every draw is keyed on
``(seed, step, replica, purpose)``, so the random state of a run is its step
counter, a resumed run draws exactly what an uninterrupted one would, and
replicas under ``tf.distribute`` draw different noise without a shared generator.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from helpers import CLASSES

CHECKPOINT_GLOB = "ckpt-*.npz"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model; nothing was overwritten."""


class TrainingDiverged(RuntimeError):
    """Training produced NaN/inf or diverged; the last good checkpoint is kept."""


@dataclasses.dataclass
class GANConfig:
    """Every setting of a training run (saved as ``RUN_DIR/config.json``)."""

    image_size: int = 64
    latent_dim: int = 64
    g_width: int = 16
    d_width: int = 16                     # 32 costs 2x the time per step; on CPU that lost more than it gained
    g_norm: str = "instance"              # generator normalisation: instance | pixel (more varied, less faithful)
    classes: tuple = CLASSES
    conditioning: str = "projection"      # projection (recommended) | concat (the prototype's)
    loss: str = "hinge"                   # hinge | nonsaturating
    batch_size: int = 32                  # global batch (split across replicas)
    g_lr: float = 5e-4
    d_lr: float = 5e-4
    beta_1: float = 0.0
    beta_2: float = 0.99
    r1_gamma: float = 0.0                 # R1 penalty weight on real images (0: off)
    aux_weight: float = 3.0               # auxiliary classifier loss weight (0: pure projection D)
    aux_fake_class: bool = False          # the auxiliary classifier also learns a "generated" class
    ema_decay: float = 0.999
    augment: str = "translation,brightness,contrast"   # DiffAugment policy; "" for none
    augment_p: float = 0.3                # fixed probability in [0, 1]; -1: adaptive (ADA, starting at 0)
    ada_target: float = 0.6
    balanced: bool = False                # class-balanced sampling of the training split
    mixed_precision: str = "auto"         # auto (GPU only) | on | off
    seed: int = 0

    @property
    def num_classes(self) -> int:
        """Number of conditions."""
        return len(self.classes)

    def to_json(self) -> str:
        """JSON text of the config."""
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "GANConfig":
        """Inverse of :meth:`to_json`; unknown keys are an error naming them."""
        raw = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known: {sorted(names)}")
        raw["classes"] = tuple(raw.get("classes", CLASSES))
        return cls(**raw)


# --------------------------------------------------------------------------- augmentation

def diff_augment(images, seed, p, policy: str = "translation,brightness,contrast"):
    """DiffAugment for grayscale images in [-1, 1], each op applied per image with probability ``p``.

    Differentiable, so it can sit between the generator and the discriminator: the
    discriminator never sees an un-augmented image, real or fake, and the generator
    is not taught to produce augmented images. ``seed`` is a stateless seed
    (shape ``(2,)`` int32).
    """
    import tensorflow as tf

    if not policy:
        return images
    batch = tf.shape(images)[0]
    size = images.shape[1]
    dtype = images.dtype
    ops_ = [o.strip() for o in policy.split(",") if o.strip()]
    for k, op in enumerate(ops_):
        s = tf.random.experimental.stateless_fold_in(seed, k)
        apply = tf.cast(tf.random.stateless_uniform([batch, 1, 1, 1], s) < p, dtype)
        s2 = tf.random.experimental.stateless_fold_in(s, 100)
        if op == "brightness":
            shift = (tf.random.stateless_uniform([batch, 1, 1, 1], s2, dtype=tf.float32) - 0.5) * 0.5
            out = images + tf.cast(shift, dtype)
        elif op == "contrast":
            factor = tf.random.stateless_uniform([batch, 1, 1, 1], s2, 0.6, 1.4)
            mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
            out = (images - mean) * tf.cast(factor, dtype) + mean
        elif op == "translation":
            pad = max(size // 8, 1)
            shifts = tf.random.stateless_uniform([batch, 2], s2, -pad, pad + 1, dtype=tf.int32)
            padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=-1.0)
            rows = tf.range(size)[None, :] + pad + shifts[:, :1]
            cols = tf.range(size)[None, :] + pad + shifts[:, 1:]
            out = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
        elif op == "cutout":
            half = size // 8
            centre = tf.random.stateless_uniform([batch, 2], s2, 0, size, dtype=tf.int32)
            grid = tf.range(size)
            inside_r = tf.abs(grid[None, :] - centre[:, :1]) < half
            inside_c = tf.abs(grid[None, :] - centre[:, 1:]) < half
            mask = tf.cast(tf.logical_and(inside_r[:, :, None], inside_c[:, None, :]), dtype)[..., None]
            out = images * (1 - mask)
        else:
            raise ValueError(f"augmentation {op!r} is unknown; use translation, brightness, contrast, cutout")
        images = apply * out + (1 - apply) * images
    return images


# --------------------------------------------------------------------------- the model

def _outputs(out):
    """(realism logits, class logits or None) from a discriminator with or without the auxiliary head."""
    if isinstance(out, (list, tuple)):
        return out[0], out[1]
    return out, None


def _class_loss(class_logits, labels):
    import tensorflow as tf

    if class_logits is None:
        return tf.constant(0.0)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(class_logits, tf.float32)))


def _policy(config: GANConfig) -> str:
    import tensorflow as tf

    if config.mixed_precision not in ("auto", "on", "off"):
        raise ValueError(f"mixed_precision={config.mixed_precision!r}; use auto, on or off")
    if config.mixed_precision == "on" or (config.mixed_precision == "auto" and tf.config.list_physical_devices("GPU")):
        return "mixed_float16"
    return "float32"


class ConditionalGAN(keras.Model):
    """Generator, discriminator and EMA generator trained by one custom ``train_step``."""

    def __init__(self, config: GANConfig, **kwargs):
        super().__init__(**kwargs)
        from helpers.models import build_discriminator, build_generator

        self.config = config
        if config.aux_fake_class and config.aux_weight <= 0:
            raise ValueError("aux_fake_class=True needs the auxiliary classifier: set aux_weight > 0 "
                             f"(got {config.aux_weight}), or aux_fake_class=False")
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(_policy(config))
        try:
            self.generator = build_generator(config.image_size, config.latent_dim, config.g_width,
                                             config.num_classes, config.conditioning, norm=config.g_norm)
            self.discriminator = build_discriminator(config.image_size, config.d_width, config.num_classes,
                                                     config.conditioning, aux_classifier=config.aux_weight > 0,
                                                     aux_fake_class=config.aux_fake_class)
            self.ema_generator = build_generator(config.image_size, config.latent_dim, config.g_width,
                                                 config.num_classes, config.conditioning, name="ema_generator",
                                                 norm=config.g_norm)
        finally:
            keras.config.set_dtype_policy(previous)
        self.ema_generator.set_weights(self.generator.get_weights())
        self.ema_generator.trainable = False
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="step",
                                   aggregation="only_first_replica")
        start_p = config.augment_p if config.augment_p >= 0 else 0.0
        self.augment_p = keras.Variable(start_p, dtype="float32", trainable=False, name="augment_p",
                                        aggregation="only_first_replica")
        # ADA statistics (under several replicas, the first replica's batch stands for all)
        self.ada_sum = keras.Variable(0.0, dtype="float32", trainable=False, name="ada_sum",
                                      aggregation="only_first_replica")
        self.ada_count = keras.Variable(0.0, dtype="float32", trainable=False, name="ada_count",
                                        aggregation="only_first_replica")
        self.built = True  # the sub-models are built; fit must not trace call() on image batches
        self.trackers = {name: keras.metrics.Mean(name=name) for name in
                         ("d_loss", "g_loss", "d_real", "d_fake", "r1", "aux", "augment_p")}

    @property
    def metrics(self):
        """Reset at every epoch by ``fit``."""
        return list(self.trackers.values())

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """Adam(lr from the config, beta_1=0, beta_2=0.99) for both nets unless given; loss scaling under float16."""
        super().compile(**kwargs)
        c = self.config
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(c.g_lr, beta_1=c.beta_1, beta_2=c.beta_2)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(c.d_lr, beta_1=c.beta_1, beta_2=c.beta_2)
        if _policy(c) == "mixed_float16":
            self.g_optimizer = keras.optimizers.LossScaleOptimizer(self.g_optimizer)
            self.d_optimizer = keras.optimizers.LossScaleOptimizer(self.d_optimizer)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def call(self, inputs, training=False):
        """``[z, labels] -> images`` with the EMA generator (what sampling uses)."""
        return self.ema_generator(inputs, training=training)

    def _seed(self, purpose: int):
        import tensorflow as tf

        ctx = tf.distribute.get_replica_context()
        replica = tf.cast(ctx.replica_id_in_sync_group if ctx is not None else 0, tf.int64)
        step = tf.convert_to_tensor(self.step)
        return tf.cast(tf.stack([self.config.seed * 1000 + replica, step * 16 + purpose]), tf.int32)

    def _d_losses(self, real_logits, fake_logits):
        import tensorflow as tf

        if self.config.loss == "hinge":
            return tf.reduce_mean(tf.nn.relu(1 - real_logits)) + tf.reduce_mean(tf.nn.relu(1 + fake_logits))
        return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))

    def _g_loss(self, fake_logits):
        import tensorflow as tf

        if self.config.loss == "hinge":
            return -tf.reduce_mean(fake_logits)
        return tf.reduce_mean(tf.nn.softplus(-fake_logits))

    def train_step(self, data):
        """One discriminator update and one generator update, then EMA and ADA bookkeeping."""
        import tensorflow as tf

        real, labels = data
        c = self.config
        batch = tf.shape(real)[0]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        p = tf.convert_to_tensor(self.augment_p)

        # --- discriminator: real images with their labels against fakes drawn for the same labels
        z = tf.random.stateless_normal([batch, c.latent_dim], self._seed(1))
        fake = self.generator([z, labels], training=True)
        with tf.GradientTape() as tape:
            real_aug = diff_augment(real, self._seed(2), p, c.augment)
            fake_aug = diff_augment(fake, self._seed(3), p, c.augment)
            if c.r1_gamma > 0:
                with tf.GradientTape() as r1_tape:
                    r1_tape.watch(real_aug)
                    real_logits, real_classes = _outputs(self.discriminator([real_aug, labels], training=True))
                grads = r1_tape.gradient(tf.reduce_sum(real_logits), real_aug)
                r1 = tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
            else:
                real_logits, real_classes = _outputs(self.discriminator([real_aug, labels], training=True))
                r1 = tf.constant(0.0)
            fake_logits, fake_classes = _outputs(self.discriminator([fake_aug, labels], training=True))
            d_loss = self._d_losses(real_logits, fake_logits) + 0.5 * c.r1_gamma * r1
            # the auxiliary classifier learns the conditions from real images only; with aux_fake_class it
            # also learns to put generated images in an extra class, so the generator cannot satisfy it with
            # patterns that merely look like a condition to a classifier that has never seen a fake
            aux = _class_loss(real_classes, labels)
            if c.aux_fake_class and fake_classes is not None:
                aux = 0.5 * (aux + _class_loss(fake_classes, tf.fill([batch], c.num_classes)))
            d_loss = d_loss + c.aux_weight * aux
            scaled = self.d_optimizer.scale_loss(d_loss / tf.cast(replicas, d_loss.dtype))
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(scaled, d_vars), d_vars)

        # --- generator: fool the discriminator, through the same augmentation
        z = tf.random.stateless_normal([batch, c.latent_dim], self._seed(4))
        with tf.GradientTape() as tape:
            fake = self.generator([z, labels], training=True)
            fake_logits_g, fake_classes = _outputs(self.discriminator(
                [diff_augment(fake, self._seed(5), p, c.augment), labels], training=True))
            g_loss = self._g_loss(fake_logits_g) + c.aux_weight * _class_loss(fake_classes, labels)
            scaled = self.g_optimizer.scale_loss(g_loss / tf.cast(replicas, g_loss.dtype))
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(scaled, g_vars), g_vars)

        # --- EMA of generator weights (warm-up: plain average over the first steps)
        step = tf.cast(self.step, tf.float32)
        decay = tf.minimum(c.ema_decay, (1.0 + step) / (10.0 + step))
        for ema_w, w in zip(self.ema_generator.weights, self.generator.weights):
            ema_w.assign(decay * ema_w + (1.0 - decay) * tf.cast(w, ema_w.dtype))

        # --- adaptive augmentation: raise p when D is overconfident on reals (sign(D(x)) > target)
        if c.augment and c.augment_p < 0:
            # every 4 steps: nudge p by sign(r_t - target), r_t = E[sign(D(real))]; arithmetic rather than
            # tf.cond, because variable updates inside control flow cannot synchronise across replicas
            total = self.ada_sum + tf.reduce_sum(tf.sign(tf.cast(real_logits, tf.float32)))
            count = self.ada_count + tf.cast(batch, tf.float32)
            due = tf.cast(tf.equal(tf.math.floormod(self.step + 1, 4), 0), tf.float32)
            delta = tf.sign(total / count - c.ada_target) * count / 20_000.0
            self.augment_p.assign(tf.clip_by_value(self.augment_p + due * delta, 0.0, 0.8))
            self.ada_sum.assign(total * (1.0 - due))
            self.ada_count.assign(count * (1.0 - due))
        self.step.assign_add(1)

        values = {"d_loss": d_loss, "g_loss": g_loss, "d_real": tf.reduce_mean(real_logits),
                  "d_fake": tf.reduce_mean(fake_logits), "r1": r1, "aux": aux, "augment_p": self.augment_p}
        for name, value in values.items():
            self.trackers[name].update_state(tf.cast(value, tf.float32))
        return {name: t.result() for name, t in self.trackers.items()}

    def state_variables(self) -> list:
        """Everything a resumed run needs, in a fixed order: nets, EMA, optimisers, counters."""
        return (list(self.generator.weights) + list(self.discriminator.weights) + list(self.ema_generator.weights)
                + list(self.g_optimizer.variables) + list(self.d_optimizer.variables)
                + [self.step, self.augment_p, self.ada_sum, self.ada_count])


def generate_images(generator, labels, seed: int = 0, latent_dim: int | None = None, batch_size: int = 256):
    """Images in [-1, 1], shape ``(N, S, S, 1)``, one per entry of ``labels``, from fixed-seed noise."""
    labels = np.asarray(labels, np.int32)
    latent_dim = latent_dim or generator.inputs[0].shape[-1]
    z = np.random.default_rng(seed).standard_normal((len(labels), latent_dim)).astype(np.float32)
    out = [np.asarray(generator([z[i:i + batch_size], labels[i:i + batch_size]], training=False))
           for i in range(0, len(labels), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, *generator.output_shape[1:]), np.float32)


# --------------------------------------------------------------------------- checkpoints

def _describe(variables) -> list[list]:
    return [[v.path if hasattr(v, "path") else v.name, list(v.shape)] for v in variables]


def save_checkpoint(gan: ConditionalGAN, folder, keep: int = 3) -> Path:
    """Write the whole training state to ``folder/ckpt-<step>.npz`` atomically; keep the newest ``keep``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    variables = gan.state_variables()
    step = int(np.asarray(gan.step))
    arrays = {f"v{i:04d}": np.asarray(v) for i, v in enumerate(variables)}
    arrays["__layout__"] = np.frombuffer(json.dumps(_describe(variables)).encode(), dtype=np.uint8)
    final = folder / f"ckpt-{step:08d}.npz"
    tmp = folder / f".ckpt-{step:08d}.npz.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)  # atomic: a reader sees the old set of files or the new one, never half a file
    for old in sorted(folder.glob(CHECKPOINT_GLOB))[:-keep]:
        old.unlink()
    return final


def latest_checkpoint(folder) -> Path | None:
    """Newest ``ckpt-*.npz`` in ``folder`` or None."""
    found = sorted(Path(folder).glob(CHECKPOINT_GLOB))
    return found[-1] if found else None


def restore_checkpoint(gan: ConditionalGAN, path) -> int:
    """Load a checkpoint into ``gan`` (compiled); return its step. Raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; checkpoints here: "
                              f"{[p.name for p in sorted(path.parent.glob(CHECKPOINT_GLOB))] or 'none'}")
    variables = gan.state_variables()
    try:
        with np.load(path) as npz:
            layout = json.loads(bytes(npz["__layout__"]).decode())
            arrays = [npz[f"v{i:04d}"] for i in range(len(layout))]
    except Exception as exc:  # zip, pickle and key errors all mean the same thing here
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}). Nothing was "
                              "loaded or overwritten: delete this file to resume from an older checkpoint, "
                              "or use a new RUN_DIR to start over.") from None
    expected = _describe(variables)
    if len(layout) != len(expected) or any(a[1] != b[1] for a, b in zip(layout, expected)):
        raise CheckpointError(f"checkpoint {path} was written by a different model ({len(layout)} state "
                              f"variables, this model has {len(expected)}, or their shapes differ). Nothing was "
                              "overwritten: use the config.json of that run, or a new RUN_DIR.")
    for v, a in zip(variables, arrays):
        v.assign(a)
    return int(np.asarray(gan.step))


# --------------------------------------------------------------------------- callbacks

class SampleGrid(keras.callbacks.Callback):
    """Every ``every`` epochs, save (and optionally show) a grid from fixed noise: one column per condition."""

    def __init__(self, run_dir, rows: int = 4, every: int = 1, show: bool = False, seed: int = 1234):
        super().__init__()
        self.folder = Path(run_dir) / "samples"
        self.rows, self.every, self.show, self.seed = rows, every, show, seed

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        self.save(f"step_{int(np.asarray(self.model.step)):08d}")

    def save(self, name: str) -> Path:
        """Draw the grid with the EMA generator and write ``samples/<name>.png``."""
        from helpers.plots import sample_sheet

        gan = self.model
        classes = gan.config.classes
        labels = np.tile(np.arange(len(classes)), self.rows)
        images = generate_images(gan.ema_generator, labels, self.seed, gan.config.latent_dim)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.png"
        sample_sheet(images, classes, self.rows, path, title=f"step {int(np.asarray(gan.step))}")
        if self.show:
            from IPython.display import Image, display
            display(Image(filename=str(path)))
        return path


class Checkpointer(keras.callbacks.Callback):
    """Save the whole training state every ``every_steps`` steps and at the end, unless training diverged."""

    def __init__(self, folder, every_steps: int = 500):
        super().__init__()
        self.folder, self.every_steps = Path(folder), every_steps
        self.last: Path | None = None

    def _healthy(self, logs) -> bool:
        return not getattr(self.model, "diverged", None) and all(
            np.isfinite(float(v)) for k, v in (logs or {}).items() if k in ("d_loss", "g_loss"))

    def on_train_batch_end(self, batch, logs=None):
        step = int(np.asarray(self.model.step))
        if step % self.every_steps == 0 and self._healthy(logs):
            self.last = save_checkpoint(self.model, self.folder)

    def on_train_end(self, logs=None):
        if self._healthy(logs):
            self.last = save_checkpoint(self.model, self.folder)


class DivergenceGuard(keras.callbacks.Callback):
    """Stop on NaN/inf losses, or when the discriminator wins outright for ``patience`` steps."""

    def __init__(self, patience: int = 300, max_g_loss: float = 50.0):
        super().__init__()
        self.patience, self.max_g_loss = patience, max_g_loss
        self.bad_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        d, g = float(logs.get("d_loss", 0.0)), float(logs.get("g_loss", 0.0))
        step = int(np.asarray(self.model.step))
        if not (np.isfinite(d) and np.isfinite(g)):
            self._stop(f"loss became non-finite at step {step} (d_loss={d}, g_loss={g}). Usual causes: a "
                       "learning rate too high, or float16 overflow; lower g_lr/d_lr or set mixed_precision='off'.")
        elif g > self.max_g_loss:
            self.bad_steps += 1
            if self.bad_steps >= self.patience:
                self._stop(f"the discriminator has overpowered the generator for {self.patience} steps "
                           f"(g_loss={g:.1f} at step {step}). Try augmentation, a lower d_lr or R1.")
        else:
            self.bad_steps = 0

    def _stop(self, reason: str):
        self.model.diverged = reason
        self.model.stop_training = True


class Budget(keras.callbacks.Callback):
    """Stop at ``max_steps`` or after ``minutes``; print overall progress and ETA at each epoch end."""

    def __init__(self, max_steps: int | None, minutes: float | None, verbose: bool = True):
        super().__init__()
        self.max_steps, self.minutes, self.verbose = max_steps, minutes, verbose

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.start_step = int(np.asarray(self.model.step))

    def on_train_batch_end(self, batch, logs=None):
        step = int(np.asarray(self.model.step))
        if self.max_steps is not None and step >= self.max_steps:
            self.model.stop_training = True
        if self.minutes is not None and time.perf_counter() - self.start >= 60 * self.minutes:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if not self.verbose:
            return
        step = int(np.asarray(self.model.step))
        elapsed = time.perf_counter() - self.start
        rate = (step - self.start_step) / max(elapsed, 1e-9)
        left = []
        if self.max_steps is not None:
            left.append((self.max_steps - step) / max(rate, 1e-9))
        if self.minutes is not None:
            left.append(60 * self.minutes - elapsed)
        eta = f", ETA {max(min(left), 0) / 60:.1f} min" if left else ""
        print(f"step {step}{f'/{self.max_steps}' if self.max_steps else ''}: {elapsed / 60:.1f} min elapsed, "
              f"{rate:.1f} steps/s{eta}")


class PeriodicEvaluation(keras.callbacks.Callback):
    """Call ``evaluate(gan) -> dict`` every ``every_seconds`` of *training* time (evaluation time excluded).

    Records ``{"step", "train_seconds", **result}`` in ``history``; stops training when
    ``stop_when(result)`` is true. Used for the fidelity-against-time curve.
    """

    def __init__(self, evaluate, every_seconds: float = 60.0, stop_when=None, verbose: bool = True):
        super().__init__()
        self.evaluate, self.every, self.stop_when, self.verbose = evaluate, every_seconds, stop_when, verbose
        self.history: list[dict] = []

    def on_train_begin(self, logs=None):
        self.train_seconds, self.next_at = 0.0, self.every
        self.t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.train_seconds += now - self.t
        if self.train_seconds >= self.next_at:
            self.next_at += self.every
            self.run()
        self.t = time.perf_counter()

    def run(self):
        """Evaluate now, record and maybe stop."""
        result = self.evaluate(self.model)
        record = {"step": int(np.asarray(self.model.step)), "train_seconds": round(self.train_seconds, 1), **result}
        self.history.append(record)
        if self.verbose:
            shown = {k: round(v, 3) for k, v in result.items() if isinstance(v, float)}
            print(f"  [eval] step {record['step']}, {self.train_seconds / 60:.2f} min of training: {shown}")
        if self.stop_when is not None and self.stop_when(result):
            self.model.stop_training = True


# --------------------------------------------------------------------------- strategy and the run

def pick_strategy(kind: str = "auto"):
    """A ``tf.distribute`` strategy: ``auto`` takes a Colab TPU, several GPUs (mirrored), or one device.

    ``kind`` may also be ``"mirrored"``, ``"default"`` or a strategy object.
    """
    import tensorflow as tf

    if not isinstance(kind, str):
        return kind
    if kind == "auto":
        if os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"):
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"strategy {kind!r} is unknown; use auto, mirrored, default or a tf.distribute.Strategy")


def _load_or_save_config(run_dir: Path, config: GANConfig) -> GANConfig:
    path = run_dir / "config.json"
    if path.is_file() and latest_checkpoint(run_dir / "checkpoints"):
        saved = GANConfig.from_json(path.read_text())
        if saved != config:
            diff = {f.name: (getattr(saved, f.name), getattr(config, f.name)) for f in dataclasses.fields(config)
                    if getattr(saved, f.name) != getattr(config, f.name)}
            raise CheckpointError(f"{run_dir} holds a run with other settings {diff} (saved, asked). "
                                  "Resume with the saved config.json, or choose a new RUN_DIR.")
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(config.to_json())
    return config


def train(data, run_dir, config: GANConfig | None = None, steps: int | None = None, epochs: int | None = None,
          minutes: float | None = None, strategy="auto", checkpoint_every: int = 500, sample_every: int = 1,
          show_samples: bool = False, callbacks=(), verbose: int = 1, export: bool = True):
    """Train (or resume) a conditional GAN on ``data`` (a :class:`helpers.preprocess.CachedData`).

    Stops after ``steps`` optimiser steps, ``epochs`` passes over the training split, or
    ``minutes`` of training, whichever comes first (at least one must be given). If
    ``RUN_DIR/checkpoints`` holds a checkpoint, training resumes from it with the same
    data order and random draws. Returns the :class:`ConditionalGAN`.
    """
    from helpers.preprocess import make_dataset

    if steps is None and epochs is None and minutes is None:
        raise ValueError("give steps, epochs or minutes: training needs an end")
    config = config or GANConfig(image_size=data.size, classes=data.classes)
    if config.image_size != data.size or tuple(config.classes) != tuple(data.classes):
        raise ValueError(f"config is for {config.image_size}px and classes {config.classes}, data is "
                         f"{data.size}px with classes {data.classes}")
    run_dir = Path(run_dir)
    config = _load_or_save_config(run_dir, config)
    keras.utils.set_random_seed(config.seed)
    strategy = pick_strategy(strategy)
    with strategy.scope():
        gan = ConditionalGAN(config)
        gan.compile()
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    start = restore_checkpoint(gan, checkpoint) if checkpoint else 0
    if checkpoint and verbose:
        print(f"resuming from {checkpoint.name} (step {start})")
    rows, _ = data.split("train")
    steps_per_epoch = max(1, len(rows) // config.batch_size)
    limits = [x for x in (steps, epochs * steps_per_epoch if epochs else None) if x is not None]
    max_steps = min(limits) if limits else None  # None: only the time budget ends training
    if max_steps is not None and start >= max_steps:
        if verbose:
            print(f"already trained {start} of {max_steps} steps")
        if export:
            export_generator(gan, run_dir)
        return gan
    dataset = make_dataset(data, "train", config.batch_size, balanced=config.balanced, repeat=True,
                           seed=config.seed, skip_batches=start)
    guard = DivergenceGuard()
    checkpointer = Checkpointer(run_dir / "checkpoints", checkpoint_every)
    all_callbacks = [Budget(max_steps, minutes, verbose=bool(verbose)), guard, checkpointer,
                     SampleGrid(run_dir, every=sample_every, show=show_samples),
                     keras.callbacks.CSVLogger(str(run_dir / "losses.csv"), append=True), *callbacks]
    try:
        import tensorboard  # noqa: F401  (the callback needs it; Colab has it)
        all_callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), update_freq=50,
                                                         write_graph=False))
    except ImportError:
        print("tensorboard is not installed: logging losses to CSV only (pip install tensorboard)")
    total_epochs = math.ceil(max_steps / steps_per_epoch) if max_steps else 10 ** 6
    gan.fit(dataset, epochs=max(total_epochs, start // steps_per_epoch + 1), steps_per_epoch=steps_per_epoch,
            initial_epoch=start // steps_per_epoch, callbacks=all_callbacks, verbose=verbose,
            shuffle=False)  # the pipeline shuffles, reproducibly
    if getattr(gan, "diverged", None):
        last = latest_checkpoint(run_dir / "checkpoints")
        raise TrainingDiverged(f"{gan.diverged} Last good checkpoint: {last or 'none'}")
    if export:
        export_generator(gan, run_dir)
    return gan


# --------------------------------------------------------------------------- export

def export_generator(gan: ConditionalGAN, run_dir) -> Path:
    """Write ``RUN_DIR/generator.keras`` (EMA weights) and ``generator.json`` (classes, sizes)."""
    run_dir = Path(run_dir)
    path = run_dir / "generator.keras"
    tmp = run_dir / ".generator.tmp.keras"
    gan.ema_generator.save(tmp)
    os.replace(tmp, path)
    meta = {"classes": list(gan.config.classes), "image_size": gan.config.image_size,
            "latent_dim": gan.config.latent_dim, "conditioning": gan.config.conditioning,
            "step": int(np.asarray(gan.step)), "weights": "exponential moving average of the generator",
            "note": "synthetic images for teaching and research; not for clinical use"}
    (run_dir / "generator.json").write_text(json.dumps(meta, indent=1))
    return path


def load_generator(path):
    """Load ``generator.keras`` in Keras safe mode; return ``(model, metadata)``."""
    import helpers.models  # noqa: F401  (registers the custom layers)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"generator file {path} not found; train one with notebook 04 or helpers.training.train")
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} (classes, image size, latent size) is missing beside {path}")
    model = keras.saving.load_model(path, safe_mode=True)
    return model, json.loads(meta_path.read_text())

"""Every setting of a GAN training run in one dataclass, saved as ``RUN_DIR/config.json``.

Kept apart from the GAN itself (``helpers.gan``, made from notebook 04) and from the
training infrastructure (``helpers.training``), which both read it.
"""

from __future__ import annotations

import dataclasses
import json

from helpers import CLASSES


@dataclasses.dataclass
class GANConfig:
    """Every setting of a training run (saved as ``RUN_DIR/config.json``)."""

    image_size: int = 64
    latent_dim: int = 64
    g_width: int = 16                     # generator channels at full size, doubling per halving
    d_width: int = 16                     # discriminator channels at full size, doubling per halving
    g_norm: str = "instance"              # the generator's class-conditional normalisation: instance | pixel
    classes: tuple = CLASSES
    conditioning: str = "projection"      # projection | concat (the prototype's)
    loss: str = "hinge"                   # hinge | nonsaturating
    batch_size: int = 32                  # global batch (split across replicas)
    g_lr: float = 1e-3                    # Adam learning rates
    d_lr: float = 1e-3
    beta_1: float = 0.0
    beta_2: float = 0.99
    aux_weight: float = 1.0               # the generator's weight on the auxiliary classifier's loss (0: no classifier)
    d_aux_weight: float = 3.0             # the discriminator's weight on it: how well the classifier learns
    aux_fake_class: bool = True           # the auxiliary classifier also learns a "generated" class (not without one)
    d_mbstd: bool = True                  # minibatch standard deviation in the discriminator
    ema_decay: float = 0.99               # EMA of the generator's weights: averages ~1/(1-decay) steps
    transition_start: int = 300           # transitional conditioning: the label's strength is 0 until this step,
    transition_end: int = 1200            # rises linearly to 1 at this step (0: full strength from the start)
    augment: str = "translation,brightness,contrast"   # DiffAugment policy; "" for none
    augment_p: float = 0.3                # probability of each augmentation op, per image
    balanced: bool = False                # class-balanced sampling of the training split
    mixed_precision: str = "auto"         # auto (GPU only) | on | off
    seed: int = 0

    def __post_init__(self):
        if self.d_aux_weight < 0:
            raise ValueError(f"d_aux_weight={self.d_aux_weight}: use 0 or more (3 is the default)")
        if not 0 <= self.augment_p <= 1:
            raise ValueError(f"augment_p={self.augment_p}: use a probability in [0, 1] (adaptive augmentation is "
                             "a lab option: lab/gan_options.py)")
        if self.transition_end and not 0 <= self.transition_start < self.transition_end:
            raise ValueError(f"transition_start={self.transition_start}, transition_end={self.transition_end}: "
                             "use 0 <= transition_start < transition_end, or transition_end=0 to switch it off")
        if self.aux_weight <= 0:  # no auxiliary classifier, so no "generated" class: config.json says so
            self.aux_fake_class = False

    @property
    def num_classes(self) -> int:
        """Number of conditions."""
        return len(self.classes)

    def to_json(self) -> str:
        """JSON text of the config."""
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "GANConfig":
        """Inverse of :meth:`to_json`; unknown or missing keys are an error naming them."""
        raw = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        problems = [f"{what} keys {keys}" for what, keys in (("unknown", sorted(set(raw) - names)),
                                                             ("missing", sorted(names - set(raw)))) if keys]
        if problems:
            raise ValueError(f"a config with {' and '.join(problems)} was written by another version of the course: "
                             "retrain with this version, or choose a new RUN_DIR")
        return cls(**{**raw, "classes": tuple(raw["classes"])})


def dtype_policy(config: GANConfig) -> str:
    """``"mixed_float16"`` when ``config.mixed_precision`` is ``on`` (or ``auto`` with a GPU), else ``"float32"``."""
    import tensorflow as tf

    if config.mixed_precision not in ("auto", "on", "off"):
        raise ValueError(f"mixed_precision={config.mixed_precision!r}; use auto, on or off")
    if config.mixed_precision == "on" or (config.mixed_precision == "auto" and tf.config.list_physical_devices("GPU")):
        return "mixed_float16"
    return "float32"

# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Training the conditional GAN (GPU if you have one)
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/cxr-gan-course/cxr-gan-course/blob/main/notebooks/04_training.ipynb)
#
# **You will learn to**
#
# - write a conditional GAN the keras-io way: networks built outside and passed into a `keras.Model` with a custom `train_step`
# - write the hinge losses, differentiable augmentation, transitional conditioning (the label faded in) and the EMA generator, and train them with `model.fit` over `tf.data`
# - read the sample grids and the separately logged losses and accuracies, and recognise mode collapse, an overpowering discriminator and an ignored condition
# - resume an interrupted run, measure label fidelity and variety, export `generator.keras` and write a synthetic dataset in the NIH layout
#
# **Expected runtime:** about 9 minutes on a 2-core CPU at 64 px, most of it the default 3,000 training steps (the training cell prints its estimate), plus about 2 minutes for the judge classifier when one is trained (real data; the phantoms load a shipped one); under a minute in smoke mode. ChestMNIST's 60,000 training images want a GPU. On a Colab T4 GPU use `IMAGE_SIZE = 128` and more steps.
#
# **Data credit.** NIH ChestX-ray14 is provided by the NIH Clinical Center ([download site](https://nihcc.app.box.com/v/ChestXray-NIHCC)); cite Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM, *ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks on Weakly-Supervised Classification and Localization of Common Thorax Diseases*, IEEE CVPR 2017. ChestMNIST is part of MedMNIST+ (Yang et al., Scientific Data 2023). The course's real-radiograph example for class folders is the pediatric pneumonia set of Kermany D, Zhang K, Goldbaum M, *Labeled Optical Coherence Tomography (OCT) and Chest X-Ray Images for Classification*, Mendeley Data v2, 2018 (doi:10.17632/rscbjbr9sj.2, CC BY 4.0; Kermany DS et al., Cell 2018). The offline data are procedural phantoms made by this course.
#
# **Not for clinical use.** Synthetic images made in this course are teaching and research material. They must not be used to diagnose, treat or make any decision about a patient.

# %% [markdown]
# ## Setup

# %%
# Setup: install the course's helpers package if it is missing (a fresh Colab runtime), from the
# same branch as this notebook's Colab badge, then report versions and whether a GPU is available.
# Colab's own TensorFlow is left alone: the package does not reinstall it.
import importlib.util
import subprocess
import sys

COURSE_REF = "main"  # the branch or tag that the Colab badge above opens
if importlib.util.find_spec("helpers") is None:
    url = f"git+https://github.com/cxr-gan-course/cxr-gan-course@{COURSE_REF}"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"Could not install the course's helpers package from {url}:\n{done.stderr[-1500:]}\n"
                           "Check that the runtime is online, or clone the repository and open this notebook "
                           "from its notebooks/ folder (the package is then found locally).")

from helpers.env import describe_runtime

RUNTIME = describe_runtime()

# %% [markdown]
# ### Parameters
#
# The next cell is tagged `parameters`: papermill replaces these values when the course runner executes the notebook headless (`python -m helpers.course`). `SMOKE = True` (or the environment variable `CXR_GAN_SMOKE=1`) shrinks everything to a seconds-long check.
#
# **Which data.** `DATA_SOURCE = "auto"` trains on real chest X-rays (ChestMNIST, NIH images resized by MedMNIST) when they are on disk or downloadable, as in Colab, and on the course's offline phantoms otherwise; the line printed under the next cell says which and why, and every notebook of one run keeps that choice (`RUN_DIR/data_source.json`). Name a source to choose it yourself: `"phantom"`, `"chestmnist"`, `"nih"` (your download, in `DATA_DIR`) or `"folder"`: your own labelled radiographs, one sub-folder per condition (`DATA_DIR/NORMAL/`, `DATA_DIR/PNEUMONIA/`, optionally under `train/`, `val/`, `test/`), as most Kaggle sets come.

# %% tags=["parameters"]
DATA_SOURCE = "auto"         # auto: ChestMNIST if on disk or downloadable, else phantoms | phantom | nih | chestmnist | folder
DATA_DIR = None              # None: the source's default folder; nih and folder need one (folder: a sub-folder per condition)
IMAGE_SIZE = 64              # 64, 128 or 256
BATCH_SIZE = 32              # global batch size (split across GPUs/TPU cores)
TRAIN = True                 # False: skip training and use the shipped generator (phantoms at 64 px), as a workshop may
TRAIN_STEPS = 3000           # optimiser steps (one D and one G update each); the result depends on this
TRAIN_MINUTES = None         # optional wall-clock cap in minutes (None: no cap; results then vary by machine)
CONDITIONING = "projection"  # projection (recommended) | concat (the prototype's)
BALANCED = None              # class-balanced sampling; None: on when the training classes are imbalanced (real data)
SAMPLE_EVERY = 7             # show a sample grid every this many epochs (and at step 0)
JUDGE = "auto"               # auto: the shipped judge when it was trained on this very data, else train one | train
SEED = 0
DETERMINISTIC = True         # same SEED, same machine: a rerun repeats bit for bit (Keras then skips XLA on a GPU)
RUN_DIR = "runs/course"
DRIVE = False                # in Colab: keep RUN_DIR on Google Drive, so notebook 05 in another runtime finds this run
SMOKE = False
PHANTOMS_PER_CLASS = 700
MIN_TRAIN_IMAGES = None      # a condition with fewer training images is left out; None: 30 (smoke mode: 5)
WARN_TRAIN_IMAGES = None     # fewer than this and it trains with a warning in the report; None: 450 (smoke mode: 15)
KEEP_CONDITIONS = []         # conditions to train even below MIN_TRAIN_IMAGES, e.g. ["Mass"]

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.env import notebook_settings
from helpers.plots import save_figure

SMOKE, RUN_DIR, DATA_DIR, PHANTOMS_PER_CLASS, SOURCE = notebook_settings(
    DATA_SOURCE, DATA_DIR, IMAGE_SIZE, RUN_DIR, SMOKE, PHANTOMS_PER_CLASS, SEED, return_source=True,
    deterministic=DETERMINISTIC, drive=DRIVE)
GAN_DIR = RUN_DIR / "gan"
if SMOKE:
    TRAIN_STEPS, BATCH_SIZE, SAMPLE_EVERY = 12, 16, 1

# %% [markdown]
# ## 1. Data and strategy
#
# The training split (by patient) streams from the decoded cache. `pick_strategy("auto")` takes a Colab TPU, several
# GPUs (mirrored) or the one device there is; on a GPU, `GANConfig(mixed_precision="auto")` trains in float16 with
# loss scaling. The line under the parameters says which data this run trains on. Real data is imbalanced (NIH has
# 28 *No Finding* images for every *Mass*), so `BALANCED = None` turns class-balanced sampling on whenever the
# training classes are unequal, and off for the balanced phantoms. On a GPU use `IMAGE_SIZE = 128` and more steps.
# A condition with too few training images is left out or trained with a warning (notebook 05 explains the thresholds).
#
# **Keeping a run in Colab:** runtimes are wiped when they disconnect; `DRIVE = True` mounts Google Drive and keeps
# `RUN_DIR` there (`MyDrive/cxr-gan-course/`): the training cell resumes from its last checkpoint, and notebook 05
# with `DRIVE = True` in another runtime finds the run. `TRAIN = False` skips training and uses the shipped generator.

# %%
from helpers.preprocess import load_dataset
from helpers.training import pick_strategy
from helpers.verdicts import check_training_counts

data = load_dataset(SOURCE, DATA_DIR, size=IMAGE_SIZE, seed=SEED, phantom_per_class=PHANTOMS_PER_CLASS)
# too small to learn? leave out (or warn about) conditions with few training images; RUN_DIR/conditions.json says which
data, screening = check_training_counts(data, RUN_DIR, SMOKE, MIN_TRAIN_IMAGES, WARN_TRAIN_IMAGES, KEEP_CONDITIONS)
CLASSES = data.classes
strategy = pick_strategy("auto")
train_counts = np.bincount(data.split("train")[1], minlength=len(CLASSES))
if BALANCED is None:
    BALANCED = bool(train_counts.max() > 1.5 * train_counts.min())
steps_per_epoch = len(data.split("train")[0]) // BATCH_SIZE
print(f"{len(data.split('train')[0]):,} training images, {steps_per_epoch} steps per epoch | "
      f"replicas: {strategy.num_replicas_in_sync}")
print("per condition:", dict(zip(CLASSES, train_counts.tolist())),
      f"| balanced sampling {'on' if BALANCED else 'off'}")

# %% [markdown]
# ## 2. The GAN, cell by cell
#
# The cells marked `#| export` are the package module `helpers.gan` (`python tools/notebooks.py export` writes them;
# the tests fail if the two differ). Notebook 03 made the networks (`helpers.models`); here they are **built outside
# and passed in**, as in keras-io's `conditional_gan.py`, and the GAN is a `keras.Model` whose `train_step` plays one
# round of the game. Edit a cell and rerun the notebook from here: your version is what trains below.

# %%
#| default_exp gan
#| export
"""The conditional GAN: losses, differentiable augmentation and ``train_step`` (made from notebook 04's cells).

:class:`ConditionalGAN` takes a generator and a discriminator built elsewhere
(``helpers.models``) and trains them with one compiled ``train_step`` through ``model.fit``.
Randomness (noise, augmentation) is stateless, keyed on ``(seed, step, replica, purpose)``, so a
resumed run draws exactly what an uninterrupted one would.
"""
import keras
import tensorflow as tf

from helpers.config import GANConfig, dtype_policy
from helpers.models import build_discriminator, build_generator

# %% [markdown]
# ### The losses
#
# Notebook 03 derived them; here they are as the functions the GAN calls. With `D` the discriminator's
# realism logit:
#
# | loss | discriminator minimises | generator minimises |
# |---|---|---|
# | hinge (default) | $\mathbb{E}[\max(0, 1 - D(x))] + \mathbb{E}[\max(0, 1 + D(G(z)))]$ | $-\mathbb{E}[D(G(z))]$ |
# | non-saturating | $\mathbb{E}[\text{softplus}(-D(x))] + \mathbb{E}[\text{softplus}(D(G(z)))]$ | $\mathbb{E}[\text{softplus}(-D(G(z)))]$ |
#
# The **auxiliary classifier** (AC-GAN) adds a cross-entropy, used twice in `train_step` below. The discriminator
# minimises it on real images, weighted by `d_aux_weight`: that is how its class head learns the conditions. The
# generator minimises it on its own images, weighted by `aux_weight`: that is how it is pushed towards the condition
# it was asked for. The two weights do different jobs. On the generator's side a large weight pulls every image of a
# condition towards its most recognisable form, so they all come out alike; on the discriminator's side the weight
# only sets how well the head learns, and the generator can only be as faithful as its teacher is sharp. So the
# default teaches hard and pushes gently (`d_aux_weight=3`, `aux_weight=1`); section 7 gives every default's reason.

# %%
#| export
def d_hinge_loss(real_logits, fake_logits):
    """Hinge loss of the discriminator: mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))."""
    return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))


def g_hinge_loss(fake_logits):
    """Hinge loss of the generator: -mean(D(G(z)))."""
    return -tf.reduce_mean(fake_logits)


def d_nonsaturating_loss(real_logits, fake_logits):
    """Binary cross-entropy of the discriminator on logits: mean(softplus(-D(x))) + mean(softplus(D(G(z))))."""
    return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))


def g_nonsaturating_loss(fake_logits):
    """Non-saturating generator loss: mean(softplus(-D(G(z)))) = -mean(log sigmoid(D(G(z))))."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


#: ``config.loss`` -> (discriminator loss, generator loss)
LOSSES = {"hinge": (d_hinge_loss, g_hinge_loss), "nonsaturating": (d_nonsaturating_loss, g_nonsaturating_loss)}


def class_loss(class_logits, labels):
    """Cross-entropy of the auxiliary classifier's logits against integer ``labels`` (0 without a classifier)."""
    if class_logits is None:
        return tf.constant(0.0)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(class_logits, tf.float32)))

# %%
logits = tf.constant([[-2.0], [0.0], [2.0]])
print("D loss when D scores reals +2 and fakes -2 (winning):", float(d_hinge_loss(logits[2:], logits[:1])))
print("D loss when D scores everything 0 (cannot tell):     ", float(d_hinge_loss(logits[1:2], logits[1:2])))
print("G loss when D scores fakes -2 / 0 / +2:", [round(float(g_hinge_loss(logits[i:i + 1])), 1) for i in range(3)])

# %% [markdown]
# ### Differentiable augmentation
#
# With a few thousand images the discriminator can memorise the training set, and then its opinion stops being useful
# to the generator. DiffAugment (Zhao et al., 2020) augments **every** image the discriminator sees, real and
# generated, with random translation, brightness and contrast, each op applied to an image with probability
# `augment_p` (default 0.3). Because the ops are differentiable, the generator's gradient flows back through them, and
# because fakes are augmented too, the generator is never taught to draw augmented images. Each op is a plain function
# of the images and a stateless seed, so a resumed run draws the same augmentations. (Adaptive augmentation, ADA,
# which raises the probability when the discriminator grows overconfident, is a lab option: `lab/gan_options.py`.)

# %%
#| export
def translation(images, seed):
    """Shift each image by up to 1/8 of its size along each axis, filling the gap with black (-1)."""
    size = images.shape[1]
    pad = max(size // 8, 1)
    shifts = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed, -pad, pad + 1, dtype=tf.int32)
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=-1.0)
    rows = tf.range(size)[None, :] + pad + shifts[:, :1]
    cols = tf.range(size)[None, :] + pad + shifts[:, 1:]
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def brightness(images, seed):
    """Add a random shift in [-0.25, 0.25) to each image."""
    shift = (tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed) - 0.5) * 0.5
    return images + tf.cast(shift, images.dtype)


def contrast(images, seed):
    """Scale each image's deviation from its mean by a random factor in [0.6, 1.4)."""
    factor = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed, 0.6, 1.4)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * tf.cast(factor, images.dtype) + mean


#: the ops a DiffAugment policy may name: ``op(images, seed) -> images``
AUGMENTATIONS = {"translation": translation, "brightness": brightness, "contrast": contrast}


def diff_augment(images, seed, p, policy: str = "translation,brightness,contrast"):
    """DiffAugment for grayscale images in [-1, 1]: each op of ``policy`` applied per image with probability ``p``.

    ``seed`` is a stateless seed (shape ``(2,)`` int32): the same seed gives the same result.
    """
    batch = tf.shape(images)[0]
    for k, name in enumerate(op.strip() for op in policy.split(",") if op.strip()):
        if name not in AUGMENTATIONS:
            raise ValueError(f"augmentation {name!r} is unknown; use {', '.join(AUGMENTATIONS)}")
        seed_k = tf.random.experimental.stateless_fold_in(seed, k)
        apply = tf.cast(tf.random.stateless_uniform([batch, 1, 1, 1], seed_k) < p, images.dtype)
        augmented = AUGMENTATIONS[name](images, tf.random.experimental.stateless_fold_in(seed_k, 100))
        images = apply * augmented + (1 - apply) * images
    return images

# %% [markdown]
# What the discriminator sees: the same real images, un-augmented (top) and augmented with `p = 1` (bottom).

# %%
from helpers.plots import image_rows

x_real, _ = data.arrays("train")
x_real = x_real[:6, :, :, None].astype("float32") / 127.5 - 1.0  # (6, S, S, 1) in [-1, 1]
augmented = diff_augment(tf.constant(x_real), tf.constant([SEED, 7]), 1.0).numpy()
fig = image_rows([list(x_real), list(augmented)], row_titles=["real", "augmented"])
plt.show()

# %% [markdown]
# ### `train_step`: one round of the game
#
# Per batch of real images and their labels, in **one compiled step**:
#
# 0. **condition strength** (*transitional conditioning*, Shahbazi et al. 2022): every `condition_strength` weight
#    of notebook 03's layers, in both networks, is set from the step: 0 before `transition_start`, so both networks
#    first learn what a chest radiograph looks like with no label at all, then rising linearly to 1 at
#    `transition_end` (`transition_end=0`: 1 from the start). Both auxiliary losses are multiplied by the same
#    strength. A generator that meets the labels only once it draws varied images is less tempted to draw each
#    condition one way;
# 1. **discriminator**: generate fakes for the same labels; augment both; realism loss on both, plus `d_aux_weight` ×
#    the auxiliary classifier's cross-entropy (on the reals, and with its "generated" class on the fakes too). The
#    lab (`lab/gan_options.py`) subclasses this GAN to add regularisers such as R1 and LeCam to this loss;
# 2. **generator**: fresh noise, through the same augmentation, realism loss plus `aux_weight` × the auxiliary
#    cross-entropy on its fakes;
# 3. **EMA**: an exponential moving average of the generator's weights, which samples and the exported generator
#    use (the condition strength is copied, not averaged). It averages about the last 1 / (1 − `ema_decay`) steps,
#    100 at the default 0.99: a longer average is smoother but still carries generators from before the small
#    findings were learned;
# 4. **bookkeeping**: the step counter.
#
# The metrics it returns are what `fit` logs, each a separate number: the realism losses `d_loss` and `g_loss`
# (hinge: `d_loss` near 2 means the discriminator cannot tell, near 0 it wins), the auxiliary losses `aux_real`
# (discriminator, real images) and `aux_fake` (generator, its images), the discriminator's accuracy on reals
# (`D(x) > 0`) and on fakes (`D(G(z)) < 0`), and the condition's strength.

# %%
#| export
def update_ema(averages, weights, decay: float, step) -> None:
    """Move each of ``averages`` towards ``weights``: ``a = d * a + (1 - d) * w``; copy the condition strength.

    ``d = min(decay, (1 + step) / (10 + step))``: a plain average over the first steps, then ``decay``.
    The condition strength follows the step, not the weights, so the copy gets the same value.
    """
    step = tf.cast(step, tf.float32)
    d = tf.minimum(decay, (1.0 + step) / (10.0 + step))
    for a, w in zip(averages, weights):
        if w.name == "condition_strength":
            a.assign(tf.cast(w, a.dtype))
        else:
            a.assign(d * a + (1.0 - d) * tf.cast(w, a.dtype))


def transition_strength(step, start: int, end: int):
    """The condition's strength once ``step`` steps are done: 0 until ``start``, rising linearly to 1 at ``end``.

    ``end=0`` switches the transition off: the strength is 1 from the start.
    """
    if end <= 0:
        return tf.constant(1.0)
    progress = (tf.cast(step, tf.float32) - float(start)) / float(max(end - start, 1))
    return tf.clip_by_value(progress, 0.0, 1.0)


def condition_strength_weights(*models) -> list:
    """Every ``condition_strength`` weight of ``models`` (one per layer where the label enters)."""
    return [w for m in models for w in m.non_trainable_weights if w.name == "condition_strength"]


class ConditionalGAN(keras.Model):
    """A generator and a discriminator, built outside and passed in, trained by one custom ``train_step``."""

    def __init__(self, generator, discriminator, config: GANConfig, **kwargs):
        super().__init__(**kwargs)
        self.config, self.generator, self.discriminator = config, generator, discriminator
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())
        self.ema_generator.trainable = False
        self.strength_weights = condition_strength_weights(generator, discriminator)  # update_ema copies G's to the EMA
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="step", aggregation="only_first_replica")
        self.built = True  # the sub-models are built; fit must not trace call() on image batches
        self.trackers = {name: keras.metrics.Mean(name=name) for name in
                         ("d_loss", "g_loss", "aux_real", "aux_fake", "d_acc_real", "d_acc_fake", "condition_strength")}

    @property
    def metrics(self):
        """Reset at every epoch by ``fit``."""
        return list(self.trackers.values())

    def compile(self, g_optimizer=None, d_optimizer=None, d_loss_fn=None, g_loss_fn=None, **kwargs):
        """Adam (rates and betas from the config) unless given; the losses of ``config.loss`` unless given."""
        super().compile(**kwargs)
        c = self.config
        self.d_loss_fn = d_loss_fn or LOSSES[c.loss][0]
        self.g_loss_fn = g_loss_fn or LOSSES[c.loss][1]
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(c.g_lr, beta_1=c.beta_1, beta_2=c.beta_2)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(c.d_lr, beta_1=c.beta_1, beta_2=c.beta_2)
        if dtype_policy(c) == "mixed_float16":
            self.g_optimizer = keras.optimizers.LossScaleOptimizer(self.g_optimizer)
            self.d_optimizer = keras.optimizers.LossScaleOptimizer(self.d_optimizer)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def call(self, inputs, training=False):
        """``[z, labels] -> images`` with the EMA generator (what sampling uses)."""
        return self.ema_generator(inputs, training=training)

    def seed_for(self, purpose: int):
        """A stateless seed for this step, replica and ``purpose`` (noise, augmentation, ...)."""
        ctx = tf.distribute.get_replica_context()
        replica = tf.cast(ctx.replica_id_in_sync_group if ctx is not None else 0, tf.int64)
        return tf.cast(tf.stack([self.config.seed * 1000 + replica, tf.convert_to_tensor(self.step) * 16 + purpose]),
                       tf.int32)

    def discriminate(self, images, labels):
        """``(realism logits, class logits or None)``: the discriminator on augmented ``images``."""
        out = self.discriminator([images, labels], training=True)
        return (out[0], out[1]) if isinstance(out, (list, tuple)) else (out, None)

    def augment(self, images, seed):
        """DiffAugment with the config's policy and probability: what the discriminator sees."""
        return diff_augment(images, seed, self.config.augment_p, self.config.augment)

    def discriminator_extra_loss(self, real_aug, real_logits, fake_logits, labels):
        """Further terms of the discriminator's loss: none here (a subclass may add regularisers)."""
        return 0.0

    def train_step(self, data):
        real, labels = data
        c = self.config
        batch = tf.shape(real)[0]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        # 0. transitional conditioning: the label's strength in every layer where it enters
        strength = transition_strength(self.step + 1, c.transition_start, c.transition_end)
        for weight in self.strength_weights:
            weight.assign(strength)

        # 1. discriminator: real images with their labels against fakes drawn for the same labels
        z = tf.random.stateless_normal([batch, c.latent_dim], self.seed_for(1))
        fake = self.generator([z, labels], training=True)
        with tf.GradientTape() as tape:
            real_aug = self.augment(real, self.seed_for(2))
            real_logits, real_classes = self.discriminate(real_aug, labels)
            fake_logits, fake_classes = self.discriminate(self.augment(fake, self.seed_for(3)), labels)
            d_loss = self.d_loss_fn(real_logits, fake_logits)
            aux_real = class_loss(real_classes, labels)
            aux_d = aux_real
            if c.aux_fake_class:  # the classifier also learns a "generated" class, on the fakes
                aux_d = 0.5 * (aux_real + class_loss(fake_classes, tf.fill([batch], c.num_classes)))
            total = (d_loss + strength * c.d_aux_weight * aux_d
                     + self.discriminator_extra_loss(real_aug, real_logits, fake_logits, labels))
            scaled = self.d_optimizer.scale_loss(total / tf.cast(replicas, total.dtype))
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(scaled, d_vars), d_vars)

        # 2. generator: fool the discriminator, through the same augmentation
        z = tf.random.stateless_normal([batch, c.latent_dim], self.seed_for(4))
        with tf.GradientTape() as tape:
            fake = self.generator([z, labels], training=True)
            fake_logits_g, fake_classes_g = self.discriminate(self.augment(fake, self.seed_for(5)), labels)
            g_loss = self.g_loss_fn(fake_logits_g)
            aux_fake = class_loss(fake_classes_g, labels)
            total = g_loss + strength * c.aux_weight * aux_fake
            scaled = self.g_optimizer.scale_loss(total / tf.cast(replicas, total.dtype))
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(scaled, g_vars), g_vars)

        # 3. EMA of the generator's weights (a plain average over the first steps)
        update_ema(self.ema_generator.weights, self.generator.weights, c.ema_decay, self.step)

        # 4. bookkeeping
        self.step.assign_add(1)
        real32, fake32 = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
        values = {"d_loss": d_loss, "g_loss": g_loss, "aux_real": aux_real, "aux_fake": aux_fake,
                  "d_acc_real": tf.reduce_mean(tf.cast(real32 > 0, tf.float32)),
                  "d_acc_fake": tf.reduce_mean(tf.cast(fake32 < 0, tf.float32)), "condition_strength": strength}
        for name, value in values.items():
            self.trackers[name].update_state(tf.cast(value, tf.float32))
        return {name: t.result() for name, t in self.trackers.items()}

# %% [markdown]
# Finally, one function builds the networks a config describes (under its precision policy) and
# passes them in. The course runner, the lab and the tests call this same function.

# %%
#| export
def build_gan(config: GANConfig) -> ConditionalGAN:
    """Build the generator and discriminator of ``config`` and wrap them in a :class:`ConditionalGAN` (not compiled).

    Call it inside ``strategy.scope()`` to train on several devices.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy(config))
    try:
        generator = build_generator(config.image_size, config.latent_dim, config.g_width, config.num_classes,
                                    config.conditioning, norm=config.g_norm)
        discriminator = build_discriminator(config.image_size, config.d_width, config.num_classes,
                                            config.conditioning, aux_classifier=config.aux_weight > 0,
                                            aux_fake_class=config.aux_fake_class, mbstd=config.d_mbstd)
        return ConditionalGAN(generator, discriminator, config)
    finally:
        keras.config.set_dtype_policy(previous)

# %% [markdown]
# ## 3. Train (and resume)
#
# `GANConfig` holds every setting (saved as `config.json`). `helpers.training.train` is the infrastructure around
# `fit`: it restores the latest checkpoint if there is one, streams the training split from the step where it
# stopped, and calls `gan.fit(...)` with these callbacks: a **sample grid** (fixed noise, one column per condition;
# shown below at step 0 and every `SAMPLE_EVERY` epochs), **checkpoints** of the whole training state (every 500
# steps and at the end, written atomically), a **divergence guard** (stops on NaN losses or a runaway discriminator
# and keeps the last good checkpoint), a **step budget** that prints progress and an ETA, and CSV and TensorBoard
# logs. **Run the training cell again and it resumes**; a corrupt checkpoint stops with an error that names it.

# %%
from helpers.config import GANConfig

config = GANConfig(image_size=IMAGE_SIZE, classes=data.classes, batch_size=BATCH_SIZE,
                   conditioning=CONDITIONING, aux_weight=GANConfig.aux_weight if CONDITIONING == "projection" else 0.0,
                   balanced=BALANCED, seed=SEED)
with strategy.scope():
    gan = build_gan(config)
    gan.compile()
print(f"generator {gan.generator.count_params():,} parameters | discriminator {gan.discriminator.count_params():,}")

# %%
from helpers.generate import load_generator, shipped_generator
from helpers.training import train

if TRAIN:
    gan = train(data, GAN_DIR, config, gan=gan, steps=TRAIN_STEPS, minutes=TRAIN_MINUTES,
                sample_every=SAMPLE_EVERY, show_samples=True, verbose=0, progress=True)
    generator, generator_path, trained_steps = gan.ema_generator, GAN_DIR / "generator.keras", int(gan.step.numpy())
    print("trained steps:", trained_steps)
else:  # a workshop that skips training: the shipped generator, when one was trained on this kind of data
    generator_path, message = shipped_generator(SOURCE, IMAGE_SIZE, CLASSES)
    generator, generator_meta = load_generator(generator_path)
    trained_steps = int(generator_meta["step"])
    print(message)

# %% [markdown]
# ## 4. Reading the logs
#
# Each curve is one number `train_step` returned, averaged over an epoch. Curves that stayed constant
# over the run (to rounding) are dropped by the code below, so whatever is drawn moved. In a healthy run
# `d_loss` settles well above 0 (the discriminator never wins outright), its accuracies hover between
# 0.5 and 1 instead of sitting at 1, and `aux_fake` falls as the generator learns to draw the conditions.

# %%
def moved(log, col):
    """Whether a logged column changed over the run (epoch means of a constant differ only by float rounding)."""
    return col in log and len(log) > 1 and float(log[col].max() - log[col].min()) > 1e-4


if not TRAIN:
    print("No training in this run (TRAIN = False): no logs to read; set TRAIN = True to train and see them here.")
else:
    log = pd.read_csv(GAN_DIR / "losses.csv")
    groups = {"realism losses": ["d_loss", "g_loss"], "auxiliary classifier": ["aux_real", "aux_fake"],
              "discriminator accuracy": ["d_acc_real", "d_acc_fake"]}
    grouped = {col for cols in groups.values() for col in cols}
    groups["other"] = [col for col in log.columns if col != "epoch" and col not in grouped]
    panels = [(title, [col for col in cols if moved(log, col)]) for title, cols in groups.items()]
    panels = [(title, cols) for title, cols in panels if cols] or [("realism losses", ["d_loss", "g_loss"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 2.8), squeeze=False)
    for ax, (title, cols) in zip(axes[0], panels):
        for col in cols:
            ax.plot(log["epoch"] + 1, log[col], marker=".", label=col)
        ax.set_title(title); ax.set_xlabel("epoch"); ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, RUN_DIR, "04_losses")
    plt.show()

# %% [markdown]
# ## 5. Does it draw the condition it was asked for? Label fidelity
#
# A classifier trained on the **real** training split (never on generated images) judges 100 generated images per
# condition. Its accuracy on the real test split comes first: a judge is only as good as that number (on imbalanced
# data, its **balanced** accuracy: the mean over conditions, which always answering the commonest condition cannot
# raise). Fidelity is the share of generated images it assigns to the condition they were asked for.
# `JUDGE = "auto"` loads the course's shipped judge when it was trained on exactly this data (the offline phantoms at
# 64 px) and otherwise trains one here (every condition weighted equally in its loss; about 2 minutes on a 2-core
# CPU); the line printed under the next cell says which. Two judges equally accurate on real images can disagree on
# generated ones by a few points, so read fidelity to about ±0.05 (the judge study in
# [docs/experiments.md](../docs/experiments.md)).

# %%
import json

from helpers.classifier import predict_classes, to_model_range, train_classifier
from helpers.evaluate import label_fidelity
from helpers.metrics import classification_scores
from helpers.verdicts import NOT_MEASURABLE, judge_gate

import keras

from helpers.generate import pretrained_paths

x_train, y_train = data.arrays("train")
x_test, y_test = data.arrays("test")
shipped = pretrained_paths(IMAGE_SIZE) if IMAGE_SIZE == 64 else None
trained_on = json.loads(shipped["info"].read_text()) if shipped else {}
same_data = (SOURCE, PHANTOMS_PER_CLASS, SEED, IMAGE_SIZE) == (
    trained_on.get("data_source"), trained_on.get("phantoms_per_class"), trained_on.get("seed"),
    trained_on.get("image_size")) and not screening["dropped"]
if JUDGE == "auto" and same_data:
    judge = keras.saving.load_model(shipped["judge"], safe_mode=True)
    judge_origin = f"the shipped one, trained on the real training split of this same data ({trained_on['judge']})"
else:
    judge = train_classifier(to_model_range(x_train), y_train, epochs=2 if SMOKE else 1, seed=SEED, width=16,
                             num_classes=len(CLASSES), min_steps=0 if SMOKE else 800)
    judge_origin = "trained now on the real training split"
print("judge:", judge_origin)
judge.save(RUN_DIR / "judge_classifier.keras")
judge_scores = classification_scores(predict_classes(judge, to_model_range(x_test)), y_test, len(CLASSES))
judge_accuracy = judge_scores["balanced_accuracy"]  # mean over conditions: the commonest one cannot inflate it
fidelity = label_fidelity(generator, judge, len(CLASSES), per_class=20 if SMOKE else 100, seed=SEED)
print(f"judge accuracy on real test images: {judge_accuracy:.3f} (mean over conditions; "
      f"{judge_scores['accuracy']:.3f} over all images)")
gate = judge_gate(judge_scores)  # can it tell the conditions apart in real images? (notebook 05 explains the test)
scored = [v if ok else np.nan for v, ok in zip(fidelity["per_class"], gate["conditions"])]  # only where it can
label_fidelity_value = (fidelity["fidelity"] if all(gate["conditions"]) else float(np.nanmean(scored))) \
    if gate["measurable"] else None
print("label fidelity of generated images: " + (f"{label_fidelity_value:.3f}" if gate["measurable"] else
                                                 f"{NOT_MEASURABLE}: {gate['reason']}; {gate['remedy']} would help"))
pd.Series(scored, index=CLASSES, name="fidelity").to_frame().T

# %%
import seaborn as sns

fig, ax = plt.subplots(figsize=(6, 5))
sns.heatmap(np.array(fidelity["confusion"]), annot=True, fmt="d", cmap="Blues", ax=ax,
            xticklabels=CLASSES, yticklabels=CLASSES)
ax.set_xlabel("judge's prediction"); ax.set_ylabel("condition asked for")
save_figure(fig, RUN_DIR, "04_fidelity_confusion")
plt.show()

# %% [markdown]
# ## 6. What this run shows
#
# Fidelity says whether the condition is drawn; it says nothing about variety. MS-SSIM between two images of the same
# condition (1 = identical) measures it: generated pairs much more alike than real pairs mean the generator draws a
# few variations per condition (mode collapse). The text below is written from this run's numbers.

# %%
from helpers.evaluate import ms_ssim_diversity
from helpers.generate import generate_images

per_class = 20 if SMOKE else 100
y_gen = np.repeat(np.arange(len(CLASSES)), per_class)
x_gen = generate_images(generator, y_gen, seed=SEED + 1)
similarity_gen = ms_ssim_diversity(x_gen, y_gen, len(CLASSES), pairs=50, seed=SEED)
similarity_real = ms_ssim_diversity(to_model_range(x_test), y_test, len(CLASSES), pairs=50, seed=SEED)
gap = np.nanmean(similarity_gen) - np.nanmean(similarity_real)
if gate["measurable"]:
    weakest = int(np.nanargmin(scored))
    mistaken = np.array(fidelity["confusion"][weakest], dtype=float)
    mistaken[weakest] = -1  # the most frequent *wrong* answer
    print(f"After {trained_steps:,} steps the judge recognises {label_fidelity_value:.0%} of generated "
          f"images (real test images: {judge_accuracy:.0%}). Weakest condition: {CLASSES[weakest]} "
          f"({scored[weakest]:.0%}); when it is missed, the judge most often sees {CLASSES[int(np.argmax(mistaken))]}.")
else:
    print(f"After {trained_steps:,} steps: label fidelity {NOT_MEASURABLE} (it cannot tell the conditions "
          "apart in real images), so only the pictures and the variety below speak for the generator.")
print(f"Within a condition, generated pairs have MS-SSIM {np.nanmean(similarity_gen):.2f} against "
      f"{np.nanmean(similarity_real):.2f} for real pairs: "
      + ("about as varied as real images." if gap < 0.1 else
         "generated images of one condition are clearly more alike than real ones (partial mode collapse)."))
metrics = {"label_fidelity": label_fidelity_value, "per_class_fidelity": [None if np.isnan(v) else v for v in scored],
           "judge_gate": gate["reason"], "judge_accuracy_real_test": judge_accuracy, "generated_per_class": per_class,
           "ms_ssim_generated": similarity_gen, "ms_ssim_real": similarity_real, "image_size": IMAGE_SIZE,
           "data_source": SOURCE, "classes": list(CLASSES), "train_steps": trained_steps,
           "judge": f"notebook 04's judge: {judge_origin}", "trained_here": bool(TRAIN)}
(RUN_DIR / "training_metrics.json").write_text(json.dumps(metrics, indent=1))

# %%
from helpers.plots import sample_sheet

four_per_condition = x_gen.reshape(len(CLASSES), per_class, IMAGE_SIZE, IMAGE_SIZE, 1)[:, :4]
fig = sample_sheet(four_per_condition.transpose(1, 0, 2, 3, 4).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1), CLASSES,
                   rows=4, title="four draws per condition (each column should vary)")
save_figure(fig, RUN_DIR, "04_final_samples")
plt.show()

# %% [markdown]
# ## 7. What the defaults are for
#
# Pictures first. Left: the first sample grid this run saved (at step 0, before training, no chest at all, unless
# the run resumed); middle: its last. Right, when the repository is at hand: the grid of the course's own quick run on the
# phantoms, trained with today's defaults. Read each grid down its columns: draws of one condition should differ
# from one another (variety), and the columns from each other (the condition). A collapsed generator repeats one
# image down a column; one that ignores the label draws every column alike.

# %%
from matplotlib.image import imread

from helpers.env import project_dir

grids = sorted((GAN_DIR / "samples").glob("step_*.png")) if TRAIN else []
if not TRAIN:
    print("No training in this run (TRAIN = False): no sample grids of its own; the course's run is shown instead.")
panels = [(f"this run, step {int(path.stem.split('_')[1]):,}", path) for path in dict.fromkeys(grids[:1] + grids[-1:])]
course_grid = project_dir() / "docs" / "images" / "phantom_samples_quick_course.png"
if course_grid.is_file():
    panels.append(("the course's quick run (phantoms, today's defaults)", course_grid))
else:
    print("The course's own grid is docs/images/phantom_samples_quick_course.png in the repository.")
if panels:
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (title, path) in zip(axes[0], panels):
        ax.imshow(imread(path)); ax.set_title(title, fontsize=9); ax.axis("off")
    fig.tight_layout()
    save_figure(fig, RUN_DIR, "04_first_and_last_grids")
    plt.show()

# %% [markdown]
# ### Why these defaults
#
# Each default of `GANConfig` has one job; the lab's measurements behind each are in [docs/experiments.md](../docs/experiments.md).
#
# - `aux_weight=1`: a gentle push from the classifier keeps a condition's images varied; a strong one pulls them all towards its most recognisable form ([evidence](../docs/experiments.md)).
# - `d_aux_weight=3`: the class head trains hard and becomes a sharp teacher; the generator can only be as faithful as its teacher ([evidence](../docs/experiments.md)).
# - `aux_fake_class=True`: the head also learns what generated images look like, so one stereotyped image per condition no longer fools it ([evidence](../docs/experiments.md)).
# - `d_mbstd=True`: the discriminator sees how much a batch varies, so a batch of near-copies stands out and collapse is punished ([evidence](../docs/experiments.md)).
# - `transition_start=300`, `transition_end=1200`: both networks learn chests before labels, so the generator already draws varied chests when the condition arrives ([evidence](../docs/experiments.md)).
# - `ema_decay=0.99`: samples average about the last 100 steps, smooth yet recent enough to keep small findings learned late ([evidence](../docs/experiments.md)).
# - `g_lr=d_lr=1e-3`: the conditions are learned sooner than at half the rate; halve both if a longer or larger run stops with non-finite losses ([evidence](../docs/experiments.md)).
# - `g_norm="instance"`: each image is normalised on its own statistics, never its batch's; `"pixel"` keeps more of the noise and is one argument away ([evidence](../docs/experiments.md)).
# - `augment_p=0.3`: every image the discriminator sees may be shifted, brightened or contrasted, so it cannot memorise a few thousand images ([evidence](../docs/experiments.md)).
# - Left out: LeCam, R1, adaptive augmentation, a mapping network and other remedies from the literature did not earn a place; `lab/gan_options.py` keeps the first three ([evidence](../docs/experiments.md)).
#
# ### Failure modes and what to do
#
# | symptom | what you see | what to do |
# |---|---|---|
# | **mode collapse** | draws down a sample column look alike; generated MS-SSIM well above real | lower `aux_weight`; keep `d_mbstd=True`, `aux_fake_class=True` and transitional conditioning on; raise `augment_p`; try `g_norm="pixel"` |
# | **discriminator overpowers** | `d_loss` → 0, both accuracies → 1, `g_loss` climbs, samples stop improving; the guard may stop the run | raise `augment_p`, lower `d_lr`, a narrower discriminator (`d_width`) |
# | **condition ignored** | columns look alike; label fidelity near chance (one over the number of conditions); the confusion matrix has one full column | projection discriminator and conditional normalisation (notebook 03), the auxiliary classifier, check the labels in the pipeline |
# | **some conditions drawn as others** | low fidelity for small findings while `aux_fake` is low | the generator fools a weak teacher: keep `aux_fake_class=True` and `d_aux_weight` above `aux_weight`; compare the raw generator with the EMA copy (exercise 7) |
# | **NaN losses** | the guard stops with "non-finite" | lower learning rates; under mixed precision keep the output layers in float32 (they are) |
#
# ## 8. Export and generate a synthetic dataset
#
# `train` exported `generator.keras` (EMA weights) with `generator.json` (classes, image size, latent
# size). The command below writes a synthetic dataset in the NIH layout that every NIH pipeline reads.

# %%
import os
import subprocess
import sys

from helpers.data import load_nih

n_per_class = 5 if SMOKE else 50
command = [sys.executable, "-m", "helpers.generate", str(generator_path),
           "--per-class", str(n_per_class), "--out", str(RUN_DIR / "synthetic"), "--seed", str(SEED)]
done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
if done.returncode:
    raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
print(done.stdout.strip().splitlines()[-1])
synthetic, report = load_nih(RUN_DIR / "synthetic", classes=CLASSES, verbose=False)
synthetic["condition"].value_counts()

# %% [markdown]
# ## Summary
#
# - The networks are built outside and passed into a `keras.Model` whose `train_step` updates the discriminator,
#   then the generator, then the EMA copy, in one compiled step; `model.fit` drives it with callbacks for samples,
#   logs, checkpoints, a divergence guard and a step budget. The cells marked `#| export` are `helpers.gan`.
# - Variety and faithfulness pull against each other: the classifier teaches hard but pushes the generator gently,
#   and transitional conditioning lets the generator learn varied chests before the labels.
# - Samples and label fidelity, not losses, say whether training worked; variety needs its own measure (MS-SSIM).
# - Runs resume exactly from their checkpoints; the exported `generator.keras` loads in Keras safe mode.

# %% [markdown]
# ## Exercises
#
# Exercises that retrain say how long they take: the default 3,000 steps take about 8 minutes on a 2-core CPU
# (the training cell prints its estimate). Retrain into a new `RUN_DIR`: an old one holds a checkpoint with other
# settings, and the notebook would resume it.
#
# 1. Train with `CONDITIONING = "concat"` and compare the sample grids and label fidelity with the default's.
#
# <details><summary>Solution</summary>
#
# Set `CONDITIONING = "concat"`, `TRAIN_STEPS = 1500` (about 4 minutes) and a new `RUN_DIR`, and rerun. The concat
# design has no projection head and no auxiliary classifier, so its discriminator can judge realism without looking
# at the label: the columns of its grids hardly differ, and section 5's fidelity stays well below the default's.
# </details>
#
# 2. Interrupt the training cell (Kernel > Interrupt), then run it again. Did it resume or restart?
#
# <details><summary>Solution</summary>
#
# It prints `resuming from ckpt-N (step N)`: it restarts from the last checkpoint (every 500 steps), not from 0.
# `losses.csv` shows the epochs continuing; the few steps after the checkpoint are redone with the same random
# draws, since all randomness is keyed on the step.
# </details>
#
# 3. Replace the hinge loss by the non-saturating loss without touching `GANConfig`.
#
# <details><summary>Solution</summary>
#
# In the cell that builds the GAN, `gan.compile(d_loss_fn=d_nonsaturating_loss, g_loss_fn=g_nonsaturating_loss)`
# (a new `RUN_DIR`; `TRAIN_STEPS = 600`, about 2 minutes, is enough). In section 4, "cannot tell" is now
# `d_loss` = 2 ln 2 ≈ 1.39 instead of 2, so the curve settles at another level.
# </details>
#
# 4. Add `print("tracing train_step")` as the first line of `train_step` and train again (a new `RUN_DIR`,
#    `TRAIN_STEPS = 100`, under a minute). How often is it printed, and why?
#
# <details><summary>Solution</summary>
#
# Once per `fit` call: `fit` compiles `train_step` into a TensorFlow graph by tracing it, and Python code such as
# `print` runs only while tracing. To print at every step, use `tf.print`.
# </details>
#
# 5. On a GPU, train at `IMAGE_SIZE = 128` on real data. Which condition is drawn worst, and why might that be?
#
# <details><summary>Solution</summary>
#
# Set `DATA_SOURCE = "chestmnist"`, `IMAGE_SIZE = 128`, `TRAIN_STEPS = 20000` (a GPU run, far too long for a CPU).
# Section 5 names the weakest condition: usually a small, subtle finding (Nodule, Mass, Pneumothorax's thin line)
# that 128 px barely resolves and that the judge also recognises worst on real images.
# </details>
#
# 6. Make the auxiliary classifier a weaker teacher: `aux_fake_class=False` in one run, `d_aux_weight=1.0` in
#    another (added to the `GANConfig(...)` call). What happens to variety and to fidelity?
#
# <details><summary>Solution</summary>
#
# Each run takes the full 3,000 steps (about 8 minutes): variety shows only at the end. Without the "generated"
# class the head rewards the most easily classified version of each condition: look down the grids' columns and at
# section 6's MS-SSIM line for images more alike. At weight 1 the head learns the conditions less well; check it on
# real test images with `np.mean(np.argmax(gan.discriminator([to_model_range(x_test), y_test.astype("int32")],
# training=False)[1][:, :len(CLASSES)], axis=1) == y_test)`, and look for the weakest condition's fidelity falling
# with it. One run cannot tell a small difference from noise; the lab's seeds are in `docs/experiments.md`.
# </details>
#
# 7. Score the raw generator (`gan.generator`) as section 5 scores the EMA copy. Which draws small findings better?
#
# <details><summary>Solution</summary>
#
# No retraining: `label_fidelity(gan.generator, judge, len(CLASSES), per_class=100, seed=SEED)` beside `fidelity`.
# The EMA copy averages about the last 1 / (1 − `ema_decay`) steps: smoother, but late to show what the generator
# learned recently. A small finding the raw generator draws more often was learned late, and a lower `ema_decay`
# would show it sooner. `lab/time_to_fidelity.py --ema-decays 0.98 0.999` compares decays in one run.
# </details>
#
# 8. Switch transitional conditioning off (`transition_end=0`) and watch the first sample grids.
#
# <details><summary>Solution</summary>
#
# Add `transition_end=0` to `GANConfig(...)`, set `TRAIN_STEPS = 1200` (about 3 minutes) and `SAMPLE_EVERY = 1`.
# With the default, the first grids' columns do not differ (no label until step 300), the conditions appear by step
# 1,200 and `condition_strength` climbs from 0 to 1; without the transition the columns differ from the first epochs.
# Its aim, more varied images at the end, needs a whole run and several seeds to see (`docs/experiments.md`).
# </details>

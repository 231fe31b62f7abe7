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
# # 03 · Building a conditioned generator and discriminator
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/cxr-gan-course/cxr-gan-course/blob/main/notebooks/03_conditioned_models.ipynb)
#
# **You will learn to**
#
# - explain the two players of a GAN and their losses (minimax, non-saturating, hinge) and train a toy GAN in seconds
# - condition a GAN by concatenation (the original prototype), then by class-conditional normalisation and a projection discriminator
# - write the layers this course trains (conditional normalisation, spectral normalisation, the projection head) and build the generator and discriminator from them
# - follow the shapes through a forward pass, compare parameter counts, and see where the label acts
#
# **Expected runtime:** under a minute on a 2-core CPU at 64 px, most of it the short training demo of section 6 (seconds in smoke mode).
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
LATENT_DIM = 64              # size of the noise vector z
G_WIDTH = 16                 # generator channels at full resolution (doubling per halving)
D_WIDTH = 16                 # discriminator channels at full resolution
TOY_STEPS = 2000             # training steps of the 2-D toy GAN (section 1)
DEMO_STEPS = 60              # training steps of the short side-by-side demo (section 6)
SEED = 0
RUN_DIR = "runs/course"
SMOKE = False
PHANTOMS_PER_CLASS = 700

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers import CLASSES
from helpers.env import notebook_settings
from helpers.plots import save_figure

SMOKE, RUN_DIR, DATA_DIR, PHANTOMS_PER_CLASS, SOURCE = notebook_settings(
    DATA_SOURCE, DATA_DIR, IMAGE_SIZE, RUN_DIR, SMOKE, PHANTOMS_PER_CLASS, SEED, return_source=True)
if SMOKE:
    TOY_STEPS, DEMO_STEPS = min(TOY_STEPS, 200), min(DEMO_STEPS, 4)
if SOURCE == "folder":  # your own class folders: their names are the conditions
    from helpers.data import scan_image_folder

    CLASSES = tuple(scan_image_folder(DATA_DIR)["classes"])
print("conditions:", ", ".join(CLASSES))

# %% [markdown]
# ## 1. What a GAN is, on a toy you can train in seconds
#
# A GAN is two networks playing a game. The **generator** `G` turns random noise `z` into a sample
# `G(z)`. The **discriminator** `D` looks at a sample and outputs a score (a *logit*): high for "real",
# low for "generated". `D` is trained to tell real from generated; `G` is trained to make `D` wrong.
# Goodfellow et al. (2014) wrote the game as one value that `D` maximises and `G` minimises:
#
# $$\min_G \max_D \; \mathbb{E}_{x\sim\text{data}}[\log \sigma(D(x))] + \mathbb{E}_{z}[\log(1-\sigma(D(G(z))))]$$
#
# where $\sigma$ is the sigmoid. Before any X-ray, here is the whole idea on two numbers per sample
# (d2l's toy): the "real data" is a tilted, stretched 2-D Gaussian; the generator is a single linear
# layer, so the best it can do is learn that tilt and stretch.

# %%
toy_rng = np.random.default_rng(SEED)
A, b = np.array([[1.0, 2.0], [-0.1, 0.5]]), np.array([1.0, 2.0])
toy_real = (toy_rng.standard_normal((1000, 2)) @ A + b).astype("float32")

toy_generator = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(2)], name="toy_G")
toy_discriminator = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(5, activation="tanh"),
                                         tf.keras.layers.Dense(3, activation="tanh"), tf.keras.layers.Dense(1)],
                                        name="toy_D")
toy_before = toy_generator(toy_rng.standard_normal((500, 2)).astype("float32")).numpy()
print(f"real data: {toy_real.shape}; generator parameters: {toy_generator.count_params()}, "
      f"discriminator parameters: {toy_discriminator.count_params()}")

# %% [markdown]
# ### The losses, as code
#
# Taken literally, the generator's half of the game, $\log(1-\sigma(D(G(z))))$, *saturates*: early in
# training `D` rejects the fakes confidently, $\sigma(D(G(z)))\approx 0$, and the curve is flat there, so
# `G` gets almost no gradient exactly when it needs one. The **non-saturating** loss has `G` maximise
# $\log \sigma(D(G(z)))$ instead: the same goal, steep where the fakes are bad. With
# $-\log\sigma(l) = \text{softplus}(-l)$ both players' losses are one line each:
#
# $$L_D = \mathbb{E}[\text{softplus}(-D(x))] + \mathbb{E}[\text{softplus}(D(G(z)))] \qquad L_G = \mathbb{E}[\text{softplus}(-D(G(z)))]$$

# %%
def toy_d_loss(real_logits, fake_logits):
    """Discriminator: push real logits up and fake logits down (binary cross-entropy on logits)."""
    return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))


def toy_g_loss(fake_logits):
    """Generator, non-saturating: push the discriminator's logits on fakes up."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


logit = np.linspace(-6, 6, 200)
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(logit, np.log(1 - 1 / (1 + np.exp(-logit))), label=r"saturating: $\log(1-\sigma(l))$ (minimised)")
ax.plot(logit, np.log1p(np.exp(-logit)), label=r"non-saturating: softplus$(-l)$")
ax.plot(logit, -logit, label=r"hinge (section 4): $-l$")
ax.axvspan(-6, -2, color="0.9")
ax.text(-5.8, 4.5, "early training:\nD rejects fakes", fontsize=8)
ax.set_xlabel("discriminator logit l on a generated sample"); ax.set_ylabel("generator loss")
ax.legend(fontsize=7); ax.set_ylim(-6, 7)
save_figure(fig, RUN_DIR, "03_generator_losses")
plt.show()

# %% [markdown]
# On the left, where training starts, the saturating curve is flat (no gradient) while the
# non-saturating one is steep. Now the game itself: one step updates `D` on a batch of real and
# generated points, then `G` through the (frozen-for-this-step) `D`. Notebook 04 writes the same two
# updates, for images, in a Keras `train_step`.

# %%
toy_d_opt, toy_g_opt = tf.keras.optimizers.Adam(0.05), tf.keras.optimizers.Adam(0.005)


@tf.function
def toy_step(real):
    z = tf.random.normal((tf.shape(real)[0], 2))
    with tf.GradientTape() as tape:
        d_loss = toy_d_loss(toy_discriminator(real), toy_discriminator(toy_generator(z)))
    toy_d_opt.apply(tape.gradient(d_loss, toy_discriminator.trainable_variables), toy_discriminator.trainable_variables)
    with tf.GradientTape() as tape:
        g_loss = toy_g_loss(toy_discriminator(toy_generator(z)))
    toy_g_opt.apply(tape.gradient(g_loss, toy_generator.trainable_variables), toy_generator.trainable_variables)
    return d_loss, g_loss


tf.random.set_seed(SEED)
toy_losses = []
for step in range(TOY_STEPS):
    batch = toy_real[toy_rng.integers(0, len(toy_real), 32)]
    toy_losses.append([float(v) for v in toy_step(batch)])
toy_after = toy_generator(toy_rng.standard_normal((500, 2)).astype("float32")).numpy()

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for ax, fake, title in ((axes[0], toy_before, "before training"), (axes[1], toy_after, f"after {TOY_STEPS} steps")):
    ax.scatter(*toy_real[:500].T, s=4, alpha=0.5, label="real")
    ax.scatter(*fake.T, s=4, alpha=0.5, label="generated")
    ax.set_title(title); ax.legend(fontsize=7); ax.set_xlim(-6, 8); ax.set_ylim(-3, 6)
axes[2].plot(np.array(toy_losses)); axes[2].legend(["D loss", "G loss"]); axes[2].set_xlabel("step")
axes[2].axhline(2 * np.log(2), color="0.6", ls=":"); axes[2].text(0, 2 * np.log(2) + 0.05, "D cannot tell: 2 ln 2", fontsize=7)
save_figure(fig, RUN_DIR, "03_toy_gan")
plt.show()

# %% [markdown]
# The generated cloud moved onto the real one and took its tilt. The discriminator's loss heads to
# $2\ln 2 \approx 1.39$, its value when it can only guess (a logit near 0 for everything): the game's
# equilibrium. Two things to take to real images: the losses do not fall to zero as in supervised
# learning (each player's progress is the other's setback), so **look at samples**, not only at
# losses; and nothing here tells `G` *which kind* of sample to draw. That is conditioning.
#
# ## 2. Conditioning, step 1: concatenation (the prototype)
#
# The simplest way to ask for a condition is to hand the label to both players as an extra input.
# The original prototype of this course did exactly that: a 50-d label embedding becomes an extra 8×8
# plane beside the projected noise in the generator, and an extra full-size image channel in the
# discriminator, followed by `Conv2DTranspose(128)` / `Conv2D(128)` blocks and a sigmoid.
#
# It can work, but nothing forces the discriminator to *use* that extra channel: it can judge realism
# alone and let the generator ignore the label ("condition ignored", notebook 04).

# %%
from helpers.prototype import build_prototype_models

proto_g, proto_d, proto_gan = build_prototype_models(IMAGE_SIZE)
proto_g.summary(line_length=100)

# %% [markdown]
# ## 3. Conditioning, step 2: the layers this course trains
#
# The cells marked `#| export` below are not a simplified copy: they **are** the package module
# `helpers.models` that notebook 04, the course runner, the lab and the tests import
# (`python tools/notebooks.py export` writes them into `helpers/models.py`, and the test suite fails
# if the two differ). Change one here and rerun the notebook, and everything below in *this* notebook
# uses your version.

# %%
#| default_exp models
#| export
"""Conditioned generators and discriminators for 32 to 256 pixels (made from notebook 03's cells).

``conditioning="projection"`` (the course's design): class-conditional normalisation in the
generator, a spectrally normalised projection discriminator with an optional auxiliary
classifier. ``conditioning="concat"``: the label embedding joins the noise and an extra image
channel (the prototype's idea, at the same sizes). All models take ``[images_or_noise, labels]``
with integer labels of shape ``(B,)``; generators output ``(B, S, S, 1)`` in [-1, 1] as float32.
"""
import math

import keras
from keras import layers, ops

CONDITIONINGS = ("projection", "concat")
SIZES = (32, 64, 128, 256)


def count_parameters(model: keras.Model) -> int:
    """Trainable parameters of a model."""
    return int(sum(math.prod(v.shape) for v in model.trainable_weights))


def channels_at(resolution: int, image_size: int, width: int, max_mult: int = 8) -> int:
    """Channels used at ``resolution``: ``width`` at full size, doubling per halving, capped at ``max_mult*width``."""
    return width * min(max_mult, image_size // resolution)


def check_design(image_size: int, conditioning: str) -> int:
    """Validate a design; return the number of 2x up/down-sampling blocks between 4x4 and the image."""
    if image_size not in SIZES:
        raise ValueError(f"image_size={image_size} is not supported; use one of {SIZES}")
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"conditioning={conditioning!r} is unknown; use one of {CONDITIONINGS}")
    return int(math.log2(image_size // 4))

# %% [markdown]
# ### Class-conditional normalisation: the label acts at every resolution
#
# Concatenation shows the label to the generator once, at the input. Class-conditional normalisation
# (AdaIN with a class code) standardises each feature map and then applies a **scale and shift looked
# up per class**: `y = norm(x) · (1 + γ[label]) + β[label]`. Placed after every block, it lets the
# condition change the global layout at 4×4 and fine texture at full size. `γ` and `β` start at zero,
# so an untrained layer is a plain normalisation.
#
# Why instance statistics (per image, per channel) and not batch statistics: an image must not depend
# on which other images share its batch. The price: instance norm erases each channel's per-image mean
# and scale, where much of the noise vector's information lives at 4×4, so images of one condition
# come out more alike. `mode="pixel"` (ProGAN's pixel norm) instead divides each pixel's feature
# vector by its length and keeps that information. Both are one argument away
# (`build_generator(norm=...)`). The course's generator uses instance norm: the variety it erases is
# given back by fading the label in (next paragraph), which lets the generator learn varied chests
# first ([docs/experiments.md](../docs/experiments.md) compares the two).
#
# One more weight, not trained: `condition_strength`, a single number that multiplies the class code,
# `y = norm(x) · (1 + s·γ[label]) + s·β[label]`. At 1 the layer is exactly the formula above. Notebook
# 04's training starts it at 0 and fades it to 1 (*transitional conditioning*), so a model trained past
# the transition (1,200 steps by default) keeps 1. Every layer of this notebook where the label enters
# has one.

# %%
#| export
def add_condition_strength(layer):
    """Give ``layer`` a non-trainable scalar weight ``condition_strength``, 1 at the start.

    The layer multiplies everything the label contributes by it: 1 is the full condition (every
    finished model), 0 none. Notebook 04's ``train_step`` sets it to fade the condition in.
    """
    return layer.add_weight(shape=(), initializer="ones", trainable=False, name="condition_strength",
                            aggregation="only_first_replica")


@keras.saving.register_keras_serializable(package="cxr_gan")
class ConditionStrength(layers.Layer):
    """Multiply the input (a label embedding) by the layer's ``condition_strength``."""

    def build(self, input_shape):
        self.condition_strength = add_condition_strength(self)

    def call(self, x):
        return x * ops.cast(self.condition_strength, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="cxr_gan")
class ClassConditionalNorm(layers.Layer):
    """Normalisation followed by a per-class scale and shift: ``norm(x) * (1 + s*gamma[y]) + s*beta[y]``.

    ``mode="instance"`` standardises each channel over the image; ``mode="pixel"`` divides each
    pixel's feature vector by its RMS over channels. gamma and beta start at zero; ``s`` is the
    layer's ``condition_strength`` (1 unless training fades it). Neither mode uses batch
    statistics, so training, sampling and every replica of a distributed run agree.
    """

    def __init__(self, num_classes: int, epsilon: float = 1e-5, mode: str = "instance", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("pixel", "instance"):
            raise ValueError(f"mode={mode!r}; use 'pixel' or 'instance'")
        self.num_classes, self.epsilon, self.mode = num_classes, epsilon, mode

    def build(self, input_shape):
        channels = input_shape[0][-1]
        self.gamma = self.add_weight(shape=(self.num_classes, channels), initializer="zeros", name="gamma")
        self.beta = self.add_weight(shape=(self.num_classes, channels), initializer="zeros", name="beta")
        self.condition_strength = add_condition_strength(self)

    def call(self, inputs):
        x, labels = inputs
        if self.mode == "instance":
            mean = ops.mean(x, axis=(1, 2), keepdims=True)
            var = ops.var(x, axis=(1, 2), keepdims=True)
            x = (x - mean) * ops.rsqrt(var + self.epsilon)
        else:  # in float32: squares of float16 activations overflow under mixed precision
            x32 = ops.cast(x, "float32")
            x = ops.cast(x32 * ops.rsqrt(ops.mean(ops.square(x32), axis=-1, keepdims=True) + self.epsilon), x.dtype)
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        gamma = ops.cast(ops.take(self.gamma, labels, axis=0), x.dtype)[:, None, None, :]
        beta = ops.cast(ops.take(self.beta, labels, axis=0), x.dtype)[:, None, None, :]
        strength = ops.cast(self.condition_strength, x.dtype)
        return x * (1.0 + strength * gamma) + strength * beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "epsilon": self.epsilon, "mode": self.mode}

# %% [markdown]
# Shapes in, shapes out: a `(B, H, W, C)` feature map and `(B,)` labels give a `(B, H, W, C)` map. To
# see the class code act, set two classes' `γ, β` by hand and normalise the same map under each label (then at
# condition strength 0, where notebook 04's transitional conditioning starts):

# %%
norm = ClassConditionalNorm(num_classes=2)
features = tf.random.stateless_normal((2, 4, 4, 3), seed=(SEED, 1)) * 5 + 2
print("input", features.shape, "-> output", norm([features, tf.constant([0, 1])]).shape)
norm.gamma.assign([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])   # class 1: twice the contrast
norm.beta.assign([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])    # and brighter
for label in (0, 1):
    out = norm([features[:1], tf.constant([label])])
    print(f"label {label}: mean {float(tf.reduce_mean(out)):+.2f}, std {float(tf.math.reduce_std(out)):.2f}")
norm.condition_strength.assign(0.0)  # where transitional conditioning starts: the label has no effect
same = norm([features[:1], tf.constant([0])]) - norm([features[:1], tf.constant([1])])
print("condition strength 0: largest difference between the labels' outputs", float(tf.reduce_max(tf.abs(same))))

# %% [markdown]
# ### Spectral normalisation: a discriminator that cannot overreact
#
# If the discriminator's output can change arbitrarily fast with its input, it wins by
# exaggerating tiny differences and its gradients to the generator become useless. Spectral
# normalisation (Miyato et al., 2018) divides each layer's kernel by its largest singular value σ, so
# no layer stretches any input direction by more than 1 (the whole network is then 1-Lipschitz, up to
# its activations). σ is estimated by one step of power iteration per training step, with a vector `u`
# carried between steps. Gradients flow *through* σ, as in the paper: the optimiser sees that growing
# the kernel also grows σ. (Keras' own `SpectralNormalization` wrapper instead overwrites the kernel
# with its normalised copy, so σ is outside the gradient.)

# %%
#| export
def _l2_normalize(x, eps=1e-12):
    return x * ops.rsqrt(ops.sum(ops.square(x)) + eps)


def spectral_normalize(kernel, u_var, out_dim: int):
    """``kernel / sigma``, sigma from one power iteration with ``u_var`` (updated); gradients flow through sigma."""
    w = ops.reshape(kernel, (-1, out_dim))
    u = ops.stop_gradient(ops.cast(u_var, w.dtype))
    v = ops.stop_gradient(_l2_normalize(ops.matmul(u, ops.transpose(w))))
    u_new = ops.stop_gradient(_l2_normalize(ops.matmul(v, w)))
    u_var.assign(ops.cast(u_new, u_var.dtype))
    sigma = ops.sum(ops.matmul(v, w) * u_new)
    return kernel / sigma


@keras.saving.register_keras_serializable(package="cxr_gan")
class SNConv2D(layers.Conv2D):
    """A ``Conv2D`` whose kernel is divided by its largest singular value in every forward pass."""

    def build(self, input_shape):
        super().build(input_shape)
        self.sn_u = self.add_weight(shape=(1, self.filters), initializer="random_normal", trainable=False,
                                    name="sn_u", aggregation="only_first_replica")

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, spectral_normalize(kernel, self.sn_u, self.filters))


@keras.saving.register_keras_serializable(package="cxr_gan")
class SNDense(layers.Dense):
    """A ``Dense`` layer with a spectrally normalised kernel (see :class:`SNConv2D`)."""

    def build(self, input_shape):
        super().build(input_shape)
        self.sn_u = self.add_weight(shape=(1, self.units), initializer="random_normal", trainable=False,
                                    name="sn_u", aggregation="only_first_replica")

    def call(self, inputs):
        x = ops.matmul(inputs, spectral_normalize(self.kernel, self.sn_u, self.units))
        if self.use_bias:
            x = x + self.bias
        return self.activation(x) if self.activation is not None else x

# %% [markdown]
# Check it does what it says: after a few forward passes (each one a power-iteration step) the
# normalised kernel's largest singular value is 1, whatever the raw kernel's was.

# %%
sn_conv = SNConv2D(8, 3, padding="same")
sn_conv.build((None, 16, 16, 4))
sn_conv.kernel.assign(sn_conv.kernel * 7.0)
for _ in range(20):
    sn_conv(tf.zeros((1, 16, 16, 4)))
raw = np.linalg.svd(sn_conv.kernel.numpy().reshape(-1, 8), compute_uv=False)[0]
normalised = np.linalg.svd(spectral_normalize(sn_conv.kernel, sn_conv.sn_u, 8).numpy().reshape(-1, 8),
                           compute_uv=False)[0]
print(f"largest singular value: raw kernel {raw:.2f} -> normalised {normalised:.3f}")

# %% [markdown]
# ### The projection head: the discriminator must check the label
#
# A projection discriminator (Miyato & Koyama, 2018) computes image features `h(x)` and scores
# `D(x, y) = w·h(x) + embed(y)·h(x)`. The first term judges realism; the second is large only when
# the features agree with the class embedding of the label, so to win the discriminator has to check
# the condition, and the generator gets a gradient towards drawing it. Its `condition_strength`
# multiplies the second term.

# %%
#| export
@keras.saving.register_keras_serializable(package="cxr_gan")
class ProjectionHead(layers.Layer):
    """``w·h + s * embed(y)·h``: the projection discriminator's output, one logit per image (``s``: condition strength)."""

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes

    def build(self, input_shape):
        features = input_shape[0][-1]
        self.dense = SNDense(1, name="unconditional")
        self.dense.build((None, features))
        self.embedding = self.add_weight(shape=(self.num_classes, features), initializer="glorot_uniform",
                                         name="class_embedding")
        self.condition_strength = add_condition_strength(self)

    def call(self, inputs):
        h, labels = inputs
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        projection = ops.sum(ops.take(self.embedding, labels, axis=0) * h, axis=-1, keepdims=True)
        return self.dense(h) + ops.cast(self.condition_strength, projection.dtype) * projection

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}

# %% [markdown]
# ### The generator
#
# Noise and an embedding of the label go through a dense layer to a 4×4 map; then `log2(S/4)` blocks
# each normalise per class, apply LeakyReLU and double the resolution with a transposed convolution,
# halving the channels (so channels are narrow where images are large: that is where a CPU spends its
# time). A 3×3 convolution and `tanh` give one grey channel in [-1, 1], kept in float32 under mixed
# precision. With `conditioning="concat"` the class-conditional normalisation is left out, and the
# label only joins the noise: the prototype's idea at the same sizes.

# %%
#| export
def build_generator(image_size: int = 64, latent_dim: int = 64, width: int = 16, num_classes: int = 7,
                    conditioning: str = "projection", name: str = "generator", norm: str = "instance") -> keras.Model:
    """Generator ``[z (B, latent_dim), label (B,)] -> image (B, S, S, 1)`` in [-1, 1].

    ``width`` channels at full size, doubling per halving; with ``projection`` conditioning every
    block is followed by :class:`ClassConditionalNorm` (``norm``: pixel or instance).
    """
    blocks = check_design(image_size, conditioning)
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    embedded = layers.Flatten()(layers.Embedding(num_classes, latent_dim, name="label_embedding")(
        layers.Reshape((1,))(label)))
    embedded = ConditionStrength(name="label_strength")(embedded)
    x = layers.Concatenate()([z, embedded])
    ch = channels_at(4, image_size, width)
    x = layers.Dense(4 * 4 * ch, name="project")(x)
    x = layers.Reshape((4, 4, ch))(x)
    resolution = 4
    for _ in range(blocks):
        if conditioning == "projection":
            x = ClassConditionalNorm(num_classes, mode=norm, name=f"cond_norm_{resolution}")([x, label])
        x = layers.LeakyReLU(0.2)(x)
        resolution *= 2
        x = layers.Conv2DTranspose(channels_at(resolution, image_size, width), 4, strides=2, padding="same",
                                   name=f"up_{resolution}")(x)
    if conditioning == "projection":
        x = ClassConditionalNorm(num_classes, mode=norm, name=f"cond_norm_{resolution}")([x, label])
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(1, 3, padding="same", name="to_image")(x)
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model([z, label], image, name=name)

# %%
generator = build_generator(IMAGE_SIZE, LATENT_DIM, G_WIDTH, len(CLASSES), "projection")
generator.summary(line_length=100)

# %% [markdown]
# ### Minibatch standard deviation: let the discriminator see variety
#
# A discriminator that scores one image at a time cannot notice that *all* the generated images in a
# batch look alike, so it cannot punish mode collapse. Minibatch standard deviation (ProGAN, Karras et
# al. 2018) appends one feature map holding how much the batch's features vary: a batch of near-copies
# stands out at once. It is optional (`build_discriminator(..., mbstd=True)`, `GANConfig(d_mbstd=True)`).

# %%
#| export
@keras.saving.register_keras_serializable(package="cxr_gan")
class MinibatchStdDev(layers.Layer):
    """Append one channel: the standard deviation of the features across the batch, averaged, at every pixel."""

    def call(self, x):
        x32 = ops.cast(x, "float32")
        spread = ops.mean(ops.sqrt(ops.var(x32, axis=0) + 1e-8))
        plane = ops.ones_like(x32[..., :1]) * spread
        return ops.concatenate([x, ops.cast(plane, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

# %%
copies = tf.repeat(tf.random.stateless_normal((1, 4, 4, 2), seed=(SEED, 3)), 8, axis=0)
varied = tf.random.stateless_normal((8, 4, 4, 2), seed=(SEED, 4))
print("extra channel for 8 copies:", float(MinibatchStdDev()(copies)[0, 0, 0, -1]),
      "| for 8 different inputs:", round(float(MinibatchStdDev()(varied)[0, 0, 0, -1]), 3))

# %% [markdown]
# ### The discriminator
#
# The mirror image: strided 4×4 convolutions halve the resolution down to 4×4 (channels doubling),
# a 3×3 convolution and a **sum** over the 4×4 map give the features `h(x)` (sum, not mean, as in
# SN-GAN: with every layer's gain capped at 1, the head needs the room), then the projection head.
# An **auxiliary classifier** on the same features (AC-GAN style) outputs class logits: trained on real
# images, it gives the generator a direct signal about which condition its image shows (notebook 04).
# `aux_fake_class=True` gives it one more logit, "generated", so that it also learns what the
# generator's images look like, and one stereotyped image per condition no longer fools it; notebook 04
# trains with it on ([docs/experiments.md](../docs/experiments.md) has the measurements).
# With `conditioning="concat"`, the label is an extra input channel and the convolutions are plain.

# %%
#| export
def build_discriminator(image_size: int = 64, width: int = 16, num_classes: int = 7,
                        conditioning: str = "projection", aux_classifier: bool = False,
                        name: str = "discriminator", aux_fake_class: bool = False, mbstd: bool = False) -> keras.Model:
    """Discriminator ``[image (B, S, S, 1), label (B,)] -> logit (B, 1)``.

    ``aux_classifier=True`` adds a second output, class logits ``(B, num_classes)`` from the
    same features; ``aux_fake_class=True`` gives it one more logit, "generated"; ``mbstd=True``
    appends :class:`MinibatchStdDev` before the last convolution.
    """
    blocks = check_design(image_size, conditioning)
    image = keras.Input((image_size, image_size, 1), name="image")
    label = keras.Input((), dtype="int32", name="label")
    conv = SNConv2D if conditioning == "projection" else layers.Conv2D
    x = image
    if conditioning == "concat":
        plane = layers.Dense(image_size * image_size, name="label_plane")(layers.Flatten()(
            layers.Embedding(num_classes, 50, name="label_embedding")(layers.Reshape((1,))(label))))
        plane = ConditionStrength(name="label_strength")(plane)
        x = layers.Concatenate()([x, layers.Reshape((image_size, image_size, 1))(plane)])
    resolution = image_size
    for _ in range(blocks):
        resolution //= 2
        x = conv(channels_at(resolution, image_size, width), 4, strides=2, padding="same",
                 name=f"down_{resolution}")(x)
        x = layers.LeakyReLU(0.2)(x)
    if mbstd:
        x = MinibatchStdDev(name="minibatch_std")(x)
    x = conv(channels_at(4, image_size, width), 3, padding="same", name="features_conv")(x)
    x = layers.LeakyReLU(0.2)(x)
    h = layers.Rescaling(16.0, name="sum_pool")(layers.GlobalAveragePooling2D(name="pool")(x))
    if conditioning == "projection":
        logit = ProjectionHead(num_classes, name="projection")([h, label])
    else:
        logit = layers.Dense(1, name="logit")(h)
    logit = layers.Activation("linear", dtype="float32", name="logit_f32")(logit)
    if aux_classifier:
        classes = layers.Activation("linear", dtype="float32", name="class_logits")(
            layers.Dense(num_classes + int(aux_fake_class), name="aux_classifier")(h))
        return keras.Model([image, label], [logit, classes], name=name)
    return keras.Model([image, label], logit, name=name)

# %%
discriminator = build_discriminator(IMAGE_SIZE, D_WIDTH, len(CLASSES), "projection", aux_classifier=True)
discriminator.summary(line_length=100)

# %% [markdown]
# ## 4. A forward pass, shape by shape, and the hinge loss
#
# Noise `z` of shape `(B, LATENT_DIM)` and integer labels `(B,)` go in; images in [-1, 1] come out.
# The discriminator returns one realism logit per image and, from its auxiliary head, one logit per condition (seven for NIH's).
#
# The course trains these networks with the **hinge loss** (notebook 04 writes it):
# $L_D = \mathbb{E}[\max(0, 1 - D(x))] + \mathbb{E}[\max(0, 1 + D(G(z)))]$ and $L_G = -\mathbb{E}[D(G(z))]$.
# The discriminator stops pushing on images it already classifies with a margin of 1, so it spends its
# capacity on the ones it gets wrong; with spectral normalisation this is the pairing of SN-GAN and BigGAN.
# An untrained discriminator scores everything near 0, so $L_D \approx 2$: "cannot tell".

# %%
labels = tf.constant(np.arange(len(CLASSES)), tf.int32)
z = tf.random.stateless_normal((len(CLASSES), LATENT_DIM), seed=(SEED, 0))
fake = generator([z, labels])
realism, class_logits = discriminator([fake, labels])
print("z", z.shape, "| labels", labels.shape, "-> images", fake.shape,
      f"in [{float(tf.reduce_min(fake)):.2f}, {float(tf.reduce_max(fake)):.2f}]")
print("discriminator -> realism", realism.shape, "| class logits", class_logits.shape)
print(f"hinge loss of the untrained discriminator on these fakes alone: "
      f"{float(tf.reduce_mean(tf.nn.relu(1 + realism))):.2f} (1 = no opinion)")

# %% [markdown]
# ### Parameter counts
#
# One set of parameters (latent size, widths, classes) builds all three resolutions. The prototype
# spends most of its parameters in the dense label plane of its discriminator and in 128-channel
# layers at full resolution; the course's models keep channels narrow where images are large.

# %%
rows = []
for size in (64, 128, 256):
    pg, pd_, _ = build_prototype_models(size)
    rows.append({"size": size,
                 "prototype G": count_parameters(pg), "prototype D": sum(int(np.prod(w.shape)) for w in pd_.weights),
                 "concat G": count_parameters(build_generator(size, LATENT_DIM, G_WIDTH, conditioning="concat")),
                 "concat D": count_parameters(build_discriminator(size, D_WIDTH, conditioning="concat")),
                 "projection G": count_parameters(build_generator(size, LATENT_DIM, G_WIDTH)),
                 "projection D": count_parameters(build_discriminator(size, D_WIDTH, aux_classifier=True))})
pd.DataFrame(rows).set_index("size")

# %% [markdown]
# ## 5. Where the label acts
#
# Same noise, every label. Untrained, the generator's per-class scales and shifts are zero, so the
# label acts only through the input embedding: the images differ a little. The discriminator's
# projection term, though, already gives each label a different score for the same image. Training
# (next section, and notebook 04) is what makes both matter.

# %%
from helpers.plots import sample_sheet

same_z = tf.repeat(z[:1], len(CLASSES), axis=0)
images = generator([same_z, labels]).numpy()
fig = sample_sheet(images, CLASSES, rows=1, title="untrained projection generator: one z, every label")
plt.show()
scores = [float(discriminator([fake[:1], tf.constant([c])])[0][0, 0]) for c in range(len(CLASSES))]
print("discriminator realism score of one image under each label:", np.round(scores, 3))

# %% [markdown]
# ## 6. Both designs after a short training run
#
# `helpers.training.train` trains either design with notebook 04's `train_step` (built from these
# networks). After `DEMO_STEPS` steps each (seconds on a CPU), neither draws radiographs yet; what to look at
# is whether the columns (conditions) start to differ. The maps show, per condition, the mean absolute
# difference from the first condition's image (*No Finding* for NIH) drawn from the same noise.

# %%
from helpers.config import GANConfig
from helpers.generate import generate_images
from helpers.preprocess import load_dataset
from helpers.training import train

data = load_dataset(SOURCE, DATA_DIR, size=IMAGE_SIZE, seed=SEED, phantom_per_class=PHANTOMS_PER_CLASS)
trained = {}
for conditioning in ("concat", "projection"):
    config = GANConfig(image_size=IMAGE_SIZE, latent_dim=LATENT_DIM, g_width=G_WIDTH, d_width=D_WIDTH,
                       classes=data.classes, conditioning=conditioning,
                       aux_weight=0.0 if conditioning == "concat" else GANConfig.aux_weight,
                       batch_size=16 if SMOKE else 32, transition_end=0)  # the label from step 0 (see notebook 04)
    trained[conditioning] = train(data, RUN_DIR / f"03_demo_{conditioning}", config, steps=DEMO_STEPS,
                                  verbose=0, sample_every=10 ** 6, export=False)
    print(f"{conditioning}: {DEMO_STEPS} steps done")

# %%
fig, axes = plt.subplots(2, len(CLASSES), figsize=(len(CLASSES) * 1.4, 3.4))
for r, (name, gan) in enumerate(trained.items()):
    imgs = generate_images(gan.ema_generator, np.repeat(np.arange(len(CLASSES)), 16), seed=SEED)
    imgs = imgs.reshape(len(CLASSES), 16, IMAGE_SIZE, IMAGE_SIZE)
    for c in range(len(CLASSES)):
        axes[r, c].imshow(np.abs(imgs[c] - imgs[0]).mean(0), cmap="magma", vmin=0, vmax=0.5)
        axes[r, c].set_xticks([]); axes[r, c].set_yticks([])
        if r == 0:
            axes[r, c].set_title(CLASSES[c], fontsize=8)
    axes[r, 0].set_ylabel(name)
fig.suptitle(f"mean |G(z, condition) - G(z, {CLASSES[0]})| over 16 noise vectors")
fig.tight_layout()
save_figure(fig, RUN_DIR, "03_label_effect")
plt.show()

# %% [markdown]
# ## Summary
#
# - A GAN is a two-player game: `D` learns to tell real from generated, `G` to fool it. The
#   non-saturating loss gives `G` gradient when its samples are bad; the hinge loss lets `D` stop
#   pushing on samples it already gets right. Losses do not go to zero: look at samples.
# - Concatenating the label (the prototype) lets the discriminator ignore it. Class-conditional
#   normalisation puts the label into every generator block; the projection head makes the
#   discriminator check image-label agreement; spectral normalisation keeps it from overreacting.
# - Every layer where the label enters has a `condition_strength` (1 in a trained model): notebook 04
#   turns it to 0 at the start of training and fades the label in.
# - One set of parameters builds 64, 128 and 256-pixel models; the course's are several times smaller
#   than the prototype's. The cells marked `#| export` are the package's `helpers.models`.

# %% [markdown]
# ## Exercises
#
# 1. Train the toy of section 1 with the *saturating* generator loss, `tf.reduce_mean(-tf.nn.softplus(fake_logits))`
#    (that is $\log(1-\sigma(l))$, minimised). Does the generated cloud still reach the real one in the same steps?
#
# <details><summary>Solution</summary>
#
# ```python
# def toy_g_loss(fake_logits):
#     return tf.reduce_mean(-tf.nn.softplus(fake_logits))   # log(1 - sigmoid(l))
# ```
# Rebuild `toy_generator`, `toy_discriminator` and the optimisers (rerun the cells from "The losses, as
# code" on). The discriminator quickly rejects the first samples, the generator's gradient is then
# tiny, and after the same steps the cloud has moved less (or not at all): the flat left part of the plot.
# </details>
#
# 2. Set `aux_weight=0` for the projection design in section 6. How do the difference maps change
#    after the same number of steps?
#
# <details><summary>Solution</summary>
#
# In the training cell, replace `GANConfig.aux_weight` by `0.0` and use a new run folder (the old one
# holds a checkpoint with other settings: `RUN_DIR / f"03_demo_{conditioning}_noaux"`). Without the
# auxiliary classifier only the projection term carries the label, and after a short run the
# projection row's maps are darker: the conditions differ less. The label is learned, but more slowly.
# </details>
#
# 3. Replace the instance statistics in `ClassConditionalNorm` by **batch** statistics and sample one
#    image alone and inside a batch. What goes wrong?
#
# <details><summary>Solution</summary>
#
# Edit the `ClassConditionalNorm` cell (section 3): in `call`, use
# `mean = ops.mean(x, axis=(0, 1, 2), keepdims=True)` and `var = ops.var(x, axis=(0, 1, 2), keepdims=True)`,
# rerun it and the `build_generator` cell, build a generator with instance norm (the mode you edited),
# then:
# ```python
# generator = build_generator(IMAGE_SIZE, LATENT_DIM, G_WIDTH, len(CLASSES), "projection", norm="instance")
# alone = generator([z[:1], labels[:1]])
# in_batch = generator([z, labels])[:1]
# print(float(tf.reduce_max(tf.abs(alone - in_batch))))   # clearly > 0
# ```
# With batch statistics an image depends on the other images of its batch: the same noise and label
# give a different picture alone, so sampling one image at a time differs from training. With
# instance statistics (the original cell) the printed difference is 0 up to float rounding. Rerun the
# original cell afterwards.
# </details>
#
# 4. Compute `embed(y)·h(x)` by hand for one image and check it against the model's score.
#
# <details><summary>Solution</summary>
#
# ```python
# features = keras.Model(discriminator.inputs, discriminator.get_layer("sum_pool").output)
# h = features([fake[:1], labels[:1]])
# head = discriminator.get_layer("projection")
# by_hand = head.dense(h) + tf.reduce_sum(tf.gather(head.embedding, labels[:1]) * h, axis=-1, keepdims=True)
# print(float(by_hand[0, 0]), float(discriminator([fake[:1], labels[:1]])[0][0, 0]))
# ```
# (`import keras` first.) The two numbers agree; note that calling the head advances the spectral
# normalisation's power iteration, which changes the score only in the last decimals.
# </details>

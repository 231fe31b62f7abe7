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
# - rebuild the original prototype: a label embedding concatenated to the noise and to the image
# - build the course's recommended design: class-conditional normalisation in the generator, a spectrally normalised projection discriminator with an auxiliary classifier, hinge loss
# - follow the shapes through a forward pass and compare parameter counts at 64, 128 and 256 pixels
# - see, in pictures, where and how the label acts
#
# **Expected runtime:** about 2 minutes on a laptop CPU (under a minute in smoke mode).
#
# **Data credit.** NIH ChestX-ray14 is provided by the NIH Clinical Center ([download site](https://nihcc.app.box.com/v/ChestXray-NIHCC)); cite Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM, *ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks on Weakly-Supervised Classification and Localization of Common Thorax Diseases*, IEEE CVPR 2017. ChestMNIST is part of MedMNIST+ (Yang et al., Scientific Data 2023). The offline default data are procedural phantoms made by this course.
#
# **Not for clinical use.** Synthetic images made in this course are teaching and research material. They must not be used to diagnose, treat or make any decision about a patient.

# %% [markdown]
# ## Setup

# %%
# Setup: install the course's helpers package if it is missing (a fresh Colab runtime),
# then report Python/TensorFlow versions and whether a GPU is available.
# Colab's own TensorFlow is left alone: the package does not reinstall it.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("helpers") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/cxr-gan-course/cxr-gan-course@v0.1.0"], check=True)

from helpers.env import describe_runtime

RUNTIME = describe_runtime()

# %% [markdown]
# ### Parameters
#
# The next cell is tagged `parameters`: papermill replaces these values when the course runner executes the notebook headless (`python -m helpers.course`). `SMOKE = True` (or the environment variable `CXR_GAN_SMOKE=1`) shrinks everything to a seconds-long check.

# %% tags=["parameters"]
DATA_SOURCE = "phantom"      # phantom (offline default) | nih | chestmnist
DATA_DIR = None              # None: a phantom folder under data/ named by size, count and seed
IMAGE_SIZE = 64              # 64, 128 or 256
LATENT_DIM = 64              # size of the noise vector z
G_WIDTH = 16                 # generator channels at full resolution (doubling per halving)
D_WIDTH = 16                 # discriminator channels at full resolution
DEMO_STEPS = 150             # training steps of the short side-by-side demo (section 5)
SEED = 0
RUN_DIR = "runs/course"
SMOKE = False
PHANTOMS_PER_CLASS = 300

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers import CLASSES
from helpers.env import notebook_settings
from helpers.plots import save_figure

SMOKE, RUN_DIR, DATA_DIR, PHANTOMS_PER_CLASS = notebook_settings(
    DATA_SOURCE, DATA_DIR, IMAGE_SIZE, RUN_DIR, SMOKE, PHANTOMS_PER_CLASS, SEED)
if SMOKE:
    DEMO_STEPS = min(DEMO_STEPS, 4)

# %% [markdown]
# ## 1. The starting point: the prototype's concatenation
#
# The original prototype told its networks the condition by **concatenation**:
#
# - generator: a 50-d label embedding becomes an extra 8×8 plane beside the projected noise, then
#   `Conv2DTranspose(128)` blocks upsample to the image;
# - discriminator: the label embedding becomes an extra full-size image channel, then strided
#   `Conv2D(128)` blocks, dropout and a sigmoid.
#
# It can work, but nothing forces the discriminator to *use* that extra channel: it can judge realism
# alone and let the generator ignore the label ("condition ignored", notebook 04).

# %%
from helpers.models import build_prototype_models, count_parameters

proto_g, proto_d, proto_gan = build_prototype_models(IMAGE_SIZE)
proto_g.summary(line_length=100)

# %% [markdown]
# ## 2. The recommended design
#
# **Generator.** The label enters twice: an embedding joins the noise, and every block is followed by
# `ClassConditionalNorm`, an instance normalisation whose scale and shift are looked up *per class*
# (AdaIN with a class code). So the label can change the image at every resolution, from the global
# layout (4×4) to fine texture (64×64).
#
# Instance normalisation has a price: it erases each channel's per-image mean and scale, and at 4×4
# that is where much of the noise vector's information lives, so images of one condition come out
# alike (mode collapse, measured in notebook 05 with MS-SSIM). `GANConfig(g_norm="pixel")` uses
# ProGAN's pixel norm instead. Measured on phantoms after 5 minutes of CPU training (with a
# discriminator twice today's width): pixel norm gives more varied images (mean same-condition
# MS-SSIM 0.58 against 0.71; real images 0.36) but draws the condition less reliably (label fidelity
# 0.79 against 0.84), so the course keeps instance norm.
#
# **Discriminator.** A *projection discriminator* (Miyato & Koyama, 2018) computes image features
# `h(x)` and scores `w·h(x) + embed(y)·h(x)`: the second term is large only when the features agree
# with the label, so the discriminator must check the condition to win. Spectral normalisation bounds
# its Lipschitz constant, which keeps the **hinge loss** well behaved. An auxiliary classifier head on
# the same features (AC-GAN style, trained on real images only) gives the generator a direct signal
# about which condition its image shows.

# %%
from helpers.models import build_discriminator, build_generator

generator = build_generator(IMAGE_SIZE, LATENT_DIM, G_WIDTH, len(CLASSES), "projection")
discriminator = build_discriminator(IMAGE_SIZE, D_WIDTH, len(CLASSES), "projection", aux_classifier=True)
generator.summary(line_length=100)

# %%
discriminator.summary(line_length=100)

# %% [markdown]
# ## 3. A forward pass, shape by shape
#
# Noise `z` of shape `(B, LATENT_DIM)` and integer labels `(B,)` go in; images in [-1, 1] come out.
# The discriminator returns one realism logit per image and, from its auxiliary head, seven class logits.

# %%
labels = tf.constant(np.arange(len(CLASSES)), tf.int32)
z = tf.random.stateless_normal((len(CLASSES), LATENT_DIM), seed=(SEED, 0))
fake = generator([z, labels])
realism, class_logits = discriminator([fake, labels])
print("z", z.shape, "| labels", labels.shape, "-> images", fake.shape,
      f"in [{float(tf.reduce_min(fake)):.2f}, {float(tf.reduce_max(fake)):.2f}]")
print("discriminator -> realism", realism.shape, "| class logits", class_logits.shape)

# %% [markdown]
# ### Parameter counts
#
# One set of parameters (latent size, widths, classes) builds all three resolutions. The prototype
# spends most of its parameters in the dense label plane of its discriminator and in 128-channel
# layers at full resolution; the recommended models keep channels narrow where images are large.

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
# ## 4. Where the label acts
#
# Same noise, seven labels. Untrained, the projection generator's per-class scales and shifts start at
# zero, so the label acts only through the input embedding: the seven images differ a little. The
# discriminator's projection term, though, already gives each label a different score for the same
# image. Training (next section, and notebook 04) is what makes both matter.

# %%
from helpers.plots import sample_sheet

same_z = tf.repeat(z[:1], len(CLASSES), axis=0)
images = generator([same_z, labels]).numpy()
fig = sample_sheet(images, CLASSES, rows=1, title="untrained projection generator: one z, seven labels")
plt.show()
scores = [float(discriminator([fake[:1], tf.constant([c])])[0][0, 0]) for c in range(len(CLASSES))]
print("discriminator realism score of one image under each label:", np.round(scores, 3))

# %% [markdown]
# ## 5. Both designs after a short training run
#
# `helpers.training.train` trains either design with the same loop (notebook 04 explains it). After a
# few minutes on a CPU, neither draws convincing radiographs yet; what to look at is whether the columns
# (conditions) start to differ. The difference maps show, per condition, the mean absolute difference
# from the *No Finding* image drawn from the same noise.

# %%
from helpers.preprocess import load_dataset
from helpers.training import GANConfig, generate_images, train

data = load_dataset(DATA_SOURCE, DATA_DIR, size=IMAGE_SIZE, seed=SEED, phantom_per_class=PHANTOMS_PER_CLASS)
trained = {}
for conditioning in ("concat", "projection"):
    config = GANConfig(image_size=IMAGE_SIZE, latent_dim=LATENT_DIM, g_width=G_WIDTH, d_width=D_WIDTH,
                       classes=data.classes, conditioning=conditioning,
                       aux_weight=0.0 if conditioning == "concat" else GANConfig.aux_weight, batch_size=16 if SMOKE else 32)
    trained[conditioning] = train(data, RUN_DIR / f"03_demo_{conditioning}", config, steps=DEMO_STEPS,
                                  verbose=0, sample_every=10 ** 6, export=False)
    print(f"{conditioning}: {DEMO_STEPS} steps done")

# %%
rows = 3
labels_grid = np.tile(np.arange(len(CLASSES)), rows)
fig, axes = plt.subplots(2, len(CLASSES), figsize=(len(CLASSES) * 1.4, 3.4))
for r, (name, gan) in enumerate(trained.items()):
    imgs = generate_images(gan.ema_generator, np.repeat(np.arange(len(CLASSES)), 16), seed=SEED)
    imgs = imgs.reshape(len(CLASSES), 16, IMAGE_SIZE, IMAGE_SIZE)
    base = imgs[0]
    for c in range(len(CLASSES)):
        axes[r, c].imshow(np.abs(imgs[c] - base).mean(0), cmap="magma", vmin=0, vmax=0.5)
        axes[r, c].set_xticks([]); axes[r, c].set_yticks([])
        if r == 0:
            axes[r, c].set_title(CLASSES[c], fontsize=8)
    axes[r, 0].set_ylabel(name)
fig.suptitle("mean |G(z, condition) - G(z, No Finding)| over 16 noise vectors")
fig.tight_layout()
save_figure(fig, RUN_DIR, "03_label_effect")
plt.show()

# %% [markdown]
# ## Summary
#
# - The prototype concatenates a label embedding to the noise and to the image; its discriminator may ignore it.
# - The recommended generator modulates every block per class; the projection discriminator must check image-label agreement; spectral normalisation and the hinge loss keep training stable.
# - One set of parameters builds 64, 128 and 256-pixel models; the recommended ones are several times smaller than the prototype's.

# %% [markdown]
# ## Exercises
#
# 1. Set `aux_weight=0` in section 5: how do the projection difference maps change after the same number of steps?
# 2. Replace the instance normalisation in `ClassConditionalNorm` by batch statistics. What goes wrong when sampling one image at a time?
# 3. Train notebook 04 with `GANConfig(g_norm='pixel')` and compare notebook 05's diversity and utility tables with the default's.
# 4. Compute `embed(y)·h(x)` by hand from `discriminator.get_layer('projection')` for one image and check it against the model's score.

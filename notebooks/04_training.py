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
# - train both networks in one compiled `train_step` through `model.fit` over the `tf.data` pipeline
# - use differentiable augmentation, an EMA generator and balanced sampling for small, imbalanced classes
# - read the sample grids and loss curves, and recognise mode collapse, an overpowering discriminator and an ignored condition
# - resume an interrupted run, export `generator.keras` and write a synthetic dataset in the NIH layout
#
# **Expected runtime:** set by `TRAIN_MINUTES` (default 8 minutes) plus about 2 minutes for the judge classifier; under a minute in smoke mode. On a Colab T4 GPU use `IMAGE_SIZE = 128` and a longer budget.
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
BATCH_SIZE = 32              # global batch size (split across GPUs/TPU cores)
EPOCHS = None                # passes over the training split; None: use TRAIN_MINUTES
TRAIN_MINUTES = 8.0          # training time budget (whichever of EPOCHS/TRAIN_MINUTES ends first)
CONDITIONING = "projection"  # projection (recommended) | concat (the prototype's)
BALANCED = False             # class-balanced sampling (turn on for real NIH data)
SEED = 0
RUN_DIR = "runs/course"
SMOKE = False
PHANTOMS_PER_CLASS = 300

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers import CLASSES
from helpers.env import notebook_settings
from helpers.plots import save_figure

SMOKE, RUN_DIR, DATA_DIR, PHANTOMS_PER_CLASS = notebook_settings(
    DATA_SOURCE, DATA_DIR, IMAGE_SIZE, RUN_DIR, SMOKE, PHANTOMS_PER_CLASS, SEED)
GAN_DIR = RUN_DIR / "gan"
if SMOKE:
    EPOCHS, TRAIN_MINUTES, BATCH_SIZE = None, 0.1, 16

# %% [markdown]
# ## 1. Data and strategy
#
# The training split (by patient) streams from the decoded cache. `pick_strategy("auto")` takes a
# Colab TPU, several GPUs (mirrored) or the one device there is; the same cell scales past one device.
# On a GPU, `GANConfig(mixed_precision="auto")` trains in float16 with loss scaling.

# %%
from helpers.preprocess import load_dataset
from helpers.training import pick_strategy

data = load_dataset(DATA_SOURCE, DATA_DIR, size=IMAGE_SIZE, seed=SEED, phantom_per_class=PHANTOMS_PER_CLASS)
strategy = pick_strategy("auto")
print(f"{len(data.split('train')[0]):,} training images | replicas: {strategy.num_replicas_in_sync}")

# %% [markdown]
# ## 2. The training step
#
# `ConditionalGAN.train_step` (in `helpers/training.py`) does, in **one compiled step**:
#
# 1. *discriminator*: real images and fakes for the same labels, both through DiffAugment (random
#    translation, brightness, contrast), hinge loss plus the auxiliary classifier's loss on reals;
# 2. *generator*: fresh noise, through the same augmentation, to fool the discriminator and to be
#    classified as the condition asked for;
# 3. *EMA*: an exponential moving average of the generator's weights, used for every sample;
# 4. *augmentation probability*: fixed (`augment_p`, default 0.3), or adaptive (`augment_p=-1`, ADA:
#    it rises when the discriminator grows overconfident on reals).
#
# Augmentation is applied to real *and* fake images, so the generator is never taught to draw
# augmented images, and the discriminator cannot memorise a small class (Mass has about 2,100 real
# single-label images in NIH). Why a fixed 0.3 by default: on phantoms, ADA kept the probability
# near 0 (the discriminator never looked overconfident), and in one of two seeds the generator then
# drew Mass and Nodule as other conditions that still satisfied the auxiliary classifier (label
# fidelity 0.66 after 10 minutes); with 30% augmentation both seeds reached 0.94 in 7 minutes
# (`benchmarks/time_to_fidelity.py`). All randomness is keyed on the step number, so a resumed run
# draws exactly what an uninterrupted one would.

# %%
from helpers.training import GANConfig

config = GANConfig(image_size=IMAGE_SIZE, classes=data.classes, batch_size=BATCH_SIZE,
                   conditioning=CONDITIONING, aux_weight=GANConfig.aux_weight if CONDITIONING == "projection" else 0.0,
                   balanced=BALANCED, seed=SEED)
print(config.to_json())

# %% [markdown]
# ## 3. Train (and resume)
#
# `train` writes into `RUN_DIR/gan/`: `config.json`, `checkpoints/` (the whole training state, written
# atomically every 500 steps and at the end), `samples/` (a grid per epoch: fixed noise, one column per
# condition), `losses.csv` and `tensorboard/`. **Run this cell again and it resumes** from the latest
# checkpoint; a corrupt checkpoint stops with an error that names it, and nothing is overwritten. A
# guard stops on NaN losses or a runaway discriminator and keeps the last good checkpoint.

# %%
from helpers.training import train

gan = train(data, GAN_DIR, config, epochs=EPOCHS, minutes=TRAIN_MINUTES, strategy=strategy,
            sample_every=1 if SMOKE else 5, verbose=2)
print("trained steps:", int(gan.step.numpy()))

# %% [markdown]
# ## 4. Samples over time
#
# Each row of this figure is the sample grid at one point of training (fixed noise, so changes are the
# generator's). Look for: first a blurry average chest, then anatomy, then findings in the right columns.

# %%
from PIL import Image

sheets = sorted((GAN_DIR / "samples").glob("step_*.png"))
pick = [sheets[i] for i in np.unique(np.linspace(0, len(sheets) - 1, 3).astype(int))] if sheets else []
fig, axes = plt.subplots(len(pick), 1, figsize=(9, 5 * len(pick)), squeeze=False)
for ax, path in zip(axes[:, 0], pick):
    ax.imshow(Image.open(path)); ax.axis("off"); ax.set_title(path.stem)
save_figure(fig, RUN_DIR, "04_samples_over_time")
plt.show()

# %% [markdown]
# ## 5. Loss curves
#
# With the hinge loss, `d_loss` near 2 means the discriminator cannot tell real from fake at all;
# near 0 it wins outright. `d_real` and `d_fake` are its mean scores; `aux` is the auxiliary
# classifier's loss on real images; `augment_p` is the augmentation probability (it moves only under ADA).

# %%
log = pd.read_csv(GAN_DIR / "losses.csv")
cols = [c for c in ("d_loss", "g_loss", "d_real", "d_fake", "aux", "augment_p") if c in log]
fig, axes = plt.subplots(1, len(cols), figsize=(3 * len(cols), 2.6))
for ax, col in zip(np.atleast_1d(axes), cols):
    ax.plot(log["epoch"], log[col], marker="."); ax.set_title(col); ax.set_xlabel("epoch")
fig.tight_layout()
save_figure(fig, RUN_DIR, "04_losses")
plt.show()

# %% [markdown]
# ## 6. Does it draw the condition it was asked for? Label fidelity
#
# A classifier trained on the **real** training split (never on generated images) judges 100 generated
# images per condition. Its accuracy on the real test split is shown first: a judge is only as good as
# that number. Fidelity is the share of generated images it assigns to the condition they were asked for.

# %%
import json

from helpers.classifier import label_fidelity, predict_classes, to_model_range, train_classifier

x_train, y_train = data.arrays("train")
x_test, y_test = data.arrays("test")
judge = train_classifier(to_model_range(x_train), y_train, epochs=2 if SMOKE else 10, seed=SEED,
                         min_steps=0 if SMOKE else 800)
judge.save(RUN_DIR / "judge_classifier.keras")
judge_accuracy = float((predict_classes(judge, to_model_range(x_test)).argmax(1) == y_test).mean())
fidelity = label_fidelity(gan.ema_generator, judge, len(CLASSES), per_class=20 if SMOKE else 100, seed=SEED)
print(f"judge accuracy on real test images: {judge_accuracy:.3f}")
print(f"label fidelity of generated images: {fidelity['fidelity']:.3f}")
metrics = {"label_fidelity": fidelity["fidelity"], "judge_accuracy_real_test": judge_accuracy,
           "generated_per_class": 20 if SMOKE else 100, "image_size": IMAGE_SIZE, "data_source": DATA_SOURCE,
           "train_steps": int(gan.step.numpy()), "judge": "course CNN trained on the real training split"}
(RUN_DIR / "training_metrics.json").write_text(json.dumps(metrics, indent=1))
pd.Series(fidelity["per_class"], index=CLASSES, name="fidelity").to_frame().T

# %%
import seaborn as sns

fig, ax = plt.subplots(figsize=(6, 5))
sns.heatmap(np.array(fidelity["confusion"]), annot=True, fmt="d", cmap="Blues", ax=ax,
            xticklabels=CLASSES, yticklabels=CLASSES)
ax.set_xlabel("judge's prediction"); ax.set_ylabel("condition asked for")
save_figure(fig, RUN_DIR, "04_fidelity_confusion")
plt.show()

# %% [markdown]
# ## 7. Failure modes and what to do
#
# | symptom | what you see | what to do |
# |---|---|---|
# | **mode collapse** | rows of a sample column look alike; few distinct images per condition | more augmentation or ADA, lower learning rates, check the EMA decay; R1 (`r1_gamma`) |
# | **discriminator overpowers** | `d_loss` → 0, `g_loss` climbs, samples stop improving; the guard may stop the run | augmentation (raise `augment_p`), lower `d_lr`, R1 penalty, a smaller discriminator |
# | **condition ignored** | columns look alike; label fidelity near chance (14%); the confusion matrix has one full column | projection discriminator and conditional normalisation (section 2 of notebook 03), the auxiliary classifier, check the labels in the pipeline; if only some conditions fail (small findings such as Nodule drawn as another condition) while the auxiliary loss on fakes is low, the generator is fooling the auxiliary classifier: `aux_fake_class=True` teaches that classifier a "generated" class, and more augmentation (`augment_p`) makes it harder to fool |
# | **NaN losses** | the guard stops with "non-finite" | lower learning rates; under mixed precision keep the output layers in float32 (they are) |

# %% [markdown]
# ## 8. Export and generate a synthetic dataset
#
# `train` exported `generator.keras` (EMA weights) with `generator.json` (classes, image size, latent
# size). The command below writes a synthetic dataset in the NIH layout that every NIH pipeline reads.

# %%
import subprocess
import sys

per_class = 5 if SMOKE else 50
subprocess.run([sys.executable, "-m", "helpers.generate", str(GAN_DIR / "generator.keras"),
                "--per-class", str(per_class), "--out", str(RUN_DIR / "synthetic"), "--seed", str(SEED)], check=True)
from helpers.data import load_nih
synthetic, report = load_nih(RUN_DIR / "synthetic", verbose=False)
synthetic["condition"].value_counts()

# %% [markdown]
# ## Summary
#
# - One compiled `train_step` updates both networks; `model.fit` drives it with callbacks for samples, logs, checkpoints, a divergence guard and a time budget.
# - DiffAugment (fixed or adaptive probability), an EMA generator and optional balanced sampling are the tools for small, imbalanced classes.
# - Runs resume exactly from their checkpoints; the exported `generator.keras` loads in Keras safe mode.
# - Label fidelity, judged by a classifier trained on real images only, says whether the condition is drawn.

# %% [markdown]
# ## Exercises
#
# 1. Train with `CONDITIONING = 'concat'` for the same budget and compare label fidelity.
# 2. Interrupt the training cell, then run it again. Check in `losses.csv` that it resumed rather than restarted.
# 3. On a GPU, train at `IMAGE_SIZE = 128` with `BALANCED = True` on real NIH data. Which condition is drawn worst, and why might that be?

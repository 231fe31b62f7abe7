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
# # 01 · Exploring chest X-ray data before generating any
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/cxr-gan-course/cxr-gan-course/blob/main/notebooks/01_data_exploration.ipynb)
#
# **You will learn to**
#
# - read NIH ChestX-ray14 metadata in any of its published variants, with or without the images
# - see how rare the six findings are next to *No Finding*, and how often findings co-occur
# - spot shortcut risks (PA/AP view, age, sex) that a conditional GAN would happily learn
# - look at sample images per condition, real or the offline phantoms
#
# **Expected runtime:** about 1 minute on a laptop CPU (a few seconds in smoke mode).
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
DATA_DIR = None              # None: a phantom folder under data/ named by size, count and seed, or data/chestmnist
NIH_METADATA = None          # optional path to a real Data_Entry_2017*.csv: explored even without images
IMAGE_SIZE = 64              # side of the decoded squares
SEED = 0                     # random seed for splits and sampling
RUN_DIR = "runs/course"      # where figures go
SMOKE = False                # True: tiny data, quick check
PHANTOMS_PER_CLASS = 300     # phantom images per condition when they have to be written

# %%
from helpers import CLASSES
from helpers.env import notebook_settings

SMOKE, RUN_DIR, DATA_DIR, PHANTOMS_PER_CLASS = notebook_settings(
    DATA_SOURCE, DATA_DIR, IMAGE_SIZE, RUN_DIR, SMOKE, PHANTOMS_PER_CLASS, SEED)

# %% [markdown]
# ## 1. The data and its metadata
#
# `helpers.preprocess.load_dataset` is the one door to every data source. For the phantoms it first
# writes a dataset in the NIH layout if `DATA_DIR` holds none; for NIH it reads the metadata CSV,
# keeps the seven course classes, finds the images that are present (partial downloads are normal),
# and splits **by patient**. It then decodes every image once into a cache (notebook 02 explains how).

# %%
from helpers.preprocess import load_dataset

DATA = load_dataset(DATA_SOURCE, DATA_DIR, size=IMAGE_SIZE, seed=SEED, phantom_per_class=PHANTOMS_PER_CLASS)
print("\n".join(DATA.report.lines()))

# %% [markdown]
# The metadata table is where exploration starts. With real NIH data, the full CSV (112,120 rows)
# can be explored even if you downloaded none of the images: pass its path as `NIH_METADATA`.

# %%
from helpers.data import find_metadata, read_nih_metadata

if NIH_METADATA:
    META = read_nih_metadata(NIH_METADATA)
elif DATA_SOURCE in ("phantom", "nih"):
    META = read_nih_metadata(find_metadata(DATA_DIR))
else:
    META = None  # ChestMNIST ships labels only, no patient metadata
print("no patient metadata for this source" if META is None else f"{len(META):,} metadata rows")
META.head() if META is not None else DATA.table.head()

# %% [markdown]
# ## 2. How rare is each finding?
#
# A chest X-ray can carry several findings (`Effusion|Infiltration`). The course conditions on
# **one** label per image, so by default it keeps single-label images only, as the original prototype
# did. The table counts both.

# %%
from helpers.explore import label_counts

counts = label_counts(META) if META is not None else DATA.table["condition"].value_counts().to_frame("single_label")
counts

# %%
import matplotlib.pyplot as plt
from helpers.plots import bar_counts, save_figure

fig, ax = plt.subplots(figsize=(7, 5))
bar_counts(counts["single_label"][counts["single_label"] > 0], "Single-label images per label", log=True, ax=ax)
save_figure(fig, RUN_DIR, "01_label_counts")
plt.show()

# %%
if META is not None:
    n_labels = META["finding_labels"].str.count("\\|") + 1
    print(f"single-label images: {(n_labels == 1).mean():.1%}; multi-label: {(n_labels > 1).mean():.1%}; "
          f"most labels on one image: {n_labels.max()}")

# %% [markdown]
# ### Which findings travel together?
#
# The co-occurrence heatmap counts images that carry both labels of a pair (log colour scale).
# Effusion, Infiltration and Atelectasis co-occur often: a model conditioned on *Effusion* alone
# will see fewer of the textbook cases than the raw counts suggest.

# %%
import numpy as np
import seaborn as sns
from helpers.explore import cooccurrence

if META is not None:
    co = cooccurrence(META)
    fig, ax = plt.subplots(figsize=(8, 6.5))
    sns.heatmap(np.log10(co + 1), ax=ax, cmap="mako", square=True, cbar_kws={"label": "log10(images + 1)"})
    ax.set_title("Label co-occurrence")
    save_figure(fig, RUN_DIR, "01_cooccurrence")
    plt.show()

# %% [markdown]
# ## 3. Patients and follow-ups
#
# NIH has on average 3.6 images per patient, some patients over a hundred. Images of one patient look
# alike, so **splits must be by patient**, or a test set leaks training anatomy (and a
# memorisation audit later would be meaningless).

# %%
from helpers.explore import patient_stats

if META is not None:
    stats = patient_stats(META)
    print(stats)
    per_patient = META.groupby("patient").size()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(per_patient, bins=np.arange(1, min(per_patient.max(), 40) + 2) - 0.5, color="#4C72B0", log=True)
    ax.set_xlabel("images per patient"); ax.set_ylabel("patients (log)")
    save_figure(fig, RUN_DIR, "01_images_per_patient")
    plt.show()

# %% [markdown]
# ## 4. Age, sex and view by condition: shortcut risks
#
# If *Effusion* images are mostly **AP** (bedside, sicker patients) and *No Finding* mostly **PA**,
# a generator can "draw Effusion" by drawing an AP-looking film, and a classifier can score it right
# for the wrong reason. The table shows how each class differs.

# %%
from helpers.explore import by_condition

if META is not None:
    table = by_condition(META)
    display(table.round({"median_age": 0, "share_female": 2, "share_AP": 2, "imbalance_vs_largest": 1}))

# %%
if META is not None:
    single = META[META["finding_labels"].isin(CLASSES)]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    sns.boxplot(data=single, y="finding_labels", x="age", order=list(CLASSES), ax=axes[0], color="#8ab")
    axes[0].set_ylabel("")
    table["share_AP"].plot.barh(ax=axes[1], color="#C44E52")
    axes[1].set_xlabel("share of AP views"); axes[1].set_ylabel("")
    axes[1].invert_yaxis()
    fig.suptitle("Age and view by condition (single-label images)")
    fig.tight_layout()
    save_figure(fig, RUN_DIR, "01_age_view")
    plt.show()

# %% [markdown]
# ## 5. Class imbalance
#
# In the full NIH metadata, *No Finding* has about 28 times as many single-label images as *Mass*.
# A GAN trained on the natural mix sees a Mass image once every ~40 images: notebook 02 shows
# class-balanced sampling as the remedy.

# %%
from helpers.data import summary_table

summary_table(DATA.table)

# %% [markdown]
# ## 6. What the images look like
#
# A grid of examples per condition from the images present (with a partial NIH download some rows may
# be empty). For phantoms, look for the findings: a dense band (Atelectasis), fluid with a meniscus at a
# base (Effusion), patchy haze (Infiltration), one large round opacity (Mass), one to three small ones
# (Nodule), a rim without lung markings behind a thin line (Pneumothorax).

# %%
from helpers.plots import class_grid

rows, labels = DATA.split("train")
fig = class_grid(DATA.images[np.sort(rows)], DATA.table["label"].to_numpy()[np.sort(rows)], DATA.classes,
                 per_class=6, seed=SEED, title=f"{DATA_SOURCE} training images, {IMAGE_SIZE}px")
save_figure(fig, RUN_DIR, "01_samples")
plt.show()

# %% [markdown]
# ## Summary
#
# - The NIH metadata reads the same whatever the variant; partial downloads are counted, not fatal.
# - The six findings are rare beside *No Finding* (up to 28:1) and often co-occur; the course keeps single-label images by default.
# - Patients have many follow-ups, so every split in the course is by patient.
# - View, age and sex differ by condition: shortcuts a GAN and its judges can exploit.

# %% [markdown]
# ## Exercises
#
# 1. Re-run with `NIH_METADATA` pointing at the full NIH CSV. Which course class has the highest AP share?
# 2. How many images would *Mass* gain with `multi_label=True` in `helpers.data.select_classes`?
# 3. Plot the age distribution of *No Finding* against *Effusion*. Would you match them by age before training?

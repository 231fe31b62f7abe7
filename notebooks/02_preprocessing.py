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
# # 02 · Preprocessing: decode once, crop, resize, cache, and feed a balanced pipeline
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/cxr-gan-course/cxr-gan-course/blob/main/notebooks/02_preprocessing.ipynb)
#
# **You will learn to**
#
# - choose between centre crop and letterbox, and see why antialiased resizing matters
# - decode a dataset once, in parallel, into a uint8 cache that reloads in seconds
# - check split sizes per class and that no patient crosses splits
# - build the `tf.data` pipeline and undo a class imbalance (28:1 in NIH) with balanced sampling
#
# **Expected runtime:** under a minute on a 2-core CPU (a few seconds in smoke mode).
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
IMAGE_SIZE = 64              # side of the decoded squares
BATCH_SIZE = 64              # batch size of the demo pipeline
SEED = 0                     # random seed
RUN_DIR = "runs/course"      # where figures go
SMOKE = False                # True: tiny data, quick check
PHANTOMS_PER_CLASS = 700     # phantom images per condition when they have to be written

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from helpers.env import notebook_settings
from helpers.plots import save_figure

SMOKE, RUN_DIR, DATA_DIR, PHANTOMS_PER_CLASS, SOURCE = notebook_settings(
    DATA_SOURCE, DATA_DIR, IMAGE_SIZE, RUN_DIR, SMOKE, PHANTOMS_PER_CLASS, SEED, return_source=True)
if SMOKE:
    BATCH_SIZE = min(BATCH_SIZE, 16)

# %% [markdown]
# ## 1. From a full-size radiograph to a training square
#
# NIH images are 1024×1024 8-bit PNGs (some copies carry RGB, RGBA or 16-bit files, which
# `helpers.data.read_gray8` turns into correct 8-bit grayscale: 16-bit is rescaled, never clipped).
# We need 64 or 128 pixels. Two choices matter:
#
# 1. **Making it square.** A *centre crop* keeps the scale and drops a margin; a *letterbox* keeps
#    everything and adds black bars, which a GAN would learn to draw. NIH is square already, so the
#    course crops; non-square films (Kermany's, many Kaggle sets) lose a margin at their long sides.
# 2. **Downscaling.** Sampling every 16th pixel (nearest) aliases fine structure such as rib edges;
#    an antialiased filter (box reduce, then Lanczos) averages it properly.
#
# The original below is a real film when there is one at hand (an NIH download, or the first image of a
# class folder), else a 512-pixel phantom (ChestMNIST ships 64 to 224-pixel squares, no originals).

# %%
from helpers.data import index_images, read_gray8, scan_image_folder
from helpers.phantoms import render_phantom
from helpers.preprocess import resize_square

if SOURCE == "nih":
    films = sorted(index_images(DATA_DIR).values())
elif SOURCE == "folder":
    films = sorted(scan_image_folder(DATA_DIR)["table"]["path"])
else:
    films = []
if films:
    original = read_gray8(films[0])
else:  # a high-resolution phantom stands in for a full-size film
    original = render_phantom("Mass", 512, np.random.default_rng(SEED))
wide = original[original.shape[0] // 8: -original.shape[0] // 8]  # a non-square (4:3) version of it
print("original", original.shape, original.dtype, "| non-square", wide.shape)

# %%
from PIL import Image

nearest = np.asarray(Image.fromarray(original).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.NEAREST))
panels = [("original", original), ("non-square", wide),
          ("centre crop", resize_square(wide, IMAGE_SIZE, "crop")),
          ("letterbox", resize_square(wide, IMAGE_SIZE, "letterbox")),
          ("nearest", nearest), ("antialiased", resize_square(original, IMAGE_SIZE))]
fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9))
for ax, (name, img) in zip(axes, panels):
    ax.imshow(img, cmap="gray", vmin=0, vmax=255); ax.set_title(name); ax.axis("off")
fig.tight_layout()
save_figure(fig, RUN_DIR, "02_resizing")
plt.show()

# %% [markdown]
# ## 2. Decode once: the cache
#
# `load_dataset` decodes every image on all cores (a `spawn` process pool) into one uint8 `.npy` file,
# memory-mapped, so a dataset larger than RAM still works. The cache is keyed by the source, the size and
# the class selection; change any of them and a new cache is built. An interrupted build resumes where it
# stopped. Here we build into a fresh folder of this run and time a second, cached load.

# %%
import shutil

from helpers.preprocess import load_dataset

cache_dir = RUN_DIR / "cache_demo"
shutil.rmtree(cache_dir, ignore_errors=True)
t0 = time.perf_counter()
DATA = load_dataset(SOURCE, DATA_DIR, size=IMAGE_SIZE, seed=SEED, cache_dir=cache_dir,
                    phantom_per_class=PHANTOMS_PER_CLASS)
t1 = time.perf_counter()
DATA = load_dataset(SOURCE, DATA_DIR, size=IMAGE_SIZE, seed=SEED, cache_dir=cache_dir,
                    phantom_per_class=PHANTOMS_PER_CLASS, progress=False)
t2 = time.perf_counter()
print(f"first build: {t1 - t0:.1f} s for {len(DATA.table):,} images; cached reload: {t2 - t1:.2f} s")
print("cache:", DATA.cache_path, "| images", DATA.images.shape, DATA.images.dtype)

# %% [markdown]
# ## 3. Splits by patient
#
# Every image of a patient lands in the same split (`helpers.data.split_by_patient`); with NIH's official
# `train_val_list.txt` / `test_list.txt` present, the official test split is used and validation is carved
# out of train_val by patient. Class folders are split by the patient in the file names; ChestMNIST keeps
# MedMNIST's official patient-wise split (it ships no ids to check).

# %%
from helpers.data import assert_patient_disjoint, patient_ids_known, summary_table

assert_patient_disjoint(DATA.table)  # raises if a patient crosses splits
if patient_ids_known(DATA.table):
    print("patients per split:", DATA.table.groupby("split")["patient"].nunique().to_dict())
else:
    print("no patient id for some or all images: their split cannot be checked by patient")
summary_table(DATA.table, DATA.classes)

# %% [markdown]
# ## 4. The `tf.data` pipeline
#
# `make_dataset` shuffles row indices, batches them, gathers each batch from the memory-mapped cache,
# scales to [-1, 1] (the range of the generator's `tanh`) and prefetches.

# %%
from helpers.preprocess import make_dataset

pipeline = make_dataset(DATA, "train", batch_size=BATCH_SIZE, seed=SEED)
images, labels = next(iter(pipeline))
print("batch", images.shape, images.dtype, f"range [{float(images.numpy().min()):.2f}, {float(images.numpy().max()):.2f}]",
      "| labels", labels.numpy()[:12])

# %% [markdown]
# ## 5. Balanced sampling
#
# Real data is imbalanced: NIH has 60,361 single-label *No Finding* images to 2,139 *Mass* (the NIH
# statistics shipped with the course; see notebook 01). With NIH's seven conditions (phantoms, ChestMNIST,
# NIH) we first subsample the training split to NIH's class mix, which shows the problem even on the
# balanced phantoms; a class-folder set keeps its own mix. Then we count labels over a few batches
# drawn naturally and drawn with `balanced=True`.

# %%
from helpers.explore import nih_reference_stats

NIH_COUNTS = nih_reference_stats()["single_label_counts"]
CLASSES = DATA.classes
rows, labels = DATA.split("train")
have = np.bincount(labels, minlength=len(CLASSES))
if set(CLASSES) <= set(NIH_COUNTS):
    share = np.array([NIH_COUNTS[c] for c in CLASSES], float)
    share /= share.max()
    scale = min(have[c] / share[c] for c in range(len(CLASSES)) if have[c])  # the largest subsample with NIH's mix
    rng = np.random.default_rng(SEED)
    keep = np.concatenate([rng.choice(rows[labels == c], max(1, min(have[c], int(share[c] * scale))), replace=False)
                           for c in range(len(CLASSES)) if have[c]])
    imbalanced = DATA.subset(np.sort(keep))
else:  # a class-folder set: its own mix
    imbalanced = DATA
print("training images per class:", dict(zip(CLASSES, np.bincount(imbalanced.split("train")[1],
                                                                   minlength=len(CLASSES)).tolist())))

def label_histogram(ds, batches):
    counts = np.zeros(len(CLASSES), int)
    for _, y in ds.take(batches):
        counts += np.bincount(y.numpy(), minlength=len(CLASSES))
    return counts

n_batches = 5 if SMOKE else 30
natural = label_histogram(make_dataset(imbalanced, "train", BATCH_SIZE, repeat=True, seed=SEED), n_batches)
balanced = label_histogram(make_dataset(imbalanced, "train", BATCH_SIZE, balanced=True, seed=SEED), n_batches)

# %%
x = np.arange(len(CLASSES))
fig, ax = plt.subplots(figsize=(9, 3.5))
ax.bar(x - 0.2, natural, 0.4, label="natural sampling")
ax.bar(x + 0.2, balanced, 0.4, label="balanced=True")
ax.set_xticks(x, CLASSES, rotation=20)
ax.set_ylabel(f"images in {n_batches} batches")
ax.legend()
save_figure(fig, RUN_DIR, "02_balanced_sampling")
plt.show()

# %% [markdown]
# ## Summary
#
# - Images are made square by centre crop and downscaled with an antialiased filter, once.
# - The uint8 cache is keyed by source, size and selection, streams from disk, resumes after interruption, and reloads in seconds.
# - Splits are by patient, checked by `assert_patient_disjoint`.
# - `make_dataset(..., balanced=True)` draws every condition equally often, undoing a class imbalance (28:1 in NIH).

# %% [markdown]
# ## Exercises
#
# 1. Not every radiograph is square. Make a portrait version of one phantom per NIH condition (taller than
#    wide) and compare `fit="crop"` with `fit="letterbox"` at `IMAGE_SIZE`. What does each lose or add,
#    and what would a GAN trained on the letterboxed squares learn?
#
# <details><summary>Solution</summary>
#
# ```python
# from helpers.plots import image_rows
#
# rng = np.random.default_rng(SEED)
# from helpers import CLASSES as NIH_CLASSES  # the phantoms draw NIH's seven conditions
#
# tall = [render_phantom(c, 256, rng)[:, 40:-40] for c in NIH_CLASSES]  # 256 high, 176 wide
# fig = image_rows([tall, [resize_square(t, IMAGE_SIZE, "crop") for t in tall],
#                   [resize_square(t, IMAGE_SIZE, "letterbox") for t in tall]],
#                  row_titles=["portrait", "crop", "letterbox"], col_titles=list(NIH_CLASSES), scale=1.5)
# plt.show()
# ```
# The crop keeps the full width but cuts off the top and bottom of the film: the lung apices and the
# costophrenic angles at the bases, where a small effusion shows first. The letterbox keeps the whole
# film and adds black bars at the sides. A GAN trained on letterboxed squares learns to draw the bars as
# part of every chest, and if the bars differed between conditions (films from different machines),
# they would become a shortcut for the condition.
# </details>
#
# 2. Time `load_dataset` with `workers=1` and with all cores, each into a fresh cache folder. Which is
#    faster on the phantoms, and why? Time `decode_resize` on one full-size (1024-pixel) image to see
#    when the parallel pool pays off.
#
# <details><summary>Solution</summary>
#
# ```python
# import os
#
# from helpers.preprocess import decode_resize
#
# for workers in (1, os.cpu_count()):
#     cache = RUN_DIR / f"cache_workers_{workers}"
#     shutil.rmtree(cache, ignore_errors=True)
#     t0 = time.perf_counter()
#     load_dataset(SOURCE, DATA_DIR, size=IMAGE_SIZE, seed=SEED, cache_dir=cache, workers=workers,
#                  phantom_per_class=PHANTOMS_PER_CLASS, progress=False)
#     print(f"{workers} worker(s): {time.perf_counter() - t0:.1f} s")
#
# full_size = RUN_DIR / "full_size.png"
# Image.fromarray(render_phantom("Mass", 1024, np.random.default_rng(SEED))).save(full_size)
# t0 = time.perf_counter()
# for _ in range(20):
#     decode_resize(full_size, IMAGE_SIZE)
# print(f"one 1024-pixel PNG: {(time.perf_counter() - t0) / 20 * 1000:.0f} ms")
# ```
# On the 64-pixel phantoms one worker usually wins: starting the worker processes takes about a
# second, longer than decoding all the small PNGs. A 1024-pixel
# PNG takes several milliseconds, so NIH's 85,116 single-label images need minutes on one core; there
# the pool's start-up no longer counts and the time falls nearly in proportion to the cores.
# </details>
#
# 3. Balanced sampling repeats rare images. Using `imbalanced` and `balanced` from section 5, how often
#    was each image of the rarest condition drawn (*Mass* with NIH's mix), compared with each image of
#    the commonest (*No Finding*)? Which augmentation in
#    notebook 04 counters the overfitting this invites?
#
# <details><summary>Solution</summary>
#
# ```python
# per_class = np.bincount(imbalanced.split("train")[1], minlength=len(CLASSES))
# per_image = balanced / np.maximum(per_class, 1)
# print({c: round(float(d), 1) for c, d in zip(CLASSES, per_image)})
# ```
# Each *Mass* image is drawn about as many times more often than each *No Finding* image as there are
# *No Finding* images per *Mass* image (roughly 28 with NIH's mix; in smoke mode *Mass* keeps a single
# image, drawn over and over). A discriminator can memorise so few images. Notebook 04 counters
# this with DiffAugment: random translation, brightness and contrast applied to real and generated
# images alike before the discriminator sees them, each op with probability `augment_p`.
# </details>

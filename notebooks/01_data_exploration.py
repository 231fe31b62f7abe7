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
# - put NIH's own statistics, shipped with the course, beside the same statistics of the data you loaded
# - see how rare NIH's six findings are next to *No Finding*, and how often findings co-occur
# - see why every split is by patient
# - spot shortcut risks (PA/AP view, age, sex) that a conditional GAN would happily learn
# - look at sample images per condition, real or the offline phantoms
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
NIH_METADATA = None          # optional path to a real Data_Entry_2017*.csv: explored even without images
IMAGE_SIZE = 64              # side of the decoded squares
SEED = 0                     # random seed for splits and sampling
RUN_DIR = "runs/course"      # where figures go
SMOKE = False                # True: tiny data, quick check
PHANTOMS_PER_CLASS = 700     # phantom images per condition when they have to be written

# %%
from helpers.env import notebook_settings

SMOKE, RUN_DIR, DATA_DIR, PHANTOMS_PER_CLASS, SOURCE = notebook_settings(
    DATA_SOURCE, DATA_DIR, IMAGE_SIZE, RUN_DIR, SMOKE, PHANTOMS_PER_CLASS, SEED, return_source=True)

# %% [markdown]
# ## 1. The data and its metadata
#
# `helpers.preprocess.load_dataset` is the one door to every data source. For the phantoms it first
# writes a dataset in the NIH layout if `DATA_DIR` holds none; for NIH it reads the metadata CSV,
# keeps the seven course classes, finds the images that are present (partial downloads are normal),
# and splits **by patient**; for ChestMNIST it downloads one `.npz` file (labels and MedMNIST's
# patient-wise split, no metadata); for class folders the folder names are the conditions and the
# patients are read from the file names. It then decodes every image once into a cache (notebook 02
# explains how).

# %%
from helpers.preprocess import load_dataset

DATA = load_dataset(SOURCE, DATA_DIR, size=IMAGE_SIZE, seed=SEED, phantom_per_class=PHANTOMS_PER_CLASS)
CLASSES = DATA.classes  # the seven NIH conditions, or the class folders' names for DATA_SOURCE = "folder"
print("\n".join(DATA.report.lines()))

# %% [markdown]
# The metadata table is where exploration starts: one row per image, with its findings, patient, age,
# sex and view (NIH and the phantoms; ChestMNIST and class folders carry labels only, so the panels that
# need more say so). With real NIH data, the full CSV (112,120 rows) can be explored even if you downloaded
# none of the images: pass its path as `NIH_METADATA`.

# %%
from helpers.data import find_metadata, read_nih_metadata

if NIH_METADATA:
    META = read_nih_metadata(NIH_METADATA)
elif SOURCE in ("phantom", "nih"):
    META = read_nih_metadata(find_metadata(DATA_DIR))
else:
    META = None  # ChestMNIST ships labels only; class folders have names (and patients read from them)
print(f"no NIH metadata for {SOURCE}: labels only" if META is None else f"{len(META):,} metadata rows")
META.head() if META is not None else DATA.table.head()

# %% [markdown]
# ### NIH's numbers beside this run's
#
# Every figure below has two panels drawn the same way. The **left** one is always NIH ChestX-ray14:
# aggregates that `tools/nih_stats.py` computed once from NIH's official metadata
# (`Data_Entry_2017_v2020.csv`, 112,120 images) and that ship with the course, so they need no
# download. The **right** one is this run's data, computed by `metadata_summary` from the table above.
# With the offline phantoms it shows how the phantoms were made, not how patients present; with NIH's
# `Data_Entry_2017_v2020.csv` as `NIH_METADATA`, both panels show the same numbers.

# %%
from pathlib import Path

from helpers.explore import metadata_summary, nih_reference_stats, table_summary

NIH = nih_reference_stats()
# labels only: table_summary gives what the table supports; panels that need ages or views say so
RUN = metadata_summary(META) if META is not None else table_summary(DATA.table, CLASSES)
names = {"phantom": "phantoms", "nih": f"NIH, {Path(DATA.report.metadata).name}", "chestmnist": "ChestMNIST",
         "folder": f"{Path(DATA_DIR).name}, class folders"}
RUN_TITLE = f"this run's data ({Path(NIH_METADATA).name if NIH_METADATA else names[SOURCE]})"
print(f"NIH: {NIH['images']:,} images of {NIH['patients']:,} patients")
print(f"{RUN_TITLE}: {RUN['images']:,} images, "
      + (f"{RUN['patients']:,} patients" if "patients" in RUN else "no patient ids"))

# %% [markdown]
# ## 2. How rare is each finding?
#
# A chest X-ray can carry several findings (`Effusion|Infiltration`). The course conditions on
# **one** label per image, so by default it keeps single-label images only. Light bars count every
# image that carries a label, dark bars the images that carry it alone.

# %%
import matplotlib.pyplot as plt

from helpers.plots import beside_reference, draw_class_counts, save_figure

fig = beside_reference(draw_class_counts, NIH, RUN, RUN_TITLE, title="Images per course class", figsize=(12, 4.6))
save_figure(fig, RUN_DIR, "01_label_counts")
plt.show()

# %% [markdown]
# In NIH (left), *No Finding* has 28 times as many single-label images as *Mass*, and every finding
# is carried alone by fewer than half of the images that carry it. A GAN trained on NIH's natural
# mix would see a *Mass* image once in about 40 (2,139 of 85,116 single-label images); notebook 02
# shows class-balanced sampling as the remedy. The phantoms are balanced and single-label by
# construction: every condition has the same number of images, and light and dark bars have the same
# length.
#
# The numbers, for all 15 NIH labels (NIH runs of the course use seven):

# %%
import pandas as pd

from helpers.explore import counts_table

tables = {}
for name, stats in (("NIH", NIH), ("this run", RUN)):
    if "labels_per_image" in stats:
        tables[name] = counts_table(stats)
        per = dict(zip(stats["labels_per_image"]["labels"], stats["labels_per_image"]["images"]))
        print(f"{name}: {per.get(1, 0) / stats['images']:.1%} of images carry one label; "
              f"at most {max(per)} on one image")
pd.concat(tables, axis=1)

# %% [markdown]
# ### Which findings travel together?
#
# Each cell counts the images that carry both labels of a pair; the diagonal counts all images with
# that label (colour on a log scale).

# %%
from helpers.plots import draw_cooccurrence

fig = beside_reference(draw_cooccurrence, NIH, RUN, RUN_TITLE, title="Label co-occurrence", figsize=(11, 5.2))
save_figure(fig, RUN_DIR, "01_cooccurrence")
plt.show()

# %% [markdown]
# In NIH, *Effusion*, *Infiltration* and *Atelectasis* co-occur most: 4,000 images carry both
# *Effusion* and *Infiltration*, more than carry *Effusion* alone (3,955). A model conditioned on
# *Effusion* alone therefore sees fewer of the textbook cases than the raw counts suggest.
# *No Finding* never co-occurs with a finding: it means that none was reported. The phantoms draw one
# finding per image, so their off-diagonal cells are all zero.

# %% [markdown]
# ## 3. Patients and follow-ups
#
# Patients come back, and each visit adds an image (a follow-up). The bars count patients by their
# number of images.

# %%
from helpers.plots import draw_images_per_patient

fig = beside_reference(draw_images_per_patient, NIH, RUN, RUN_TITLE, title="Images per patient", figsize=(12, 4))
save_figure(fig, RUN_DIR, "01_images_per_patient")
plt.show()

# %% [markdown]
# NIH's 30,805 patients have 3.6 images each on average. Most have a single image (the median is 1),
# but 43% have follow-ups and one patient has 184 images. Images of one patient look alike, so
# **splits must be by patient**, or a test set leaks training anatomy (and a memorisation audit later
# would be meaningless). The phantoms give each synthetic patient one to eight images that share its
# anatomy, so they are split by patient too. Class folders are split by the patient read from the file
# names (NIH's `00012345_001.png`, Kermany's `person123_bacteria_456.jpeg`); split folders that put one
# patient into two splits are re-split, and the loader's report above says how many images moved:

# %%
from helpers.data import assert_patient_disjoint, patient_ids_known

if patient_ids_known(DATA.table):
    assert_patient_disjoint(DATA.table)  # raises if a patient crosses splits
    print("patients per split:", DATA.table.groupby("split")["patient"].nunique().to_dict())
elif SOURCE == "chestmnist":
    print("no patient ids in ChestMNIST; its official train/val/test split is patient-wise")
else:
    print(f"{DATA.table['patient'].isna().sum():,} images have no patient id in their file name: "
          "they were split image by image, and a patient's images may sit in two splits")

# %% [markdown]
# ## 4. Age, sex and view by condition: shortcut risks
#
# AP films are taken at the bedside, of patients too sick to stand; PA films in the radiology
# department. If one condition is mostly AP, a generator can "draw" that condition by drawing an
# AP-looking film, and a classifier can score it right for the wrong reason.

# %%
from helpers.plots import draw_share_ap

fig = beside_reference(draw_share_ap, NIH, RUN, RUN_TITLE, title="AP views by condition", figsize=(12, 4))
save_figure(fig, RUN_DIR, "01_view_by_condition")
plt.show()

# %% [markdown]
# In NIH, 47–48% of the *Atelectasis* and *Effusion* images are AP, against 35% of *No Finding* and
# 29% of *Nodule*. Patients with *Atelectasis* or *Effusion* are also older (median 53 years, against
# 47 for *No Finding*), and *Pneumothorax* is the only class with more women than men. The phantoms
# draw view, age and sex at random whatever the condition, so their differences are chance (larger
# the fewer images there are, as in smoke mode).

# %%
from helpers.explore import condition_table

tables = {"NIH": condition_table(NIH)}
if "by_condition" in RUN:
    tables["this run"] = condition_table(RUN)
pd.concat(tables, axis=1).round(2)

# %% [markdown]
# ## 5. What the course trains on
#
# The single-label images of this run's conditions that are on disk, per class and split:

# %%
from helpers.data import summary_table

summary_table(DATA.table, CLASSES)

# %% [markdown]
# ## 6. What the images look like
#
# A grid of examples per condition from the images present (with a partial NIH download some rows may
# be empty). For phantoms, look for the findings: a dense band (Atelectasis), fluid with a meniscus at a
# base (Effusion), patchy haze (Infiltration), one large round opacity (Mass), one to three small ones
# (Nodule), a rim without lung markings behind a thin line (Pneumothorax). For scale: in NIH's 984
# radiologist bounding boxes, the median *Mass* box is about 120×141 pixels of a 1,024-pixel film and
# the median *Nodule* box 70×68.

# %%
import numpy as np

from helpers.plots import class_grid

rows, labels = DATA.split("train")
fig = class_grid(DATA.images[np.sort(rows)], DATA.table["label"].to_numpy()[np.sort(rows)], DATA.classes,
                 per_class=6, seed=SEED, title=f"{SOURCE} training images, {IMAGE_SIZE}px")
save_figure(fig, RUN_DIR, "01_samples")
plt.show()

# %% [markdown]
# ## Summary
#
# - NIH's own statistics ship with the course (`nih_reference_stats()`), so each figure shows the real data beside the data of this run.
# - In NIH the six findings are rare beside *No Finding* (up to 28:1 in single-label images) and often co-occur; the course keeps single-label images by default. The phantoms are balanced and single-label by construction.
# - NIH patients have 3.6 images on average, up to 184, so every split in the course is by patient.
# - In NIH, view and age differ by condition: shortcuts a GAN and its judges can exploit. The phantoms draw them independently of the condition.
# - The NIH metadata reads the same whatever the variant; partial downloads are counted, not fatal.

# %% [markdown]
# ## Exercises
#
# 1. Which course class has the highest share of AP views in NIH, and which the lowest?
#
# <details><summary>Solution</summary>
#
# ```python
# from helpers.explore import condition_table, nih_reference_stats
#
# condition_table(nih_reference_stats())["share_AP"].sort_values()
# ```
# *Atelectasis* is highest (47.6%, just above *Effusion*'s 47.3%) and *Nodule* lowest (28.9%). The
# shipped aggregates answer this without any download; with `Data_Entry_2017_v2020.csv` as
# `NIH_METADATA`, `condition_table(RUN)` gives the same numbers.
# </details>
#
# 2. How many images would *Mass* gain with `multi_label=True` in `helpers.data.select_classes`?
#    Reason from NIH's shipped counts, then check on this run's metadata.
#
# <details><summary>Solution</summary>
#
# With `multi_label=True` an image with several findings takes the *rarest* selected class, and
# *Mass* is the rarest, so every image carrying *Mass* becomes a *Mass* image:
# ```python
# from helpers.data import select_classes
# from helpers.explore import nih_reference_stats
#
# mass = nih_reference_stats()["label_counts"]["Mass"]
# print("NIH:", mass["any"] - mass["single_label"])  # 5,782 - 2,139 = 3,643
# if META is not None:
#     gain = ((select_classes(META, multi_label=True)["condition"] == "Mass").sum()
#             - (select_classes(META)["condition"] == "Mass").sum())
#     print("this run:", gain)
# ```
# NIH's *Mass* class would grow from 2,139 to 5,782 images (+3,643), and that is what the check prints
# with `Data_Entry_2017_v2020.csv` as `NIH_METADATA`. On the phantoms the gain is 0: every image has one label.
# </details>
#
# 3. Plot the age distribution of *No Finding* against *Effusion* in NIH. Would you match them by
#    age before training?
#
# <details><summary>Solution</summary>
#
# ```python
# from helpers.explore import nih_reference_stats
#
# ages = nih_reference_stats()["age_histogram"]
# for c in ("No Finding", "Effusion"):
#     n = np.array(ages["counts"][c])
#     plt.stairs(n / n.sum(), ages["edges"], label=c)
# plt.xlabel("age (years, by decade)"); plt.ylabel("share of the class"); plt.legend(); plt.show()
# ```
# *Effusion* is shifted to older patients: 31% of its images are of patients aged 60 or more, against
# 21% for *No Finding* (medians 53 and 47). Matching by age (or at least checking that generated
# *Effusion* images cannot be told apart by apparent age) keeps "older chest" from standing in for
# "fluid". Matching costs images, so for a GAN checking is the cheaper first step.
# </details>

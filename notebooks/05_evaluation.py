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
# # 05 · Evaluation: realistic, right condition, useful, private?
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/cxr-gan-course/cxr-gan-course/blob/main/notebooks/05_evaluation.ipynb)
#
# **You will learn to**
#
# - measure realism with FID, KID, precision/recall and density/coverage, and say which feature extractor made each number
# - check that generated images show the condition they were asked for (label fidelity, per-class AUROC)
# - test whether synthetic images help a classifier on real test data, against honest controls and over several seeds (an optional study, `UTILITY_STUDY`)
# - audit memorisation: are generated images closer to training images than unseen real images are?
# - write `metrics.json` and `report.md` for a run
# - play a real-or-generated reading game and put a confidence interval on a reader's accuracy
#
# **Expected runtime:** about 1 minute on a 2-core CPU at 64 px (the last cell prints this run's time); the optional utility study (`UTILITY_STUDY = True`) adds about 3 minutes. It evaluates the generator notebook 04 wrote into `RUN_DIR`, or the course's shipped one when there is none.
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
IMAGE_SIZE = 64
RUN_DIR = "runs/course"      # where notebook 04 wrote gan/generator.keras and judge_classifier.keras
GENERATOR = "auto"           # auto: RUN_DIR's generator if notebook 04 made one, else the shipped one | run | pretrained | a path
DRIVE = False                # in Colab: keep RUN_DIR on Google Drive, shared with notebook 04 opened in another runtime
SEED = 0
DETERMINISTIC = True         # same SEED, same machine: a rerun repeats bit for bit (Keras then skips XLA on a GPU)
SMOKE = False
PHANTOMS_PER_CLASS = 700
GENERATED_PER_CLASS = 300    # generated images per condition for every section below
EXTRACTOR = "classifier"     # classifier (offline) | both (adds InceptionV3; needs internet for its weights)
UTILITY_STUDY = False        # train classifiers on synthetic data (section 6): about 3 minutes more on a CPU
UTILITY_SEEDS = 3            # classifiers per arm of the utility study (mean and spread over seeds)
UTILITY_STEPS = 600          # optimiser steps (batch 32) per utility classifier, the same for every arm
UTILITY_SIZE = 32            # utility classifiers train at this size (None: IMAGE_SIZE); 32 keeps a CPU run short
UTILITY_RATIOS = [1.0]       # synthetic images added per real one, one arm each (the full profile: 0.5, 1, 2)
UTILITY_REAL_PER_CLASS = None  # cap the real training images per condition in the utility study (None: all)
PLAY = False                 # section 9's reading game: True asks you (input) which films are real; False never waits

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.env import notebook_settings
from helpers.plots import save_figure

SMOKE, RUN_DIR, DATA_DIR, PHANTOMS_PER_CLASS, SOURCE = notebook_settings(
    DATA_SOURCE, DATA_DIR, IMAGE_SIZE, RUN_DIR, SMOKE, PHANTOMS_PER_CLASS, SEED, return_source=True,
    deterministic=DETERMINISTIC, drive=DRIVE)
if SMOKE:
    GENERATED_PER_CLASS, UTILITY_SEEDS, UTILITY_STEPS, UTILITY_RATIOS = 20, 2, 20, [1.0]
STARTED = time.perf_counter()

# %% [markdown]
# ## 0. What is compared with what
#
# Three sets of images, kept apart on purpose:
#
# | set | used for | never used for |
# |---|---|---|
# | **real training split** | training the GAN and the judge classifier; the memorisation audit's reference | scoring anything |
# | **real validation split** | a real-versus-real reference for the realism numbers | training |
# | **real test split** (patient-disjoint where patient ids are known) | scoring the judge, the utility classifiers, realism, the audit's threshold | training anything |
#
# The judge is a classifier trained on the real training split only: the one notebook 04 used (which it trained or
# loaded; the lines printed under the next code cell say which), or the course's shipped one. The GAN's settings
# were chosen on phantom runs, so on phantoms these numbers are a best case; on real radiographs (ChestMNIST, NIH,
# your class folders) they are a fresh test. Every number below carries its sample size, image size and extractor.

# %% [markdown]
# ### Which generator and judge
#
# By default this notebook evaluates the generator and judge that notebook 04 wrote into `RUN_DIR`.
# Without them (a fresh Colab runtime, or a workshop that skips training) it uses the small 64 px
# phantom generator and judge that ship with the course (`helpers.generate.pretrained_paths()`), and
# evaluates them on the data they were trained on, the phantoms, whatever `DATA_SOURCE` chose: a
# generator scored against another dataset's images would say nothing. The line printed below says
# which and why. `GENERATOR` can also name a `generator.keras` file, such as an early checkpoint's.
# In Colab, notebooks 04 and 05 opened from their badges run in separate runtimes: set `DRIVE = True`
# in both (Google Drive is mounted and `RUN_DIR` kept there) and this notebook finds notebook 04's run.

# %%
import json

import keras

from helpers.generate import choose_generator, load_generator
from helpers.preprocess import load_dataset
from helpers.verdicts import load_conditions, restrict_conditions

chosen = choose_generator(RUN_DIR, SOURCE, IMAGE_SIZE, GENERATOR, data_dir=DATA_DIR, seed=SEED,
                          phantoms_per_class=PHANTOMS_PER_CLASS, source_was_auto=DATA_SOURCE == "auto", smoke=SMOKE)
print(chosen.message)
generator_path, judge_path = chosen.generator, chosen.judge
ASKED_SOURCE, SOURCE, DATA_DIR = SOURCE, chosen.data_source, chosen.data_kwargs["data_dir"]  # the generator's data
made_by_04 = RUN_DIR / "training_metrics.json"
if chosen.kind == "run" and made_by_04.is_file():
    print("  the judge is", json.loads(made_by_04.read_text()).get("judge", "not recorded by notebook 04"))
data = load_dataset(SOURCE, size=IMAGE_SIZE, **chosen.data_kwargs)
CLASSES, NUM_CLASSES = data.classes, len(data.classes)
generator, generator_meta = load_generator(generator_path)
judge = keras.saving.load_model(judge_path, safe_mode=True)
if generator_meta["image_size"] != IMAGE_SIZE:
    raise ValueError(f"{generator_path} makes {generator_meta['image_size']} px images but IMAGE_SIZE={IMAGE_SIZE}; "
                     "set IMAGE_SIZE to match")
screening = load_conditions(RUN_DIR) if chosen.kind == "run" else None  # notebook 04's check of the training counts
if set(generator_meta["classes"]) < set(CLASSES):  # notebook 04 left conditions out: evaluate the same set
    left_out = [c for c in CLASSES if c not in generator_meta["classes"]]
    print(f"  the generator draws {len(generator_meta['classes'])} of this data's {len(CLASSES)} conditions; left "
          f"out in notebook 04 (too few training images): {', '.join(left_out)}")
    data = restrict_conditions(data, generator_meta["classes"])
    CLASSES, NUM_CLASSES = data.classes, len(data.classes)
if tuple(generator_meta["classes"]) != tuple(CLASSES):
    raise ValueError(f"{generator_path} draws {', '.join(generator_meta['classes'])}, but this data's conditions are "
                     f"{', '.join(CLASSES)}: run notebook 04 on this data first (same RUN_DIR), or evaluate on the "
                     "data the generator was trained on")
for line in (screening or {}).get("messages", []):
    print("  notebook 04:", line)
print(f"generator: {generator_meta['step']:,} training steps, {generator_meta['weights']}")

# %%
from helpers.classifier import to_model_range
from helpers.generate import generate_images

x_train, y_train = data.arrays("train")
x_val, y_val = data.arrays("val")
x_test, y_test = data.arrays("test")
x_train, x_val, x_test = to_model_range(x_train), to_model_range(x_val), to_model_range(x_test)
y_gen = np.repeat(np.arange(NUM_CLASSES), GENERATED_PER_CLASS)
x_gen = generate_images(generator, y_gen, seed=SEED + 1)
pd.DataFrame({"images": [len(y_train), len(y_val), len(y_test), len(y_gen)]},
             index=["real train", "real val", "real test", "generated"])

# %% [markdown]
# ## 1. Real beside generated
#
# Before any number, look. Each row is one condition: real test images on the left, generated on the right.

# %%
from helpers.plots import real_vs_generated

fig = real_vs_generated(x_test, y_test, x_gen, y_gen, CLASSES, per_class=4, seed=SEED)
save_figure(fig, RUN_DIR, "05_real_vs_generated")
plt.show()

# %% [markdown]
# ## 2. Right condition: label fidelity
#
# The judge scores every generated image; **fidelity** is the share it assigns to the condition asked
# for. Beside it, the same judge on the real test split: a judge that misses a condition on real images
# cannot vouch for it on generated ones. The real test split keeps the data's own class mix, so its
# **balanced** accuracy (the mean over conditions) is the number to compare with fidelity. AUROC is
# one-condition-versus-the-rest on the judge's probabilities. A judge that cannot tell the conditions apart
# in real images gives no fidelity at all, and a condition it does not recognise gets no figure of its own
# (section 8 states the test).

# %%
from helpers.classifier import predict_classes
from helpers.metrics import classification_scores
from helpers.verdicts import NOT_MEASURABLE, judge_gate, scored_fidelity

fidelity = {"judge": "course CNN (helpers.classifier) trained on the real training split",
            "generated": classification_scores(predict_classes(judge, x_gen), y_gen, NUM_CLASSES),
            "real_test": classification_scores(predict_classes(judge, x_test), y_test, NUM_CLASSES)}
gate = judge_gate(fidelity["real_test"])  # can this judge tell the conditions apart in real images?
shown = scored_fidelity(fidelity, gate)  # None when it cannot; per condition, None where it cannot
if gate["measurable"]:
    print(f"overall: fidelity {shown['accuracy']:.3f} | judge on real test: balanced accuracy "
          f"{fidelity['real_test']['balanced_accuracy']:.3f} (plain {fidelity['real_test']['accuracy']:.3f})")
else:
    print(f"overall: label fidelity {NOT_MEASURABLE}. Why: {gate['reason']}. What would make it measurable: "
          f"{gate['remedy']}.")
table = {"accuracy (real test)": fidelity["real_test"]["per_class_accuracy"],
         "AUROC (real test)": fidelity["real_test"]["per_class_auroc"]}
if shown is not None:
    table = {"fidelity (generated)": shown["per_class_accuracy"], "AUROC (generated)": shown["per_class_auroc"],
             **table}
pd.DataFrame(table, index=CLASSES).astype(float).round(3)

# %%
import seaborn as sns

panels = [("generated", "generated (rows: asked for)")] if gate["measurable"] else []
panels.append(("real_test", "real test (rows: true)"))
fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.8), squeeze=False)
for ax, (key, title) in zip(axes[0], panels):
    sns.heatmap(np.array(fidelity[key]["confusion"]), annot=True, fmt="d", cmap="Blues", ax=ax, cbar=False,
                xticklabels=CLASSES, yticklabels=CLASSES)
    ax.set_title(f"{title}, accuracy {fidelity[key]['accuracy']:.3f}"); ax.set_xlabel("judge's prediction")
fig.tight_layout()
save_figure(fig, RUN_DIR, "05_fidelity_confusion")
plt.show()

# %% [markdown]
# ## 3. Realism: FID, KID, precision/recall, density/coverage
#
# All four compare *feature vectors*, so the extractor is part of the number. The offline extractor is
# the judge's 128-d `features` layer: it knows the images of this run's data but was trained on the real
# training split, which is why the real-versus-real reference below uses the **validation** split
# against the test split, never training images. FID and KID both grow as samples shrink, and both
# count a different class mix as a difference, so the generated set has the same size and the same
# conditions, image for image, as the validation images it stands in for (real data is imbalanced,
# the generated sets of the other sections are balanced); compare rows, not papers.
#
# - **FID** / **KID**: distance between the two feature distributions (0 = identical; KID is unbiased).
# - **precision**: share of generated images that fall inside the real data's manifold (fidelity of each image).
# - **recall**: share of real images inside the generated manifold (does it cover the variety?).
# - **density / coverage**: sturdier versions of the two (Naeem et al., 2020).
#
# Set `EXTRACTOR = "both"` on Colab to add Keras InceptionV3 with ImageNet weights at 299 px; its FID
# is not comparable with the TF1 `pool_3` FID of papers, and ImageNet features know little of X-rays.

# %%
from helpers.evaluate import (INCEPTION_NOTE, classifier_extractor, extract_features, inception_extractor,
                              realism)

extractors = {"classifier features (judge, 128-d)": classifier_extractor(judge)} if gate["measurable"] else {}
if not gate["measurable"]:
    print(f"Realism in the judge's features: {NOT_MEASURABLE} (section 2). EXTRACTOR = 'both' adds InceptionV3.")
if EXTRACTOR in ("both", "inception"):
    try:
        extractors[INCEPTION_NOTE] = inception_extractor()
    except RuntimeError as exc:
        if EXTRACTOR == "inception":
            raise
        print(f"InceptionV3 skipped: {exc}")

rng = np.random.default_rng(SEED)
n_ref = min(len(y_val), 2000)
val_rows = rng.choice(len(y_val), n_ref, replace=False)
x_gen_like_val = generate_images(generator, y_val[val_rows], seed=SEED + 2)  # same conditions as the val rows
realism_rows = []
for name, extractor in extractors.items():
    f_test = extract_features(extractor, x_test)
    for comparison, x in (("real val vs real test", x_val[val_rows]), ("generated vs real test", x_gen_like_val)):
        row = realism(f_test, extract_features(extractor, x), kid_subset_size=min(1000, n_ref, len(f_test)), seed=SEED)
        realism_rows.append({"extractor": name, "comparison": comparison, "image_size": IMAGE_SIZE, **row})
pd.DataFrame(realism_rows).drop(columns=["image_size", "k", "feature_dim"], errors="ignore").round(4)

# %% [markdown]
# ## 4. Diversity: MS-SSIM within a condition
#
# Multi-scale structural similarity of random pairs of images *of the same condition*: 1 means
# identical pairs. If generated pairs are much more alike than real pairs, the generator has collapsed
# onto a few modes, a failure that fidelity and precision cannot see.

# %%
from helpers.evaluate import ms_ssim_diversity, ms_ssim_scales

pairs = 30 if SMOKE else 200
diversity = {"pairs": pairs, "scales": ms_ssim_scales(IMAGE_SIZE),
             "real": ms_ssim_diversity(x_test, y_test, NUM_CLASSES, pairs, seed=SEED),
             "generated": ms_ssim_diversity(x_gen, y_gen, NUM_CLASSES, pairs, seed=SEED)}
table = pd.DataFrame({"real test": diversity["real"], "generated": diversity["generated"]}, index=CLASSES)
ax = table.plot.barh(figsize=(6, 3.8), color=["#4C72B0", "#DD8452"])
ax.set_xlabel(f"mean MS-SSIM of {pairs} same-condition pairs ({diversity['scales']} scales; lower = more varied)")
save_figure(ax.figure, RUN_DIR, "05_diversity")
plt.show()

# %% [markdown]
# ## 5. Walking the latent space
#
# Top: one condition, the noise moving smoothly between two points (spherical interpolation); a good
# generator changes the anatomy gradually and keeps the finding. Bottom: the noise held fixed (one row
# each) while the condition changes along the columns; the patient should stay, the finding should change.

# %%
from helpers.evaluate import class_sweep, latent_walk
from helpers.plots import image_rows

walks = [latent_walk(generator, c, steps=7, seed=SEED + c) for c in range(NUM_CLASSES)]
fig = image_rows(walks, row_titles=CLASSES, title="latent walk within each condition")
save_figure(fig, RUN_DIR, "05_latent_walks")
plt.show()
sweep = class_sweep(generator, NUM_CLASSES, rows=3, seed=SEED)
fig = image_rows(sweep, col_titles=CLASSES, title="fixed noise per row, condition per column")
save_figure(fig, RUN_DIR, "05_class_sweep")
plt.show()

# %% [markdown]
# ## 6. Useful? Train on synthetic, test on real
#
# The question a generator must answer in the end: does a classifier learn something from its images that it would
# not learn from the real ones? The study (`UTILITY_STUDY = True`; off by default, as it trains several classifiers
# per arm) trains fresh classifiers, the same small CNN for `UTILITY_STEPS` optimiser steps each (so more images do
# not also mean more training), keeps the best of four checkpoints on the real validation split, and scores them by
# macro AUROC on the real test split, over `UTILITY_SEEDS` seeds. The arms are what each classifier trains on:
#
# - **real**: the real training split, the baseline (the dashed line);
# - **real + classic augmentation**: the real images randomly shifted by a few pixels and changed in brightness and
#   contrast (no flips: the heart is on the left), the cheap alternative to a GAN. It can score *below* real: with
#   the step budget fixed, a classifier that sees a harder, more varied version of the same images may not have
#   converged yet, and the test images are never augmented;
# - **synthetic only**: as many generated images as real ones, in the same class proportions;
# - **real + synthetic** at `UTILITY_RATIOS` times the real count;
# - **real + duplicated real** at the same counts: the control that tells "more rows" from "new information".
#
# Synthetic data helps only if real + synthetic beats both real and the duplicated control by more than the spread
# over seeds; the verdict line says whether it does. Few steps make the classifiers disagree with themselves, so the
# spread is the size of effect a run can see. On a CPU the classifiers train at `UTILITY_SIZE` px (average-pooled).

# %%
from IPython.display import display

from helpers.classifier import downsample
from helpers.utility import summarise_utility, utility_study, utility_verdict

utility = None  # what the report gets: nothing when the study is off
if not UTILITY_STUDY:
    print("Utility study off (UTILITY_STUDY = False). The lab's measured answer is in docs/experiments.md, section "
          "on whether synthetic data is useful; set UTILITY_STUDY = True in the parameters cell to run it here "
          "(about 3 minutes on a 2-core CPU at 64 px).")
else:
    factor = IMAGE_SIZE // (UTILITY_SIZE or IMAGE_SIZE)
    utility_rows = np.arange(len(y_train))
    if UTILITY_REAL_PER_CLASS:  # the scarce-real regime, where synthetic data is most often hoped to help
        rng = np.random.default_rng(SEED)
        utility_rows = np.concatenate([rng.permutation(np.flatnonzero(y_train == c))[:UTILITY_REAL_PER_CLASS]
                                       for c in range(NUM_CLASSES)])
    x_real, y_real = x_train[utility_rows], y_train[utility_rows]
    # enough generated images per condition for the largest ratio (and for "synthetic only")
    needed = np.ceil(max(max(UTILITY_RATIOS), 1.0) * np.bincount(y_real, minlength=NUM_CLASSES)).astype(int)
    y_pool = np.repeat(np.arange(NUM_CLASSES), needed)
    x_pool = generate_images(generator, y_pool, seed=SEED + 2)  # fresh noise, not the images scored above
    utility_results = utility_study((downsample(x_real, factor), y_real), (downsample(x_test, factor), y_test),
                                    (downsample(x_pool, factor), y_pool), NUM_CLASSES, ratios=UTILITY_RATIOS,
                                    seeds=range(UTILITY_SEEDS), steps=UTILITY_STEPS,
                                    val=(downsample(x_val, factor), y_val))
    utility_summary = summarise_utility(utility_results)
    verdict = utility_verdict(utility_summary)
    utility = {"classifier": f"course CNN (width 16, max pooling, batch 32) at {IMAGE_SIZE // factor} px, "
                             "best of 4 checkpoints on the real validation split",
               "steps": UTILITY_STEPS, "seeds": list(range(UTILITY_SEEDS)), "n_test": len(y_test),
               "real_per_class_cap": UTILITY_REAL_PER_CLASS,
               "summary": utility_summary.to_dict("records"), "runs": utility_results.to_dict("records"),
               "verdict": verdict}
    print("Verdict:", verdict)
    display(utility_summary.round(3))

# %%
if utility is not None:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    labels = [f"{a} ({r:g}x)" if a.startswith("real +") and "augmentation" not in a else a
              for a, r in zip(utility_summary["arm"], utility_summary["ratio"])]
    means, spread = utility_summary["auroc_mean"], utility_summary["auroc_std"].fillna(0)
    ax.barh(labels, means, xerr=np.vstack([spread, np.minimum(spread, 1.0 - means)]), color="#55A868")  # AUROC stops at 1
    ax.axvline(float(means[utility_summary["arm"] == "real"].iloc[0]), color="k", ls="--", lw=1)
    ax.set_xlim(max(0.0, float((means - spread).min()) - 0.05), 1.0)
    ax.set_xlabel(f"macro AUROC on the real test split (mean ± std over {UTILITY_SEEDS} seeds)")
    ax.invert_yaxis()
    save_figure(fig, RUN_DIR, "05_utility")
    plt.show()

# %% [markdown]
# ## 7. Private? The memorisation audit
#
# A GAN that copies its training images would leak them. For every generated image we find its
# nearest training image, and compare with how near *unseen* real test images come to the training
# set. The threshold is the distance that only 1% of test images get under; if the generator does not
# copy, about 1% of generated images get under it too. Done in pixel space and in the judge's feature
# space. On phantoms (synthetic patients) this demonstrates the method; on real radiographs it is the
# check that matters, since a copied training image is a copied patient. A binomial test turns the share
# into a verdict, overall and per condition (section 8); it is printed first, and every condition that is
# copied gets its own figure of closest pairs.

# %%
from helpers.evaluate import memorisation_audit

spaces = {"pixels": (x_train, x_test, x_gen)}
if gate["measurable"]:  # the judge's features mean something only when it can tell the conditions apart
    judge_features = classifier_extractor(judge)
    spaces["judge features"] = tuple(extract_features(judge_features, x) for x in (x_train, x_test, x_gen))
audits = {name: memorisation_audit(*arrays, synthetic_labels=y_gen, num_classes=NUM_CLASSES, test_labels=y_test)
          for name, arrays in spaces.items()}
copying = {name: [CLASSES[c] for c, t in enumerate(a["per_condition"]) if t and t["copies"]]
           for name, a in audits.items()}
for name, a in audits.items():  # the verdict first
    t = a["test"]
    print(f"{name}: " + ("THE GENERATOR COPIES ITS TRAINING IMAGES" if a["copies"] else "no copying found")
          + f" ({t['below']} of {t['n']} generated images under the line, {t['share']:.1%} against the expected "
          f"{t['expected_rate']:.1%}, p = {t['p_value']:.2g})"
          + (f"; copied conditions: {', '.join(copying[name])}" if copying[name] else ""))
pd.DataFrame({name: {k: v for k, v in a.items() if not isinstance(v, (np.ndarray, dict, list))}
              for name, a in audits.items()}).T

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for ax, (name, a) in zip(axes, audits.items()):
    bins = np.linspace(0, max(a["test_distances"].max(), a["synthetic_distances"].max()), 40)
    ax.hist(a["test_distances"], bins, alpha=0.6, density=True, label="real test → train")
    ax.hist(a["synthetic_distances"], bins, alpha=0.6, density=True, label="generated → train")
    ax.axvline(a["threshold"], color="k", ls="--", lw=1, label="1% of test")
    ax.set_title(f"{name}: {a['share_synthetic_below']:.1%} of generated below the line"); ax.legend(fontsize=8)
    ax.set_xlabel("distance to the nearest training image")
save_figure(fig, RUN_DIR, "05_memorisation")
plt.show()

# %%
a = audits["pixels"]
copied = sorted(set(c for names in copying.values() for c in names))  # each copied condition gets its own pairs
for condition in [None] + copied:
    rows = np.arange(len(y_gen)) if condition is None else np.flatnonzero(y_gen == CLASSES.index(condition))
    closest = rows[np.argsort(a["synthetic_distances"][rows])[:6]]
    fig = image_rows([x_gen[closest], x_train[a["synthetic_nearest"][closest]]],
                     row_titles=["generated", "nearest train"],
                     col_titles=[f"d={a['synthetic_distances'][i]:.1f}" for i in closest],
                     title=f"the six generated {condition + ' ' if condition else ''}images closest to a training "
                           "image (pixel space)")
    save_figure(fig, RUN_DIR, "05_closest_pairs" + (f"_{condition.replace(' ', '_')}" if condition else ""))
    plt.show()

# %% [markdown]
# ## 8. The report: verdicts first
#
# Everything above goes into `RUN_DIR/metrics.json` (for scripts) and `RUN_DIR/report.md` (for people). Both
# open with five verdicts, each "yes", "no" or "cannot tell" with its reason, then the numbers. The rules live
# in one module, `helpers.verdicts`, with their thresholds as named constants; the lab's evidence for them is in
# [docs/experiments.md](../docs/experiments.md#thresholds-behind-the-verdicts).
#
# - **Too small to learn** (notebook 04, before training). A condition with fewer than `MIN_TRAIN_IMAGES` (30)
#   training images is left out; one with fewer than `WARN_TRAIN_IMAGES` (450) trains with a warning that
#   reaches this report. The lab cut conditions to 30 training images and the GAN returned copies of them many
#   times more often than chance; on the full phantoms, about 480 images per condition and more, it stayed at
#   the chance rate. Between the two nothing was measured, so the audit below decides. Smoke mode uses 5 and 15.
# - **A judge that can judge.** Fidelity, and every number in the judge's features, counts only when the lower
#   end of the 95% Wilson interval of the judge's balanced accuracy on real test images exceeds chance (one over
#   the number of conditions) by `JUDGE_MARGIN` (0.1); otherwise the report says "not measurable with this
#   judge", why, and what would help. The same test on one condition's real test images decides whether that
#   condition gets a fidelity of its own.
# - **Right condition**: yes when fidelity reaches 90% of the judge's balanced accuracy on real images of the
#   same conditions. **Realistic**: yes when precision reaches 85% of the real-versus-real floor's.
#   **Varied**: yes when recall reaches 90% of the floor's and no condition's MS-SSIM lies more than 0.1 above
#   the real images'.
# - **Useful**: the utility study's answer; it gives none when classifiers trained on the real images alone are
#   not clearly above chance (mean macro AUROC minus one standard deviation at most 0.6), and "cannot tell"
#   when it did not run.
# - **Private**: "copies its training images" when a one-sided exact binomial test finds more generated images
#   under the 1% line than the test split's own share predicts (per condition: the share of that condition's own
#   test images, since some conditions sit naturally close to the training set; alpha 0.01, shared among the
#   conditions for the per-condition tests) and the share is at least five times that rate.

# %%
from IPython.display import Markdown, display

from helpers.evaluate import write_report

# inside RUN_DIR the generator is named relative to it, so two runs of one seed write the same metrics.json
shown_generator = Path(generator_path)
shown_generator = shown_generator.relative_to(RUN_DIR) if shown_generator.is_relative_to(RUN_DIR) else shown_generator
metrics = {
    "data_source": SOURCE, "image_size": IMAGE_SIZE, "classes": list(CLASSES), "seed": SEED, "smoke": SMOKE,
    "setup": {"generator": f"{shown_generator} ({generator_meta['step']} steps, EMA weights)",
              "generated_per_condition": GENERATED_PER_CLASS,
              **({"data": f"{SOURCE}, the shipped generator's own (DATA_SOURCE chose {ASKED_SOURCE}, for which this "
                          "run has no generator)"} if SOURCE != ASKED_SOURCE else {}),
              "real_images": f"train {len(y_train)}, val {len(y_val)}, test {len(y_test)} (patient-disjoint where ids are known)"},
    "fidelity": fidelity, "realism": realism_rows, "diversity": diversity,
    **({"utility": utility} if utility is not None else {}),  # the study is optional (UTILITY_STUDY)
    "memorisation": audits,
    **({"conditions": screening} if screening else {}),  # notebook 04's check of the training counts
}
json_path, report_path = write_report(metrics, RUN_DIR)
print(f"wrote {json_path} and {report_path}; this notebook ran in {time.perf_counter() - STARTED:.0f} s")
display(Markdown(report_path.read_text()))

# %% [markdown]
# ## 9. Real or generated? A reading game
#
# The numbers above compare feature statistics; people compare films. The grid below mixes real test films with
# generated ones, three of each per condition, shuffled with `SEED`, each with a number. With `PLAY = True` the
# next cell asks you, row by row, whether each film is real (`r`) or generated (`g`), scores you overall and per
# condition with a 95% Wilson interval (chance is 50%), and saves your answers in `RUN_DIR/reading_game/`. In a
# workshop every reader plays in their own runtime; gather the answers files in one run folder and this cell
# pools them (`helpers.reading_game.pool`). The share of generated films taken for real is the figure reader
# studies report: clinicians took StyleGAN2 chest radiographs for real ones 42% of the time (Woodland et al. 2022).

# %%
from helpers.reading_game import make_game, show_game

game = make_game(x_test, y_test, x_gen, y_gen, CLASSES, per_condition=3, seed=SEED)
fig = show_game(game)
save_figure(fig, RUN_DIR, "05_reading_game")
plt.show()

# %%
from helpers.reading_game import answer_files, ask, pool, save_answers, score, score_lines

if PLAY:
    record = ask(game)  # your name, then one line of r/g per row of the grid
    print(f"your answers: {save_answers(record, RUN_DIR)}")
    print("\n".join(score_lines(score(record))))
else:
    print("PLAY = False, so nobody is asked. To play, set PLAY = True in the parameters cell, run the notebook, look "
          "at the grid and type r (real) or g (generated) for each film, one line per row.")
files = answer_files(RUN_DIR)
if len(files) > int(PLAY):  # answers saved earlier, or by other readers: all of them together
    print(f"{len(files)} answers file(s) in {RUN_DIR / 'reading_game'}, pooled:")
    print("\n".join(score_lines(pool(files))))

# %% [markdown]
# ## Summary
#
# - Every metric is a comparison of two sets through one feature extractor; report the extractor, the image size and both sample sizes, and a real-versus-real reference beside it.
# - Label fidelity with per-class AUROC says whether the condition is drawn, but only as well as the judge recognises real images.
# - MS-SSIM within a condition and recall catch mode collapse, which fidelity and precision miss.
# - Synthetic data is useful only if it beats both real data alone and a count-matched control, over several seeds; say so when it does not.
# - The memorisation audit compares generated-to-train distances with test-to-train distances; about 1% under the 1% threshold is what no copying looks like.
# - A reader's accuracy at telling real films from generated ones is a proportion from a few dozen films: give it with its confidence interval.

# %% [markdown]
# ## Exercises
#
# 1. Run the utility study with `UTILITY_REAL_PER_CLASS = 50`. Does synthetic data help more when real
#    data is scarce?
#
# <details><summary>Solution</summary>
#
# Set `UTILITY_STUDY = True` and `UTILITY_REAL_PER_CLASS = 50` in the parameters cell and rerun the notebook (a few
# minutes on a 2-core CPU; fewer real images make each classifier's steps no cheaper, as the step count is fixed).
# Compare "real + synthetic" with "real + duplicated real" at the same ratio: synthetic data only *helps* if it
# beats the duplicated-real control by more than the spread over seeds (the verdict line says whether it does).
# The GAN itself was still trained on all the real images, so this is an optimistic version of the scarce-data
# question. `lab/utility_study.py` asks it honestly: it cuts some conditions to a few dozen training images, trains
# the GAN on that same data, and compares synthetic images of those conditions with duplicated real ones over
# seeds ([docs/experiments.md](../docs/experiments.md) has its results).
# </details>
#
# 2. Evaluate an early checkpoint. Which numbers move first as training goes on?
#
# <details><summary>Solution</summary>
#
# Notebook 04 keeps a checkpoint every 1,000 steps in `RUN_DIR/gan/checkpoints/milestones/`. Restore one and
# export its generator, then point `GENERATOR` at it and rerun this notebook (no retraining):
# ```python
# from helpers.config import GANConfig
# from helpers.gan import build_gan
# from helpers.generate import export_generator
# from helpers.training import restore_checkpoint
#
# config = GANConfig.from_json((RUN_DIR / "gan" / "config.json").read_text())
# early = build_gan(config)
# early.compile()
# restore_checkpoint(early, RUN_DIR / "gan" / "checkpoints" / "milestones" / "ckpt-1000")
# print(export_generator(early, RUN_DIR / "early"))   # then GENERATOR = str(RUN_DIR / "early" / "generator.keras")
# ```
# Usually realism (FID, precision) improves first, label fidelity next, and variety (recall, MS-SSIM)
# last, if at all.
# </details>
#
# 3. On Colab, set `EXTRACTOR = 'both'`. Do InceptionV3 and the judge's features rank the same
#    generators in the same order?
#
# <details><summary>Solution</summary>
#
# With internet, `EXTRACTOR = "both"` adds InceptionV3 (ImageNet) features to the realism table. Run it
# for two generators (the shipped one and yours, via `GENERATOR`). ImageNet features know nothing about
# radiographs, so their FID values are on another scale and can disagree on small differences; a
# ranking that both extractors agree on is the one to trust.
# </details>
#
# 4. Make a generator that copies: train notebook 04 on very few images for a long time and run the
#    memorisation audit. What share falls under the threshold?
#
# <details><summary>Solution</summary>
#
# In notebook 04 set `DATA_SOURCE = "phantom"`, `PHANTOMS_PER_CLASS = 10`, `TRAIN_STEPS = 6000` (about 16 minutes
# on a 2-core CPU: memorising takes many passes over the few images), `MIN_TRAIN_IMAGES = 1` (otherwise it leaves
# out every condition: each has about 7 training images) and a new `RUN_DIR`; run it, then this notebook
# with the same parameters; the private verdict should read "copies its training images". With about 50
# training images the generator can memorise them: look for the share of
# generated images below the line rising well above the test split's own 1%, and for closest pairs that look like
# copies.
# </details>

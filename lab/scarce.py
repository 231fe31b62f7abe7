"""The scarce-data study: does synthetic data help the conditions that have few real images?

Used by ``lab/utility_study.py``, which cuts some conditions of the training split down, trains the
GAN on what is left and asks :func:`scarce_utility_study` whether its images of the scarce conditions
beat duplicating their few real ones. Built on :mod:`helpers.utility` (the classifier trained for a
fixed number of steps, the per-class draws).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from helpers import metrics as _metrics
from helpers.evaluate import jsonable
from helpers.utility import check_steps, train_fixed_steps, with_added

if TYPE_CHECKING:  # pandas is imported where it is used, not at import time
    import pandas as pd


def scarce_arms(ratios=(1.0, 4.0), full: bool = True) -> list[tuple]:
    """The arms of :func:`scarce_utility_study` as ``(arm, ratio)``.

    ``ratio`` is the number of images added to each scarce condition as a multiple of its
    real count (30 real + 4x = 120 added). ``full``: also train on the training split before
    the scarce conditions were cut down, the ceiling that more real data would reach.
    """
    arms = [("real, all images", 0.0)] if full else []
    arms += [("real", 0.0), ("real + classic augmentation", 0.0)]
    for r in ratios:
        arms.append(("real + duplicated scarce", r))
        arms.append(("real + synthetic scarce", r))
    return arms


def scarce_utility_study(real_train, real_val, real_test, synthetic, scarce, num_classes: int,
                         ratios=(1.0, 4.0), seeds=(0, 1, 2), steps: int = 2000, eval_every: int = 250,
                         batch_size: int = 32, width: int = 16, full_train=None, progress: bool = True,
                         log_path=None):
    """Does synthetic data help the conditions that have few real images?

    ``real_train`` is the training split with the ``scarce`` conditions (class indices) cut
    down to a few images each, the data the GAN was trained on; ``synthetic`` holds generated
    images of the scarce conditions, at least ``max(ratios)`` times their real count. Every
    classifier trains for the same ``steps`` with the best checkpoint on ``real_val`` kept
    (:func:`train_fixed_steps`) and is scored on ``real_test``. Arms (:func:`scarce_arms`): the
    full split (with ``full_train``), real alone, classic augmentation, the scarce conditions
    oversampled by duplicating their real images, and synthetic images of the scarce conditions,
    the last two at each ratio. Returns a DataFrame: one row per arm and seed with the macro
    AUROC, the scarce conditions' mean AUROC (``scarce_auroc``), per-class AUROC
    (``auroc_<class>``) and the validation step that was kept.

    ``log_path``: a JSON-lines file that gets one line per trained classifier; classifiers it
    already holds (same arm, ratio and seed) are read back instead of trained again, so an
    interrupted study resumes with the same draws. Each line records the training settings and
    image counts, and a log written with others is refused; which data it was is the caller's
    to keep apart (one log per data set). One synthetic pool serves every seed, so the seed
    spread is the classifiers' noise, not the generator's.
    """
    import pandas as pd

    from helpers.classifier import predict_classes

    x_real, y_real = real_train
    x_syn, y_syn = synthetic
    scarce = [int(c) for c in scarce]
    counts = np.bincount(y_real, minlength=num_classes)
    have, needed = np.bincount(y_syn, minlength=num_classes)[scarce], np.round(counts[scarce] * max(ratios))
    if (have < needed).any():
        raise ValueError(f"synthetic holds {have.tolist()} images of the scarce conditions {scarce}; ratio "
                         f"{max(ratios):g} needs {needed.astype(int).tolist()}: generate more")
    arms = scarce_arms(ratios, full=full_train is not None)
    check_steps(steps, eval_every, "eval_every")
    settings = {"steps": steps, "eval_every": eval_every, "batch_size": batch_size, "width": width,
                "train_images_real": len(y_real), "synthetic_images": len(y_syn)}
    logged = {}
    if log_path is not None and Path(log_path).is_file():
        for number, line in enumerate(Path(log_path).read_text().splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                other = {k: row.get(k) for k in settings if row.get(k) != settings[k]}
                if other:
                    raise ValueError(f"{log_path} line {number} was trained with {other}, this study uses "
                                     f"{ {k: settings[k] for k in other} }: use another log file, or delete it")
                logged[(row["arm"], float(row["ratio"]), int(row["seed"]))] = row
    rows, start, total, trained = [], time.perf_counter(), len(arms) * len(seeds), 0
    for seed in seeds:
        rng = np.random.default_rng(2000 + seed)  # drawn in arm order, read-back arms included: resumes draw alike
        for arm, ratio in arms:
            extra = np.zeros(num_classes, int)
            extra[scarce] = np.round(counts[scarce] * ratio).astype(int)
            if arm == "real, all images":
                x, y = full_train
            elif arm == "real + synthetic scarce":
                x, y = with_added(real_train, synthetic, extra, rng)
            elif arm == "real + duplicated scarce":
                x, y = with_added(real_train, real_train, extra, rng, replace=True)
            else:
                x, y = x_real, y_real
            if (arm, float(ratio), int(seed)) in logged:
                rows.append(logged[(arm, float(ratio), int(seed))])
                continue
            model = train_fixed_steps(x, y, steps, num_classes, batch_size, seed, width, val=real_val,
                                      augment=arm == "real + classic augmentation", eval_every=eval_every)
            scores = _metrics.classification_scores(predict_classes(model, real_test[0]), real_test[1], num_classes)
            per_class = scores["per_class_auroc"]
            row = {"arm": arm, "ratio": ratio, "seed": seed, "train_images": len(y), "accuracy": scores["accuracy"],
                   "macro_auroc": scores["macro_auroc"], "scarce_auroc": float(np.mean([per_class[c] for c in scarce])),
                   "best_step": model.best_validation[0], "val_auroc": model.best_validation[1], **settings}
            row.update({f"auroc_{c}": v for c, v in enumerate(per_class)})
            rows.append(row)
            trained += 1
            if log_path is not None:
                with open(log_path, "a") as log:
                    log.write(json.dumps(jsonable(row)) + "\n")
            if progress:
                eta = (time.perf_counter() - start) / trained * (total - len(rows))
                print(f"\rscarce-class study: {len(rows)}/{total} classifiers, ETA {eta:4.0f} s", end="", flush=True)
    if progress:
        reused = f" ({total - trained} read back from {log_path})" if total - trained else ""
        print(f"\rscarce-class study: {total} classifiers{reused} in {time.perf_counter() - start:.0f} s" + " " * 10)
    return pd.DataFrame(rows)


def summarise_scarce(results) -> pd.DataFrame:
    """Mean and standard deviation over seeds of the scarce conditions' AUROC and the macro AUROC, per arm."""
    grouped = results.groupby(["arm", "ratio"], sort=False)
    return grouped.agg(train_images=("train_images", "mean"), seeds=("seed", "nunique"),
                       scarce_mean=("scarce_auroc", "mean"), scarce_std=("scarce_auroc", "std"),
                       macro_mean=("macro_auroc", "mean"), macro_std=("macro_auroc", "std"),
                       best_step=("best_step", "mean")).reset_index()


def scarce_verdict(summary, spread_factor: float = 1.0) -> str:
    """One sentence per ratio: did synthetic images of the scarce conditions beat duplicating their real ones?

    "helped" needs the scarce conditions' mean AUROC above the duplication control's at the same
    ratio by more than ``spread_factor`` times the larger standard deviation over seeds, and not
    below real alone by as much (beating a control that itself lost to real alone is not help);
    "hurt" needs it below the control by as much; anything else is "no clear effect". Real alone
    is quoted beside it.
    """
    if (summary["seeds"] < 2).any():
        return "no verdict: the seed spread needs at least two seeds per arm (the study ran one)"
    real = summary[summary["arm"] == "real"]
    parts = []
    for _, syn in summary[summary["arm"] == "real + synthetic scarce"].iterrows():
        dup = summary[(summary["arm"] == "real + duplicated scarce") & np.isclose(summary["ratio"], syn["ratio"])]
        if not len(dup):
            continue
        dup = dup.iloc[0]
        margin = spread_factor * np.nanmax([syn["scarce_std"], dup["scarce_std"]])
        diff = syn["scarce_mean"] - dup["scarce_mean"]
        word = "helped" if diff > margin else "hurt" if -diff > margin else "no clear effect"
        if len(real) and word == "helped":
            below = float(real["scarce_mean"].iloc[0]) - syn["scarce_mean"]
            if below > spread_factor * np.nanmax([syn["scarce_std"], float(real["scarce_std"].iloc[0])]):
                word = f"better than duplication but {below:.3f} below real alone, so no help"
        parts.append(f"{syn['ratio']:g}x synthetic: {word} ({syn['scarce_mean']:.3f} vs {dup['scarce_mean']:.3f} "
                     f"duplicated, difference {diff:+.3f}, seed spread {margin:.3f})")
    base = f"; real alone {float(real['scarce_mean'].iloc[0]):.3f}" if len(real) else ""
    return "; ".join(parts) + base + " (scarce conditions' mean AUROC on the real test split, mean over seeds)"

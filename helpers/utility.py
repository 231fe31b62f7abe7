"""Is synthetic data useful? Train on synthetic (or real + synthetic), test on real (notebook 05).

- :func:`train_fixed_steps`: a fresh course classifier trained for exactly so many steps, optionally
  keeping the best checkpoint on real validation images;
- :func:`utility_study`: one classifier per arm of :func:`utility_arms` and seed, scored on the real
  test split; :func:`summarise_utility` and :func:`utility_verdict` read its results.

Images are float arrays in [-1, 1] shaped ``(N, S, S, 1)``; :func:`helpers.classifier.to_model_range`
converts uint8. The lab's scarce-data study (``lab/scarce.py``) builds on the same pieces.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from helpers import metrics as _metrics

if TYPE_CHECKING:  # pandas is imported where it is used, not at import time
    import pandas as pd


def _classic_augment(x, seed):
    """Shifts, brightness and contrast: the augmentation a radiology classifier would use without a GAN.

    No horizontal flips: they move the heart to the wrong side.
    """
    import tensorflow as tf

    size = x.shape[1]
    pad = max(size // 16, 1)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    x = tf.image.resize_with_crop_or_pad(x, size + 2 * pad, size + 2 * pad)
    x = tf.image.stateless_random_crop(x, tf.stack([tf.shape(x)[0], size, size, 1]), seeds[0])
    x = tf.image.stateless_random_brightness(x, 0.15, seeds[1])
    x = tf.image.stateless_random_contrast(x, 0.8, 1.2, seeds[2])
    return tf.clip_by_value(x, -1.0, 1.0)


def _keep_best_on_validation(val_images, val_labels, num_classes: int, batch_size: int = 256):
    """A Keras callback: at every epoch end, score the validation images (macro AUROC) and keep the best weights.

    At the end of training the best weights are put back; ``best_epoch`` and ``best_auroc`` say
    which ones (epochs count from 1).
    """
    import keras

    from helpers.classifier import predict_classes

    class KeepBestOnValidation(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best_auroc, self.best_epoch, self.best_weights, self.history = -np.inf, 0, None, []

        def on_epoch_end(self, epoch, logs=None):
            probs = predict_classes(self.model, val_images, batch_size=batch_size)
            score = _metrics.classification_scores(probs, val_labels, num_classes)["macro_auroc"]
            self.history.append(float(score))
            if score > self.best_auroc:
                self.best_auroc, self.best_epoch, self.best_weights = float(score), epoch + 1, self.model.get_weights()

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return KeepBestOnValidation()


def check_steps(steps: int, parts: int, name: str) -> None:
    """Raise unless ``steps`` is a multiple of ``parts`` (the validation interval or count), suggesting one that is."""
    if steps % parts:
        raise ValueError(f"steps={steps} is not a multiple of {name}={parts}: the classifier is scored on the "
                         f"validation images at whole intervals; use e.g. steps={max(parts, steps // parts * parts)}")


def train_fixed_steps(images, labels, steps: int, num_classes: int, batch_size: int = 32, seed: int = 0,
                      width: int = 16, augment: bool = False, pooling: str = "max", val=None,
                      eval_every: int = 250):
    """Train a fresh :func:`helpers.classifier.build_classifier` for exactly ``steps`` optimiser steps.

    Every arm of the utility study gets the same number of steps, so a bigger training
    set is not also a longer training run. The learning rate decays on a cosine schedule.

    ``val``: an ``(images, labels)`` pair of real validation images. With it, the model is
    scored (macro AUROC) every ``eval_every`` steps and the best-scoring weights are kept:
    the classifier that ends the run is the best one seen, not the last one, and
    ``model.best_validation`` records ``(step, auroc)``. Without it, the last weights are returned.
    """
    import keras
    import tensorflow as tf

    from helpers.classifier import build_classifier, compile_classifier

    keras.utils.set_random_seed(seed)
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    labels = np.asarray(labels, np.int64)
    model = build_classifier(images.shape[1], num_classes, width, name="utility_classifier", pooling=pooling)
    compile_classifier(model, steps)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(labels), seed=seed,
                                                                      reshuffle_each_iteration=True)
    ds = ds.repeat().batch(batch_size, drop_remainder=True)
    if augment:
        ds = ds.enumerate().map(lambda i, xy: (_classic_augment(xy[0], tf.stack([tf.cast(seed, tf.int64), i])),
                                               xy[1]), num_parallel_calls=tf.data.AUTOTUNE)
    if val is None:
        model.fit(ds.prefetch(tf.data.AUTOTUNE), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        return model
    check_steps(steps, eval_every, "eval_every")
    val_images = np.asarray(val[0], np.float32)
    keeper = _keep_best_on_validation(val_images[..., None] if val_images.ndim == 3 else val_images,
                                      np.asarray(val[1], np.int64), num_classes)
    model.fit(ds.prefetch(tf.data.AUTOTUNE), steps_per_epoch=eval_every, epochs=steps // eval_every, verbose=0,
              shuffle=False, callbacks=[keeper])
    model.best_validation = (keeper.best_epoch * eval_every, keeper.best_auroc)
    return model


def utility_arms(ratios=(0.5, 1.0, 2.0)) -> list[tuple]:
    """The study's arms as ``(arm, ratio)``: what each classifier is trained on.

    ``ratio`` is the number of added (or synthetic-only) images as a multiple of the real count.
    """
    arms = [("real", 0.0), ("real + classic augmentation", 0.0), ("synthetic only", 1.0)]
    for r in ratios:
        arms.append(("real + duplicated real", r))
        arms.append(("real + synthetic", r))
    return arms


def _take_per_class(labels, counts, rng, replace=False):
    """Row indices with ``counts[c]`` rows of each class c."""
    rows = []
    for c, n in enumerate(counts):
        idx = np.flatnonzero(labels == c)
        if n and len(idx):
            rows.append(rng.choice(idx, n, replace=replace or n > len(idx)))
    return np.concatenate(rows) if rows else np.zeros(0, np.int64)


def with_added(real, source, counts, rng, replace=False):
    """The ``real`` ``(images, labels)`` plus ``counts[c]`` images of each class c drawn from ``source``."""
    pick = _take_per_class(source[1], counts, rng, replace=replace)
    return np.concatenate([real[0], source[0][pick]]), np.concatenate([real[1], source[1][pick]])


def utility_study(real_train, real_test, synthetic, num_classes: int, ratios=(0.5, 1.0, 2.0), seeds=(0, 1, 2),
                  steps: int = 600, batch_size: int = 32, width: int = 16, progress: bool = True, val=None,
                  evaluations: int = 4):
    """Train classifiers on each arm of :func:`utility_arms` and score them on the real test split.

    ``real_train``, ``real_test`` and ``synthetic`` are ``(images, labels)`` pairs in [-1, 1].
    With ``val`` (real validation images and labels), every classifier is scored on it
    ``evaluations`` times during training and keeps its best weights (``steps`` must be a
    multiple of ``evaluations``).
    Added images follow the real training split's class proportions, so arms differ only in
    where the extra images come from. ``synthetic`` must hold at least ``max(ratios)`` times
    the real count per class. Returns a DataFrame: one row per arm and seed with the train
    count, accuracy, macro AUROC and per-class AUROC (columns ``auroc_<class index>``).
    """
    import pandas as pd

    from helpers.classifier import predict_classes

    if val is not None:
        check_steps(steps, evaluations, "evaluations")
    x_real, y_real = real_train
    x_test, y_test = real_test
    x_syn, y_syn = synthetic
    real_counts = np.bincount(y_real, minlength=num_classes)
    arms = utility_arms(ratios)
    rows, start = [], time.perf_counter()
    total = len(arms) * len(seeds)
    for seed in seeds:
        rng = np.random.default_rng(1000 + seed)
        for arm, ratio in arms:
            extra = np.round(real_counts * ratio).astype(int)
            if arm == "synthetic only":
                pick = _take_per_class(y_syn, real_counts, rng)
                x, y = x_syn[pick], y_syn[pick]
            elif arm == "real + synthetic":
                x, y = with_added(real_train, synthetic, extra, rng)
            elif arm == "real + duplicated real":
                x, y = with_added(real_train, real_train, extra, rng, replace=True)
            else:
                x, y = x_real, y_real
            model = train_fixed_steps(x, y, steps, num_classes, batch_size, seed, width, val=val,
                                      augment=arm == "real + classic augmentation", eval_every=steps // evaluations)
            scores = _metrics.classification_scores(predict_classes(model, x_test), y_test, num_classes)
            row = {"arm": arm, "ratio": ratio, "seed": seed, "train_images": len(y), "accuracy": scores["accuracy"],
                   "macro_auroc": scores["macro_auroc"]}
            row.update({f"auroc_{c}": v for c, v in enumerate(scores["per_class_auroc"])})
            rows.append(row)
            if progress:
                done = len(rows)
                eta = (time.perf_counter() - start) / done * (total - done)
                print(f"\rutility study: {done}/{total} classifiers, ETA {eta:4.0f} s", end="", flush=True)
    if progress:
        print(f"\rutility study: {total} classifiers in {time.perf_counter() - start:.0f} s" + " " * 10)
    return pd.DataFrame(rows)


def summarise_utility(results) -> pd.DataFrame:
    """Mean and standard deviation over seeds of accuracy and macro AUROC per arm, and the change against 'real'."""
    grouped = results.groupby(["arm", "ratio"], sort=False)
    table = grouped.agg(train_images=("train_images", "mean"), seeds=("seed", "nunique"),
                        auroc_mean=("macro_auroc", "mean"), auroc_std=("macro_auroc", "std"),
                        accuracy_mean=("accuracy", "mean"), accuracy_std=("accuracy", "std")).reset_index()
    baseline = table.loc[table["arm"] == "real", "auroc_mean"]
    table["auroc_vs_real"] = table["auroc_mean"] - (float(baseline.iloc[0]) if len(baseline) else np.nan)
    return table


def utility_verdict(summary, spread_factor: float = 1.0) -> str:
    """One honest sentence: did adding synthetic images beat both real alone and duplicated real?

    First, the study must be able to see an effect: classifiers trained on the real images alone
    must be clearly above chance (mean macro AUROC minus its standard deviation over seeds above
    0.5 + :data:`helpers.verdicts.UTILITY_MARGIN`); otherwise the sentence starts with "cannot
    tell" and gives no effect verdict. An arm counts as better (or worse) only when its mean macro
    AUROC differs from the comparison's mean by more than ``spread_factor`` times the largest
    standard deviation over seeds. "hurt" needs it below both real alone and duplicated real: when
    duplicated real images cost as much, the extra images only dilute a fixed step budget, which
    the sentence says.
    """
    from helpers.verdicts import UTILITY_MARGIN

    def row(arm, ratio):
        hit = summary[(summary["arm"] == arm) & np.isclose(summary["ratio"], ratio)]
        return hit.iloc[0] if len(hit) else None

    real = row("real", 0.0)
    if real is None:
        return "no 'real' baseline in the study"
    real_std = float(real["auroc_std"]) if np.isfinite(real["auroc_std"]) else 0.0
    if not real["auroc_mean"] - real_std > 0.5 + UTILITY_MARGIN:
        return (f"cannot tell: classifiers trained on the real images alone reach macro AUROC "
                f"{real['auroc_mean']:.3f} ± {real_std:.3f}, not clearly above chance (mean minus one standard "
                f"deviation must exceed {0.5 + UTILITY_MARGIN:.2f}), so no comparison can show an effect of "
                "synthetic images; more real images per condition, fewer conditions or more steps per classifier "
                "would make the study able to answer")
    verdicts = []
    for _, syn in summary[summary["arm"] == "real + synthetic"].iterrows():
        dup = row("real + duplicated real", syn["ratio"])
        margin = spread_factor * np.nanmax([syn["auroc_std"], real["auroc_std"],
                                            dup["auroc_std"] if dup is not None else 0.0])
        beats_real = syn["auroc_mean"] - real["auroc_mean"] > margin
        beats_dup = dup is None or syn["auroc_mean"] - dup["auroc_mean"] > margin
        below_real = real["auroc_mean"] - syn["auroc_mean"] > margin
        below_dup = dup is None or dup["auroc_mean"] - syn["auroc_mean"] > margin
        if beats_real and beats_dup:
            verdicts.append("helped")
        elif below_real and below_dup:
            verdicts.append("hurt")
        elif below_real:
            verdicts.append("no clear effect (below real alone, as duplicated real images are: more images, "
                            "same steps)")
        else:
            verdicts.append("no clear effect")
        verdicts[-1] = f"{syn['ratio']:g}x synthetic: {verdicts[-1]}"
    only = row("synthetic only", 1.0)
    gap = f"; synthetic only reaches {only['auroc_mean']:.3f} vs {real['auroc_mean']:.3f} for real" if only is not None else ""
    return "; ".join(verdicts) + gap + " (macro AUROC on the real test split, mean over seeds)"

"""Evaluating a trained generator: realistic, right condition, useful, private (notebook 05).

Building blocks, each usable on its own:

- feature extractors: :func:`classifier_extractor` (the course's own CNN trained on the
  real training split; works offline) and :func:`inception_extractor` (Keras InceptionV3
  with ImageNet weights at 299 px, where the weights can be downloaded);
- :func:`realism`: FID, KID, precision/recall, density/coverage on one extractor's features;
- :func:`ms_ssim_diversity`: how varied the images of one condition are;
- :func:`label_fidelity`: does the course classifier see the condition each image was asked for?
- :func:`utility_study`: train on synthetic / real + synthetic, test on real;
- :func:`memorisation_audit`: nearest-neighbour distances to the training set;
- :func:`write_report`: ``metrics.json`` and ``report.md`` for a run folder.

Images are float arrays in [-1, 1] shaped ``(N, S, S, 1)`` (the GAN's range) unless a
function says otherwise; :func:`helpers.classifier.to_model_range` converts uint8.
The scores themselves (FID, KID, AUROC, confusion matrices) live in :mod:`helpers.metrics`.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from helpers import metrics as _metrics

if TYPE_CHECKING:  # pandas is imported where it is used, not at import time
    import pandas as pd

#: MS-SSIM weights of the five scales (Wang et al., 2003), finest first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

INCEPTION_NOTE = ("Keras InceptionV3 (ImageNet weights, 2048-d average pool, 299 px): not comparable "
                  "with the TF1 `pool_3` FID reported in papers")


# --------------------------------------------------------------------------- feature extractors

def classifier_extractor(classifier):
    """A model mapping images to the ``features`` layer of a :func:`helpers.classifier.build_classifier` CNN."""
    import keras

    try:
        layer = classifier.get_layer("features")
    except ValueError:
        raise ValueError(f"model {classifier.name!r} has no layer named 'features'; "
                         "build it with helpers.classifier.build_classifier") from None
    return keras.Model(classifier.inputs, layer.output, name=f"{classifier.name}_features")


def inception_extractor(weights: str | None = "imagenet"):
    """Keras InceptionV3 without its top, average-pooled to 2048 features, for 299 px RGB input.

    Use :func:`extract_features`, which resizes gray images to 299 px and repeats the
    channel. ``weights=None`` builds the network untrained (for tests only: its numbers
    mean nothing). Raises ``RuntimeError`` with the offline alternative when the
    ImageNet weights cannot be downloaded.
    """
    import keras

    try:
        return keras.applications.InceptionV3(include_top=False, weights=weights, pooling="avg",
                                              input_shape=(299, 299, 3))
    except Exception as exc:  # download errors come as several exception types
        raise RuntimeError(f"InceptionV3 ImageNet weights could not be loaded ({type(exc).__name__}: {exc}). "
                           "They need internet access (Colab has it). Offline, use the course classifier's "
                           "features: EXTRACTOR = 'classifier'.") from exc


def extract_features(extractor, images, batch_size: int = 128) -> np.ndarray:
    """Features ``(N, D)`` (float64) of images in [-1, 1]; resizes and repeats channels as the extractor needs."""
    import tensorflow as tf

    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    height, width, channels = extractor.input_shape[1:]
    out = []
    for start in range(0, len(images), batch_size):
        x = tf.constant(images[start:start + batch_size])
        if x.shape[1] != height or x.shape[2] != width:
            x = tf.image.resize(x, (height, width), method="bilinear")
        if channels != x.shape[-1]:
            x = tf.repeat(x, channels, axis=-1)  # InceptionV3's preprocessing maps to [-1, 1]: ours already is
        out.append(np.asarray(extractor(x, training=False), np.float64))
    dim = extractor.output_shape[-1]
    return np.concatenate(out) if out else np.zeros((0, dim))


# --------------------------------------------------------------------------- realism and diversity

def realism(real_features, fake_features, kid_subsets: int = 10, kid_subset_size: int = 1000,
            k: int = 5, seed: int = 0) -> dict:
    """FID, KID (mean, std), precision/recall and density/coverage of two feature sets, with their sizes."""
    real_features, fake_features = np.asarray(real_features), np.asarray(fake_features)
    kid_mean, kid_std = _metrics.kid(real_features, fake_features, kid_subsets, kid_subset_size, seed)
    pr = _metrics.precision_recall(real_features, fake_features, k=k)
    dc = _metrics.density_coverage(real_features, fake_features, k=k)
    return {"fid": _metrics.fid(real_features, fake_features), "kid_mean": kid_mean, "kid_std": kid_std,
            "precision": pr["precision"], "recall": pr["recall"], "density": dc["density"],
            "coverage": dc["coverage"], "k": k, "n_real": len(real_features), "n_fake": len(fake_features),
            "feature_dim": int(real_features.shape[1])}


def ms_ssim_scales(image_size: int, filter_size: int = 11) -> int:
    """How many MS-SSIM scales fit: the coarsest must still be at least ``filter_size`` pixels (max 5)."""
    scales = 1
    while scales < 5 and image_size // 2 ** scales >= filter_size:
        scales += 1
    return scales


def ms_ssim(a, b) -> np.ndarray:
    """MS-SSIM of image pairs ``a[i]``, ``b[i]`` in [-1, 1]; as many scales as the size allows.

    The standard five weights are truncated to the scales used and renormalised, so a
    64 px image uses three scales (64, 32, 16 px).
    """
    import tensorflow as tf

    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.ndim == 3:
        a, b = a[..., None], b[..., None]
    weights = np.array(MS_SSIM_WEIGHTS[:ms_ssim_scales(a.shape[1])])
    weights = (weights / weights.sum()).tolist()
    return tf.image.ssim_multiscale(a, b, max_val=2.0, power_factors=weights).numpy()


def ms_ssim_diversity(images, labels, num_classes: int, pairs: int = 100, seed: int = 0) -> list:
    """Per class, the mean MS-SSIM of ``pairs`` random pairs of different images of that class.

    Lower means more varied. Compare generated with real images of the same class:
    generated images clearly above the real value are a sign of mode collapse.
    A class with fewer than two images gets ``nan``.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            out.append(float("nan"))
            continue
        first = rng.choice(idx, pairs)
        second = rng.choice(idx, pairs)
        clash = first == second
        while clash.any():  # a pair of an image with itself would score 1
            second[clash] = rng.choice(idx, int(clash.sum()))
            clash = first == second
        out.append(float(ms_ssim(images[first], images[second]).mean()))
    return out


# --------------------------------------------------------------------------- right condition: label fidelity

def label_fidelity(generator, classifier, num_classes: int = 7, per_class: int = 100, seed: int = 0,
                   latent_dim: int | None = None) -> dict:
    """Share of generated images that ``classifier`` assigns to the condition they were asked for.

    Draws ``per_class`` images of every condition from fixed-seed noise with
    :func:`helpers.generate.generate_images`. Returns ``{"fidelity", "per_class" (list),
    "confusion" (C x C, rows: asked, columns: predicted)}``.
    """
    from helpers.classifier import predict_classes
    from helpers.generate import generate_images

    labels = np.repeat(np.arange(num_classes), per_class)
    images = generate_images(generator, labels, seed, latent_dim)
    scores = _metrics.classification_scores(predict_classes(classifier, images), labels, num_classes)
    return {"fidelity": scores["accuracy"], "per_class": scores["per_class_accuracy"],
            "confusion": scores["confusion"]}


# --------------------------------------------------------------------------- utility: train on synthetic, test on real

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


def _check_steps(steps: int, parts: int, name: str) -> None:
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
    _check_steps(steps, eval_every, "eval_every")
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


def _with_added(real, source, counts, rng, replace=False):
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
        _check_steps(steps, evaluations, "evaluations")
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
                x, y = _with_added(real_train, synthetic, extra, rng)
            elif arm == "real + duplicated real":
                x, y = _with_added(real_train, real_train, extra, rng, replace=True)
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
    _check_steps(steps, eval_every, "eval_every")
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
                x, y = _with_added(real_train, synthetic, extra, rng)
            elif arm == "real + duplicated scarce":
                x, y = _with_added(real_train, real_train, extra, rng, replace=True)
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
                    log.write(json.dumps(_jsonable(row)) + "\n")
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

    An arm counts as better (or worse) only when its mean macro AUROC differs from the
    comparison's mean by more than ``spread_factor`` times the largest standard deviation over
    seeds. "hurt" needs it below both real alone and duplicated real: when duplicated real images
    cost as much, the extra images only dilute a fixed step budget, which the sentence says.
    """
    def row(arm, ratio):
        hit = summary[(summary["arm"] == arm) & np.isclose(summary["ratio"], ratio)]
        return hit.iloc[0] if len(hit) else None

    real = row("real", 0.0)
    if real is None:
        return "no 'real' baseline in the study"
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


# --------------------------------------------------------------------------- privacy: memorisation audit

def nearest_neighbours(queries, reference, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance and index of each query's nearest row of ``reference``, in chunks (no N x M matrix)."""
    if len(reference) == 0:
        raise ValueError("the reference set is empty: nothing to measure distances to")
    queries = np.asarray(queries, np.float32).reshape(len(queries), -1)
    reference = np.asarray(reference).reshape(len(reference), -1)
    best = np.full(len(queries), np.inf, np.float64)
    index = np.zeros(len(queries), np.int64)
    q_sq = (queries.astype(np.float64) ** 2).sum(1)
    for r0 in range(0, len(reference), chunk):
        ref = np.asarray(reference[r0:r0 + chunk], np.float32)
        r_sq = (ref.astype(np.float64) ** 2).sum(1)
        for q0 in range(0, len(queries), chunk):
            q = queries[q0:q0 + chunk]
            d2 = q_sq[q0:q0 + chunk, None] + r_sq[None, :] - 2.0 * (q @ ref.T).astype(np.float64)
            j = d2.argmin(1)
            d = d2[np.arange(len(q)), j]
            better = d < best[q0:q0 + chunk]
            best[q0:q0 + chunk][better] = d[better]
            index[q0:q0 + chunk][better] = j[better] + r0
    return np.sqrt(np.clip(best, 0, None)), index


def memorisation_audit(train, test, synthetic, quantile: float = 0.01) -> dict:
    """Are synthetic images closer to training images than unseen real images are?

    ``train``, ``test`` and ``synthetic`` are arrays in one space (pixels or features),
    one row (or image) per sample. The threshold is the ``quantile`` (1%) of the test
    images' nearest-training-image distances: a test image is that close to a training
    image only 1% of the time by chance. The share of synthetic images under it should
    be about 1% too; much more suggests copies of training images.
    """
    d_test, _ = nearest_neighbours(test, train)
    d_syn, idx_syn = nearest_neighbours(synthetic, train)
    threshold = float(np.quantile(d_test, quantile))
    return {"threshold": threshold, "quantile": quantile,
            "share_synthetic_below": float((d_syn < threshold).mean()),
            "share_test_below": float((d_test < threshold).mean()),
            "median_synthetic": float(np.median(d_syn)), "median_test": float(np.median(d_test)),
            "n_train": len(train), "n_test": len(test), "n_synthetic": len(synthetic),
            "synthetic_distances": d_syn, "synthetic_nearest": idx_syn, "test_distances": d_test}


# --------------------------------------------------------------------------- latent walks

def slerp(z0, z1, t):
    """Spherical interpolation between two latent vectors (stays on the Gaussian's typical shell)."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    cos = np.clip(z0 @ z1 / (np.linalg.norm(z0) * np.linalg.norm(z1)), -1.0, 1.0)
    omega = math.acos(cos)
    if omega < 1e-6:
        return (1 - t) * z0 + t * z1
    return (math.sin((1 - t) * omega) * z0 + math.sin(t * omega) * z1) / math.sin(omega)


def latent_walk(generator, label: int, steps: int = 7, seed: int = 0) -> np.ndarray:
    """Images along a spherical path between two random latent vectors, for one condition."""
    latent_dim = generator.inputs[0].shape[-1]
    rng = np.random.default_rng(seed)
    z0, z1 = rng.standard_normal((2, latent_dim))
    z = np.stack([slerp(z0, z1, t) for t in np.linspace(0, 1, steps)]).astype(np.float32)
    return np.asarray(generator([z, np.full(steps, label, np.int32)], training=False))


def class_sweep(generator, num_classes: int, rows: int = 3, seed: int = 0) -> np.ndarray:
    """``(rows, num_classes, S, S, 1)``: each row keeps its noise fixed and asks for every condition in turn."""
    latent_dim = generator.inputs[0].shape[-1]
    z = np.random.default_rng(seed).standard_normal((rows, latent_dim)).astype(np.float32)
    z = np.repeat(z, num_classes, axis=0)
    labels = np.tile(np.arange(num_classes, dtype=np.int32), rows)
    images = np.asarray(generator([z, labels], training=False))
    return images.reshape(rows, num_classes, *images.shape[1:])


# --------------------------------------------------------------------------- report

def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def headline(metrics: dict) -> dict:
    """The few numbers a person reads first, flat, from notebook 05's metrics dictionary."""
    out = {}
    if "fidelity" in metrics:
        out["label_fidelity"] = metrics["fidelity"]["generated"]["accuracy"]
        out["judge_accuracy_real_test"] = metrics["fidelity"]["real_test"]["accuracy"]
        if "balanced_accuracy" in metrics["fidelity"]["real_test"]:
            out["judge_balanced_accuracy_real_test"] = metrics["fidelity"]["real_test"]["balanced_accuracy"]
    for r in metrics.get("realism", []):
        if r["comparison"].startswith("generated"):
            tag = r["extractor"].split()[0].lower()
            out.update({f"fid_{tag}": r["fid"], f"kid_{tag}": r["kid_mean"], f"precision_{tag}": r["precision"],
                        f"recall_{tag}": r["recall"]})
    if "utility" in metrics:
        for r in metrics["utility"]["summary"]:
            if r["arm"] in ("real", "synthetic only") or (r["arm"] == "real + synthetic" and r["ratio"] == 1.0):
                out[f"utility_auroc[{r['arm']}{' 1x' if r['arm'] == 'real + synthetic' else ''}]"] = r["auroc_mean"]
    for space, a in metrics.get("memorisation", {}).items():
        out[f"memorised_share[{space}]"] = a["share_synthetic_below"]
    return out


def write_report(metrics: dict, run_dir) -> tuple[Path, Path]:
    """Write ``RUN_DIR/metrics.json`` (everything, machine-readable) and ``RUN_DIR/report.md`` (tables).

    ``metrics`` is the dictionary notebook 05 assembles; arrays inside it are left out of
    the JSON. Missing sections are skipped in the report.
    """
    run_dir = Path(run_dir)
    clean = _jsonable({**metrics, "headline": headline(metrics)})
    json_path = run_dir / "metrics.json"
    json_path.write_text(json.dumps(clean, indent=1))
    m = clean
    classes = m.get("classes", [])
    lines = [f"# Evaluation report: {m.get('data_source', '?')} data, {m.get('image_size', '?')} px",
             "", "Synthetic images for teaching and research; **not for clinical use**.", "",
             "Headline: " + ", ".join(f"{k} {_fmt(v)}" for k, v in m["headline"].items()), ""]
    if m.get("smoke"):
        lines[2:2] = ["**Smoke run**: tiny models and samples. These numbers check the plumbing and mean nothing.", ""]
    if "setup" in m:
        lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in m["setup"].items()] + [""]
    if "fidelity" in m:
        f = m["fidelity"]
        lines += ["## Right condition: label fidelity", "",
                  (f"Judge: {f.get('judge')}. Generated: {f['generated']['n']} images "
                   f"({f['generated']['n'] // max(len(classes), 1)} per condition); real test: {f['real_test']['n']}."), "",
                  "| condition | fidelity (generated) | AUROC generated | accuracy real test | AUROC real test |",
                  "|---|---|---|---|---|"]
        for i, name in enumerate(classes):
            lines.append(f"| {name} | {_fmt(f['generated']['per_class_accuracy'][i])} | "
                         f"{_fmt(f['generated']['per_class_auroc'][i])} | {_fmt(f['real_test']['per_class_accuracy'][i])} | "
                         f"{_fmt(f['real_test']['per_class_auroc'][i])} |")
        real_all = _fmt(f['real_test']['accuracy'])
        if "balanced_accuracy" in f["real_test"]:
            real_all += f" (balanced {_fmt(f['real_test']['balanced_accuracy'])})"
        lines += [(f"| **all** | **{_fmt(f['generated']['accuracy'])}** | {_fmt(f['generated']['macro_auroc'])} | "
                   f"{real_all} | {_fmt(f['real_test']['macro_auroc'])} |"), "",
                  ("Generated images are drawn equally for every condition; the real test split keeps the data's "
                   "own mix, so its balanced accuracy (the mean over conditions) is the number to compare with."), ""]
    if "realism" in m:
        lines += ["## Realism", "", ("| extractor | comparison | n reference | n compared | FID | KID (mean ± std) | "
                                     "precision | recall | density | coverage |"), "|---|---|---|---|---|---|---|---|---|---|"]
        for r in m["realism"]:
            lines.append(f"| {r['extractor']} | {r['comparison']} | {r['n_real']} | {r['n_fake']} | {_fmt(r['fid'], 2)} | "
                         f"{_fmt(r['kid_mean'], 4)} ± {_fmt(r['kid_std'], 4)} | {_fmt(r['precision'])} | "
                         f"{_fmt(r['recall'])} | {_fmt(r['density'])} | {_fmt(r['coverage'])} |")
        lines.append("")
    if "diversity" in m:
        d = m["diversity"]
        lines += [f"## Diversity: mean MS-SSIM of {d['pairs']} random pairs per condition (lower = more varied)", "",
                  "| condition | real test | generated |", "|---|---|---|"]
        lines += [f"| {name} | {_fmt(d['real'][i])} | {_fmt(d['generated'][i])} |" for i, name in enumerate(classes)]
        lines.append("")
    if "utility" in m:
        u = m["utility"]
        lines += ["## Useful: train on synthetic, test on real", "",
                  (f"{u['classifier']}; {u['steps']} steps per classifier; seeds {u['seeds']}; real training images "
                   f"{'capped at ' + str(u['real_per_class_cap']) + ' per condition' if u.get('real_per_class_cap') else 'all'}; "
                   f"scored on the real test split ({u['n_test']} images)."), "",
                  "| trained on | added (× real) | images | macro AUROC (mean ± std) | accuracy (mean ± std) | Δ AUROC vs real |",
                  "|---|---|---|---|---|---|"]
        for r in u["summary"]:
            lines.append(f"| {r['arm']} | {r['ratio']:g} | {r['train_images']:.0f} | {_fmt(r['auroc_mean'])} ± "
                         f"{_fmt(r['auroc_std'])} | {_fmt(r['accuracy_mean'])} ± {_fmt(r['accuracy_std'])} | "
                         f"{_fmt(r['auroc_vs_real'], 3)} |")
        lines += ["", f"Verdict: {u['verdict']}.", ""]
    if "memorisation" in m:
        lines += ["## Private: memorisation audit", "",
                  ("| space | threshold (1% of test→train distances) | synthetic below | test below | "
                   "median synthetic→train | median test→train |"), "|---|---|---|---|---|---|"]
        for space, a in m["memorisation"].items():
            lines.append(f"| {space} | {_fmt(a['threshold'], 3)} | {_fmt(a['share_synthetic_below'])} | "
                         f"{_fmt(a['share_test_below'])} | {_fmt(a['median_synthetic'], 3)} | {_fmt(a['median_test'], 3)} |")
        lines.append("")
    report_path = run_dir / "report.md"
    report_path.write_text("\n".join(lines))
    return json_path, report_path

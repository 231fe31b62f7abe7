"""Scores on arrays, pure NumPy (no SciPy, no TensorFlow).

Realism and diversity on feature vectors: every one of these takes two arrays of
features, ``real`` ``(N, D)`` and ``fake`` ``(M, D)``, from the *same* feature extractor
(the extractor, image size and sample sizes must be reported beside every number;
notebook 05 does).

- :func:`fid`: Fréchet distance between Gaussians fitted to the two sets.
- :func:`kid`: unbiased squared MMD with the cubic polynomial kernel, mean and std over subsets.
- :func:`precision_recall`: improved precision and recall (Kynkäänniemi et al., 2019).
- :func:`density_coverage`: density and coverage (Naeem et al., 2020).

Classification scores on ``(N, C)`` class probabilities and integer labels:

- :func:`auroc`: rank-based (Mann-Whitney) area under the ROC curve, ties counted half;
- :func:`per_class_auroc`: one-vs-rest AUROC per class;
- :func:`classification_scores`: accuracy, per-class accuracy, confusion matrix,
  per-class and macro AUROC.
"""

from __future__ import annotations

import numpy as np


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative eigenvalues clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` for two Gaussians.

    The trace of ``(S1 S2)^(1/2)`` is computed as that of the symmetric
    ``(S1^(1/2) S2 S1^(1/2))^(1/2)``, which has the same eigenvalues and is stable.
    """
    root1 = _psd_sqrt(np.asarray(sigma1, np.float64))
    middle = _psd_sqrt(root1 @ np.asarray(sigma2, np.float64) @ root1)
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(middle))


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet Inception-style distance between two feature sets (needs more samples than dimensions)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) arrays of the same D; got {real.shape} and {fake.shape}")
    return frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))


def _polynomial_kernel(x, y):
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 10, subset_size: int = 1000, seed: int = 0):
    """Kernel Inception-style distance: unbiased MMD^2, cubic polynomial kernel. Returns ``(mean, std)`` over subsets."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(real)} and {len(fake)}")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        kxx, kyy, kxy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(within - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def _pairwise_distances(x, y):
    sq = (x ** 2).sum(1)[:, None] + (y ** 2).sum(1)[None, :] - 2 * x @ y.T
    return np.sqrt(np.clip(sq, 0, None))


def _knn_radii(x, k):
    d = _pairwise_distances(x, x)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict:
    """Improved precision (fakes inside the real manifold) and recall (reals inside the fake manifold).

    A manifold is the union of balls around each sample with radius its distance to
    the k-th nearest neighbour in its own set.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
    d = _pairwise_distances(fake, real)  # (M, N)
    precision = float((d <= r_real[None, :]).any(axis=1).mean())
    recall = float((d.T <= r_fake[None, :]).any(axis=1).mean())
    return {"precision": precision, "recall": recall, "k": k}


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict:
    """Density (how many real k-NN balls hold each fake, / k) and coverage (share of real balls holding a fake)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    radii = _knn_radii(real, k)
    inside = _pairwise_distances(fake, real) <= radii[None, :]
    return {"density": float(inside.sum() / (k * len(fake))), "coverage": float(inside.any(axis=0).mean()), "k": k}


# --------------------------------------------------------------------------- classification scores

def auroc(scores, positive) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties count half).

    Computed from ranks (Mann-Whitney U). ``nan`` when one of the two groups is empty.
    """
    scores = np.asarray(scores, np.float64)
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0  # 1-based average rank
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def per_class_auroc(probabilities, labels, num_classes: int) -> list:
    """One-vs-rest AUROC per class from ``(N, C)`` probabilities and integer labels."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    return [auroc(probabilities[:, c], labels == c) for c in range(num_classes)]


def classification_scores(probabilities, labels, num_classes: int) -> dict:
    """Accuracy, per-class accuracy, per-class and macro AUROC, and the confusion matrix.

    ``probabilities`` is ``(N, C)``; the prediction is its argmax. Returns ``{"accuracy",
    "balanced_accuracy" (mean per-class accuracy over the classes with images: what a
    classifier that always answers the commonest class cannot inflate), "per_class_accuracy",
    "per_class_auroc", "macro_auroc" (mean of the defined per-class values), "confusion"
    (C x C, rows: true label, columns: predicted), "n"}``; a class without images has
    accuracy 0 and AUROC ``nan``.
    """
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    predicted = probabilities.argmax(1)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_accuracy = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
    per_auc = per_class_auroc(probabilities, labels, num_classes)
    present = confusion.sum(1) > 0
    balanced = float(per_accuracy[present].mean()) if present.any() else float("nan")
    return {"accuracy": float((predicted == labels).mean()), "balanced_accuracy": balanced,
            "per_class_accuracy": per_accuracy.tolist(),
            "per_class_auroc": per_auc, "macro_auroc": float(np.nanmean(per_auc)), "confusion": confusion.tolist(),
            "n": len(labels)}

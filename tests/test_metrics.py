"""helpers.metrics against references: zero on identical sets, closed forms, unbiasedness, pair counting."""

import numpy as np
import pytest

from helpers.metrics import (auroc, classification_scores, density_coverage, fid, frechet_distance, kid,
                             per_class_auroc, precision_recall)


def gaussian(n, mean, cov, seed):
    return np.random.default_rng(seed).multivariate_normal(mean, cov, size=n)


def test_fid_of_a_set_with_itself_is_zero():
    x = gaussian(500, np.zeros(8), np.eye(8), 0)
    assert fid(x, x) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_closed_form_for_commuting_covariances():
    # diagonal covariances: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expected = 5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_fid_of_two_gaussian_samples_matches_the_closed_form():
    rng = np.random.default_rng(1)
    q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    cov1, cov2 = q @ np.diag([1, 2, 3, 4.0]) @ q.T, np.diag([2, 1, 1, 0.5])
    mu1, mu2 = np.zeros(4), np.array([0.5, -0.5, 1.0, 0.0])
    expected = frechet_distance(mu1, cov1, mu2, cov2)
    estimate = fid(gaussian(40_000, mu1, cov1, 2), gaussian(40_000, mu2, cov2, 3))
    assert estimate == pytest.approx(expected, rel=0.03)


def test_kid_between_halves_of_one_set_is_near_zero_and_unbiased():
    x = gaussian(2000, np.zeros(16), np.eye(16), 4)
    mean, std = kid(x[:1000], x[1000:], subsets=20, subset_size=500)
    assert abs(mean) < 3 * std + 1e-4
    # unbiased: averaged over many independent pairs of same-distribution sets, the estimate centres on 0
    means = [kid(gaussian(200, np.zeros(4), np.eye(4), s), gaussian(200, np.zeros(4), np.eye(4), 100 + s),
                 subsets=1, subset_size=200)[0] for s in range(40)]
    assert abs(np.mean(means)) < 3 * np.std(means) / np.sqrt(len(means))
    shifted = gaussian(1000, np.ones(16), np.eye(16), 5)
    assert kid(x[:1000], shifted, subsets=5, subset_size=500)[0] > 10 * std


def test_precision_recall_of_a_set_with_itself_is_one():
    x = gaussian(300, np.zeros(5), np.eye(5), 6)
    pr = precision_recall(x, x)
    assert pr["precision"] == 1.0 and pr["recall"] == 1.0
    far = x + 100.0
    assert precision_recall(x, far)["precision"] == 0.0


def test_density_and_coverage():
    x = gaussian(300, np.zeros(5), np.eye(5), 7)
    dc = density_coverage(x, x)
    assert dc["coverage"] == 1.0 and dc["density"] >= 1.0
    assert density_coverage(x, x + 100.0)["coverage"] == 0.0


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"same D; got \(3, 2\) and \(3, 4\)"):
        fid(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        kid(np.zeros((1, 2)), np.zeros((5, 2)))


def brute_auroc(scores, positive):
    """AUROC by counting every (positive, negative) pair: wins plus half the ties."""
    pos, neg = scores[positive], scores[~positive]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_auroc_matches_pair_counting_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 10, 300).astype(float)  # many ties
    positive = rng.random(300) < 0.3
    assert auroc(scores, positive) == pytest.approx(brute_auroc(scores, positive), abs=1e-12)
    assert auroc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert auroc([4, 3, 2, 1], [False, False, True, True]) == 0.0
    # by hand: positives 2 and 3 against negatives 1 and 2: (1 + 0.5) + (1 + 1) wins of 4 pairs
    assert auroc([1, 2, 2, 3], [False, False, True, True]) == 0.875
    assert np.isnan(auroc([1, 2], [True, True]))


def test_classification_scores_confusion_and_auroc():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    s = classification_scores(probs, labels, 2)
    assert s["confusion"] == [[1, 0], [1, 2]]
    assert s["accuracy"] == 0.75 and s["per_class_accuracy"] == [1.0, 2 / 3] and s["n"] == 4
    assert s["balanced_accuracy"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert s["per_class_auroc"] == pytest.approx([1.0, 1.0])  # every class-1 image scores above the class-0 one
    assert s["macro_auroc"] == pytest.approx(1.0)


def test_classification_scores_with_an_absent_class_and_a_tie():
    # class 2 has no images: accuracy 0 (no division by zero) and AUROC nan, left out of the macro mean
    probs = np.array([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    labels = np.array([0, 0, 1, 1])
    s = classification_scores(probs, labels, 3)
    assert s["confusion"] == [[2, 0, 0], [1, 1, 0], [0, 0, 0]]  # the 0.4/0.4 tie goes to the first class
    assert s["per_class_accuracy"] == [1.0, 0.5, 0.0]
    assert s["balanced_accuracy"] == pytest.approx(0.75)  # the class without images is left out
    # class 0 by hand: positives 0.5, 0.4 vs negatives 0.1, 0.6: 0.5 beats one, 0.4 beats one -> 2 of 4
    # class 1: positives 0.8, 0.3 vs negatives 0.3, 0.4: 0.8 beats both, 0.3 ties one -> 2.5 of 4
    assert s["per_class_auroc"][:2] == pytest.approx([0.5, 0.625]) and np.isnan(s["per_class_auroc"][2])
    assert s["macro_auroc"] == pytest.approx(0.5625)
    assert per_class_auroc(probs, labels, 3)[:2] == s["per_class_auroc"][:2]


def test_majority_answer_scores_high_accuracy_but_chance_balanced_accuracy():
    labels = np.array([0] * 27 + [1] * 73)  # Kermany's NORMAL : PNEUMONIA mix
    always_pneumonia = np.tile([0.1, 0.9], (100, 1))
    s = classification_scores(always_pneumonia, labels, 2)
    assert s["accuracy"] == pytest.approx(0.73) and s["balanced_accuracy"] == pytest.approx(0.5)


def test_balanced_sample_weights():
    from helpers.classifier import balanced_sample_weights

    labels = np.array([0] * 27 + [1] * 73)
    w = balanced_sample_weights(labels, 3)  # class 2 absent
    assert w.mean() == pytest.approx(1.0)
    assert w[labels == 0].sum() == pytest.approx(w[labels == 1].sum())  # each class weighs the same in the loss
    assert np.all(balanced_sample_weights(np.array([0, 1, 2, 0, 1, 2]), 3) == 1.0)


def test_classifier_has_one_output_per_class_even_for_two():
    pytest.importorskip("tensorflow")
    from helpers.classifier import predict_classes, train_classifier

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (24, 16, 16, 1)).astype(np.float32)
    y = np.array([0] * 6 + [1] * 18)
    model = train_classifier(x, y, epochs=1, min_steps=1, batch_size=8, width=8)
    assert predict_classes(model, x[:3]).shape == (3, 2)
    assert train_classifier(x, y, epochs=1, min_steps=1, batch_size=8, width=8, num_classes=4).output_shape[-1] == 4

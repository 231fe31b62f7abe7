"""helpers.evaluate: AUROC, MS-SSIM, nearest neighbours, memorisation audit, utility study, report."""

import json

import numpy as np
import pandas as pd
import pytest

from helpers import evaluate
from helpers.classifier import build_classifier, downsample
from helpers.models import build_generator


def brute_auroc(scores, positive):
    pos, neg = scores[positive], scores[~positive]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def test_auroc_matches_pair_counting_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 10, 300).astype(float)  # many ties
    positive = rng.random(300) < 0.3
    assert evaluate.auroc(scores, positive) == pytest.approx(brute_auroc(scores, positive), abs=1e-12)
    assert evaluate.auroc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert evaluate.auroc([4, 3, 2, 1], [False, False, True, True]) == 0.0
    assert np.isnan(evaluate.auroc([1, 2], [True, True]))


def test_classification_scores_confusion_and_auroc():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    s = evaluate.classification_scores(probs, labels, 2)
    assert s["confusion"] == [[1, 0], [1, 2]]
    assert s["accuracy"] == 0.75 and s["per_class_accuracy"] == [1.0, 2 / 3]
    assert s["per_class_auroc"][1] == pytest.approx(1.0)  # every class-1 image scores above the class-0 one


@pytest.mark.parametrize("size,scales", [(32, 2), (64, 3), (128, 4), (256, 5)])
def test_ms_ssim_scales(size, scales):
    assert evaluate.ms_ssim_scales(size) == scales


def test_ms_ssim_identical_is_one_and_noise_is_low():
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (4, 64, 64, 1)).astype(np.float32)
    b = rng.uniform(-1, 1, (4, 64, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(evaluate.ms_ssim(a, a), 1.0, atol=1e-5)
    assert evaluate.ms_ssim(a, b).max() < 0.1


def test_ms_ssim_diversity_sees_collapse():
    rng = np.random.default_rng(2)
    varied = rng.uniform(-1, 1, (10, 32, 32, 1)).astype(np.float32)
    collapsed = np.repeat(varied[:1], 10, axis=0)
    images = np.concatenate([varied, collapsed, varied[:1]])
    labels = np.array([0] * 10 + [1] * 10 + [2])
    div = evaluate.ms_ssim_diversity(images, labels, 4, pairs=20)
    assert div[0] < 0.2 and div[1] == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(div[2]) and np.isnan(div[3])  # one image, no images


def test_nearest_neighbours_matches_brute_force_across_chunks():
    rng = np.random.default_rng(3)
    q, r = rng.normal(size=(37, 5)), rng.normal(size=(53, 5))
    d, i = evaluate.nearest_neighbours(q, r, chunk=8)
    full = np.linalg.norm(q[:, None] - r[None], axis=-1)
    np.testing.assert_array_equal(i, full.argmin(1))
    np.testing.assert_allclose(d, full.min(1), rtol=1e-4)
    with pytest.raises(ValueError, match="empty"):
        evaluate.nearest_neighbours(q, r[:0])


def test_memorisation_audit_flags_copies_not_fresh_samples():
    rng = np.random.default_rng(4)
    train, test, fresh = rng.normal(size=(1500, 8)), rng.normal(size=(1500, 8)), rng.normal(size=(1500, 8))
    copies = train[:300] + 1e-3 * rng.normal(size=(300, 8))
    assert evaluate.memorisation_audit(train, test, copies)["share_synthetic_below"] == 1.0
    honest = evaluate.memorisation_audit(train, test, fresh)
    assert honest["share_synthetic_below"] < 0.04  # about 1% expected
    assert honest["share_test_below"] == pytest.approx(0.01, abs=0.002)


def test_utility_study_arms_and_counts():
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (28, 16, 16, 1)).astype(np.float32)
    y = np.repeat(np.arange(7), 4)
    pool_y = np.repeat(np.arange(7), 8)
    pool_x = rng.uniform(-1, 1, (len(pool_y), 16, 16, 1)).astype(np.float32)
    results = evaluate.utility_study((x, y), (x, y), (pool_x, pool_y), 7, ratios=(0.5, 2.0), seeds=(0, 1),
                                     steps=2, batch_size=8, width=4, progress=False)
    assert len(results) == len(evaluate.utility_arms((0.5, 2.0))) * 2
    counts = results[results.seed == 0].set_index(["arm", "ratio"])["train_images"]
    assert counts[("real", 0.0)] == 28 and counts[("synthetic only", 1.0)] == 28
    assert counts[("real + synthetic", 2.0)] == 84 and counts[("real + duplicated real", 0.5)] == 42
    assert results["macro_auroc"].between(0, 1).all()
    summary = evaluate.summarise_utility(results)
    assert (summary["seeds"] == 2).all() and summary.loc[summary.arm == "real", "auroc_vs_real"].iloc[0] == 0.0


def _summary(real, syn, dup, std=0.01):
    rows = [("real", 0.0, real), ("real + synthetic", 1.0, syn), ("real + duplicated real", 1.0, dup)]
    return pd.DataFrame([{"arm": a, "ratio": r, "auroc_mean": m, "auroc_std": std} for a, r, m in rows])


def test_utility_verdict_needs_to_beat_both_controls():
    assert "helped" in evaluate.utility_verdict(_summary(0.80, 0.90, 0.80))
    assert "no clear effect" in evaluate.utility_verdict(_summary(0.80, 0.90, 0.895))  # duplicates do as well
    assert "no clear effect" in evaluate.utility_verdict(_summary(0.80, 0.805, 0.80))  # inside the spread
    assert "hurt" in evaluate.utility_verdict(_summary(0.80, 0.70, 0.80))


def test_classifier_extractor_and_resizing_extract_features():
    clf = build_classifier(32, 7, width=4)
    extractor = evaluate.classifier_extractor(clf)
    images = np.zeros((3, 64, 64, 1), np.float32)  # resized to the extractor's 32 px
    assert evaluate.extract_features(extractor, images).shape == (3, 128)
    import keras
    with pytest.raises(ValueError, match="features"):
        evaluate.classifier_extractor(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_inception_extractor_offline_error_names_the_alternative(monkeypatch):
    import keras

    def no_network(**kwargs):
        raise OSError("URL fetch failure")
    monkeypatch.setattr(keras.applications, "InceptionV3", no_network)
    with pytest.raises(RuntimeError, match="EXTRACTOR = 'classifier'"):
        evaluate.inception_extractor()


def test_latent_walk_and_class_sweep_shapes():
    g = build_generator(32, latent_dim=8, width=4)
    walk = evaluate.latent_walk(g, label=2, steps=5)
    assert walk.shape == (5, 32, 32, 1)
    sweep = evaluate.class_sweep(g, 7, rows=2)
    assert sweep.shape == (2, 7, 32, 32, 1)
    z0, z1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(evaluate.slerp(z0, z1, 0.0), z0, atol=1e-12)
    np.testing.assert_allclose(evaluate.slerp(z0, z1, 0.5), np.sqrt([0.5, 0.5]))


def test_downsample_averages_blocks():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_allclose(downsample(x, 2)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    with pytest.raises(ValueError, match="divisible"):
        downsample(np.zeros((1, 6, 6, 1)), 4)


def test_write_report_json_and_markdown(tmp_path):
    classes = ["A", "B"]
    scores = {"accuracy": 0.5, "per_class_accuracy": [1.0, 0.0], "per_class_auroc": [0.75, float("nan")],
              "macro_auroc": 0.75, "confusion": [[1, 0], [1, 0]], "n": 2}
    metrics = {"data_source": "phantom", "image_size": 64, "classes": classes,
               "fidelity": {"judge": "test judge", "generated": scores, "real_test": scores},
               "realism": [{"extractor": "classifier features", "comparison": "generated vs real test", "n_real": 9,
                            "n_fake": 9, "fid": 1.5, "kid_mean": 0.01, "kid_std": 0.001, "precision": 0.9,
                            "recall": 0.8, "density": 1.0, "coverage": 0.9}],
               "memorisation": {"pixels": {"threshold": 1.0, "share_synthetic_below": 0.02, "share_test_below": 0.01,
                                           "median_synthetic": 2.0, "median_test": 2.1,
                                           "synthetic_distances": np.ones(3)}}}
    json_path, report_path = evaluate.write_report(metrics, tmp_path)
    saved = json.loads(json_path.read_text())
    assert saved["fidelity"]["generated"]["per_class_auroc"] == [0.75, None]  # NaN becomes null
    assert "synthetic_distances" not in saved["memorisation"]["pixels"]  # arrays stay out of the JSON
    assert saved["headline"]["label_fidelity"] == 0.5 and saved["headline"]["fid_classifier"] == 1.5
    report = report_path.read_text()
    assert "not for clinical use" in report and "| B | 0.000 | n/a |" in report and "## Private" in report


def test_inception_path_resizes_gray_images_to_299_rgb():
    """The InceptionV3 path without its ImageNet weights (offline): shapes only, the numbers mean nothing."""
    extractor = evaluate.inception_extractor(weights=None)
    features = evaluate.extract_features(extractor, np.zeros((2, 64, 64, 1), np.float32))
    assert features.shape == (2, 2048) and np.isfinite(features).all()

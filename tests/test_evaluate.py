"""helpers.evaluate and helpers.utility: label fidelity, MS-SSIM, nearest neighbours, memorisation audit,
utility study, report."""

import json

import numpy as np
import pandas as pd
import pytest

from helpers import evaluate, utility
from helpers.classifier import build_classifier, downsample
from helpers.models import build_generator


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


def test_memorisation_audit_by_hand():
    # 1-D points, two training images at 0 and 10
    train = np.array([[0.0], [10.0]])
    test = np.array([[1.0], [12.0], [7.0], [10.5]])  # nearest-training distances 1, 2, 3, 0.5
    synthetic = np.array([[0.0], [10.2], [4.0], [18.0]])  # distances 0, 0.2, 4, 8; nearest 0, 1, 0, 1
    a = evaluate.memorisation_audit(train, test, synthetic, quantile=0.5)
    assert a["threshold"] == pytest.approx(1.5, abs=1e-5)  # median of 0.5, 1, 2, 3
    assert a["share_synthetic_below"] == 0.5 and a["share_test_below"] == 0.5  # 0 and 0.2; 0.5 and 1
    # distances are computed in float32: equal to about 1e-5
    assert a["median_synthetic"] == pytest.approx(2.1, abs=1e-5) and a["median_test"] == pytest.approx(1.5, abs=1e-5)
    np.testing.assert_array_equal(a["synthetic_nearest"], [0, 1, 0, 1])
    np.testing.assert_allclose(a["synthetic_distances"], [0, 0.2, 4, 8], atol=1e-5)
    assert (a["n_train"], a["n_test"], a["n_synthetic"]) == (2, 4, 4)


def test_memorisation_audit_flags_copies_not_fresh_samples():
    rng = np.random.default_rng(4)
    n = 4000
    train, test, fresh = (rng.normal(size=(n, 8)) for _ in range(3))
    copies = train[rng.choice(n, 1000, replace=False)] + 1e-3 * rng.normal(size=(1000, 8))
    leaky = evaluate.memorisation_audit(train, test, copies)
    assert leaky["share_synthetic_below"] == 1.0  # every near-copy sits under the threshold
    assert leaky["median_synthetic"] < 0.01 * leaky["median_test"]
    honest = evaluate.memorisation_audit(train, test, fresh)
    # fresh samples of the training distribution are as close to the training set as unseen real images:
    # the two shares differ only by sampling noise (sd about 0.0022 here for 1% of 4000 twice)
    assert abs(honest["share_synthetic_below"] - honest["share_test_below"]) < 0.008
    assert honest["median_synthetic"] == pytest.approx(honest["median_test"], rel=0.05)
    # a generator that copies half of the time: the share measures the copying, plus the chance rate
    half = np.concatenate([copies[:500], fresh[:500]])
    partial = evaluate.memorisation_audit(train, test, half)["share_synthetic_below"]
    assert partial == pytest.approx(0.5 + 0.5 * honest["share_synthetic_below"], abs=0.01)


def test_label_fidelity_by_hand():
    """A generator that paints the label into the image and a judge that confuses condition 3 with 2."""
    import keras
    from keras import layers, ops

    z = keras.Input((4,))
    label = keras.Input((), dtype="int32")
    image = layers.Lambda(lambda t: ops.zeros((ops.shape(t[0])[0], 8, 8, 1))
                          + ops.reshape(ops.cast(t[1], "float32") / 10.0, (-1, 1, 1, 1)))([z, label])
    generator = keras.Model([z, label], image)
    asked_to_seen = ops.convert_to_tensor([0, 1, 2, 2, 4, 5, 6])  # condition 3 looks like 2 to this judge
    images = keras.Input((8, 8, 1))
    logits = layers.Lambda(lambda x: 10.0 * ops.one_hot(
        ops.take(asked_to_seen, ops.cast(ops.round(10.0 * ops.mean(x, axis=(1, 2, 3))), "int32")), 7))(images)
    judge = keras.Model(images, logits)
    out = evaluate.label_fidelity(generator, judge, num_classes=7, per_class=3, seed=0)
    assert out["fidelity"] == pytest.approx(6 / 7)
    assert out["per_class"] == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    expected = 3 * np.eye(7, dtype=int)
    expected[3, 3], expected[3, 2] = 0, 3  # asked for 3, seen as 2
    assert out["confusion"] == expected.tolist()


@pytest.mark.slow
def test_utility_study_arms_and_counts():
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (28, 16, 16, 1)).astype(np.float32)
    y = np.repeat(np.arange(7), 4)
    pool_y = np.repeat(np.arange(7), 8)
    pool_x = rng.uniform(-1, 1, (len(pool_y), 16, 16, 1)).astype(np.float32)
    results = utility.utility_study((x, y), (x, y), (pool_x, pool_y), 7, ratios=(0.5, 2.0), seeds=(0, 1),
                                    steps=4, batch_size=8, width=4, progress=False, val=(x, y), evaluations=2)
    assert len(results) == len(utility.utility_arms((0.5, 2.0))) * 2
    counts = results[results.seed == 0].set_index(["arm", "ratio"])["train_images"]
    assert counts[("real", 0.0)] == 28 and counts[("synthetic only", 1.0)] == 28
    assert counts[("real + synthetic", 2.0)] == 84 and counts[("real + duplicated real", 0.5)] == 42
    assert results["macro_auroc"].between(0, 1).all()
    summary = utility.summarise_utility(results)
    assert (summary["seeds"] == 2).all() and summary.loc[summary.arm == "real", "auroc_vs_real"].iloc[0] == 0.0
    with pytest.raises(ValueError, match="use e.g. steps=4"):
        utility.utility_study((x, y), (x, y), (pool_x, pool_y), 7, steps=5, val=(x, y), progress=False)


def _summary(real, syn, dup, std=0.01):
    rows = [("real", 0.0, real), ("real + synthetic", 1.0, syn), ("real + duplicated real", 1.0, dup)]
    return pd.DataFrame([{"arm": a, "ratio": r, "auroc_mean": m, "auroc_std": std} for a, r, m in rows])


def test_utility_verdict_needs_to_beat_both_controls():
    assert "helped" in utility.utility_verdict(_summary(0.80, 0.90, 0.80))
    assert "no clear effect" in utility.utility_verdict(_summary(0.80, 0.90, 0.895))  # duplicates do as well
    assert "no clear effect" in utility.utility_verdict(_summary(0.80, 0.805, 0.80))  # inside the spread
    assert "hurt" in utility.utility_verdict(_summary(0.80, 0.70, 0.80))
    diluted = utility.utility_verdict(_summary(0.982, 0.978, 0.979, std=0.002))  # Kermany's quick run
    assert "hurt" not in diluted and "as duplicated real images are" in diluted


def _brightness_task(n_per_class, seed, size=8):
    """Images whose class is their brightness: learnable in a few dozen steps."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    x = (y[:, None, None, None] - 1) * 0.5 + rng.normal(0, 0.3, (len(y), size, size, 1))
    return x.astype(np.float32), y


def test_best_validation_checkpoint_is_the_one_returned():
    x, y = _brightness_task(20, 0)
    val = _brightness_task(10, 1)
    model = utility.train_fixed_steps(x, y, 40, 3, batch_size=8, width=4, val=val, eval_every=10)
    step, best = model.best_validation
    assert step in (10, 20, 30, 40)
    from helpers.classifier import predict_classes
    from helpers.metrics import classification_scores
    again = classification_scores(predict_classes(model, val[0]), val[1], 3)["macro_auroc"]
    assert again == pytest.approx(best, abs=1e-6)  # the kept weights, not the last ones
    with pytest.raises(ValueError, match="use e.g. steps=40"):
        utility.train_fixed_steps(x, y, 45, 3, val=val, eval_every=10)


def test_keep_best_on_validation_restores_the_best_epoch_not_the_last():
    import keras

    x, y = _brightness_task(10, 1)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    good = [np.array([[-5.0, 0.0, 5.0]], np.float32), np.array([5.0, 10.0, -5.0], np.float32)]  # brightness ranks classes
    keeper = utility._keep_best_on_validation(x, y, 3)
    keeper.set_model(model)
    model.set_weights(good)
    keeper.on_epoch_end(0)
    model.set_weights([np.zeros_like(w) for w in good])  # a later, useless epoch: AUROC 0.5
    keeper.on_epoch_end(1)
    keeper.on_train_end()
    assert keeper.best_epoch == 1 and keeper.best_auroc > 0.75 and keeper.history[1] == pytest.approx(0.5)
    for kept, expected in zip(model.get_weights(), good):
        np.testing.assert_array_equal(kept, expected)


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
    judge = {**scores, "accuracy": 1.0, "per_class_accuracy": [1.0, 1.0], "confusion": [[50, 0], [0, 50]], "n": 100}
    metrics = {"data_source": "phantom", "image_size": 64, "classes": classes,
               "fidelity": {"judge": "test judge", "generated": scores, "real_test": judge},  # a judge that can judge
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

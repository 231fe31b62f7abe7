"""lab.scarce: the scarce-data study (arms, counts, the resumable log) and its verdict."""

import numpy as np
import pandas as pd
import pytest

from lab import scarce


def _brightness_task(n_per_class, seed, size=8):
    """Images whose class is their brightness: learnable in a few dozen steps."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    x = (y[:, None, None, None] - 1) * 0.5 + rng.normal(0, 0.3, (len(y), size, size, 1))
    return x.astype(np.float32), y


@pytest.mark.slow
def test_scarce_study_arms_and_counts(tmp_path):
    x, y = _brightness_task(6, 2)
    keep = np.concatenate([np.flatnonzero(y != 2), np.flatnonzero(y == 2)[:2]])  # class 2 cut to 2 images
    syn_y = np.full(8, 2)
    syn_x = _brightness_task(8, 3)[0][-8:]
    val = test = _brightness_task(4, 4)
    results = scarce.scarce_utility_study((x[keep], y[keep]), val, test, (syn_x, syn_y), [2], 3, ratios=(1.0, 4.0),
                                          seeds=(0,), steps=4, eval_every=2, batch_size=4, width=4,
                                          full_train=(x, y), progress=False, log_path=tmp_path / "runs.jsonl")
    assert len(results) == len(scarce.scarce_arms((1.0, 4.0))) == 7
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 7
    resumed = scarce.scarce_utility_study((x[keep], y[keep]), val, test, (syn_x, syn_y), [2], 3, ratios=(1.0, 4.0),
                                          seeds=(0,), steps=4, eval_every=2, batch_size=4, width=4,
                                          full_train=(x, y), progress=False, log_path=tmp_path / "runs.jsonl")  # everything read back, nothing trained
    pd.testing.assert_frame_equal(resumed, results, check_dtype=False)
    log = tmp_path / "runs.jsonl"
    assert len(log.read_text().splitlines()) == 7
    log.write_text("\n".join(log.read_text().splitlines()[:3]) + "\n")  # interrupted after three classifiers
    again = scarce.scarce_utility_study((x[keep], y[keep]), val, test, (syn_x, syn_y), [2], 3, ratios=(1.0, 4.0),
                                        seeds=(0,), steps=4, eval_every=2, batch_size=4, width=4,
                                        full_train=(x, y), progress=False, log_path=log)
    assert len(log.read_text().splitlines()) == 7
    pd.testing.assert_frame_equal(again.iloc[:3], results.iloc[:3], check_dtype=False)  # read back
    assert (again[["arm", "ratio", "train_images"]].values == results[["arm", "ratio", "train_images"]].values).all()
    with pytest.raises(ValueError, match="trained with"):  # the log holds classifiers of another length
        scarce.scarce_utility_study((x[keep], y[keep]), val, test, (syn_x, syn_y), [2], 3, ratios=(1.0, 4.0),
                                    seeds=(0,), steps=8, eval_every=2, batch_size=4, width=4,
                                    full_train=(x, y), progress=False, log_path=log)
    with pytest.raises(ValueError, match="use e.g. steps=4"):
        scarce.scarce_utility_study((x[keep], y[keep]), val, test, (syn_x, syn_y), [2], 3, steps=5, eval_every=2)
    counts = results.set_index(["arm", "ratio"])["train_images"]
    assert counts[("real, all images", 0.0)] == 18 and counts[("real", 0.0)] == 14
    assert counts[("real + duplicated scarce", 4.0)] == 22 and counts[("real + synthetic scarce", 1.0)] == 16
    assert results["scarce_auroc"].equals(results["auroc_2"]) and results["best_step"].isin([2, 4]).all()
    summary = scarce.summarise_scarce(results)
    assert (summary["seeds"] == 1).all() and len(summary) == 7
    with pytest.raises(ValueError, match="ratio 8 needs"):
        scarce.scarce_utility_study((x[keep], y[keep]), val, test, (syn_x, syn_y), [2], 3, ratios=(8.0,),
                                    seeds=(0,), steps=2, eval_every=2, batch_size=4, width=4, progress=False)


def _scarce_summary(syn, dup, std=0.01):
    rows = [("real", 0.0, 0.7), ("real + synthetic scarce", 4.0, syn), ("real + duplicated scarce", 4.0, dup)]
    return pd.DataFrame([{"arm": a, "ratio": r, "scarce_mean": m, "scarce_std": std, "seeds": 3} for a, r, m in rows])


def test_scarce_verdict_compares_with_duplication():
    assert "4x synthetic: helped" in scarce.scarce_verdict(_scarce_summary(0.85, 0.80))
    assert "4x synthetic: hurt" in scarce.scarce_verdict(_scarce_summary(0.75, 0.80))
    verdict = scarce.scarce_verdict(_scarce_summary(0.805, 0.80))
    assert "no clear effect" in verdict and "real alone 0.700" in verdict
    kermany_4x = scarce.scarce_verdict(_scarce_summary(0.951, 0.943, std=0.004).assign(  # both below real alone
        scarce_mean=[0.960, 0.951, 0.943], scarce_std=[0.009, 0.004, 0.002]))
    assert "better than duplication but 0.009 below real alone, so no help" in kermany_4x
    one_seed = _scarce_summary(0.85, 0.80).assign(seeds=1)
    assert scarce.scarce_verdict(one_seed).startswith("no verdict")

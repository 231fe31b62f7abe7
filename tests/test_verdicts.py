"""helpers.verdicts: too small to learn, a judge that can judge, a generator that copies, verdicts first.

Unit level and fast: no GAN is trained. Copying is forced by a "generator" that returns its training
images with a little noise; the small data set is cut from the project's own phantoms.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from helpers import CLASSES, evaluate, utility, verdicts
from helpers.metrics import classification_scores
from helpers.phantoms import generate_arrays

# --------------------------------------------------------------------------- statistics


def test_wilson_interval_and_binomial_tail_by_hand():
    lo, hi = verdicts.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert verdicts.wilson_interval(0, 10)[0] == 0.0 and verdicts.wilson_interval(0, 0) == (0.0, 1.0)
    assert verdicts.binomial_sf(1, 10, 0.1) == pytest.approx(1 - 0.9 ** 10)
    brute = sum(math.comb(50, i) * 0.03 ** i * 0.97 ** (50 - i) for i in range(4, 51))
    assert verdicts.binomial_sf(4, 50, 0.03) == pytest.approx(brute, rel=1e-9)
    assert verdicts.binomial_sf(0, 5, 0.5) == 1.0 and verdicts.binomial_sf(6, 5, 0.5) == 0.0


def test_copy_test_needs_significance_and_size():
    assert verdicts.copy_test(60, 300, 0.01)["copies"]  # 20% against 1%
    assert not verdicts.copy_test(5, 300, 0.01)["copies"]  # about the expected 1%
    assert not verdicts.copy_test(43, 2100, 0.01)["copies"]  # significant, but only twice the rate: the floor
    assert not verdicts.copy_test(1, 20, 0.01)["copies"]  # 5% of 20 images: not significant


# --------------------------------------------------------------------------- too small to learn

@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """Phantoms cut to Mass 6, Nodule 12 and 40 of every other condition, split 4/1/1, 8/2/2 and as loaded."""
    from helpers.phantoms import write_dataset
    from helpers.preprocess import load_dataset

    folder = write_dataset(tmp_path_factory.mktemp("small"), per_class=40, size=32, seed=5, progress=False)
    data = load_dataset("nih", folder, size=32, seed=0, workers=1, progress=False,
                        cache_dir=tmp_path_factory.mktemp("cache"))
    table = data.table
    rows = []
    for condition in data.classes:
        mine = table[table["condition"] == condition]
        if condition in ("Mass", "Nodule"):
            train = 4 if condition == "Mass" else 8
            rest = 1 if condition == "Mass" else 2
            for split, n in (("train", train), ("val", rest), ("test", rest)):
                rows += mine.index[mine["split"] == split][:n].tolist()
        else:
            rows += mine.index.tolist()
    return data.subset(np.sort(rows))


def test_small_conditions_are_left_out_or_warned(small_set, tmp_path, capsys):
    counts = dict(zip(small_set.classes, np.bincount(small_set.split("train")[1], minlength=7).tolist()))
    assert counts["Mass"] == 4 and counts["Nodule"] == 8 and min(counts.values()) == 4
    # the smoke profile's thresholds, which a test-sized set exercises
    data, screening = verdicts.check_training_counts(small_set, tmp_path, smoke=True)
    printed = capsys.readouterr().out
    assert screening["dropped"] == {"Mass": 4} and screening["warned"] == {"Nodule": 8}
    assert "LEFT OUT: Mass has 4 training images" in printed and "KEEP_CONDITIONS = ['Mass']" in printed
    assert "WARNING: Nodule has only 8 training images" in printed and "(the smoke profile's)" in printed
    assert data.classes == tuple(c for c in CLASSES if c != "Mass")
    for split in ("train", "val", "test"):  # every split lost Mass; labels follow the kept order
        rows, labels = data.split(split)
        assert set(data.table.loc[rows, "condition"]) <= set(data.classes)
        assert (np.array(data.classes)[labels] == data.table.loc[rows, "condition"].to_numpy()).all()
    assert len(data.images) == len(data.table) == len(small_set.table) - 6
    saved = verdicts.load_conditions(tmp_path)
    assert saved["kept"] == list(data.classes) and saved["min_train_images"] == verdicts.SMOKE_MIN_TRAIN_IMAGES
    # kept anyway: trains, with the warning
    data, screening = verdicts.check_training_counts(small_set, None, smoke=True, keep=["Mass"])
    assert "Mass" in data.classes and screening["warned"]["Mass"] == 4 and screening["kept_anyway"] == {"Mass": 4}


def test_course_thresholds_refuse_a_set_too_small_for_any_condition(small_set):
    with pytest.raises(ValueError, match="a conditional GAN needs two"):
        verdicts.check_training_counts(small_set, None)  # 30 and 450: every condition here is below 30
    _, screening = verdicts.check_training_counts(small_set, None, min_images=6, warn_images=30)
    assert screening["dropped"] == {"Mass": 4} and set(screening["warned"]) == set(CLASSES) - {"Mass"}
    with pytest.raises(ValueError, match="does not have"):
        verdicts.check_training_counts(small_set, None, keep=["Hernia"])


def test_thresholds_agree_with_the_lab_evidence():
    """The constants are the counts the lab measured at, and the evidence separates copying from not copying."""
    studies = {p.stem: json.loads(p.read_text()) for p in (ROOT / "results" / "utility_study").glob("*.json")}
    assert all(s["data"]["scarce_count"] == verdicts.MIN_TRAIN_IMAGES for s in studies.values())
    ceiling = studies["phantom-earlier-default"]["data"]["ceiling_per_scarce_condition"]
    assert 0.9 * ceiling <= verdicts.WARN_TRAIN_IMAGES <= ceiling  # a little below what the full course gives
    for study in studies.values():  # at MIN_TRAIN_IMAGES every scarce condition copied by the COPY_FACTOR rule
        m = study["numbers"]["memorisation"]
        test = m["test"]
        highest_test = max(test.values()) if isinstance(test, dict) else test
        assert all(m[c] >= verdicts.COPY_FACTOR * highest_test for c in study["data"]["scarce"])
    course = json.loads((ROOT / "results" / "course" / "quick-phantom.json").read_text())
    assert course["data"]["train_images"] / len(course["data"]["classes"]) >= verdicts.WARN_TRAIN_IMAGES
    pixels = course["numbers"]["memorisation"]["pixels"]
    assert pixels["generated"] < verdicts.COPY_FACTOR * pixels["test"]  # full data: no copying


# --------------------------------------------------------------------------- a judge that can judge

def _scores(predicted, labels, k=7):
    return classification_scores(np.eye(k)[predicted], labels, k)


def test_judge_gate_refuses_a_judge_at_chance_and_accepts_a_strong_one():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(7), 20)
    one_class = verdicts.judge_gate(_scores(np.zeros_like(labels), labels))
    guessing = verdicts.judge_gate(_scores(rng.integers(0, 7, len(labels)), labels))
    for gate in (one_class, guessing):
        assert not gate["measurable"] and not any(gate["conditions"])
        assert "chance among 7 conditions is 0.143" in gate["reason"] and "fewer conditions" in gate["remedy"]
    strong = labels.copy()
    strong[:3] = 1  # a few mistakes
    gate = verdicts.judge_gate(_scores(strong, labels))
    assert gate["measurable"] and all(gate["conditions"]) and gate["lower"] > 0.9
    # recognises every condition but Mass (index 4) in real images: no Mass figure of its own
    blind = labels.copy()
    blind[labels == 4] = 0
    gate = verdicts.judge_gate(_scores(blind, labels))
    assert gate["measurable"] and gate["conditions"] == [True] * 4 + [False] + [True] * 2


def _metrics(judge_predicted, labels, memorisation=None, classes=CLASSES):
    k = len(classes)
    generated = _scores(np.repeat(np.arange(k), 10), np.repeat(np.arange(k), 10), k)
    realism = [{"extractor": "classifier features (judge, 128-d)", "comparison": c, "n_real": 9, "n_fake": 9,
                "fid": 1.0, "kid_mean": 0.0, "kid_std": 0.0, "precision": p, "recall": r, "density": 1.0,
                "coverage": 1.0} for c, p, r in (("real val vs real test", 0.96, 0.95),
                                                 ("generated vs real test", 0.93, 0.9))]
    return {"data_source": "phantom", "image_size": 32, "classes": list(classes),
            "fidelity": {"judge": "test", "generated": generated, "real_test": _scores(judge_predicted, labels, k)},
            "realism": realism, "diversity": {"pairs": 5, "real": [0.3] * k, "generated": [0.35] * k},
            "memorisation": memorisation or {}}


def test_report_opens_with_verdicts_and_withholds_a_failing_judges_numbers(tmp_path):
    labels = np.repeat(np.arange(7), 20)
    screened = {"min_train_images": 5, "warn_train_images": 15, "dropped": {"Mass": 4}, "warned": {"Nodule": 8}}
    metrics = _metrics(np.zeros_like(labels), labels)
    metrics["memorisation"] = {"judge features": {"threshold": 1.0, "share_synthetic_below": 0.0,
                                                  "share_test_below": 0.01, "median_synthetic": 1.0,
                                                  "median_test": 1.0}}
    metrics["conditions"] = screened
    json_path, report_path = evaluate.write_report(metrics, tmp_path)
    saved = json.loads(json_path.read_text())
    assert list(saved)[:2] == ["verdicts", "headline"]
    assert list(saved["verdicts"]) == list(verdicts.VERDICTS)
    assert saved["verdicts"]["right condition"]["verdict"] == "cannot tell"
    assert "not measurable with this judge" in saved["verdicts"]["right condition"]["reason"]
    assert "label_fidelity" not in saved["headline"] and "fid_classifier" not in saved["headline"]
    assert "generated" not in saved["fidelity"] and saved["realism"] == [] and saved["memorisation"] == {}
    assert saved["verdicts"]["realistic"]["verdict"] == "cannot tell"
    assert saved["verdicts"]["useful"]["verdict"] == "cannot tell"
    assert "the utility study did not run" in saved["verdicts"]["useful"]["reason"]
    report = report_path.read_text()
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Verdicts" and report.index("## Verdicts") < report.index("Headline:")
    assert "**Label fidelity: not measurable with this judge.**" in report and "fewer conditions" in report
    assert "**left out**: Mass, 4 training images" in report and "**trained with a warning**: Nodule" in report
    # the same run with a judge that can judge: fidelity, realism and variety read yes
    json_path, _ = evaluate.write_report(_metrics(labels, labels), tmp_path)
    saved = json.loads(json_path.read_text())
    assert saved["headline"]["label_fidelity"] == 1.0 and saved["headline"]["verdict[right condition]"] == "yes"
    assert saved["verdicts"]["realistic"]["verdict"] == "yes" and saved["verdicts"]["varied"]["verdict"] == "yes"


def test_realistic_and_varied_rules():
    labels = np.repeat(np.arange(7), 20)
    m = verdicts.withhold(_metrics(labels, labels))
    m["realism"][1]["precision"] = 0.5  # half the floor's precision
    assert verdicts.realistic(m)["verdict"] == "no"
    m["diversity"]["generated"][2] = 0.45  # one condition 0.15 more alike than real
    v = verdicts.varied(m)
    assert v["verdict"] == "no" and "Effusion" in v["reason"]
    m["diversity"]["generated"][2] = 0.35
    m["realism"][1]["recall"] = 0.5
    assert verdicts.varied(m)["verdict"] == "no"


# --------------------------------------------------------------------------- a generator that copies

def _phantoms(per_class, seed, classes=CLASSES):
    labels = [c for c in classes for _ in range(per_class)]
    images = generate_arrays(labels, size=32, seed=seed).astype(np.float32) / 127.5 - 1.0
    return images, np.repeat(np.arange(len(classes)), per_class)


def test_memorisation_verdict_says_copies_for_a_copying_generator_only():
    x_train, _ = _phantoms(20, seed=1)
    x_test, _ = _phantoms(20, seed=2)
    x_fresh, y_fresh = _phantoms(20, seed=3)
    rng = np.random.default_rng(0)
    mass = CLASSES.index("Mass")
    # a generator that returns its six Mass training images (with a little noise), and fresh images otherwise
    copied = x_fresh.copy()
    mass_train = x_train[mass * 20:mass * 20 + 6]
    copied[y_fresh == mass] = mass_train[rng.integers(0, 6, 20)] + rng.normal(0, 0.01, (20, 32, 32))
    leaky = evaluate.memorisation_audit(x_train, x_test, copied, synthetic_labels=y_fresh, num_classes=7)
    assert leaky["copies"] and leaky["per_condition"][mass]["copies"]
    assert leaky["per_condition"][mass]["below"] == 20
    assert not any(t["copies"] for i, t in enumerate(leaky["per_condition"]) if i != mass)
    honest = evaluate.memorisation_audit(x_train, x_test, x_fresh, synthetic_labels=y_fresh, num_classes=7)
    assert not honest["copies"] and not honest["test"]["copies"]
    labels = np.repeat(np.arange(7), 20)
    metrics = _metrics(labels, labels, memorisation={"pixels": leaky})
    private = verdicts.private(jsonable := evaluate.jsonable(metrics))
    assert private["verdict"] == "no" and "Mass" in private["reason"]
    assert "copies its training images" in private["reason"]
    assert verdicts.verdict_lines(verdicts.all_verdicts(jsonable))[0].startswith("- **private: no**")  # first
    assert verdicts.private(evaluate.jsonable(_metrics(labels, labels, {"pixels": honest})))["verdict"] == "yes"


# --------------------------------------------------------------------------- utility that means something

def _summary(real, syn, dup, std=0.01):
    rows = [("real", 0.0, real), ("real + synthetic", 1.0, syn), ("real + duplicated real", 1.0, dup)]
    return pd.DataFrame([{"arm": a, "ratio": r, "auroc_mean": m, "auroc_std": std} for a, r, m in rows])


def test_utility_gives_no_effect_verdict_when_real_only_is_at_chance():
    sentence = utility.utility_verdict(_summary(0.548, 0.70, 0.55, std=0.02))  # the small NIH set
    assert sentence.startswith("cannot tell") and "0.548" in sentence
    assert not any(word in sentence for word in ("helped", "hurt", "no clear effect"))
    assert verdicts.useful({"utility": {"verdict": sentence}})["verdict"] == "cannot tell"
    assert utility.utility_verdict(_summary(0.65, 0.80, 0.65, std=0.06)).startswith("cannot tell")  # 0.59 < 0.6
    clear = utility.utility_verdict(_summary(0.80, 0.90, 0.80))
    assert "helped" in clear and verdicts.useful({"utility": {"verdict": clear}})["verdict"] == "yes"
    unclear = utility.utility_verdict(_summary(0.8, 0.8, 0.8))
    assert verdicts.useful({"utility": {"verdict": unclear}})["verdict"] == "no"

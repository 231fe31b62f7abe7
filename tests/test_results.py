"""Results as data: the result files, their writer, the course recorder and the rendered page and README."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import render_results  # noqa: E402
from lab import record_course  # noqa: E402
from lab.results import REQUIRED, RESULTS, ResultError, load_results, write_result  # noqa: E402


def test_page_and_readme_blocks_are_fresh(capsys):
    """docs/experiments.md and the README's results blocks are what tools/render_results.py makes of results/."""
    assert render_results.main(["--check"]) == 0, capsys.readouterr().err


def test_every_result_file_has_the_required_keys():
    results = load_results()
    files = sorted(RESULTS.glob("*/*.json"))
    assert len(results) == len(files) > 0
    for result in results:
        assert set(REQUIRED) <= set(result), result["path"]
        assert result["provenance"] in ("measured", "transcribed"), result["path"]
        if result["provenance"] == "transcribed":
            assert result["source"].endswith(("at d965099", ")")), result["path"]
    names = {(r["study"], r["name"]) for r in results}
    assert {("course", "quick-phantom"), ("course", "quick-folder-kermany")} <= names  # the README renders these


def test_write_result_round_trips(tmp_path):
    numbers = {"fidelity": 0.5, "per_class": {"A": 0.25, "B": 0.75}, "curve": [{"step": 1, "gap": -0.1}]}
    path = write_result("demo", "seed=1", numbers, seeds=[1], data={"source": "phantom", "image_size": 64},
                        notes="a test", root=tmp_path)
    assert path == tmp_path / "demo" / "seed=1.json"
    (loaded,) = load_results(tmp_path)
    assert loaded["numbers"] == numbers and loaded["seeds"] == [1] and loaded["notes"] == "a test"
    assert loaded["provenance"] == "measured" and loaded["command"].startswith("python ")
    assert loaded["date"].endswith("+00:00") and isinstance(loaded["machine"]["cpus"], int)
    assert loaded["commit"] is None or len(loaded["commit"].split("+")[0]) >= 4


def test_a_malformed_result_names_its_file(tmp_path):
    path = write_result("demo", "x", {"a": 1}, seeds=None, data={}, root=tmp_path)
    record = json.loads(path.read_text())
    del record["seeds"]
    path.write_text(json.dumps(record))
    with pytest.raises(ResultError, match=r"demo/x\.json: missing keys \['seeds'\]"):
        load_results(tmp_path)
    with pytest.raises(ResultError, match="needs 'source'"):
        write_result("demo", "y", {"a": 1}, seeds=None, data={}, root=tmp_path, provenance="transcribed")
    with pytest.raises(ResultError, match="non-empty dictionary"):
        write_result("demo", "z", {}, seeds=None, data={}, root=tmp_path)


def _fake_run(run_dir: Path) -> Path:
    """A finished quick course run on two conditions, as helpers.course and notebook 05 leave it."""
    run_dir.mkdir()
    (run_dir / "course_log.json").write_text(json.dumps({
        "profile": "quick", "peak_rss_mb": 2100, "notebooks": [
            {"notebook": f"0{i}_x.ipynb", "status": "done", "seconds": 10.0 * i} for i in range(1, 6)]}))
    (run_dir / "data_source.json").write_text(json.dumps({"source": "phantom", "data_dir": "/x/data/phantoms-64",
                                                          "reason": "offline"}))
    (run_dir / "metrics.json").write_text(json.dumps({
        "data_source": "phantom", "image_size": 64, "classes": ["A", "B"], "seed": 0,
        "setup": {"real_images": "train 10, val 4, test 4"},
        "fidelity": {"generated": {"accuracy": 0.9, "per_class_accuracy": [0.8, 1.0], "macro_auroc": 0.95, "n": 600},
                     "real_test": {"accuracy": 0.97}},
        "realism": [{"extractor": "judge (course CNN)", "comparison": "real val vs real test", "fid": 0.5,
                     "kid_mean": 0.001, "kid_std": 0.01, "precision": 0.96, "recall": 0.95, "density": 1.0,
                     "coverage": 0.9, "n_real": 4, "n_fake": 4},
                    {"extractor": "judge (course CNN)", "comparison": "generated vs real test", "fid": 2.0,
                     "kid_mean": 0.05, "kid_std": 0.02, "precision": 0.9, "recall": 0.92, "density": 0.8,
                     "coverage": 0.7, "n_real": 4, "n_fake": 4}],
        "diversity": {"pairs": 200, "real": [0.3, 0.4], "generated": [0.35, 0.42]},
        "utility": {"steps": 600, "seeds": [0, 1, 2], "verdict": "no clear effect", "summary": [
            {"arm": "real", "ratio": 0.0, "auroc_mean": 0.95, "auroc_std": 0.02},
            {"arm": "synthetic only", "ratio": 1.0, "auroc_mean": 0.89, "auroc_std": 0.01},
            {"arm": "real + synthetic", "ratio": 1.0, "auroc_mean": 0.96, "auroc_std": 0.01}]},
        "memorisation": {"pixels": {"share_synthetic_below": 0.009, "share_test_below": 0.01},
                         "judge features": {"share_synthetic_below": 0.018, "share_test_below": 0.01}}}))
    return run_dir


def test_record_course_writes_a_result_the_readme_table_renders(tmp_path):
    run_dir = _fake_run(tmp_path / "run")
    root = tmp_path / "results"
    assert record_course.main([str(run_dir), "--root", str(root), "--wall-seconds", "600"]) == 0
    (result,) = load_results(root)
    assert (result["study"], result["name"]) == ("course", "quick-phantom")
    n = result["numbers"]
    assert n["time"]["notebook_seconds"] == {f"0{i}_x": 10.0 * i for i in range(1, 6)}
    assert n["time"]["peak_rss_gb"] == 2.1 and n["time"]["wall_seconds"] == 600
    assert n["fidelity"]["per_condition"] == {"A": 0.8, "B": 1.0} and n["fidelity"]["per_condition_images"] == 300
    assert n["realism"]["generated"]["fid"] == 2.0 and n["realism"]["floor"]["fid"] == 0.5
    assert n["utility"]["arms"]["real + synthetic 1x"] == {"mean": 0.96, "std": 0.01}
    assert n["memorisation"]["pixels"] == {"generated": 0.009, "test": 0.01}
    assert result["data"]["data_dir"] == "phantoms-64" and result["data"]["chosen_because"] == "offline"
    table = "\n".join(render_results.course_table(result))
    assert "label fidelity **0.9** (A 0.8, B 1; 300 per condition)" in table
    assert "pixels **0.9%** (test 1.0%)" in table and "wall time **10 min 00 s**" in table


def test_record_course_names_a_missing_file(tmp_path):
    with pytest.raises(SystemExit, match="course_log.json is missing"):
        record_course.main([str(tmp_path), "--root", str(tmp_path / "results")])


def test_readme_is_a_front_door():
    """The README stays short (issue 23: at most 250 lines); the results history lives in docs/experiments.md."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail to docs/ (at most 250)"

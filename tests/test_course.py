"""helpers.course: the headless runner executes, skips what is done, and names failures."""

import json

import nbformat
import pytest

from helpers.course import main, notebook_parameters, run_course


def _tiny_notebook(path, body="print(VALUE)"):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("VALUE = 1\nSMOKE = False\nRUN_DIR = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.notebook
def test_runs_skips_and_forces(tmp_path):
    nb = _tiny_notebook(tmp_path / "01_tiny.ipynb")
    lines = []
    records = run_course("smoke", tmp_path / "run", notebooks=[nb], log=lines.append)
    assert records[0]["status"] == "done"
    stamp = json.loads((tmp_path / "run" / "executed" / "01_tiny.params.json").read_text())
    assert stamp == {"SMOKE": True, "RUN_DIR": str((tmp_path / "run").resolve())}  # only declared parameters
    assert run_course("smoke", tmp_path / "run", notebooks=[nb], log=lines.append)[0]["status"] == "skipped"
    assert run_course("smoke", tmp_path / "run", notebooks=[nb], force=True, log=lines.append)[0]["status"] == "done"
    assert any(line.startswith("[skip] 01_tiny.ipynb") for line in lines)


@pytest.mark.notebook
def test_failure_names_notebook_and_cell(tmp_path):
    nb = _tiny_notebook(tmp_path / "02_broken.ipynb", body="raise ValueError('boom')")
    with pytest.raises(RuntimeError, match=r"02_broken.ipynb failed in cell 2 `raise ValueError\('boom'\)` \(ValueError: boom\)"):
        run_course("smoke", tmp_path / "run", notebooks=[nb], log=lambda s: None)


@pytest.mark.notebook
def test_smoke_course_end_to_end(tmp_path, capsys):
    """The whole course (notebooks 01-05) through the runner, as CI's smoke profile."""
    from conftest import ROOT

    out = tmp_path / "smoke"
    assert main(["--profile", "smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    log = json.loads((out / "course_log.json").read_text())
    assert [r["notebook"][:2] for r in log["notebooks"]] == ["01", "02", "03", "04", "05"]
    assert all(r["status"] == "done" for r in log["notebooks"]) and log["peak_rss_mb"] > 0
    for number in ("01", "02", "03", "04", "05"):
        assert list((out / "figures").glob(f"{number}_*.png")), f"notebook {number} saved no figure"
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["headline"]["label_fidelity"] <= 1.0
    assert {"fidelity", "realism", "diversity", "utility", "memorisation"} <= set(metrics)
    assert "## Private: memorisation audit" in (out / "report.md").read_text()
    assert f"report: {out / 'report.md'}" in printed and "headline" in printed
    assert not list((ROOT / "notebooks").glob("*.params.json"))  # nothing written beside the sources


def test_unknown_profile():
    with pytest.raises(ValueError, match="profile 'huge' is unknown; use one of smoke, quick, full"):
        notebook_parameters("huge")
    with pytest.raises(SystemExit):
        main(["--profile", "huge"])

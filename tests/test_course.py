"""helpers.course: the headless runner executes, skips what is done, reruns what changed, and names failures."""

import importlib.util
import json
import logging

import nbformat
import pytest

import helpers.course as course
from conftest import KERMANY, ROOT
from helpers.course import PROFILES, main, notebook_parameters, run_course


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
    assert stamp["parameters"] == {"SMOKE": True, "RUN_DIR": str((tmp_path / "run").resolve())}  # only declared
    assert stamp["source_sha256"] == course.notebook_fingerprint(nb) and stamp["upstream_sha256"] is None
    assert run_course("smoke", tmp_path / "run", notebooks=[nb], log=lines.append)[0]["status"] == "skipped"
    assert run_course("smoke", tmp_path / "run", notebooks=[nb], force=True, log=lines.append)[0]["status"] == "done"
    assert lines[0].startswith("[data] DATA_SOURCE auto -> phantom") and "smoke mode" in lines[0]  # the default
    assert [line.split(" ...")[0] for line in lines if line.startswith(("[run ", "[skip]", "       "))] == [
        "[run ] 01_tiny.ipynb (no finished run yet)",
        "[skip] 01_tiny.ipynb: unchanged and already executed with these parameters (--force reruns)",
        "[run ] 01_tiny.ipynb (--force)"]  # and no progress lines: the notebook ends within PROGRESS_EVERY_S


@pytest.mark.notebook
def test_edited_notebook_reruns_and_so_do_later_ones(tmp_path):
    first, second = _tiny_notebook(tmp_path / "01_tiny.ipynb"), _tiny_notebook(tmp_path / "02_next.ipynb")
    run = tmp_path / "run"
    run_course("smoke", run, notebooks=[first, second], log=lambda s: None)
    _tiny_notebook(first)  # the same cells with new ids and no outputs: still current
    lines = []
    assert [r["status"] for r in run_course("smoke", run, notebooks=[first, second], log=lines.append)] == [
        "skipped", "skipped"]
    _tiny_notebook(first, body="print(VALUE + 1)")  # an edited cell
    assert [r["status"] for r in run_course("smoke", run, notebooks=[first, second], log=lines.append)] == [
        "done", "done"]
    assert "[run ] 01_tiny.ipynb (changed since last run) ..." in lines
    assert "[run ] 02_next.ipynb (01_tiny.ipynb was rerun, so inputs may have changed) ..." in lines
    assert "print(VALUE + 1)" in nbformat.read(run / "executed" / "01_tiny.ipynb", as_version=4).cells[-1].source
    # a course interrupted after rerunning 01 (its stamp is newer than 02's) reruns 02 on resuming
    stamp_path = run / "executed" / "01_tiny.params.json"
    stamp_path.write_text(json.dumps({**json.loads(stamp_path.read_text()), "finished": "later"}))
    lines.clear()
    assert [r["status"] for r in run_course("smoke", run, notebooks=[first, second], log=lines.append)] == [
        "skipped", "done"]
    assert "[run ] 02_next.ipynb (01_tiny.ipynb ran after this one last did, so inputs may have changed) ..." in lines


def test_why_run_names_changed_parameters(tmp_path):
    stamp = {"parameters": {"SMOKE": True, "TRAIN_STEPS": 3000}, "source_sha256": "abc", "upstream_sha256": None}
    assert course._why_run(stamp, True, {"SMOKE": True, "TRAIN_STEPS": 3000}, "abc", None, None, None) is None
    assert course._why_run(stamp, True, {"SMOKE": True, "TRAIN_STEPS": 5000}, "abc", None, None, None) == (
        "parameters changed: TRAIN_STEPS")
    assert course._why_run(stamp, True, {"SMOKE": True, "SEED": 1}, "abc", None, None, None) == (
        "parameters changed: SEED, TRAIN_STEPS")
    assert course._why_run(stamp, False, {}, "abc", None, None, None) == "no finished run yet"
    old_runner = tmp_path / "01_x.params.json"
    old_runner.write_text(json.dumps({"SMOKE": True}))  # a stamp of parameters only, from an older runner
    assert course._read_stamp(old_runner) is None and course._read_stamp(tmp_path / "missing.json") is None


@pytest.mark.notebook
def test_progress_lines(tmp_path):
    """Finished cells and the notebook's "step " lines are shown (throttled; here every time), nothing else."""
    body = "for step in (1, 2):\n    print(f'step {step}/2: 0.0 min elapsed')\nprint('other output')"
    nb = _tiny_notebook(tmp_path / "01_tiny.ipynb", body=body)
    lines = []
    run_course("smoke", tmp_path / "run", notebooks=[nb], log=lines.append, progress_every=0)
    progress = [line for line in lines if line.startswith("       ")]
    assert progress[0].startswith("       01_tiny.ipynb: cell 1/2, ") and progress[0].endswith(" min")
    assert progress[1:3] == ["       01_tiny.ipynb: step 1/2: 0.0 min elapsed",
                             "       01_tiny.ipynb: step 2/2: 0.0 min elapsed"]
    assert progress[3].startswith("       01_tiny.ipynb: cell 2/2, ") and len(progress) == 4


@pytest.mark.notebook
def test_kernel_and_papermill_logs_stay_off_the_console(tmp_path, capfd, caplog):
    """TensorFlow's C++ start-up lines and ipykernel's warnings go to the kernel log; papermill's INFO nowhere."""
    if importlib.util.find_spec("tensorflow") is None:  # importorskip would import it here, printing the same lines
        pytest.skip("tensorflow is not installed")
    caplog.set_level(logging.INFO)  # as if the caller had configured logging at INFO
    nb = _tiny_notebook(tmp_path / "01_tf.ipynb", body="import tensorflow as tf\nprint(int(tf.constant(41) + 1))")
    lines = []
    run_course("smoke", tmp_path / "run", notebooks=[nb], log=lines.append)
    captured = capfd.readouterr()
    console = captured.out + captured.err + "\n".join(lines)
    for noise in ("absl", "oneDNN", "TF_ENABLE_ONEDNN_OPTS", "cuDNN", "cuda drivers", "cudart", "port.cc",
                  "IPKernelApp", "Input Notebook", "Executing notebook"):
        assert noise not in console
    assert not [r for r in caplog.records if r.name.startswith("papermill") and r.levelno < logging.WARNING]
    assert (tmp_path / "run" / "executed" / "01_tf.kernel.log").is_file()
    outputs = nbformat.read(tmp_path / "run" / "executed" / "01_tf.ipynb", as_version=4).cells[-1].outputs
    assert any(o.get("text", "").strip() == "42" for o in outputs)  # the notebook's own output is kept


@pytest.mark.notebook
def test_dead_kernel_names_notebook_cell_and_log(tmp_path):
    nb = _tiny_notebook(tmp_path / "03_dies.ipynb", body="import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    log = tmp_path / "run" / "executed" / "03_dies.kernel.log"
    with pytest.raises(RuntimeError, match=f"03_dies.ipynb: the kernel died in cell 2 .* is in {log}"):
        run_course("smoke", tmp_path / "run", notebooks=[nb], log=lambda s: None)


@pytest.mark.notebook
def test_failure_names_notebook_and_cell(tmp_path):
    nb = _tiny_notebook(tmp_path / "02_broken.ipynb", body="raise ValueError('boom')")
    expected = r"02_broken.ipynb failed in cell 2 `raise ValueError\('boom'\)` \(ValueError: boom\)"
    with pytest.raises(RuntimeError, match=expected):
        run_course("smoke", tmp_path / "run", notebooks=[nb], log=lambda s: None)


@pytest.mark.notebook
def test_smoke_course_end_to_end(tmp_path, capsys):
    """The whole course (notebooks 01-05) through the runner, as CI's smoke profile."""
    out = tmp_path / "smoke"
    assert main(["--profile", "smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    log = json.loads((out / "course_log.json").read_text())
    assert [r["notebook"][:2] for r in log["notebooks"]] == ["01", "02", "03", "04", "05"]
    assert all(r["status"] == "done" for r in log["notebooks"]) and log["peak_rss_mb"] > 0
    for number in ("01", "02", "03", "04", "05"):
        assert list((out / "figures").glob(f"{number}_*.png")), f"notebook {number} saved no figure"
    metrics = json.loads((out / "metrics.json").read_text())
    fidelity = metrics["headline"]["label_fidelity"]
    assert isinstance(fidelity, float)
    headline = next(line for line in printed.splitlines() if line.startswith("headline"))
    assert f"label_fidelity {fidelity:.3f}" in headline  # the runner prints the number metrics.json holds
    assert {"fidelity", "realism", "diversity", "utility", "memorisation"} <= set(metrics)
    assert "## Private: memorisation audit" in (out / "report.md").read_text()
    assert f"report: {out / 'report.md'}" in printed and "headline" in printed
    assert "[data] DATA_SOURCE auto -> phantom" in printed  # the default source, offline in smoke mode
    assert not list((ROOT / "notebooks").glob("*.params.json"))  # nothing written beside the sources

    # notebook 05 alone, on a fresh RUN_DIR, as from its Colab badge: it evaluates the shipped generator
    fresh = tmp_path / "fresh"
    records = run_course("smoke", fresh, notebooks=[ROOT / "notebooks" / "05_evaluation.ipynb"], log=lambda s: None)
    assert records[0]["status"] == "done" and not (fresh / "gan").exists()
    executed = (fresh / "executed" / "05_evaluation.ipynb").read_text()
    assert "Evaluating the SHIPPED generator" in executed
    assert json.loads((fresh / "metrics.json").read_text())["headline"]["label_fidelity"] > 0.5


@pytest.mark.notebook
def test_auto_without_network_says_phantoms_and_why(tmp_path, monkeypatch):
    """`make course` offline: the default source resolves to the phantoms, once, with the reason on the console."""
    import socket

    import helpers.data as data_module

    def refuse(*args, **kwargs):
        raise OSError("no network in this test")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(data_module, "_AUTO_CHOICES", {})
    monkeypatch.delenv("CXR_GAN_OFFLINE", raising=False)
    monkeypatch.delenv("CXR_GAN_SMOKE", raising=False)  # make test sets it; a real `make course` does not
    nb = _tiny_notebook(tmp_path / "01_tiny.ipynb")
    lines = []
    run_course("quick", tmp_path / "run", notebooks=[nb], log=lines.append)
    data_lines = [line for line in lines if line.startswith("[data]")]
    assert "DATA_SOURCE auto -> phantom" in data_lines[0] and "no network in this test" in data_lines[0]
    assert "DATA_SOURCE=auto -> phantom" in data_lines[-1]
    assert json.loads((tmp_path / "run" / "data_source.json").read_text())["source"] == "phantom"


@pytest.mark.notebook
@pytest.mark.skipif(not KERMANY.is_dir(), reason=f"real radiographs in class folders not found at {KERMANY}")
def test_smoke_course_on_real_class_folders(tmp_path, capsys):
    """The whole course on real pediatric radiographs (two class folders, split folders that mix patients)."""
    out = tmp_path / "kermany"
    assert main(["--profile", "smoke", "--data-source", "folder", "--data-dir", str(KERMANY), "--out", str(out)]) == 0
    log = json.loads((out / "course_log.json").read_text())
    assert [r["status"] for r in log["notebooks"]] == ["done"] * 5
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["NORMAL", "PNEUMONIA"] and metrics["data_source"] == "folder"
    assert len(metrics["fidelity"]["generated"]["per_class_auroc"]) == 2
    assert json.loads((out / "training_metrics.json").read_text())["classes"] == ["NORMAL", "PNEUMONIA"]
    executed = (out / "executed" / "01_data_exploration.ipynb").read_text()
    assert "re-split by patient" in executed and "patients per split" in executed
    assert "balanced sampling on" in (out / "executed" / "04_training.ipynb").read_text()  # 1,112 vs 3,057 images
    synthetic = (out / "synthetic" / "Data_Entry_2017_v2020.csv").read_text()
    assert "PNEUMONIA" in synthetic and "NORMAL" in synthetic  # the NIH-layout export of a two-class generator


def test_unknown_profile_or_data_source():
    with pytest.raises(ValueError, match="profile 'huge' is unknown; use one of smoke, quick, full"):
        notebook_parameters("huge")
    with pytest.raises(SystemExit):
        main(["--profile", "huge"])
    with pytest.raises(ValueError, match="data source 'kaggle' is unknown; use one of phantom, nih, chestmnist, auto, folder"):
        notebook_parameters("smoke", "kaggle")
    with pytest.raises(SystemExit):
        main(["--data-source", "kaggle"])


def test_data_sources_come_from_one_constant(tmp_path, monkeypatch):
    """Adding a source to DATA_SOURCES is enough for the command line and notebook_parameters to accept it."""
    monkeypatch.setattr(course, "DATA_SOURCES", (*course.DATA_SOURCES, "kaggle"))
    calls = []
    monkeypatch.setattr(course, "run_course", lambda *args: calls.append(notebook_parameters("smoke", args[2])) or [])
    assert main(["--data-source", "kaggle", "--out", str(tmp_path)]) == 0
    assert calls[0]["DATA_SOURCE"] == "kaggle"


def test_profiles_train_for_steps_not_minutes():
    assert all("TRAIN_MINUTES" not in params for params in PROFILES.values())
    assert isinstance(PROFILES["quick"]["TRAIN_STEPS"], int) and isinstance(PROFILES["full"]["TRAIN_STEPS"], int)
    assert "TRAIN_STEPS" not in PROFILES["smoke"]

"""helpers.course: the headless runner executes, skips what is done, reruns what changed, and names failures.

The runner's mechanics are tested on tiny stand-in notebooks; the five real notebooks are executed once, by the
session's smoke course, which the end-to-end, real-data and claims tests below share.
"""

import contextlib
import importlib.util
import io
import json
import logging
import re
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import pytest

import helpers.course as course
from conftest import KERMANY, NIH_SAMPLE, ROOT, notebook_code_cells, run_cell
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
def test_auto_without_network_says_phantoms_and_why(tmp_path, monkeypatch):
    """`make course` offline: the default source resolves to the phantoms, once, with the reason on the console."""
    import socket

    import helpers.data.sources as data_module

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


# --------------------------------------------------------------------------- the smoke course, executed once
# Every test below reads the same executed course (the `smoke_course` fixture): the runner executes the five
# real notebooks once per session. `make test`'s nbval pass executes each of them a second time, on the
# offline phantoms; nothing else executes a whole notebook.

NIH_CSV = NIH_SAMPLE / "Data_Entry_2017_v2020.csv"
ON_REAL_RADIOGRAPHS = KERMANY.is_dir()


@pytest.fixture(scope="session")
def smoke_course(tmp_path_factory):
    """The smoke course (notebooks 01-05) through the runner's command line, executed once per session.

    On the real radiographs in class folders (``../shared/kermany-cxr``) when they are present, else on the
    default source (the offline phantoms, in smoke mode); notebook 01 also explores the real NIH metadata
    (``../shared/nih-sample``) when that is present. nbval covers the phantoms in every case.
    """
    out = tmp_path_factory.mktemp("course") / "smoke"
    argv = ["--profile", "smoke", "--out", str(out)]
    if ON_REAL_RADIOGRAPHS:
        argv += ["--data-source", "folder", "--data-dir", str(KERMANY)]
    smoke = dict(PROFILES["smoke"])
    if NIH_CSV.is_file():
        smoke["NIH_METADATA"] = str(NIH_CSV)  # only notebook 01 declares it, so only notebook 01 receives it
    printed, errors = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed), \
            contextlib.redirect_stderr(errors):
        patch.setitem(course.PROFILES, "smoke", smoke)
        # the autouse per-test cache fixture has not run yet when a session fixture starts
        patch.setenv("CXR_GAN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        code = main(argv)
    return SimpleNamespace(out=out, code=code, printed=printed.getvalue(), errors=errors.getvalue())


def _finished(smoke_course):
    """The run folder of the smoke course; fails with the runner's message if the course did not finish."""
    assert smoke_course.code == 0, smoke_course.errors[-3000:]
    return smoke_course.out


def _printed(run_dir, notebook_prefix: str) -> str:
    """Everything an executed notebook of the course printed (stream outputs), in cell order."""
    [path] = (run_dir / "executed").glob(f"{notebook_prefix}_*.ipynb")
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def _line(text: str, pattern: str) -> re.Match:
    """The one printed line matching ``pattern`` (a regex anchored at the line's start)."""
    found = [m for m in (re.match(pattern, line) for line in text.splitlines()) if m]
    assert len(found) == 1, f"expected one line matching {pattern!r}, found {len(found)}"
    return found[0]


@pytest.mark.notebook
def test_smoke_course_end_to_end(smoke_course):
    """The whole course (notebooks 01-05) through the runner, as CI's smoke profile."""
    out = _finished(smoke_course)
    printed = smoke_course.printed
    log = json.loads((out / "course_log.json").read_text())
    assert [r["notebook"][:2] for r in log["notebooks"]] == ["01", "02", "03", "04", "05"]
    assert all(r["status"] == "done" for r in log["notebooks"]) and log["peak_rss_mb"] > 0
    for number in ("01", "02", "03", "04", "05"):
        assert list((out / "figures").glob(f"{number}_*.png")), f"notebook {number} saved no figure"
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics)[:2] == ["verdicts", "headline"]  # verdicts first, then the numbers
    verdicts = metrics["verdicts"]
    assert set(verdicts) == {"right condition", "realistic", "varied", "useful", "private"}
    assert all(v["verdict"] in ("yes", "no", "cannot tell") and v["reason"] for v in verdicts.values())
    headline = next(line for line in printed.splitlines() if line.startswith("headline"))
    fidelity = metrics["headline"].get("label_fidelity")
    if metrics["fidelity"]["judge_gate"]["measurable"]:
        assert isinstance(fidelity, float)
        assert f"label_fidelity {fidelity:.3f}" in headline  # the runner prints the number metrics.json holds
    else:  # a smoke judge trained for seconds is usually at chance: then no fidelity number anywhere in the headline
        assert fidelity is None and "label_fidelity" not in headline
        assert verdicts["right condition"]["verdict"] == "cannot tell"
        assert "not measurable with this judge" in verdicts["right condition"]["reason"]
    assert "verdict[right condition]" in headline
    report = (out / "report.md").read_text()
    assert report.index("## Verdicts") < report.index("## Right condition")
    assert {"fidelity", "diversity", "memorisation"} <= set(metrics)
    assert "utility" not in metrics  # the utility study is off in the smoke profile (UTILITY_STUDY)
    assert "Utility study off (UTILITY_STUDY = False)" in _printed(out, "05")
    assert "## Private: memorisation audit" in (out / "report.md").read_text()
    assert f"report: {out / 'report.md'}" in printed and "headline" in printed
    if not ON_REAL_RADIOGRAPHS:
        assert "[data] DATA_SOURCE auto -> phantom" in printed  # the default source, offline in smoke mode
    assert not list((ROOT / "notebooks").glob("*.params.json"))  # nothing written beside the sources


@pytest.mark.notebook
@pytest.mark.skipif(not ON_REAL_RADIOGRAPHS, reason=f"real radiographs in class folders not found at {KERMANY}")
def test_smoke_course_on_real_class_folders(smoke_course):
    """The course on real pediatric radiographs (two class folders, split folders that mix patients)."""
    out = _finished(smoke_course)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["NORMAL", "PNEUMONIA"] and metrics["data_source"] == "folder"
    assert len(metrics["fidelity"]["real_test"]["per_class_accuracy"]) == 2 or "generated" in metrics["fidelity"]
    assert json.loads((out / "training_metrics.json").read_text())["classes"] == ["NORMAL", "PNEUMONIA"]
    executed = _printed(out, "01")
    assert "re-split by patient" in executed and "patients per split" in executed
    assert "balanced sampling on" in _printed(out, "04")  # 1,112 vs 3,057 images
    synthetic = (out / "synthetic" / "Data_Entry_2017_v2020.csv").read_text()
    assert "PNEUMONIA" in synthetic and "NORMAL" in synthetic  # the NIH-layout export of a two-class generator


@pytest.mark.notebook
@pytest.mark.skipif(not NIH_CSV.is_file(), reason=f"real NIH metadata not found at {NIH_CSV}")
def test_exploration_on_real_nih_metadata(smoke_course):
    """Notebook 01 explores NIH's full metadata CSV (112,120 rows) with none of its images."""
    out = _finished(smoke_course)
    assert "112,120 metadata rows" in _printed(out, "01")
    assert "Data_Entry_2017_v2020.csv" in _line(_printed(out, "01"), r"this run.s data \(").string
    assert (out / "figures" / "01_cooccurrence.png").is_file()
    stamps = {p.name[:2]: json.loads(p.read_text())["parameters"] for p in (out / "executed").glob("*.params.json")}
    assert stamps["01"]["NIH_METADATA"] == str(NIH_CSV) and "NIH_METADATA" not in stamps["02"]


@pytest.mark.notebook
def test_smoke_course_claims(smoke_course, tmp_path):
    """What the notebooks print about their run agrees with the files the run wrote, and with each other."""
    out = _finished(smoke_course)
    training = json.loads((out / "training_metrics.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    generator_info = json.loads((out / "gan" / "generator.json").read_text())
    config = json.loads((out / "gan" / "config.json").read_text())
    nb04, nb05 = _printed(out, "04"), _printed(out, "05")

    # notebook 04: steps trained, sampling, judge and fidelity as printed are what it saved
    steps = int(_line(nb04, r"trained steps: (\d+)").group(1))
    assert steps == training["train_steps"] == generator_info["step"] > 0
    sampling = _line(nb04, r"per condition: .* \| balanced sampling (on|off)").group(1)
    assert (sampling == "on") == bool(config["balanced"])
    judge = _line(nb04, r"judge: ((the shipped one|trained now).*)$")
    assert (out / "judge_classifier.keras").is_file()
    if judge.group(2) == "the shipped one":  # only when the shipped judge's data is this run's data
        assert training["data_source"] == "phantom"
    fidelity = _line(nb04, r"label fidelity of generated images: (not measurable with this judge|[\d.]+)").group(1)
    if training["label_fidelity"] is None:  # the judge could not tell the conditions apart in real images
        assert fidelity == "not measurable with this judge"
    else:
        assert float(fidelity) == round(training["label_fidelity"], 3)
    accuracy = float(_line(nb04, r"judge accuracy on real test images: ([\d.]+)").group(1))
    assert accuracy == round(training["judge_accuracy_real_test"], 3)

    # notebook 05 says it evaluates this run's generator with this run's judge, and does
    loaded = _line(nb05, r"Evaluating (.+) \(judge: (.+)\)\.$")
    assert (loaded.group(1), loaded.group(2)) == (str(out / "gan" / "generator.keras"),
                                                  str(out / "judge_classifier.keras"))
    assert "SHIPPED" not in nb05
    assert all(judge.group(1) in line for line in nb05.splitlines() if "the judge is" in line)  # 04's own words
    assert int(_line(nb05, r"generator: ([\d,]+) training steps").group(1).replace(",", "")) == steps
    assert metrics["setup"]["generator"].startswith(f"gan/generator.keras ({steps} steps")  # relative to RUN_DIR
    if metrics["fidelity"]["judge_gate"]["measurable"]:
        overall = _line(nb05, r"overall: fidelity ([\d.]+) \| judge on real test: balanced accuracy ([\d.]+)")
        assert float(overall.group(1)) == round(metrics["headline"]["label_fidelity"], 3)
        assert float(overall.group(2)) == round(metrics["fidelity"]["real_test"]["balanced_accuracy"], 3)
    else:  # notebook 05 says so, and prints no fidelity number
        _line(nb05, r"overall: label fidelity not measurable with this judge")
        assert training["label_fidelity"] is None and not metrics.get("realism")
    assert metrics["classes"] == training["classes"] == generator_info["classes"]

    # notebook 04's losses figure plots columns of losses.csv as they are, none of them constant
    log = pd.read_csv(out / "gan" / "losses.csv")
    plotted = _plotted_loss_columns(_losses_cell(out / "executed" / "04_training.ipynb"), out / "gan", tmp_path)
    assert plotted and (out / "figures" / "04_losses.png").is_file()
    for column, values in plotted.items():
        assert np.allclose(values, log[column]), column
    if len(log) > 1:  # one epoch (the real radiographs in smoke mode) has no curve yet, only points
        assert all(log[column].nunique() > 1 for column in plotted), plotted.keys()


def test_losses_figure_leaves_out_constant_columns(tmp_path):
    """Notebook 04's losses figure draws logged columns as they are, and none that stayed constant."""
    (tmp_path / "gan").mkdir()
    log = pd.DataFrame({"epoch": [0, 1, 2], "d_loss": [1.9, 1.5, 1.2], "g_loss": [0.1, 0.4, 0.3],
                        "aux_real": [2.0, 1.0, 0.5], "aux_fake": [2.0, 1.5, 1.0], "d_acc_real": [0.5, 0.6, 0.7],
                        "d_acc_fake": [0.5, 0.5, 0.6], "r1": [0.0] * 3, "augment_p": [0.3] * 3,
                        "condition_strength": [0.0, 0.5, 1.0]})
    log.to_csv(tmp_path / "gan" / "losses.csv", index=False)
    plotted = _plotted_loss_columns(_losses_cell(ROOT / "notebooks" / "04_training.ipynb"), tmp_path / "gan", tmp_path)
    assert {"d_loss", "g_loss"} <= plotted.keys() and not {"r1", "augment_p", "epoch"} & plotted.keys()
    for column, values in plotted.items():
        assert np.allclose(values, log[column]) and log[column].nunique() > 1, column


def _losses_cell(executed_notebook) -> str:
    """The source of notebook 04's cell that plots ``losses.csv``."""
    [source] = [s for s, _ in notebook_code_cells(executed_notebook) if "losses.csv" in s and "save_figure" in s]
    return source


def _plotted_loss_columns(source: str, gan_dir, run_dir) -> dict:
    """Run notebook 04's losses cell on ``gan_dir/losses.csv``; return ``{column: plotted values}``."""
    import matplotlib.pyplot as plt

    from helpers.plots import save_figure

    plt.close("all")
    run_cell(source, {"GAN_DIR": gan_dir, "RUN_DIR": run_dir, "TRAIN": True, "pd": pd, "np": np, "plt": plt,
                      "save_figure": save_figure})
    lines = [line for number in plt.get_fignums() for ax in plt.figure(number).axes for line in ax.get_lines()]
    plt.close("all")
    return {line.get_label(): np.asarray(line.get_ydata()) for line in lines}


def test_unknown_profile_or_data_source():
    with pytest.raises(ValueError, match="profile 'huge' is unknown; use one of smoke, quick, full"):
        notebook_parameters("huge")
    with pytest.raises(SystemExit):
        main(["--profile", "huge"])
    with pytest.raises(ValueError, match="data source 'kaggle' is unknown; use one of auto, phantom, nih, chestmnist, folder"):
        notebook_parameters("smoke", "kaggle")
    with pytest.raises(SystemExit):
        main(["--data-source", "kaggle"])


def test_data_sources_come_from_one_constant(tmp_path, monkeypatch):
    """``helpers.data.SOURCES`` is the one list of data sources: the runner's is that tuple, no other helpers module
    spells out one, and adding a source to it is enough for the command line and notebook_parameters to accept it."""
    import ast

    from helpers.data import SOURCES

    assert course.DATA_SOURCES is SOURCES
    lists = []  # tuple, list and set literals naming three data sources or more
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                named = {e.value for e in node.elts if isinstance(e, ast.Constant)} & set(SOURCES)
                if len(named) >= 3:
                    lists.append(path.relative_to(ROOT).as_posix())
    assert lists == ["helpers/data/sources.py"]
    monkeypatch.setattr(course, "DATA_SOURCES", (*course.DATA_SOURCES, "kaggle"))
    calls = []
    monkeypatch.setattr(course, "run_course", lambda *args: calls.append(notebook_parameters("smoke", args[2])) or [])
    assert main(["--data-source", "kaggle", "--out", str(tmp_path)]) == 0
    assert calls[0]["DATA_SOURCE"] == "kaggle"


def test_profiles_train_for_steps_not_minutes():
    assert all("TRAIN_MINUTES" not in params for params in PROFILES.values())
    assert isinstance(PROFILES["quick"]["TRAIN_STEPS"], int) and isinstance(PROFILES["full"]["TRAIN_STEPS"], int)
    assert "TRAIN_STEPS" not in PROFILES["smoke"]

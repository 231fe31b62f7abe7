"""Colab, notebook by notebook: which generator notebook 05 evaluates (never one dataset's generator on another's
images), notebook 04's ``TRAIN = False`` and the ``DRIVE`` switch's paths. Nothing is trained or loaded here."""

import json

import pytest

from helpers import CLASSES
from helpers.env import SMOKE_ENV, drive_run_dir, notebook_settings, phantom_folder
from helpers.generate import choose_generator, pretrained_paths, shipped_generator, shipped_info

SHIPPED = shipped_info(64)


def _run_with_generator(run_dir):
    """A run folder in which notebook 04 left a generator and a judge (empty stand-in files: nothing is loaded)."""
    (run_dir / "gan").mkdir(parents=True)
    (run_dir / "gan" / "generator.keras").write_bytes(b"")
    (run_dir / "judge_classifier.keras").write_bytes(b"")
    return run_dir


@pytest.mark.parametrize("source", ["chestmnist", "folder", "nih"])
def test_auto_without_a_run_generator_switches_to_the_shipped_generators_data(tmp_path, source):
    chosen = choose_generator(tmp_path, source, 64, "auto", data_dir=tmp_path / "mine", phantoms_per_class=50,
                              seed=3)
    shipped = pretrained_paths(64)
    assert (chosen.generator, chosen.judge, chosen.kind) == (shipped["generator"], shipped["judge"], "pretrained")
    assert chosen.data_source == SHIPPED["data_source"] == "phantom"
    assert chosen.data_kwargs == {"data_dir": phantom_folder(64, SHIPPED["phantoms_per_class"], SHIPPED["seed"]),
                                  "seed": SHIPPED["seed"], "phantom_per_class": SHIPPED["phantoms_per_class"]}
    assert "\n" not in chosen.message and "SHIPPED" in chosen.message
    assert f"not on {source}" in chosen.message and "phantom" in chosen.message


def test_the_switch_keeps_smoke_mode_small(tmp_path):
    chosen = choose_generator(tmp_path, "chestmnist", 64, "auto", smoke=True)
    assert chosen.data_kwargs["phantom_per_class"] == 30
    assert chosen.data_kwargs["data_dir"] == phantom_folder(64, 30, SHIPPED["seed"])


def test_the_shipped_generator_on_its_own_source_keeps_the_notebooks_data(tmp_path):
    chosen = choose_generator(tmp_path, "phantom", 64, "auto", data_dir=tmp_path / "ph", phantoms_per_class=30, seed=0)
    assert chosen.kind == "pretrained" and chosen.data_source == "phantom"
    assert chosen.data_kwargs == {"data_dir": tmp_path / "ph", "seed": 0, "phantom_per_class": 30}
    assert "memorisation audit" in chosen.message  # other phantoms than it was trained on: said in the same line
    same = choose_generator(tmp_path, "phantom", 64, "auto", phantoms_per_class=SHIPPED["phantoms_per_class"],
                            seed=SHIPPED["seed"])
    assert "memorisation" not in same.message and "\n" not in same.message


def test_a_forced_mismatch_is_refused(tmp_path):
    with pytest.raises(ValueError) as raised:
        choose_generator(tmp_path, "chestmnist", 64, "pretrained")
    text = str(raised.value)
    assert "chestmnist" in text and "phantom" in text and "DATA_SOURCE = 'phantom'" in text and "notebook 04" in text


def test_pretrained_with_data_source_auto_switches(tmp_path):
    chosen = choose_generator(tmp_path, "chestmnist", 64, "pretrained", source_was_auto=True)
    assert chosen.data_source == "phantom" and "GENERATOR = 'pretrained'" in chosen.message


def test_the_runs_own_generator_comes_first_and_keeps_the_data(tmp_path):
    run_dir = _run_with_generator(tmp_path / "run")
    chosen = choose_generator(run_dir, "chestmnist", 64, "auto", data_dir=tmp_path / "cm")
    assert (chosen.generator, chosen.judge, chosen.kind) == (run_dir / "gan" / "generator.keras",
                                                             run_dir / "judge_classifier.keras", "run")
    assert chosen.data_source == "chestmnist" and chosen.data_kwargs["data_dir"] == tmp_path / "cm"
    path = tmp_path / "early" / "generator.keras"
    path.parent.mkdir()
    path.write_bytes(b"")
    assert choose_generator(run_dir, "chestmnist", 64, str(path)).generator == path


def test_missing_files_say_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 04 with RUN_DIR="):
        choose_generator(tmp_path, "phantom", 64, "run")
    with pytest.raises(FileNotFoundError, match="none ships with the course for 128 px"):
        choose_generator(tmp_path, "chestmnist", 128, "auto")


def test_auto_data_resolving_to_a_chestmnist_stand_in_is_never_scored_by_the_phantom_generator(tmp_path, monkeypatch):
    """Notebook 05's first cells as in Colab: DATA_SOURCE auto finds ChestMNIST (a stand-in file), no run generator."""
    monkeypatch.delenv(SMOKE_ENV, raising=False)
    chest = tmp_path / "chestmnist"
    chest.mkdir()
    (chest / "chestmnist_64.npz").write_bytes(b"stand-in")  # matched by name; nothing is read
    run_dir = tmp_path / "run"
    smoke, run_dir, data_dir, per_class, source = notebook_settings(
        "auto", chest, 64, run_dir, False, 700, 0, return_source=True)
    assert source == "chestmnist" and not smoke
    record = (run_dir / "data_source.json").read_text()
    chosen = choose_generator(run_dir, source, 64, "auto", data_dir=data_dir, phantoms_per_class=per_class, seed=0,
                              source_was_auto=True)
    assert chosen.data_source == "phantom" and chosen.generator == pretrained_paths(64)["generator"]
    assert chosen.data_kwargs["data_dir"] != data_dir
    assert (run_dir / "data_source.json").read_text() == record  # the run's own choice stays for notebook 04
    assert json.loads(record)["source"] == "chestmnist"


def test_train_false_finds_the_shipped_generator_for_the_phantoms():
    path, message = shipped_generator("phantom", 64, list(CLASSES))
    assert path == pretrained_paths(64)["generator"] and path.is_file()
    assert message.startswith("TRAIN = False") and "SHIPPED" in message and "\n" not in message


@pytest.mark.parametrize("source, size, classes", [("chestmnist", 64, list(CLASSES)), ("phantom", 128, list(CLASSES)),
                                                   ("phantom", 64, list(CLASSES)[:5]),
                                                   ("folder", 64, ["NORMAL", "PNEUMONIA"])])
def test_train_false_without_a_fitting_shipped_generator_says_train(source, size, classes):
    with pytest.raises(ValueError, match="Set TRAIN = True") as raised:
        shipped_generator(source, size, classes)
    assert source in str(raised.value) and f"{size} px" in str(raised.value)


# --------------------------------------------------------------------------- DRIVE


def test_drive_off_changes_nothing(capsys):
    assert drive_run_dir("runs/course", False, colab=True, mount=pytest.fail) == "runs/course"
    assert capsys.readouterr().out == ""


def test_drive_outside_colab_says_so_and_changes_nothing(capsys):
    assert drive_run_dir("runs/course", True, colab=False, mount=pytest.fail) == "runs/course"
    assert "only in Google Colab" in capsys.readouterr().out


def test_drive_in_colab_mounts_once_and_keeps_the_run_there(tmp_path, capsys):
    root = tmp_path / "drive"
    mounted = []

    def mount(where):
        mounted.append(where)
        (root / "MyDrive").mkdir(parents=True)

    on_drive = drive_run_dir("runs/course", True, colab=True, mount=mount, root=root)
    assert on_drive == root / "MyDrive" / "cxr-gan-course" / "course" and mounted == [str(root)]
    assert str(on_drive) in capsys.readouterr().out
    assert drive_run_dir("runs/workshop", True, colab=True, mount=pytest.fail, root=root) == \
        root / "MyDrive" / "cxr-gan-course" / "workshop"  # already mounted: not mounted again
    inside = root / "MyDrive" / "my-runs" / "a"
    assert drive_run_dir(inside, True, colab=True, mount=pytest.fail, root=root) == inside


def test_drive_that_does_not_mount_stops_with_the_fix(tmp_path):
    with pytest.raises(RuntimeError, match="DRIVE = False"):
        drive_run_dir("runs/course", True, colab=True, mount=lambda where: None, root=tmp_path / "drive")


def test_notebook_settings_passes_drive_through(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(SMOKE_ENV, raising=False)
    monkeypatch.setattr("helpers.env.in_colab", lambda: False)
    _, run_dir, *_ = notebook_settings("phantom", None, 64, tmp_path / "run", True, 30, 0, drive=True)
    assert run_dir == tmp_path / "run" and "only in Google Colab" in capsys.readouterr().out

"""Notebooks: jupytext pairs in step, the package made from their cells, one skeleton, no outputs.

Every notebook is executed twice by ``make test``: ``pytest --nbval-lax notebooks`` (each notebook in
smoke mode, on the phantoms) and the smoke course through the runner (tests/test_course.py). Here,
besides the static checks, a few tests run cells of one notebook in the test process: notebook
04's cells with an edited ``train_step`` (the edit is what trains) and with ``TRAIN = False`` (the
shipped generator, no training), and notebook 05's first cells on a fresh run folder (the shipped
generator is evaluated, on its own data when another was asked for).
"""

import json
import re
import sys

import pytest

from conftest import ROOT, notebook_code_cells, run_cell
from helpers.env import PINNED_REF, REPO

sys.path.insert(0, str(ROOT / "tools"))
import notebooks as nbtools  # noqa: E402  (tools/notebooks.py)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REQUIRED_PARAMETERS = ("DATA_SOURCE", "DATA_DIR", "IMAGE_SIZE", "SEED", "RUN_DIR", "SMOKE")


def load(path):
    return json.loads(path.read_text())


def test_notebooks_exist():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = load(path)
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; strip them (executed copies go to runs/)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_skeleton(path):
    nb = load(path)
    cells = nb["cells"]
    text = "\n".join("".join(c["source"]) for c in cells)
    first = "".join(cells[0]["source"])
    assert first.startswith("# ")
    expected = f"https://colab.research.google.com/github/{REPO}/blob/{PINNED_REF}/notebooks/{path.name}"
    badge_urls = re.findall(r"\]\((https://colab\.research\.google\.com/github/[^)]+)\)", first)
    assert badge_urls == [expected], f"badge URL must match the file path: {badge_urls}"
    assert "Expected runtime" in first and "You will learn" in first
    assert "Not for clinical use" in first and "NIH Clinical Center" in first
    headings = [line.strip() for c in cells if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if line.startswith("## ")]
    assert headings[0] == "## Setup" and headings[-2:] == ["## Summary", "## Exercises"]
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    names = re.findall(r"^(\w+)\s*=", "".join(params[0]["source"]), flags=re.M)
    assert set(REQUIRED_PARAMETERS) <= set(names)
    setup = next(c for c in cells if c["cell_type"] == "code")
    src = "".join(setup["source"])
    assert 'find_spec("helpers")' in src and f'COURSE_REF = "{PINNED_REF}"' in src and REPO in src
    assert "describe_runtime" in src and "RuntimeError" in src  # a failed install says why and what to do
    assert cells.index(setup) < cells.index(params[0])
    assert "helpers" in text


TWINS = nbtools.twins()


def test_every_notebook_has_a_twin():
    assert [p.stem for p in TWINS] == [p.stem for p in NOTEBOOKS]
    assert not list((ROOT / "tools").glob("nb_*.py")), "the cell-list builder is gone: edit the .py twins"


@pytest.mark.parametrize("path", TWINS, ids=lambda p: p.name)
def test_pair_in_sync(path):
    assert nbtools.pair_problems(path) == []


def test_pair_check_catches_an_edit(tmp_path):
    twin = tmp_path / TWINS[0].name
    twin.write_text(TWINS[0].read_text())
    nbtools.sync([twin])
    assert nbtools.pair_problems(twin) == []
    twin.write_text(twin.read_text().replace("# ## Setup", "# ## Set-up", 1))
    assert any("differ from cell" in p for p in nbtools.pair_problems(twin))


def test_package_is_made_from_the_notebook_cells():
    assert nbtools.export_problems() == []
    made = {name: text for name, text in filter(None, (nbtools.exported_module(p) for p in TWINS))}
    assert set(made) == {"models", "gan"}
    for name in ("class ClassConditionalNorm", "def spectral_normalize", "class SNConv2D", "class ProjectionHead",
                 "def build_generator", "def build_discriminator"):
        assert name in made["models"], name
    for name in ("def d_hinge_loss", "def g_hinge_loss", "def diff_augment", "def discriminator_extra_loss",
                 "class ConditionalGAN", "def train_step", "def build_gan"):
        assert name in made["gan"], name


def test_export_check_catches_a_drift(tmp_path):
    twin = tmp_path / "04_training.py"
    twin.write_text((ROOT / "notebooks" / "04_training.py").read_text().replace(
        "tf.nn.relu(1.0 - real_logits)", "tf.nn.relu(2.0 - real_logits)"))
    problems = nbtools.export_problems([twin])
    assert len(problems) == 1 and "helpers/gan.py differs" in problems[0]


def _cell(nb, predicate):
    return next(c for c in nb.cells if predicate(c))


def test_shared_skeleton_cells_are_identical():
    """Setup, the parameters note and the credit are the same text in every notebook."""
    setups, notes, credits = set(), set(), set()
    for path in TWINS:
        nb = nbtools.read_twin(path)
        setups.add(_cell(nb, lambda c: c.cell_type == "code").source)
        notes.add(_cell(nb, lambda c: c.source.startswith("### Parameters")).source)
        first = nb.cells[0].source
        credits.add(first[first.index("**Data credit.**"):])
    assert len(setups) == 1 and len(notes) == 1 and len(credits) == 1


# --------------------------------------------------------------------------- a few cells, in this process
# `make test` executes every notebook twice: nbval, and the smoke course (tests/test_course.py). The tests
# below run only the cells they need, in the test process.

NB04 = ROOT / "notebooks" / "04_training.ipynb"
NB05 = ROOT / "notebooks" / "05_evaluation.ipynb"


def _run_until(notebook, parameters: dict, last, edit=None, before=None):
    """Run a notebook's code cells here, in order, up to and including the first for which ``last(source)`` holds.

    ``parameters`` are assigned right after the cell tagged ``parameters`` (as papermill injects them);
    ``edit(source)`` may change a cell's source first and ``before(source, namespace)`` the namespace.
    Returns the namespace and what each cell printed.
    """
    namespace, printed = {}, []
    for source, is_parameters in notebook_code_cells(notebook):
        source = edit(source) if edit else source
        if before:
            before(source, namespace)
        printed.append(run_cell(source, namespace))
        if is_parameters:
            namespace.update(parameters)
        if last(source):
            return namespace, printed
    raise AssertionError(f"{notebook.name}: no cell matches {last}")


@pytest.fixture
def _keras_registry():
    """Restore Keras' registry of serialisable classes, which notebook cells run here re-register."""
    from keras.src.saving import object_registration as registry

    import helpers.gan  # noqa: F401  (registers the package's classes, helpers.models' too, before the snapshot)

    saved = dict(registry.GLOBAL_CUSTOM_OBJECTS), dict(registry.GLOBAL_CUSTOM_NAMES)
    yield
    for live, before in zip((registry.GLOBAL_CUSTOM_OBJECTS, registry.GLOBAL_CUSTOM_NAMES), saved):
        live.clear()
        live.update(before)


@pytest.mark.notebook
def test_editing_train_step_in_notebook_04_changes_training(tmp_path, _keras_registry):
    """A learner's edit to the train_step cell is what trains, with nothing reinstalled.

    Notebook 04's cells run in this process up to its training cell, with one line added at the top of
    ``train_step``; the training cell then trains 2 steps.
    """
    marker = "EDITED TRAIN_STEP IS TRAINING"

    def edit(source):
        edited, count = re.subn(r"^([ \t]*)(def train_step\([^)]*\)[^:\n]*:[ \t]*\n)",
                                lambda m: f"{m[1]}{m[2]}{m[1]}    print({marker!r})\n", source, flags=re.M)
        assert count <= 1
        return edited

    def is_training(source):
        return "= train(" in source

    def before(source, namespace):
        if is_training(source):
            namespace["TRAIN_STEPS"] = 2

    namespace, printed = _run_until(NB04, {"SMOKE": True, "RUN_DIR": str(tmp_path / "run")}, is_training, edit, before)
    assert marker in printed[-1]  # printed while fit traced the edited train_step
    assert not any(marker in text for text in printed[:-1])
    import helpers.gan

    gan = namespace["gan"]
    assert type(gan) is namespace["ConditionalGAN"] and type(gan) is not helpers.gan.ConditionalGAN
    assert int(gan.step.numpy()) == 2
    assert "EDITED" not in (ROOT / "helpers" / "gan.py").read_text()  # the package was not involved


@pytest.mark.notebook
def test_evaluation_without_a_trained_generator_uses_the_shipped_one(tmp_path):
    """Notebook 05 on a fresh RUN_DIR (as from its Colab badge) evaluates the shipped generator, and says so.

    Its cells run in this process up to the one that loads the generator and the judge.
    """
    from helpers.evaluate import label_fidelity
    from helpers.generate import pretrained_paths

    run_dir = tmp_path / "run"
    namespace, printed = _run_until(NB05, {"SMOKE": True, "RUN_DIR": str(run_dir)},
                                    lambda source: "load_generator(" in source)
    assert "Evaluating the SHIPPED generator" in printed[-1]
    assert namespace["generator_path"] == pretrained_paths(namespace["IMAGE_SIZE"])["generator"]
    assert not (run_dir / "gan").exists()
    fidelity = label_fidelity(namespace["generator"], namespace["judge"], namespace["NUM_CLASSES"], per_class=20)
    assert fidelity["fidelity"] > 0.5  # the shipped judge recognises what the shipped generator draws


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_04_with_train_false_runs_on_the_shipped_generator(tmp_path, _keras_registry):
    """``TRAIN = False``: no training, the shipped generator, and every later cell still runs (a workshop's path).

    Notebook 04's code cells run in this process, in smoke mode on the phantoms, through section 8's export.
    """
    from helpers.generate import pretrained_paths

    run_dir = tmp_path / "run"
    namespace, printed = _run_until(NB04, {"SMOKE": True, "TRAIN": False, "RUN_DIR": str(run_dir)},
                                    lambda source: "load_nih(RUN_DIR" in source)
    said = "".join(printed)
    assert "TRAIN = False: no training" in said and "No training in this run" in said
    assert namespace["generator_path"] == pretrained_paths(64)["generator"]
    assert not (run_dir / "gan" / "losses.csv").exists() and not (run_dir / "gan" / "checkpoints").exists()
    metrics = json.loads((run_dir / "training_metrics.json").read_text())
    assert metrics["trained_here"] is False and metrics["train_steps"] == namespace["generator_meta"]["step"] > 0
    assert (run_dir / "synthetic" / "Data_Entry_2017_v2020.csv").is_file()  # section 8 exported from it


@pytest.mark.notebook
@pytest.mark.slow
def test_evaluation_of_other_data_without_a_generator_switches_to_the_shipped_generators_data(tmp_path):
    """Notebook 05 asked for ChestMNIST with no generator of its own evaluates the shipped one on its phantoms."""
    run_dir = tmp_path / "run"
    namespace, printed = _run_until(NB05, {"SMOKE": True, "DATA_SOURCE": "chestmnist", "RUN_DIR": str(run_dir)},
                                    lambda source: "load_generator(" in source)
    assert "not on chestmnist" in printed[-1] and "SHIPPED" in printed[-1]
    assert namespace["SOURCE"] == "phantom" and namespace["data"].source == "phantom"
    assert tuple(namespace["CLASSES"]) == tuple(namespace["generator_meta"]["classes"])

"""Notebooks: jupytext pairs in step, the package made from their cells, one skeleton, no outputs.

Execution is tested twice elsewhere: ``pytest --nbval-lax notebooks`` (each notebook in
smoke mode) and the smoke course through the runner (tests/test_course.py). Here, besides the
static checks, one test edits notebook 04's ``train_step`` and runs the notebook to prove the
edit is what trains.
"""

import json
import re
import sys

import pytest

from conftest import NIH_SAMPLE, ROOT
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


def _run(path, tmp_path, **parameters):
    import papermill as pm

    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters={"SMOKE": True, "RUN_DIR": str(tmp_path / "run"),
                                                         **parameters},
                        cwd=str(path.parent), kernel_name="python3", progress_bar=False)
    return load(out), tmp_path / "run"


@pytest.mark.notebook
@pytest.mark.skipif(not NIH_SAMPLE.is_dir(), reason=f"real NIH sample not found at {NIH_SAMPLE}")
def test_exploration_on_real_nih_metadata(tmp_path):
    path = ROOT / "notebooks" / "01_data_exploration.ipynb"
    nb, run_dir = _run(path, tmp_path, NIH_METADATA=str(NIH_SAMPLE / "Data_Entry_2017_v2020.csv"))
    outputs = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "112,120 metadata rows" in outputs
    assert (run_dir / "figures" / "01_cooccurrence.png").is_file()


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
    for name in ("def d_hinge_loss", "def g_hinge_loss", "def diff_augment", "class Augmenter",
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


@pytest.mark.notebook
def test_editing_train_step_in_notebook_04_changes_training(tmp_path):
    """A learner's edit to the train_step cell is what trains, with nothing reinstalled."""
    import papermill as pm

    source = (ROOT / "notebooks" / "04_training.py").read_text()
    anchor = "    def train_step(self, data):\n"
    assert source.count(anchor) == 1
    edited = tmp_path / "04_training.py"
    edited.write_text(source.replace(anchor, anchor + '        print("EDITED TRAIN_STEP IS TRAINING")\n'))
    nbtools.sync([edited])
    out = tmp_path / "executed.ipynb"
    pm.execute_notebook(str(edited.with_suffix(".ipynb")), str(out), cwd=str(ROOT / "notebooks"),
                        parameters={"SMOKE": True, "RUN_DIR": str(tmp_path / "run")}, kernel_name="python3",
                        progress_bar=False)
    nb = json.loads(out.read_text())
    training = [c for c in nb["cells"] if c["cell_type"] == "code" and "gan = train(" in "".join(c["source"])]
    printed = "".join("".join(o.get("text", "")) for c in training for o in c.get("outputs", []))
    assert "EDITED TRAIN_STEP IS TRAINING" in printed
    assert "EDITED" not in (ROOT / "helpers" / "gan.py").read_text()  # the package was not involved

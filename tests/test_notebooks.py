"""Notebooks: committed without outputs and built on the course skeleton.

Execution is tested twice elsewhere: ``pytest --nbval-lax notebooks`` (each notebook in
smoke mode) and the smoke course through the runner (tests/test_course.py).
"""

import json
import re

import pytest

from conftest import NIH_SAMPLE, ROOT
from helpers.env import PINNED_REF, REPO

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
    expected = f"https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{path.name}"
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
    assert 'find_spec("helpers")' in src and f"{REPO}@{PINNED_REF}" in src and "describe_runtime" in src
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

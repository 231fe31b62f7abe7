"""Shared fixtures. Every test runs offline; TensorFlow logs are quietened."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the lab's modules are imported as lab.<name>
    sys.path.insert(0, str(ROOT))
NIH_SAMPLE = ROOT.parent / "shared" / "nih-sample"
KERMANY = ROOT.parent / "shared" / "kermany-cxr"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Point the decode cache at a per-session temporary folder, never the user's."""
    monkeypatch.setenv("CXR_GAN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory):
    """A small phantom dataset in the NIH layout: 12 images per class at 64 px."""
    from helpers.phantoms import write_dataset

    return write_dataset(tmp_path_factory.mktemp("phantoms"), per_class=12, size=64, seed=3, progress=False)


def notebook_code_cells(notebook) -> list[tuple[str, bool]]:
    """``(source, tagged parameters)`` for each code cell of a ``.ipynb``, in order."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    return [(c.source, "parameters" in c.metadata.get("tags", [])) for c in nb.cells if c.cell_type == "code"]


def run_cell(source: str, namespace: dict) -> str:
    """Execute one notebook cell's source in ``namespace`` in this process; return what it printed.

    For tests that need a few cells of a notebook, not a whole execution (figures go to the Agg backend).
    """
    import contextlib
    import io

    import matplotlib

    matplotlib.use("Agg")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "<notebook cell>", "exec"), namespace)
    return printed.getvalue()


@pytest.fixture(autouse=True)
def _op_determinism_restored():
    """Notebook cells run in this process (test_notebooks.py) may turn op determinism on; turn it back off.

    Keras compiles without XLA while it is on, which tests/test_xla.py must not inherit.
    ``disable_op_determinism`` is TensorFlow's own (private) switch: there is no public one.
    """
    yield
    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config

        if config.is_op_determinism_enabled():
            config.disable_op_determinism()

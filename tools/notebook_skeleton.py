"""Shared skeleton for the course notebooks: header, Setup, parameters, Summary, Exercises.

The notebooks are the source of truth; this module only keeps their common cells
identical. ``python tools/build_notebooks.py`` rewrites notebooks/ from the cell
lists in tools/nb_*.py, with outputs stripped.
"""

from __future__ import annotations

import nbformat

from helpers.env import PINNED_REF, REPO

CREDIT = (
    "**Data credit.** NIH ChestX-ray14 is provided by the NIH Clinical Center "
    "([download site](https://nihcc.app.box.com/v/ChestXray-NIHCC)); cite Wang X, Peng Y, Lu L, Lu Z, "
    "Bagheri M, Summers RM, *ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks on "
    "Weakly-Supervised Classification and Localization of Common Thorax Diseases*, IEEE CVPR 2017. "
    "ChestMNIST is part of MedMNIST+ (Yang et al., Scientific Data 2023). The offline default data are "
    "procedural phantoms made by this course.\n\n"
    "**Not for clinical use.** Synthetic images made in this course are teaching and research material. "
    "They must not be used to diagnose, treat or make any decision about a patient."
)

SETUP = f'''# Setup: install the course's helpers package if it is missing (a fresh Colab runtime),
# then report Python/TensorFlow versions and whether a GPU is available.
# Colab's own TensorFlow is left alone: the package does not reinstall it.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("helpers") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/{REPO}@{PINNED_REF}"], check=True)

from helpers.env import describe_runtime

RUNTIME = describe_runtime()'''


def badge(path: str) -> str:
    """Markdown for an Open-in-Colab badge of the notebook at ``path`` (relative to the repo root)."""
    url = f"https://colab.research.google.com/github/{REPO}/blob/main/{path}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def build(path: str, title: str, objectives: list[str], runtime: str, parameters: str,
          body: list[tuple[str, str]], summary: list[str], exercises: list[str]):
    """Assemble a notebook with the course skeleton. ``body`` is a list of ("md"|"code", source)."""
    nb = nbformat.v4.new_notebook()
    header = (f"# {title}\n\n{badge(path)}\n\n**You will learn to**\n\n"
              + "\n".join(f"- {o}" for o in objectives)
              + f"\n\n**Expected runtime:** {runtime}\n\n{CREDIT}")
    cells = [nbformat.v4.new_markdown_cell(header),
             nbformat.v4.new_markdown_cell("## Setup"),
             nbformat.v4.new_code_cell(SETUP),
             nbformat.v4.new_markdown_cell(
                 "### Parameters\n\nThe next cell is tagged `parameters`: papermill replaces these values "
                 "when the course runner executes the notebook headless (`python -m helpers.course`). "
                 "`SMOKE = True` (or the environment variable `CXR_GAN_SMOKE=1`) shrinks everything to a "
                 "seconds-long check.")]
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    cells.append(params)
    for kind, source in body:
        cells.append(nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source))
    cells.append(nbformat.v4.new_markdown_cell("## Summary\n\n" + "\n".join(f"- {s}" for s in summary)))
    cells.append(nbformat.v4.new_markdown_cell("## Exercises\n\n" + "\n".join(
        f"{i}. {e}" for i, e in enumerate(exercises, 1))))
    for i, cell in enumerate(cells):  # stable ids, so rebuilding an unchanged notebook changes nothing
        cell["id"] = f"c{i:02d}"
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["colab"] = {"provenance": [], "toc_visible": True}
    return nb

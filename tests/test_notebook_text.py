"""The notebooks teach; the lab measures. Static checks of the notebooks' markdown (nothing is executed).

Measured results live in ``results/`` and ``docs/experiments.md``; a notebook describes mechanisms and lets
its own run print its own numbers. These tests keep three kinds of lab material out of the markdown:

- **tables of measured results.** A markdown table row that holds two or more decimal numbers (``0.93``,
  ``+0.34``, ``0.958 ± 0.023``) outside inline code is a row of measurements. Tables of settings or
  definitions pass: their values are code (```ema_decay=0.99```), words or formulas, or at most one
  decimal number per row.
- **a long notebook 04.** Its markdown, once a 140-line account of remedies, stays short enough to read
  (at most 201 non-blank lines, 55% of that account's notebook).
- **history.** Phrases that narrate earlier defaults or seed-by-seed readings.
"""

import json
import re

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_MARKDOWN_LINES_04 = 201
#: phrases that tell the story of earlier settings or compare seeds, not how the method works
HISTORY_PHRASES = ("previous default", "earlier default", "first default", "old default", "before that",
                   "remedies table", "seed 0 /", "seeds 0 / 1", "on both seeds", "on two seeds")
INLINE_CODE = re.compile(r"`[^`]*`")
DECIMAL = re.compile(r"(?<![\w.])[-+−]?\d*\.\d+(?![\w.])")


def markdown_lines(path) -> list[str]:
    """Every line of the notebook's markdown cells, in order."""
    nb = json.loads(path.read_text())
    return [line for cell in nb["cells"] if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines()]


def is_measured_row(line: str) -> bool:
    """A markdown table row with two or more decimal numbers outside inline code (a row of measurements)."""
    row = line.strip()
    if not row.startswith("|") or set(row) <= set("|-: "):
        return False
    return len(DECIMAL.findall(INLINE_CODE.sub("", row))) >= 2


def test_the_rule_tells_measurements_from_settings():
    assert is_measured_row("| `aux_weight=3` | 0.87 / 0.83 | +0.34 / +0.41 |")
    assert is_measured_row("| real | 0.958 ± 0.023 |")
    assert not is_measured_row("| `ema_decay` | `0.99` | `augment_p=0.3` | averages about 100 steps |")
    assert not is_measured_row("| hinge | $\\max(0, 1 - D(x))$ | $-D(G(z))$ |")
    assert not is_measured_row("| learning rate | 1e-3 | halve it if losses turn non-finite |")
    assert not is_measured_row("|---|---|---|")
    assert not is_measured_row("Two numbers 0.93 and 0.94 in prose are not a table.")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_table_of_measured_results(path):
    rows = [line.strip()[:100] for line in markdown_lines(path) if is_measured_row(line)]
    assert not rows, (f"{path.name}: markdown table rows of measured results (two or more decimal numbers outside "
                      f"inline code): {rows}. Measurements belong in results/ and docs/experiments.md; let the run "
                      "print its own numbers")


def test_notebook_04_markdown_is_short():
    [path] = [p for p in NOTEBOOKS if p.name.startswith("04_")]
    count = sum(1 for line in markdown_lines(path) if line.strip())
    assert count <= MAX_MARKDOWN_LINES_04, (f"{path.name} has {count} non-blank markdown lines, more than "
                                            f"{MAX_MARKDOWN_LINES_04}: move measurement history to docs/experiments.md")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_history_of_earlier_defaults(path):
    found = [(phrase, line.strip()[:100]) for line in markdown_lines(path) for phrase in HISTORY_PHRASES
             if phrase in line.lower()]
    assert not found, (f"{path.name}: markdown narrates history or seed-by-seed readings: {found}. Describe the "
                       "mechanism and link docs/experiments.md for the evidence")

"""Render docs/experiments.md and the README's results tables from the result files in results/.

    python tools/render_results.py            # write docs/experiments.md and the README's blocks
    python tools/render_results.py --check    # exit 1, naming the stale file, when either is out of date

Numbers reach the page only through here: a lab script (or ``lab/record_course.py``) writes
``results/<study>/<name>.json``, this script renders. The prose around the tables says what each
study asks and how to read it, and holds no measured number. In README.md the blocks between
``<!-- results:<block>:start -->`` and ``<!-- results:<block>:end -->`` are replaced; the rest of the
README is left as it is.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.results import RESULTS, load_results  # noqa: E402

PAGE = ROOT / "docs" / "experiments.md"
README = ROOT / "README.md"
#: README block -> the course result it renders
README_BLOCKS = {"course-phantom": "quick-phantom", "course-folder": "quick-folder-kermany"}

#: study -> (heading, what it asks and how to read it); shown in this order, unknown studies after them
STUDIES = {
    "course": ("The course, run end to end", """\
`make course` (or `python -m helpers.course`) runs notebooks 01-05 headless; `lab/record_course.py RUN_DIR`
turns the finished run into a result here. Each table answers the five questions notebook 05 asks: does the
generator draw the condition asked for (label fidelity, judged by a classifier trained on real images), are the
images realistic (FID, KID, precision, recall, density and coverage in the judge's features, each beside the
real-versus-real floor), are they varied (same-condition MS-SSIM, lower is more varied, against the real
images'), are they useful (classifiers trained on them, tested on real images), and are they private (the share
of generated images closer to a training image than 99% of real test images are; about 1% means no copying).
Read single runs as single runs: runs recorded before the notebooks' `DETERMINISTIC` setting (the determinism
study below) did not repeat bit for bit (notebook 04 left its GAN's initial weights unseeded and the judge's
augmentation drew in thread order), a rerun with another seed moves the numbers, and each run on class folders
trains its own judge, so compare FIDs only as multiples of their floors. Older runs under
earlier defaults are kept for the record; only some of their numbers were written down."""),
    "time_to_fidelity": ("Faithfulness, variety and pace: the remedies (`lab/time_to_fidelity.py`)", """\
Trains the GAN on the phantoms for a fixed number of steps and scores it on the way: label fidelity (overall and
the weakest condition), the MS-SSIM gap (generated minus real same-condition MS-SSIM: 0 is as varied as real
images, the worst of the seven conditions is the number the variety target reads), recall as a share of the
real-versus-real floor, and optionally the raw generator and other EMA read-outs of the same run. `--set`
changes any `GANConfig` field, so each row is a setting and a seed. Two seeds are not a distribution: read a
single fidelity to a couple of hundredths, and the worst gap and synthetic-only scores to their own spread (the
variety and synthetic_only studies measure it). Rows measured in different sessions ran at different speeds on
a shared machine; steps per second compare only within a session."""),
    "variety": ("How noisy is one variety reading (`lab/variety.py`)", """\
Repeats the variety reading of `time_to_fidelity.py` several times per generator, with other generated images
and other pairs, against the one real reading the benchmark uses. The worst of seven noisy numbers is itself
noisy and biased upwards; the mean over draws is the better estimate."""),
    "synthetic_only": ("Train on synthetic, test on real (`lab/synthetic_only.py`)", """\
Trains classifiers on a generator's images alone and scores them on the real test split (macro AUROC, mean and
standard deviation over classifier seeds), beside classifiers trained on the real images. Classifiers that have
not converged disagree with themselves more than the effects to be seen; the convergence result says how many
steps are enough."""),
    "utility_study": ("Does synthetic data help where real data is scarce? (`lab/utility_study.py`)", """\
Cuts one or more conditions to a few dozen training images, trains the GAN on that same cut-down data, and
trains classifiers on the cut-down split alone, with classic augmentation, with the scarce images duplicated,
and with synthetic images of the scarce conditions, at several ratios. Duplication is the control that tells
"more rows" from "new information". It also audits the generated scarce images for copies of their few
training images."""),
    "judge": ("The judge", """\
Label fidelity is a classifier's opinion. How wide the judge is and how its loss is weighted move the number:
compare fidelities only under one judge."""),
    "design_history": ("Design history", """\
Comparisons from early in the course that decided a design, kept because a later setup measured the same
question again."""),
    "phantoms": ("The phantoms", """\
The offline data are procedural phantoms. They were designed so that the findings are learnable but not a
brightness code. `lab/phantom_separability.py` trains the course CNN from scratch and a histogram model on fresh
phantoms; the test suite asserts the histogram bound and that the shipped judge, trained the same way, recognises
fresh phantoms (tests/test_phantoms.py)."""),
    "train_throughput": ("Training throughput (`lab/train_throughput.py`)", """\
The course's compiled `train_step` through `model.fit` against a re-implementation of the prototype's
per-batch loop, on the same batch size and machine, images from memory; medians of interleaved repeats."""),
    "xla": ("XLA and the machine's limit (`lab/xla_speed.py`)", """\
Keras compiles `fit` with XLA when a GPU is present (`jit_compile="auto"`) and leaves it off on a CPU; the
course keeps that default. This study trains the default GAN on random images from memory with `jit_compile` off
and on, in float32 and in mixed float16, all variants built in one process and measured in turn (steady-state
steps, medians of interleaved repeats). XLA stays off on the CPU because the measured float32 step, the CPU's
default precision, was slower with it; see the table. The GFLOP/s column is the floating-point operations of one
train step (TensorFlow's profiler on the step's graph, a multiply-add counting two) times the steps per second;
the machine rows are what the same CPU reaches on a large float32 matrix product and convolution, the ceiling
the step could approach. That the XLA step computes what the plain step computes, in both precisions, is
checked by `tests/test_xla.py`."""),
    "determinism": ("Reproducible runs and what they cost (`lab/determinism_cost.py`)", """\
`DETERMINISTIC = True` in notebooks 04 and 05 (set by the smoke and quick profiles too) calls
`helpers.env.make_deterministic(SEED)`: `keras.utils.set_random_seed` and
`tf.config.experimental.enable_op_determinism()`. The course's own randomness is stateless or seeded (the GAN's
noise and augmentation keyed on seed and step, the data order on seed and epoch, the judge's crops on seed and
position in the epoch), so two runs on one machine with the same software versions train the same weights bit for
bit; `tests/test_determinism.py` checks it at the smoke scale, each run in its own process. Nothing is promised
across machines, between a CPU and a GPU, or across TensorFlow versions, and a run with op determinism computes
other bits than one without. This study measures the cost: the default GAN trained through the course's input
pipeline in two worker processes, one with op determinism and one without (it cannot be turned off in a
process), measured in turn (steady-state steps per second, medians of interleaved repeats). The course keeps it on
while the cost stays within the 15% budget; the table says where it lies. On a GPU it has not been measured:
there op determinism swaps some kernels for slower deterministic ones, and Keras compiles no model with XLA
while it is on (the XLA study above); `DETERMINISTIC = False` keeps XLA on a GPU."""),
    "decode_throughput": ("Decoding into the cache (`lab/decode_throughput.py`)", """\
The cache builder's decode-crop-resize-write rate on all cores against the plain decode rate on one core, and
the time to reload a cached dataset."""),
    "phantom_speed": ("Phantom generation speed (`lab/phantom_speed.py`)", """\
Rendering phantoms in memory, and rendering plus writing PNGs and the metadata CSV, on one core."""),
    "timings": ("How long the checks take", """\
Wall time of the test suite; the course's own times are in the course results."""),
}

RULE = """\
## How a default is chosen

*The rule as README.md stated it at d965099 (2026-11-26), when transitional conditioning became the default:*

The setting that meets the most of issue 12's quality targets on both seeds wins; on a tie, the setting that
meets more targets seed by seed; then fidelity. The targets: **faithful** (label fidelity 0.92 overall and 0.80
for every condition), **varied** (every condition's same-condition MS-SSIM within 0.10 of real, and recall at
0.90 of the real-versus-real floor), **useful** (a classifier trained on synthetic images only reaches a macro
AUROC of 0.85 on real test images), **fast** (fidelity 0.90 within 1,500 steps), and **no copying**. The
seed-by-seed step was added when a tie appeared, after seeing the numbers (the transitional-conditioning result
below): a tie-break on fidelity alone cannot see a target missed on both seeds. Measured at 64 px on the
phantoms; measure again when the rest of the setup changes, and on your own data."""

HEADER = """\
# Experiments: what the lab measured

<!-- Rendered by tools/render_results.py from results/; do not edit by hand. -->

Every number on this page is read from a file in [`results/`](../results/), one per study and run, written by the
script that measured it (`lab/*.py`, through `lab/results.py`) or, for results measured before the lab wrote
files, transcribed once from the README of the time (`provenance: transcribed`, with the file and commit it was
copied from). To rerun a study, run its script (each writes `results/<study>/<name>.json`; `--result NAME` names
the file, `--no-result` writes nothing), then `python tools/render_results.py`. `make test` checks that this page
and the README's tables match the files.
"""


# --------------------------------------------------------------------------- formatting

def num(value, key: str = "") -> str:
    """A number as the page shows it: ints with separators, floats to at most four decimals, signed gaps."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{round(value, 4):g}"
        return ("+" + text) if "gap" in key and value > 0 else text
    return str(value)


def value_text(value, key: str = "") -> str:
    """Any value of a result: ``{mean, std}`` as "m ± s", ``{min, max}`` as a range, lists joined by " / "."""
    if isinstance(value, dict):
        if set(value) <= {"mean", "std"} and "mean" in value:
            return num(value["mean"], key) + (f" ± {num(value['std'])}" if value.get("std") is not None else "")
        if set(value) <= {"min", "max"} and value:
            if "min" not in value:
                return f"≤ {num(value['max'], key)}"
            if "max" not in value:
                return f"≥ {num(value['min'], key)}"
            return f"{num(value['min'], key)} to {num(value['max'], key)}"
        return "; ".join(f"{k} {value_text(v, k)}" for k, v in value.items())
    if isinstance(value, list):
        return " / ".join(value_text(v, key) for v in value)
    return num(value, key).replace("|", "\\|")


def flatten(numbers: dict, prefix: str = "") -> list[tuple[str, object]]:
    """``[(dotted key, leaf)]``; ``{mean, std}`` and ``{min, max}`` dicts and lists stay leaves."""
    out = []
    for key, value in numbers.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and not (set(value) <= {"mean", "std", "min", "max"}):
            out += flatten(value, name + " › ")
        else:
            out.append((name, value))
    return out


def table(rows: list[dict]) -> list[str]:
    """A markdown table of ``rows`` (columns: the union of their keys, in first-seen order)."""
    columns = []
    for row in rows:
        for key, _ in flatten(row):
            if key not in columns:
                columns.append(key)
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        flat = dict(flatten(row))
        lines.append("| " + " | ".join(value_text(flat[c], c) if c in flat else "" for c in columns) + " |")
    return lines


def meta_line(result: dict) -> str:
    """Provenance, date, commit and command of one result, in one italic line."""
    if result["provenance"] == "transcribed":
        origin = f"transcribed from {result['source']}"
    else:
        origin = "measured"
    parts = [origin, f"date {(result['date'] or 'not stated')[:10]}", f"commit {result['commit'] or 'not stated'}"]
    if result.get("seeds") is not None:
        parts.append(f"seeds {value_text(result['seeds'])}")
    machine = result.get("machine") or {}
    if isinstance(machine, dict):
        described = machine.get("description") or ", ".join(
            str(x) for x in (machine.get("platform"), machine.get("cpus") and f"{machine['cpus']} CPUs",
                             machine.get("gpus") != "none" and machine.get("gpus")) if x)
        if described:
            parts.append(f"machine: {described}")
    line = "*" + "; ".join(parts) + ".*"
    if result.get("command"):
        line += f" Command: `{result['command']}`"
    return line


# --------------------------------------------------------------------------- the course table

def _per_condition(values: dict, key: str = "") -> str:
    return ", ".join(f"{name} {num(v, key)}" for name, v in values.items())


def _minutes(seconds) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s"


def course_rows(n: dict) -> list[tuple[str, str]]:
    """``[(question, result text)]`` for one course result; questions without numbers are left out."""
    rows = []
    f = n.get("fidelity", {})
    if f:
        parts = []
        if "overall" in f:
            text = f"label fidelity **{num(f['overall'])}**"
            detail = []
            if f.get("per_condition"):
                detail.append(_per_condition(f["per_condition"]))
            if f.get("other_conditions"):
                detail.append(f"the other conditions {value_text(f['other_conditions'])}")
            if f.get("per_condition_images"):
                detail.append(f"{num(f['per_condition_images'])} per condition")
            parts.append(text + (f" ({'; '.join(detail)})" if detail else ""))
        elif f.get("per_condition"):
            parts.append("label fidelity " + _per_condition(f["per_condition"]))
        if f.get("macro_auroc") is not None:
            parts.append(f"macro AUROC {num(f['macro_auroc'])}")
        for key, label in (("judge_real_test", "the judge's accuracy on the real test split"),
                           ("judge_real_test_balanced", "the judge's balanced accuracy on the real test split")):
            if f.get(key) is not None:
                parts.append(f"{label} {num(f[key])}")
        rest = {k: v for k, v in f.items() if k not in ("overall", "per_condition", "other_conditions",
                                                        "per_condition_images", "macro_auroc", "judge_real_test",
                                                        "judge_real_test_balanced")}
        parts += [f"{k.replace('_', ' ')} {value_text(v, k)}" for k, v in rest.items()]
        rows.append(("right condition?", "; ".join(parts)))
    r = n.get("realism", {})
    if r:
        g, floor = r.get("generated", {}), r.get("floor", {})
        parts = []
        for metric, label in (("fid", "FID"), ("kid_mean", "KID"), ("precision", "precision"), ("recall", "recall"),
                              ("density", "density"), ("coverage", "coverage")):
            if g.get(metric) is None:
                continue
            shown = value_text({"mean": g[metric], "std": g.get("kid_std")} if metric == "kid_mean" else g[metric])
            text = f"{label} **{shown}**" if metric in ("fid", "recall") else f"{label} {shown}"
            if floor.get(metric) is not None:
                text += " (floor " + (value_text({"mean": floor[metric], "std": floor.get("kid_std")})
                                      if metric == "kid_mean" else num(floor[metric])) + ")"
            parts.append(text)
        if r.get("recall_vs_floor") is not None:
            parts.append(f"recall {num(r['recall_vs_floor'])} of the floor")
        if g.get("n_fake"):
            parts.append(f"{num(g['n_fake'])} generated against {num(g['n_real'])} real test images"
                         + (f", {g['extractor']}" if g.get("extractor") else ""))
        elif g.get("extractor"):
            parts.append(g["extractor"])
        for k, v in r.items():
            if k not in ("generated", "floor", "recall_vs_floor"):
                parts.append(f"{k.replace('_', ' ')} {value_text(v, k)}")
        rows.append(("realistic?", "; ".join(parts)))
    v = n.get("variety", {})
    if v:
        parts = []
        real, gen = v.get("real", {}), v.get("generated", {})
        if gen:
            parts.append("same-condition MS-SSIM, generated" + (" vs real" if real else "") + ": " + ", ".join(
                f"{c} **{num(gen[c])}**" + (f" vs {num(real[c])}" if c in real else "") for c in gen))
        if gen and real and set(gen) == set(real) and len(gen) > 2:
            gaps = {c: gen[c] - real[c] for c in gen}
            worst = max(gaps, key=gaps.get)
            parts.append(f"worst gap {num(round(gaps[worst], 3), 'gap')} ({worst})")
        if v.get("generated_range"):
            parts.append(f"generated {value_text(v['generated_range'])}"
                         + (f" vs real {value_text(v['real_range'])}" if v.get("real_range") else ""))
        if v.get("gap"):
            parts.append("gap " + _per_condition(v["gap"], "gap"))
        if v.get("other_gaps"):
            parts.append(f"the other conditions' gaps {value_text(v['other_gaps'], 'gap')}")
        if v.get("max_gap") is not None:
            parts.append(f"every condition's gap within {num(v['max_gap'], 'gap')}")
        for k, val in v.items():
            if k not in ("real", "generated", "generated_range", "real_range", "gap", "other_gaps", "max_gap"):
                parts.append(f"{k.replace('_', ' ')} {value_text(val, k)}")
        rows.append(("varied?", "; ".join(parts)))
    u = n.get("utility", {})
    if u:
        arms = "; ".join(f"{arm} **{value_text(s)}**" if arm == "synthetic only" else f"{arm} {value_text(s)}"
                         for arm, s in u.get("arms", {}).items())
        setup = ", ".join(x for x in (u.get("classifier_size") and f"{u['classifier_size']} px",
                                      u.get("steps") and f"{num(u['steps'])} steps",
                                      u.get("seeds") and f"{u['seeds']} seeds") if x)
        text = "macro AUROC on the real test split" + (f" ({setup})" if setup else "") + ": " + arms
        if u.get("verdict"):
            text += f"; verdict: {u['verdict']}"
        for k, val in u.items():
            if k not in ("arms", "classifier_size", "steps", "seeds", "verdict"):
                text += f"; {k.replace('_', ' ')} {value_text(val, k)}"
        rows.append(("useful?", text))
    m = n.get("memorisation", {})
    if m:
        parts = []
        for space, a in m.items():
            if isinstance(a, dict) and ("generated" in a or "test" in a):
                text = f"{space} **{a['generated'] * 100:.1f}%**" if a.get("generated") is not None else space
                if a.get("generated_count") is not None:
                    text += f" ({num(a['generated_count'])} of {num(a['n_generated'])}, {num(a['expected_count'])} expected)"
                if a.get("test") is not None:
                    text += f" (test {a['test'] * 100:.1f}%)"
                parts.append(text)
            else:
                parts.append(f"{space} {value_text(a)}")
        rows.append(("private?", "memorised share: " + ", ".join(parts)))
    t = n.get("time", {})
    if t:
        parts = []
        if t.get("wall_seconds") is not None:
            parts.append(f"wall time **{_minutes(t['wall_seconds'])}**")
        if t.get("notebook_seconds"):
            parts.append("notebooks " + " + ".join(num(s) for s in t["notebook_seconds"].values()) + " s")
        if t.get("train_steps"):
            parts.append(f"{num(t['train_steps'])} training steps")
        if t.get("steps_per_second"):
            parts.append(f"{num(t['steps_per_second'])} steps/s")
        if t.get("peak_rss_gb"):
            parts.append(f"peak memory {num(t['peak_rss_gb'])} GB")
        rows.append(("time and memory", "; ".join(parts)))
    for key, value in n.items():
        if key not in ("fidelity", "realism", "variety", "utility", "memorisation", "time", "verdicts"):
            rows.append((key.replace("_", " "), value_text(value, key)))
    if n.get("verdicts"):  # the report's verdicts come first, as in report.md
        rows.insert(0, ("verdicts", "; ".join(f"{name} **{verdict}**" for name, verdict in n["verdicts"].items())))
    return rows


def course_table(result: dict) -> list[str]:
    """The course result as a question | result table."""
    return ["| question | result |", "|---|---|"] + [f"| {q} | {a} |" for q, a in course_rows(result["numbers"])]


# --------------------------------------------------------------------------- the page and the README

def result_section(result: dict) -> list[str]:
    """One result: heading, provenance line, notes, tables."""
    lines = [f"### {result.get('title') or result['name']}", "",
             f"`{Path(result['path']).relative_to(ROOT).as_posix()}` — " + meta_line(result), ""]
    if result["study"] == "course":
        lines += course_table(result) + [""]
    else:
        numbers = result["numbers"]
        scalars = {k: v for k, v in numbers.items()
                   if not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
        for key, value in numbers.items():
            if key not in scalars:
                lines += table(value) + [""]
        if scalars:
            lines += ["| quantity | value |", "|---|---|"]
            lines += [f"| {k.replace('_', ' ')} | {value_text(v, k)} |" for k, v in flatten(scalars)] + [""]
    if result.get("notes"):
        lines += [result["notes"], ""]
    return lines


#: results shown first in their study, in this order (the rest: measured before transcribed, then by name)
FIRST = {"course": ["quick-phantom", "quick-folder-kermany"],
         "time_to_fidelity": ["remedies", "readout-and-pace", "normalisation", "transitional-conditioning", "not-kept",
                              "ema-horizons", "raw-vs-ema-default", "discriminator-class-head", "rerun-noise", "history"],
         "utility_study": ["phantom", "phantom-earlier-default", "kermany-earlier-default"]}


def _order(study: str, results: list[dict]) -> list[dict]:
    names = FIRST.get(study, [])
    first = sorted((r for r in results if r["name"] in names), key=lambda r: names.index(r["name"]))
    later = [r for r in results if r["name"] not in names]
    return first + sorted(later, key=lambda r: (r["provenance"] != "measured", r["name"]))


def _pct(value) -> str:
    return f"{value * 100:.1f}%"


def threshold_rows(results: list[dict]) -> list[tuple]:
    """The evidence: memorisation at few and at many training images per condition, from the result files.

    ``[(result, condition, training images per condition, generated share, test share, generated / test)]``.
    """
    rows = []
    for r in _order("utility_study", [r for r in results if r["study"] == "utility_study"]):
        m, data = r["numbers"].get("memorisation"), r["data"]
        if not m:
            continue
        for condition in data.get("scarce", []):
            test = m["test"][condition] if condition in m["test"] else m["test"]
            highest = test if isinstance(test, float) else max(test.values())
            shown = f"{_pct(test['min'])} to {_pct(test['max'])}" if isinstance(test, dict) else _pct(test)
            rows.append((r, f"{condition} (cut down)", num(data["scarce_count"]), _pct(m[condition]), shown,
                         m[condition] / highest))
    for r in _order("course", [r for r in results if r["study"] == "course"]):
        pixels = r["numbers"].get("memorisation", {}).get("pixels", {})
        data = r["data"]
        if pixels.get("generated") is None or pixels.get("test") is None:
            continue
        if data.get("balanced_training_images"):
            per = min(data["balanced_training_images"].values())
            per_text = f"{num(per)} (the smallest condition)"
        elif data.get("train_images") and data.get("classes"):
            per_text = f"{num(round(data['train_images'] / len(data['classes'])))} (mean over conditions)"
        else:
            continue
        rows.append((r, "all conditions", per_text, _pct(pixels["generated"]), _pct(pixels["test"]),
                     pixels["generated"] / pixels["test"]))
    return rows


def thresholds_section(results: list[dict]) -> list[str]:
    """Why notebook 04 leaves out or warns about small conditions, and how notebook 05's verdicts are decided."""
    from helpers import verdicts as v

    rows = threshold_rows(results)
    cut = [row[-1] for row in rows if row[1].endswith("(cut down)")]
    full = [row[-1] for row in rows if not row[1].endswith("(cut down)")]
    ceiling = next((r for r in results if r["study"] == "utility_study"
                    and r["data"].get("ceiling_per_scarce_condition") and r["data"].get("source") == "phantom"), None)
    if not (cut and full and ceiling):
        raise SystemExit("the thresholds section needs results/utility_study/ files with memorisation at "
                         "scarce_count, a phantom one with ceiling_per_scarce_condition, and a course result with "
                         "pixel memorisation")
    rel = Path(ceiling["path"]).relative_to(ROOT).as_posix()
    table = ["| result | condition | training images per condition | generated under the line | test under the line "
             "| generated ÷ test |", "|---|---|---|---|---|---|"]
    for r, condition, per, generated, test, ratio in rows:
        path = Path(r["path"]).relative_to(ROOT).as_posix()
        table.append(f"| [`{path}`](../{path}) | {condition} | {per} | {generated} | {test} | {ratio:.1f} |")
    return ['<a id="thresholds-behind-the-verdicts"></a>', "", "## Thresholds behind the verdicts", "",
            f"""\
The course's verdicts (`helpers.verdicts`; notebook 05, section 8) read thresholds, not judgement. **Too small to
learn**: notebook 04 leaves out a condition with fewer than `MIN_TRAIN_IMAGES` = {v.MIN_TRAIN_IMAGES} training
images and warns below `WARN_TRAIN_IMAGES` = {v.WARN_TRAIN_IMAGES}. The lower threshold is the count the lab's
scarce-data study cut conditions to, where the GAN placed many times the test split's share of its images closer to
a training image than 99% of real test images are (the rows marked "cut down"); the upper one sits a little below
the number of training images the phantom course gives its scarcest conditions (about {num(ceiling["data"]["ceiling_per_scarce_condition"])},
`ceiling_per_scarce_condition` in [`{rel}`](../{rel}); a patient split moves each condition's count a little), so
the full phantom course trains without a warning, and its generators stayed at the test split's share (the rows
"all conditions"). Between the two nothing was measured, so the course trains with a warning and lets the audit
decide.
The smoke profile uses {v.SMOKE_MIN_TRAIN_IMAGES} and {v.SMOKE_WARN_TRAIN_IMAGES}. **Private**: "copies its training
images" needs a one-sided exact binomial test against the test split's share (per condition, the share of that
condition's test images) at alpha {v.ALPHA} (divided among the
conditions for the per-condition tests) and a share at least {v.COPY_FACTOR:g} times that rate; the full-data runs
below reach at most {max(full):.1f} times it, the cut-down conditions at least {min(cut):.1f} times. **A judge that can judge**: label fidelity and every number
in the judge's features are reported only when the lower end of the 95% Wilson interval of the judge's balanced
accuracy on real test images exceeds chance by {v.JUDGE_MARGIN:g}, and per condition the same on its recall.
**Right condition** is yes from {v.FIDELITY_SHARE:.0%} of the judge's own balanced accuracy, **realistic** from a
precision of {v.PRECISION_SHARE:.0%} of the real-versus-real floor's, **varied** from a recall of
{v.RECALL_SHARE:.0%} of the floor's with every same-condition MS-SSIM gap at most {v.MS_SSIM_GAP:g}, and **useful**
gives an effect only when classifiers trained on real images alone score a macro AUROC whose mean minus one standard
deviation exceeds {0.5 + v.UTILITY_MARGIN:g}.""", ""] + table + [""]


def render_page(results: list[dict]) -> str:
    """docs/experiments.md as text."""
    by_study: dict[str, list[dict]] = {}
    for r in results:
        by_study.setdefault(r["study"], []).append(r)
    order = [s for s in STUDIES if s in by_study] + sorted(s for s in by_study if s not in STUDIES)
    lines = [HEADER, "Studies: " + ", ".join(f"[{STUDIES.get(s, (s,))[0].split(' (')[0]}](#{s.replace('_', '-')})"
                                            for s in order) + ".", "", RULE, ""] + thresholds_section(results)
    for study in order:
        heading, intro = STUDIES.get(study, (study.replace("_", " ").capitalize(), ""))
        lines += [f'<a id="{study.replace("_", "-")}"></a>', "", f"## {heading}", ""]
        if intro:
            lines += [intro, ""]
        for result in _order(study, by_study[study]):
            lines += result_section(result)
    return "\n".join(lines).rstrip() + "\n"


def readme_block(result: dict) -> str:
    """The README's table for one course result, with where its numbers come from."""
    rel = Path(result["path"]).relative_to(ROOT).as_posix()
    return "\n".join([f"*From [`{rel}`]({rel}), rendered by `tools/render_results.py`: " + meta_line(result)[1:],
                      ""] + course_table(result))


def render_readme(text: str, results: list[dict]) -> str:
    """``text`` (README.md) with every results block replaced."""
    course = {r["name"]: r for r in results if r["study"] == "course"}
    for block, name in README_BLOCKS.items():
        start, end = f"<!-- results:{block}:start -->", f"<!-- results:{block}:end -->"
        if start not in text or end not in text:
            raise SystemExit(f"{README}: the markers {start} ... {end} are missing; add them where the table goes")
        if name not in course:
            raise SystemExit(f"{RESULTS / 'course' / (name + '.json')} is missing; the README's {block} table renders "
                             f"it (python lab/record_course.py RUN_DIR --name {name})")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{readme_block(course[name])}\n{end}{tail}"
    return text


def main(argv=None) -> int:
    """Write (or with ``--check`` compare) docs/experiments.md and the README's blocks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is stale")
    parser.add_argument("--results", default=None, help="results folder (default: the repository's results/)")
    args = parser.parse_args(argv)
    results = load_results(args.results)
    wanted = {PAGE: render_page(results), README: render_readme(README.read_text(), results)}
    stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run python tools/render_results.py", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    if not stale:
        print("docs/experiments.md and README.md are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

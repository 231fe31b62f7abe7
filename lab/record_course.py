"""Record a finished course run as a result: ``results/course/<profile>-<source>.json``.

    python -m helpers.course --profile quick --out runs/quick          # or: /usr/bin/time -v make course
    python lab/record_course.py runs/quick --wall-seconds 826          # -> results/course/quick-phantom.json
    python lab/record_course.py runs/kermany --name quick-folder-kermany
    python tools/render_results.py                                     # the README's tables and docs/experiments.md

Reads ``RUN_DIR/course_log.json`` (the profile, seconds per notebook, peak memory; written by
``helpers.course``), ``RUN_DIR/metrics.json`` (notebook 05's numbers, ``helpers.evaluate.write_report``)
and ``RUN_DIR/data_source.json`` when the run decided its source itself (``auto``). The result keeps
the headline of each question the README asks (right condition, realistic, varied, useful, private)
and the time and memory the run took. The wall time of the whole command (venv creation included)
is not in the run folder: pass it with ``--wall-seconds`` when you timed it.
"""

import argparse
import datetime
import json
import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: lab/ is on sys.path
    from results import slug, write_result
else:
    from .results import slug, write_result


def _read(path: Path, what: str) -> dict:
    if not path.is_file():
        raise SystemExit(f"{path} is missing: {what}. Is {path.parent} a finished course run "
                         "(python -m helpers.course --out RUN_DIR)?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path} is not valid JSON ({exc}); rerun the course into a fresh folder") from None


def course_numbers(run_dir) -> tuple[dict, dict, str]:
    """``(numbers, data, profile)`` of the course run in ``run_dir``, in the shape the renderer reads."""
    run_dir = Path(run_dir)
    log = _read(run_dir / "course_log.json", "helpers.course writes it at the end of a run")
    metrics = _read(run_dir / "metrics.json", "notebook 05 writes it (helpers.evaluate.write_report)")
    choice = json.loads((run_dir / "data_source.json").read_text()) if (run_dir / "data_source.json").is_file() \
        else {}
    classes = metrics.get("classes", [])
    seconds = {Path(r["notebook"]).stem: r["seconds"] for r in log.get("notebooks", [])}
    numbers = {"time": {"notebook_seconds": seconds, "notebooks_total_seconds": round(sum(seconds.values()), 1),
                        "skipped_notebooks": [Path(r["notebook"]).stem for r in log.get("notebooks", [])
                                              if r.get("status") == "skipped"],
                        "peak_rss_gb": round(log["peak_rss_mb"] / 1000, 2) if log.get("peak_rss_mb") else None}}
    if "fidelity" in metrics:
        f = metrics["fidelity"]
        numbers["fidelity"] = {"judge_real_test": f["real_test"]["accuracy"],
                               "judge_real_test_balanced": f["real_test"].get("balanced_accuracy")}
        if "generated" in f:  # absent when the judge cannot judge (helpers.verdicts.judge_gate)
            numbers["fidelity"].update({
                "overall": f["generated"]["accuracy"],
                "per_condition": dict(zip(classes, f["generated"]["per_class_accuracy"])),
                "macro_auroc": f["generated"].get("macro_auroc"),
                "per_condition_images": f["generated"]["n"] // max(len(classes), 1)})
    if "verdicts" in metrics:
        numbers["verdicts"] = {name: v["verdict"] for name, v in metrics["verdicts"].items()}
    realism = {}
    for r in metrics.get("realism", []):
        key = "generated" if r["comparison"].startswith("generated") else "floor"
        if key not in realism or r["extractor"].lower().startswith("judge"):  # the judge's features first
            realism[key] = {k: r.get(k) for k in ("extractor", "fid", "kid_mean", "kid_std", "precision", "recall",
                                                  "density", "coverage", "n_real", "n_fake")}
    if realism:
        numbers["realism"] = realism
    if "diversity" in metrics:
        d = metrics["diversity"]
        numbers["variety"] = {"pairs": d["pairs"], "real": dict(zip(classes, d["real"])),
                              "generated": dict(zip(classes, d["generated"]))}
    if "utility" in metrics:
        u = metrics["utility"]
        arms = {}
        for r in u["summary"]:
            name = r["arm"] + (f" {r['ratio']:g}x" if r["arm"].startswith("real + ") and "augmentation" not in r["arm"]
                               else "")
            arms[name] = {"mean": r["auroc_mean"], "std": r["auroc_std"]}
        numbers["utility"] = {"steps": u["steps"], "seeds": len(u["seeds"]), "arms": arms, "verdict": u["verdict"]}
    if "memorisation" in metrics:
        numbers["memorisation"] = {space: {"generated": a["share_synthetic_below"], "test": a["share_test_below"]}
                                   for space, a in metrics["memorisation"].items()}
    data = {"source": choice.get("source") or metrics.get("data_source"),
            "data_dir": Path(choice["data_dir"]).name if choice.get("data_dir") else None,
            "chosen_because": choice.get("reason"), "image_size": metrics.get("image_size"), "classes": classes,
            "images": metrics.get("setup", {}).get("real_images")}
    counts = re.match(r"train (\d+), val (\d+), test (\d+)", data["images"] or "")
    if counts:  # notebook 05 writes "train N, val N, test N (...)"
        data.update(train_images=int(counts[1]), val_images=int(counts[2]), test_images=int(counts[3]))
    return numbers, data, log.get("profile", "quick")


def main(argv=None) -> int:
    """Turn a finished course run into ``results/course/<name>.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="the course's --out folder (holds course_log.json and metrics.json)")
    parser.add_argument("--name", default=None, help="result name (default: <profile>-<source>)")
    parser.add_argument("--wall-seconds", type=float, default=None,
                        help="wall time of the whole command, when timed (e.g. /usr/bin/time -v make course)")
    parser.add_argument("--command", default=None, help="the command that made the run (default: reconstructed)")
    parser.add_argument("--notes", default=None)
    parser.add_argument("--title", default=None, help="heading on docs/experiments.md (default: profile and data)")
    parser.add_argument("--root", default=None, help="results folder (default: the repository's results/)")
    parser.add_argument("--no-result", action="store_true", help="print the numbers, write nothing")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    numbers, data, profile = course_numbers(run_dir)
    if args.wall_seconds is not None:
        numbers["time"]["wall_seconds"] = args.wall_seconds
    metrics = json.loads((run_dir / "metrics.json").read_text())
    command = args.command or (f"python -m helpers.course --profile {profile} --data-source {data['source']}"
                               + (f" --data-dir {data['data_dir']}" if data["source"] in ("folder", "nih") else "")
                               + f" --out {run_dir}")
    finished = datetime.datetime.fromtimestamp((run_dir / "course_log.json").stat().st_mtime, datetime.timezone.utc)
    print(json.dumps(numbers, indent=1))
    if args.no_result:
        return 0
    name = args.name or slug([f"{profile}-{data['source']}"])
    on = data["data_dir"] or data["source"]
    title = args.title or f"{profile.capitalize()} course on {on} (the default at the date)"
    path = write_result("course", name, numbers, seeds=[metrics.get("seed")], data=data, command=command,
                        notes=args.notes, root=args.root, date=finished.isoformat(timespec="seconds"), title=title)
    print(f"result written: {path} (render the README's tables with: python tools/render_results.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

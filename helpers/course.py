"""Run the whole course headless: every numbered notebook, in order, with papermill.

    python -m helpers.course --profile quick --out runs/quick
    python -m helpers.course --profile full --data-source nih --data-dir /data/nih --out runs/full

Executed notebooks go to ``RUN_DIR/executed/``, figures to ``RUN_DIR/figures/``.
A rerun with the same parameters skips notebooks already executed (``--force``
reruns them), so an interrupted course resumes at the notebook it stopped in.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from helpers.env import project_dir

#: Parameters per profile; each notebook receives the ones its `parameters` cell declares.
PROFILES = {
    "smoke": {"SMOKE": True, "IMAGE_SIZE": 64, "PHANTOMS_PER_CLASS": 30},
    "quick": {"SMOKE": False, "IMAGE_SIZE": 64, "PHANTOMS_PER_CLASS": 700, "TRAIN_MINUTES": 7.0,
              "DEMO_STEPS": 60},
    "full": {"SMOKE": False, "IMAGE_SIZE": 128, "PHANTOMS_PER_CLASS": 2000, "TRAIN_MINUTES": 120.0,
             "BATCH_SIZE": 64, "BALANCED": True, "GENERATED_PER_CLASS": 1000, "EXTRACTOR": "both",
             "UTILITY_SIZE": None, "UTILITY_STEPS": 2000, "UTILITY_REAL_PER_CLASS": 1000},
}


def course_notebooks(folder=None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in order."""
    folder = Path(folder) if folder else project_dir() / "notebooks"
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def notebook_parameters(profile: str, data_source: str = "phantom", data_dir=None, run_dir="runs/course",
                        seed: int = 0) -> dict:
    """All parameters of a profile, before filtering per notebook."""
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is unknown; use one of {', '.join(PROFILES)}")
    params = dict(PROFILES[profile], DATA_SOURCE=data_source, RUN_DIR=str(Path(run_dir).resolve()), SEED=seed)
    if data_dir:
        params["DATA_DIR"] = str(Path(data_dir).resolve())
    return params


def _failing_cell(executed_path: Path) -> str:
    """'cell N (first line of its code)' for the first cell with an error in an executed notebook."""
    import nbformat

    nb = nbformat.read(executed_path, as_version=4)
    added_by_papermill = {"injected-parameters", "papermill-error-cell-tag"}
    original = [c for c in nb.cells if not added_by_papermill & set(c.get("metadata", {}).get("tags", []))]
    for number, cell in enumerate(original, 1):  # numbered as in the source notebook
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            return f"cell {number} `{first[:60]}`"
    return "an unknown cell"


def peak_memory_mb() -> float:
    """Peak resident memory (MB) of the largest finished child process (the notebook kernels) or of this one."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(children, own) / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes on macOS, KB on Linux


def run_course(profile: str = "quick", run_dir="runs/course", data_source: str = "phantom", data_dir=None,
               seed: int = 0, force: bool = False, notebooks=None, log=print) -> list[dict]:
    """Execute the notebooks in order; return one record per notebook (name, status, seconds).

    Raises ``RuntimeError`` naming the notebook and the failing cell when one fails.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # kernels inherit it: keep TensorFlow's C++ logs quiet
    run_dir = Path(run_dir).resolve()
    executed = run_dir / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    params = notebook_parameters(profile, data_source, data_dir, run_dir, seed)
    records = []
    paths = [Path(p) for p in notebooks] if notebooks else course_notebooks()
    for path in paths:
        declared = pm.inspect_notebook(str(path))
        mine = {k: v for k, v in params.items() if k in declared}
        out = executed / path.name
        stamp = executed / f"{path.stem}.params.json"
        if not force and out.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == mine:
            log(f"[skip] {path.name}: already executed with these parameters (--force reruns)")
            records.append({"notebook": path.name, "status": "skipped", "seconds": 0.0})
            continue
        stamp.unlink(missing_ok=True)
        start = time.perf_counter()
        log(f"[run ] {path.name} ...")
        try:
            pm.execute_notebook(str(path), str(out), parameters=mine, cwd=str(path.parent),
                                kernel_name="python3", progress_bar=False)
        except PapermillExecutionError as exc:
            raise RuntimeError(f"{path.name} failed in {_failing_cell(out)} ({exc.ename}: {exc.evalue}); "
                               f"the executed copy with the traceback is {out}") from None
        seconds = time.perf_counter() - start
        stamp.write_text(json.dumps(mine, sort_keys=True))
        log(f"[done] {path.name} in {seconds:.0f} s -> {out}")
        records.append({"notebook": path.name, "status": "done", "seconds": round(seconds, 1),
                        "peak_rss_mb_so_far": round(peak_memory_mb())})
    log_path = run_dir / "course_log.json"
    log_path.write_text(json.dumps({"profile": profile, "notebooks": records, "peak_rss_mb": round(peak_memory_mb()),
                                    "peak_rss_note": "largest single process (a notebook kernel), resident memory"},
                                   indent=1))
    return records


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m helpers.course", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--data-source", choices=("phantom", "nih", "chestmnist"), default="phantom")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/course", help="run folder (default runs/course)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rerun notebooks already executed")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        records = run_course(args.profile, args.out, args.data_source, args.data_dir, args.seed, args.force)
    except RuntimeError as exc:
        print(f"course failed: {exc}", file=sys.stderr)
        return 1
    run_dir = Path(args.out).resolve()
    print(f"\ncourse ({args.profile}) finished in {time.perf_counter() - start:.0f} s: "
          f"{sum(r['status'] == 'done' for r in records)} run, {sum(r['status'] == 'skipped' for r in records)} "
          f"skipped; peak memory {peak_memory_mb():,.0f} MB (largest process). "
          f"Executed notebooks: {run_dir / 'executed'}; figures: {run_dir / 'figures'}")
    for name in ("metrics.json", "training_metrics.json"):
        path = run_dir / name
        if path.is_file():
            metrics = json.loads(path.read_text())
            metrics = metrics.get("headline", metrics)
            shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
                              if not isinstance(v, (list, dict)))
            print(f"headline ({path}): {shown}")
            break  # metrics.json (notebook 05) supersedes training_metrics.json (notebook 04)
    report = run_dir / "report.md"
    if report.is_file():
        print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

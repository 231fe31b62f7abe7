"""Run the whole course headless: every numbered notebook, in order, with papermill.

    python -m helpers.course --profile quick --out runs/quick
    python -m helpers.course --profile full --data-source nih --data-dir /data/nih --out runs/full
    python -m helpers.course --profile quick --data-source folder --data-dir ../shared/kermany-cxr --out runs/kermany

The default data source is ``auto``: ChestMNIST when it is on disk or downloadable, the offline
phantoms otherwise (always in the smoke profile); the first lines say which and why.

Executed notebooks go to ``RUN_DIR/executed/``, figures to ``RUN_DIR/figures/``.
A rerun skips a notebook already executed with the same parameters and the same
cells (``--force`` reruns it), so an interrupted course resumes at the notebook it
stopped in; once a notebook reruns, every later one reruns too (their inputs may
have changed). Each notebook's stamp, ``RUN_DIR/executed/NN_name.params.json``,
records what it ran with; its kernel's own stderr (TensorFlow's C++ logs) goes to
``RUN_DIR/executed/NN_name.kernel.log``, not the console.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import io
import json
import logging
import os
import re
import resource
import sys
import time
from pathlib import Path

from helpers.data import SOURCES
from helpers.env import project_dir

#: Parameters per profile; each notebook receives the ones its `parameters` cell declares.
#: Training lengths are step counts, never minutes, so a result does not depend on the machine's speed
#: (the smoke profile needs none: the notebooks shrink themselves when SMOKE is set).
#: The full profile is meant for a GPU, where op determinism (``DETERMINISTIC``) would switch Keras' XLA off.
PROFILES = {
    "smoke": {"SMOKE": True, "IMAGE_SIZE": 64, "PHANTOMS_PER_CLASS": 30, "DETERMINISTIC": True},
    "quick": {"SMOKE": False, "IMAGE_SIZE": 64, "PHANTOMS_PER_CLASS": 700, "TRAIN_STEPS": 3000,
              "DEMO_STEPS": 60, "UTILITY_RATIOS": [1.0], "DETERMINISTIC": True},
    "full": {"SMOKE": False, "IMAGE_SIZE": 128, "PHANTOMS_PER_CLASS": 2000, "TRAIN_STEPS": 40000,
             "BATCH_SIZE": 64, "BALANCED": True, "GENERATED_PER_CLASS": 1000, "EXTRACTOR": "both",
             "UTILITY_STUDY": True, "UTILITY_SIZE": None, "UTILITY_STEPS": 2000, "UTILITY_REAL_PER_CLASS": 1000,
             "UTILITY_RATIOS": [0.5, 1.0, 2.0], "DETERMINISTIC": False},
}

#: Values of ``--data-source`` (the notebooks' ``DATA_SOURCE``): ``helpers.data.SOURCES`` itself, the one list:
#: ``auto`` (ChestMNIST when on disk or downloadable, else phantoms; phantoms in smoke mode) and ``folder``
#: (class folders, needs ``--data-dir``) besides the three named sources.
DATA_SOURCES = SOURCES
DEFAULT_DATA_SOURCE = "auto"

#: A line a notebook prints that starts with one of these is shown on the console as progress
#: (throttled like the cell lines), e.g. the training loop's "step 1200/3000: ... ETA 3.4 min".
PROGRESS_MARKERS = ("step ", "Epoch ")
#: At most one progress line per notebook this often (seconds); none for a notebook that ends sooner.
PROGRESS_EVERY_S = 20.0
#: Environment defaults for the kernels (a value already set in the environment wins).
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def course_notebooks(folder=None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in order."""
    folder = Path(folder) if folder else project_dir() / "notebooks"
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def notebook_parameters(profile: str, data_source: str = DEFAULT_DATA_SOURCE, data_dir=None,
                        run_dir="runs/course", seed: int = 0) -> dict:
    """All parameters of a profile, before filtering per notebook."""
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is unknown; use one of {', '.join(PROFILES)}")
    if data_source not in DATA_SOURCES:
        raise ValueError(f"data source {data_source!r} is unknown; use one of {', '.join(DATA_SOURCES)}")
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


def notebook_fingerprint(path) -> str:
    """SHA-256 of a notebook's cell types and sources (not outputs, ids or metadata): changes when a cell does."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [[cell.cell_type, cell.source] for cell in nb.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def _sha256(text: str) -> str:
    """Hex SHA-256 of a text."""
    return hashlib.sha256(text.encode()).hexdigest()


def _read_stamp(path: Path) -> dict | None:
    """A notebook's stamp; None when missing, unreadable or written by an older runner (parameters only)."""
    try:
        stamp = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and {"parameters", "source_sha256"} <= stamp.keys() else None


def _why_run(stamp: dict | None, executed: bool, params: dict, source_sha256: str, upstream_sha256: str | None,
             previous: str | None, first_rerun: str | None) -> str | None:
    """Why a notebook must run, as a short phrase for the log; None when its executed copy is current.

    ``previous`` is the notebook before it in this course (its stamp hashes to ``upstream_sha256``) and
    ``first_rerun`` the first notebook this invocation ran, if any.
    """
    if stamp is None or not executed:
        return "no finished run yet"
    if stamp["source_sha256"] != source_sha256:
        return "changed since last run"
    if stamp["parameters"] != params:
        old = stamp["parameters"]
        missing = object()
        changed = sorted(k for k in params.keys() | old.keys() if params.get(k, missing) != old.get(k, missing))
        return f"parameters changed: {', '.join(changed)}"
    if first_rerun:
        return f"{first_rerun} was rerun, so inputs may have changed"
    if previous and stamp.get("upstream_sha256") != upstream_sha256:
        return f"{previous} ran after this one last did, so inputs may have changed"
    return None


class _Progress:
    """Occasional console lines while one notebook executes: finished cells and the notebook's marker lines.

    Its ``on_*`` methods are nbclient hooks; ``write``/``flush`` make it papermill's ``stdout_file``, which
    receives everything the notebook prints. At most one line per ``every`` seconds, none in the first
    ``every`` seconds, so a short notebook shows only its start and end lines.
    """

    def __init__(self, name: str, log, every: float = PROGRESS_EVERY_S, markers=PROGRESS_MARKERS):
        self.name, self.log, self.every, self.markers = name, log, every, tuple(markers)
        self.start = self.last = time.monotonic()
        self.numbers: dict[int, int] = {}  # cell index while executing -> number in the source notebook
        self.total = 0
        self.current: int | None = None  # number of the cell executing now
        self._partial = ""

    def on_notebook_start(self, notebook, **_):
        """Number the cells as the source notebook does, skipping papermill's injected-parameters cell."""
        for index, cell in enumerate(notebook.cells):
            if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
                self.total += 1
                self.numbers[index] = self.total

    def on_cell_start(self, cell_index, **_):
        """Remember which cell runs (for the message when the kernel dies)."""
        self.current = self.numbers.get(cell_index)

    def on_cell_executed(self, cell_index, **_):
        """A code cell finished: show ``cell N/M, T min``, throttled."""
        if cell_index in self.numbers:
            self._say(f"cell {self.numbers[cell_index]}/{self.total}, {(time.monotonic() - self.start) / 60:.1f} min")

    def write(self, text: str):
        """Take text the notebook printed; show the lines that start with a progress marker, throttled."""
        *lines, self._partial = re.split(r"[\r\n]", self._partial + text)
        for line in lines:
            if line.startswith(self.markers):
                self._say(line.strip())

    def flush(self):
        """Nothing is buffered but a partial line."""

    def _say(self, what: str):
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.log(f"       {self.name}: {what}")


def _kernel_manager_class(output, env: dict):
    """A kernel manager whose kernels get ``env`` and write their own stdout/stderr (C++ logs) to ``output``.

    The kernel's Python-level output still reaches the notebook; only what the kernel process writes to its
    inherited file descriptors (TensorFlow's absl/oneDNN/CUDA lines, ipykernel's warnings) is diverted.
    """
    from jupyter_client import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw.setdefault("stdout", output)
            kw.setdefault("stderr", output)
            kw.setdefault("env", env)
            return await super().start_kernel(**kw)

    return QuietKernelManager


@contextlib.contextmanager
def _logger_level(name: str, level: int):
    """Set a logger's level for the duration of the block."""
    logger = logging.getLogger(name)
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


def run_course(profile: str = "quick", run_dir="runs/course", data_source: str = DEFAULT_DATA_SOURCE, data_dir=None,
               seed: int = 0, force: bool = False, notebooks=None, log=print,
               progress_every: float = PROGRESS_EVERY_S) -> list[dict]:
    """Execute the notebooks in order; return one record per notebook (name, status, seconds).

    A notebook is skipped when its executed copy is current: same cells (:func:`notebook_fingerprint`), same
    parameters, and no earlier notebook run since; ``force`` reruns every one. Each run line says why it runs.
    While a notebook executes, ``log`` gets at most one progress line per ``progress_every`` seconds.
    Raises ``RuntimeError`` naming the notebook and the failing cell when one fails.
    """
    import papermill as pm
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    run_dir = Path(run_dir).resolve()
    executed = run_dir / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    params = notebook_parameters(profile, data_source, data_dir, run_dir, seed)
    if data_source == "auto":  # decide once, visibly; the notebooks read the decision from RUN_DIR/data_source.json
        from helpers.env import notebook_settings

        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            notebook_settings("auto", data_dir, params["IMAGE_SIZE"], run_dir, params["SMOKE"],
                              params["PHANTOMS_PER_CLASS"], seed)
        for line in printed.getvalue().splitlines():
            log(f"[data] {line}")
    kernel_env = {**KERNEL_ENV, **os.environ}
    records = []
    previous = previous_stamp = first_rerun = None
    paths = [Path(p) for p in notebooks] if notebooks else course_notebooks()
    with _logger_level("papermill", logging.WARNING):  # no "Input Notebook: ..." INFO lines
        for path in paths:
            declared = pm.inspect_notebook(str(path))
            mine = {k: v for k, v in params.items() if k in declared}
            as_stored = json.loads(json.dumps(mine))  # as the stamp holds them (a tuple reads back as a list)
            out = executed / path.name
            stamp_path = executed / f"{path.stem}.params.json"
            source_sha256 = notebook_fingerprint(path)
            upstream_sha256 = _sha256(previous_stamp) if previous_stamp else None
            reason = "--force" if force else _why_run(_read_stamp(stamp_path), out.is_file(), as_stored, source_sha256,
                                                      upstream_sha256, previous, first_rerun)
            if reason is None:
                log(f"[skip] {path.name}: unchanged and already executed with these parameters (--force reruns)")
                records.append({"notebook": path.name, "status": "skipped", "seconds": 0.0})
            else:
                stamp_path.unlink(missing_ok=True)
                log(f"[run ] {path.name} ({reason}) ...")
                start = time.perf_counter()
                progress = _Progress(path.name, log, progress_every)
                kernel_log = executed / f"{path.stem}.kernel.log"
                try:
                    with open(kernel_log, "wb") as kernel_output:
                        pm.execute_notebook(str(path), str(out), parameters=mine, cwd=str(path.parent),
                                            kernel_name="python3", progress_bar=False, stdout_file=progress,
                                            kernel_manager_class=_kernel_manager_class(kernel_output, kernel_env),
                                            on_notebook_start=progress.on_notebook_start,
                                            on_cell_start=progress.on_cell_start,
                                            on_cell_executed=progress.on_cell_executed)
                except PapermillExecutionError as exc:
                    raise RuntimeError(f"{path.name} failed in {_failing_cell(out)} ({exc.ename}: {exc.evalue}); "
                                       f"the executed copy with the traceback is {out}") from None
                except DeadKernelError:
                    where = f"cell {progress.current}" if progress.current else "its start"
                    raise RuntimeError(f"{path.name}: the kernel died in {where} (out of memory?); what the kernel "
                                       f"process printed is in {kernel_log}") from None
                seconds = time.perf_counter() - start
                stamp_path.write_text(json.dumps({
                    "parameters": mine, "source_sha256": source_sha256, "upstream_sha256": upstream_sha256,
                    "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                    "seconds": round(seconds, 1)}, indent=1, sort_keys=True))
                first_rerun = first_rerun or path.name
                log(f"[done] {path.name} in {seconds:.0f} s -> {out}")
                records.append({"notebook": path.name, "status": "done", "seconds": round(seconds, 1),
                                "peak_rss_mb_so_far": round(peak_memory_mb())})
            previous, previous_stamp = path.name, stamp_path.read_text()
    log_path = run_dir / "course_log.json"
    log_path.write_text(json.dumps({"profile": profile, "notebooks": records, "peak_rss_mb": round(peak_memory_mb()),
                                    "peak_rss_note": "largest single process (a notebook kernel), resident memory"},
                                   indent=1))
    return records


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m helpers.course", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--data-source", choices=DATA_SOURCES, default=DEFAULT_DATA_SOURCE)
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

"""Results as data: every lab script writes what it measured to ``results/<study>/<name>.json``.

    from results import write_result          # from a lab script (lab/ is on sys.path)
    write_result("variety", "d_aux_weight=3_seed=1", {"worst_gap": {"mean": 0.117, "std": 0.041}},
                 seeds=[1], data={"source": "phantom", "image_size": 64})

A result file holds the study and name, the command that made it, the commit and whether the tree
was dirty, the date (UTC), the machine, the seeds, the data, every number (nested dicts and lists
allowed), notes and its provenance: ``measured`` (written by a script) or ``transcribed`` (copied
once from an older text, with ``source`` naming the file and commit). ``tools/render_results.py``
renders docs/experiments.md and the README's results tables from these files; nothing else does.
"""

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
REQUIRED = ("study", "name", "command", "commit", "date", "machine", "seeds", "data", "numbers", "notes",
            "provenance")
PROVENANCES = ("measured", "transcribed")


class ResultError(ValueError):
    """A result file or a result about to be written is malformed; the message names the file and the fix."""


def git_commit(root=ROOT) -> str | None:
    """``git rev-parse --short HEAD`` plus ``+dirty`` when the tree has uncommitted changes; ``None`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True, timeout=20).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine() -> dict:
    """Platform, CPU count, memory (GB), GPU names and the TensorFlow / Keras versions where importable.

    GPUs are asked of TensorFlow only when it is already imported (a measuring script has loaded it),
    so writing a result never pays for importing TensorFlow; otherwise ``gpus`` is ``"none"``.
    """
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        info["memory_gb"] = None
    tf = sys.modules.get("tensorflow")
    gpus = []
    if tf is not None:
        try:
            gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
        except Exception:  # noqa: BLE001 - a broken GPU setup must not lose the measured numbers
            gpus = []
    info["gpus"] = gpus or "none"
    for module in ("tensorflow", "keras"):
        if module in sys.modules:
            info[module] = getattr(sys.modules[module], "__version__", None)
        else:
            try:
                from importlib.metadata import version

                info[module] = version(module)
            except Exception:  # noqa: BLE001 - not installed
                info[module] = None
    return info


def _jsonable(value):
    """Numbers as plain floats and ints (NumPy scalars and arrays included), NaN and inf as ``None``."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # NumPy scalar or array
        return _jsonable(value.tolist())
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def validate(record: dict, path=None) -> dict:
    """Check one result's keys and types; raise :class:`ResultError` naming ``path`` and the fix, else return it."""
    where = str(path) if path else f"result {record.get('study')}/{record.get('name')}"
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ResultError(f"{where}: missing keys {missing}; every result needs {list(REQUIRED)} "
                          "(write it with lab/results.py's write_result)")
    if record["provenance"] not in PROVENANCES:
        raise ResultError(f"{where}: provenance {record['provenance']!r} is unknown; use one of {PROVENANCES}")
    if record["provenance"] == "transcribed" and not record.get("source"):
        raise ResultError(f"{where}: a transcribed result needs 'source' (the file and commit it was copied from, "
                          "e.g. 'README.md at d965099')")
    if not isinstance(record["numbers"], dict) or not record["numbers"]:
        raise ResultError(f"{where}: 'numbers' must be a non-empty dictionary, not {record['numbers']!r}")
    for key in ("study", "name"):
        if not isinstance(record[key], str) or not record[key] or "/" in record[key]:
            raise ResultError(f"{where}: {key} {record[key]!r} must be a non-empty name without '/'")
    if path is not None:
        path = Path(path)
        if (path.parent.name, path.stem) != (record["study"], record["name"]):
            raise ResultError(f"{where}: holds study {record['study']!r}, name {record['name']!r} but lies at "
                              f"{path.parent.name}/{path.name}; move it to {record['study']}/{record['name']}.json")
    return record


def write_result(study: str, name: str, numbers: dict, *, seeds, data: dict, command: str | None = None,
                 notes: str | None = None, root=None, provenance: str = "measured", **extra) -> Path:
    """Write ``<root>/<study>/<name>.json`` (root: the repository's ``results/``) and return its path.

    ``command`` defaults to ``python`` and this process's ``sys.argv`` (for a measured result); the commit, the UTC date and
    the machine are filled in unless given in ``extra`` (a transcription passes them, and ``source``).
    An existing file of the same name is replaced: rerunning a study updates its result.
    """
    record = {"study": study, "name": name,
              "command": command if command is not None or provenance != "measured" else "python " + " ".join(sys.argv),
              "commit": extra.pop("commit") if "commit" in extra else git_commit(),
              "date": extra.pop("date") if "date" in extra else
              datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": extra.pop("machine") if "machine" in extra else machine(),
              "seeds": _jsonable(seeds), "data": _jsonable(data), "numbers": _jsonable(numbers), "notes": notes,
              "provenance": provenance, **_jsonable(extra)}
    validate(record)
    path = Path(root or RESULTS) / study / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return path


def load_results(root=None) -> list[dict]:
    """Every ``<root>/<study>/<name>.json``, validated, sorted by study and name; each gets ``path`` added."""
    root = Path(root or RESULTS)
    out = []
    for path in sorted(root.glob("*/*.json")):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ResultError(f"{path}: not valid JSON ({exc}); fix it or rerun the study that wrote it") from None
        if not isinstance(record, dict):
            raise ResultError(f"{path}: holds {type(record).__name__}, not a result dictionary")
        out.append({**validate(record, path), "path": str(path)})
    return out


def slug(parts) -> str:
    """A file name from settings: ``["d_aux_weight=1", "seed=1"]`` -> ``"d_aux_weight=1_seed=1"``; ``"default"``."""
    text = "_".join(str(p) for p in parts if str(p)) or "default"
    return "".join(c if c.isalnum() or c in "=._-+" else "-" for c in text)


def add_result_options(parser) -> None:
    """``--result NAME`` (the file name under results/<study>/) and ``--no-result`` (a dry run writes nothing)."""
    parser.add_argument("--result", default=None, metavar="NAME",
                        help="name of the result file, results/<study>/NAME.json (default: from the settings)")
    parser.add_argument("--no-result", action="store_true", help="dry run: write no result file")


def save_result(args, study: str, default_name: str, numbers: dict, *, seeds, data: dict, notes=None, **extra):
    """What a lab script calls last: write the result unless ``--no-result``; print and return the path.

    ``extra`` (e.g. ``title``) goes into the file as :func:`write_result` writes it.
    """
    if getattr(args, "no_result", False):
        print("--no-result: no result file written")
        return None
    path = write_result(study, args.result or default_name, numbers, seeds=seeds, data=data, notes=notes, **extra)
    print(f"result written: {path} (render the page with: python tools/render_results.py)")
    return path

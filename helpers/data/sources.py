"""Choosing a data source: :data:`SOURCES`, the one list of them, and what ``DATA_SOURCE="auto"`` decides.

``"auto"`` picks ChestMNIST when it is on disk or can be downloaded, the phantoms otherwise
(:func:`resolve_source` says which and why, in one line).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

from helpers.data.chestmnist import (CHESTMNIST_GB, _chestmnist_note, chestmnist_file_size, chestmnist_reachable,
                                     find_chestmnist_npz)
from helpers.data.common import DataError
from helpers.data.nih import find_metadata


#: Every value ``DATA_SOURCE`` may take: the one list of them. The course runner's ``--data-source``
#: (``helpers.course.DATA_SOURCES`` is this tuple), the notebooks' settings and ``load_dataset`` check against it.
SOURCES = ("auto", "phantom", "nih", "chestmnist", "folder")
#: ``CXR_GAN_OFFLINE=1`` makes ``DATA_SOURCE="auto"`` pick the phantoms without touching the network.
OFFLINE_ENV = "CXR_GAN_OFFLINE"


class SourceChoice(NamedTuple):
    """What :func:`resolve_source` decided: a concrete ``source``, its folder and why, in one line."""

    source: str
    data_dir: Path
    reason: str


#: Decisions ``"auto"`` made in this process, by (folder, size), so a later ``load_dataset("auto", folder)``
#: keeps the choice even if the network came or went in between.
_AUTO_CHOICES: dict = {}


def _holds_nih_layout(folder: Path) -> str | None:
    """'phantom' or 'nih' when ``folder`` already holds an NIH-layout dataset (metadata CSV), else None."""
    try:
        csv_path = find_metadata(folder)
    except FileNotFoundError:
        return None
    readme = csv_path.parent / "README.md"
    is_phantom = readme.is_file() and readme.read_text(errors="replace").startswith("# Phantom")
    return "phantom" if is_phantom else "nih"


def resolve_source(source: str = "auto", data_dir=None, size: int = 64, *, phantom_dir=None, offline=None,
                   record=None, timeout: float = 3.0, verbose: bool = True) -> SourceChoice:
    """Turn ``DATA_SOURCE`` into a concrete source and folder: :class:`SourceChoice` ``(source, data_dir, reason)``.

    Explicit sources are returned as they are, with their default folders (``phantom``:
    ``phantom_dir`` or ``data/phantoms-<size>``; ``chestmnist``: ``data/chestmnist``);
    ``nih`` and ``folder`` need ``data_dir``. ``"auto"`` decides, in this order, and prints
    the decision and its reason in one line:

    1. the decision already made in this process for this folder and size, or the one
       stored in ``record`` (a JSON file, e.g. ``RUN_DIR/data_source.json``, so every
       notebook of one run uses the same data; delete it to decide again);
    2. ``offline`` given (a reason, e.g. ``"smoke mode"``): ``phantom``, nothing else looked at;
    3. ``data_dir`` already holds an NIH-layout dataset: ``phantom`` or ``nih`` (from its README);
    4. a ChestMNIST file for ``size`` (same or larger) is in ``data_dir`` (default
       ``data/chestmnist``): ``chestmnist``, no network needed;
    5. ``CXR_GAN_OFFLINE=1`` in the environment: ``phantom``, no network check;
    6. the Zenodo download answers a HEAD request within ``timeout`` seconds: ``chestmnist``
       at ``size`` px (64/128/224 exist; another size reads the nearest larger file and says so);
    7. otherwise ``phantom`` (in ``phantom_dir``, never in a ChestMNIST folder).

    With ``"auto"``, ``data_dir`` is the ChestMNIST folder (where the file is or will be
    downloaded); the phantoms always go to ``phantom_dir``.
    """
    if source not in SOURCES:
        raise DataError(f"DATA_SOURCE {source!r} is unknown; use one of {', '.join(SOURCES)}")
    phantom_default = Path(phantom_dir or f"data/phantoms-{size}")
    if source != "auto":
        if source in ("nih", "folder") and not data_dir:
            what = ("the folder with the metadata CSV and images_* folders" if source == "nih" else
                    "a folder with one sub-folder of images per condition, optionally under train/val/test")
            raise DataError(f"DATA_SOURCE {source!r} needs DATA_DIR: {what}")
        default = {"phantom": phantom_default, "chestmnist": Path("data/chestmnist")}.get(source)
        return SourceChoice(source, Path(data_dir) if data_dir else default, "asked for")
    key = (str(Path(data_dir).resolve()) if data_dir else None, size)
    choice, when = _AUTO_CHOICES.get(key), "decided earlier in this session"
    record = Path(record) if record else None
    asked = {"data_dir": key[0], "size": size, "phantom_dir": str(phantom_default.resolve()), "offline": bool(offline)}
    if choice is None and record is not None and record.is_file():
        try:
            saved = json.loads(record.read_text())
            if saved.get("asked") == asked:
                choice = SourceChoice(saved["source"], Path(saved["data_dir"]), saved["reason"])
                when = f"decided earlier for this run, stored in {record}; delete it to decide again"
        except (ValueError, KeyError, TypeError):
            choice = None  # an unreadable record is decided again and overwritten
    if choice is None:
        when = ""
        choice = _decide_auto(data_dir, size, phantom_default, offline, timeout)
        if record is not None:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"asked": asked, "source": choice.source, "data_dir": str(choice.data_dir),
                                          "reason": choice.reason}, indent=1))
    _AUTO_CHOICES[key] = _AUTO_CHOICES[(str(Path(choice.data_dir).resolve()), size)] = choice
    if verbose:
        print(f"DATA_SOURCE auto -> {choice.source} ({choice.data_dir}): {choice.reason}"
              + (f" [{when}]" if when else ""), flush=True)
    return choice


def _decide_auto(data_dir, size: int, phantom_dir: Path, offline, timeout: float) -> SourceChoice:
    """Steps 2-7 of :func:`resolve_source`'s ``"auto"``: no memory, one network check at most."""
    if offline:
        return SourceChoice("phantom", phantom_dir, f"{offline}: the offline phantoms, nothing downloaded")
    if data_dir is not None and Path(data_dir).is_dir():
        kind = _holds_nih_layout(Path(data_dir))
        if kind:
            return SourceChoice(kind, Path(data_dir), f"DATA_DIR already holds an NIH-layout {kind} dataset")
    chest_dir = Path(data_dir or "data/chestmnist")
    npz = find_chestmnist_npz(chest_dir, size, allow_smaller=False)
    if npz is not None:
        note = "" if npz.stem.endswith(f"_{size}") else f", downscaled to {size} px"
        return SourceChoice("chestmnist", chest_dir, f"{npz.name} is already in {chest_dir}{note} (no download)")
    if os.environ.get(OFFLINE_ENV, "") == "1":
        return SourceChoice("phantom", phantom_dir, f"{OFFLINE_ENV}=1: the offline phantoms, no network check")
    ok, why = chestmnist_reachable(size, timeout)
    file_size = chestmnist_file_size(size)
    if ok:
        return SourceChoice("chestmnist", chest_dir,
                            f"ChestMNIST can be downloaded ({why}): chestmnist_{file_size}.npz, about "
                            f"{CHESTMNIST_GB[file_size]:g} GB, into {chest_dir}{_chestmnist_note(size)}")
    return SourceChoice("phantom", phantom_dir, f"ChestMNIST cannot be downloaded ({why}): the offline phantoms")

"""Reading chest X-ray data the way learners actually have it.

Four sources, one shape of result (a table with one row per usable image):

- **NIH ChestX-ray14** in the NIH / Kaggle layout: a metadata CSV
  (``Data_Entry_2017_v2020.csv``, ``Data_Entry_2017.csv`` with its trailing comma,
  or the Kaggle sample's ``sample_labels.csv``) beside PNGs under
  ``images_*/images/`` or in one flat folder. Partial downloads are normal: the
  images present are used and the missing ones are counted.
- **MedMNIST+ ChestMNIST** ``.npz`` files (64, 128 or 224 px), downloaded from the
  official Zenodo record with an MD5 check, no PyTorch needed.
- **Phantoms** (:mod:`helpers.phantoms`), written in the NIH layout, so they are
  read by the same NIH loader.
- **Class folders** (``DATA_SOURCE="folder"``): the layout of
  ``keras.utils.image_dataset_from_directory`` and most Kaggle sets, one folder of
  images per condition, optionally under ``train``/``val``/``test`` folders; the
  conditions are the folder names (:func:`load_folder`).

``DATA_SOURCE="auto"`` picks one (:func:`resolve_source`): ChestMNIST when it is on disk
or can be downloaded, the phantoms otherwise.

Splits are by patient: no patient appears in two splits (for class folders, wherever
the file names carry a patient id; see :data:`PATIENT_PATTERNS`).

Command line: ``python -m helpers.data DATA_DIR`` summarises a dataset folder from its
metadata or file listing (images per condition, present and missing, patients, splits)
without decoding a single image.

Data credit: NIH Clinical Center, https://nihcc.app.box.com/v/ChestXray-NIHCC ;
Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM, "ChestX-ray8: Hospital-scale
Chest X-ray Database and Benchmarks on Weakly-Supervised Classification and
Localization of Common Thorax Diseases", IEEE CVPR 2017.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers import CLASSES

#: All labels that occur in NIH ChestX-ray14's ``Finding Labels``.
NIH_LABELS = (
    "No Finding", "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass",
    "Nodule", "Pneumonia", "Pneumothorax", "Consolidation", "Edema", "Emphysema",
    "Fibrosis", "Pleural_Thickening", "Hernia",
)

#: Metadata file names we recognise, most preferred first.
METADATA_NAMES = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv", "sample_labels.csv")

#: The first seven columns, common to every NIH metadata variant, and our names for them.
_LEADING_COLUMNS = {
    "Image Index": "image",
    "Finding Labels": "finding_labels",
    "Follow-up #": "follow_up",
    "Patient ID": "patient",
    "Patient Age": "age",
    "Patient Gender": "sex",
    "View Position": "view",
}
_TRAILING_COLUMNS = ("width", "height", "spacing_x", "spacing_y")

#: ChestMNIST's 14 labels, in the order of its multi-hot label vectors.
CHESTMNIST_LABELS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule",
    "Pneumonia", "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis",
    "Pleural_Thickening", "Hernia",
)

#: Official MedMNIST+ files on Zenodo (record 10519652) and their MD5 sums.
CHESTMNIST_FILES = {
    64: ("https://zenodo.org/records/10519652/files/chestmnist_64.npz?download=1",
         "9de6cd0b934ebb5b7426cfba5efbae16"),
    128: ("https://zenodo.org/records/10519652/files/chestmnist_128.npz?download=1",
          "db107e5590b27930b62dbaf558aebee3"),
    224: ("https://zenodo.org/records/10519652/files/chestmnist_224.npz?download=1",
          "45bd33e6f06c3e8cdb481c74a89152aa"),
}

NIH_KAGGLE_DATASET = "nih-chest-xrays/data"

#: Single-label images per course class in the full NIH metadata (v2020), 85,116 in all.
NIH_SINGLE_LABEL_COUNTS = {
    "No Finding": 60361, "Atelectasis": 4215, "Effusion": 3955, "Infiltration": 9547,
    "Mass": 2139, "Nodule": 2705, "Pneumothorax": 2194,
}


class DataError(ValueError):
    """Bad or unusable input data; the message names the file, the value and the fix."""


class ImageReadError(OSError):
    """An image file that cannot be decoded (truncated, corrupt or not an image)."""


@contextlib.contextmanager
def file_lock(path, what: str = "the same work"):
    """Hold an exclusive lock on the file ``path`` (created if missing) while the ``with`` block runs.

    Used around work that two processes must not do at once in the same place: building a
    decode cache, writing phantoms, downloading a file. Another process asking for the same
    lock waits, after printing one line saying what for (``what``) and which lock file, so a
    second notebook or script started at the same time reuses the first one's result
    instead of colliding with it. ``fcntl.flock`` on Linux and macOS; ``msvcrt.locking`` on
    Windows; where neither exists, no lock is taken (a warning says so once). The lock
    file stays behind (removing it would race with a waiting process); it is empty.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        fcntl = None
    with open(path, "a+b") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                print(f"waiting for another process that is {what} (lock {path})", flush=True)
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return
        try:
            import msvcrt
        except ImportError:
            if not _LOCK_WARNED:
                _LOCK_WARNED.append(True)
                warnings.warn("no file locking on this platform: do not start two processes that build the "
                              "same dataset or cache at once", stacklevel=3)
            yield path
            return
        told = False
        while True:
            try:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
                break
            except OSError:
                if not told:
                    print(f"waiting for another process that is {what} (lock {path})", flush=True)
                    told = True
                time.sleep(0.5)
        try:
            yield path
        finally:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)


_LOCK_WARNED: list = []


# --------------------------------------------------------------------------- metadata

def find_metadata(data_dir) -> Path:
    """Return the NIH metadata CSV in ``data_dir`` (or one folder below it)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"data folder {data_dir} does not exist. Download NIH ChestX-ray14 with "
            "helpers.data.download_nih(), or write phantoms with "
            f"`python -m helpers.phantoms {data_dir}`.")
    for name in METADATA_NAMES:
        for candidate in [data_dir / name, *sorted(data_dir.glob(f"*/{name}"))]:
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(
        f"no NIH metadata CSV in {data_dir}: looked for {', '.join(METADATA_NAMES)}. "
        "Put the CSV from the NIH/Kaggle download beside the images_* folders.")


def _parse_age(value) -> float:
    """NIH ages are integers (v2020) or strings such as '058Y' (older copies)."""
    if pd.isna(value):
        return np.nan
    text = str(value).strip()
    match = re.fullmatch(r"(\d+)\s*([YMDW]?)", text, flags=re.IGNORECASE)
    if not match:
        return np.nan
    number, unit = float(match.group(1)), match.group(2).upper()
    return {"": number, "Y": number, "M": number / 12, "W": number / 52, "D": number / 365}[unit]


def read_nih_metadata(csv_path) -> pd.DataFrame:
    """Read any NIH metadata variant into a tidy table.

    Columns: ``image, finding_labels, follow_up, patient, age, sex, view`` and, when
    present, ``width, height, spacing_x, spacing_y``. Handles the bracketed header
    names that contain commas (``OriginalImage[Width,Height]``), the 2017 file's
    trailing comma and the Kaggle sample's renamed columns. Rows without an image
    name or a numeric patient id are dropped with a warning that counts them.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"NIH metadata file {csv_path} not found")
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        header = [h.strip() for h in f.readline().rstrip("\r\n").split(",")]
    missing = [c for c in _LEADING_COLUMNS if c not in header[:7]]
    if missing:
        raise DataError(
            f"{csv_path} is not an NIH ChestX-ray14 metadata file: its header "
            f"{','.join(header[:8])!r} lacks {', '.join(missing)}. Expected the header of "
            "Data_Entry_2017_v2020.csv (first columns: " + ", ".join(_LEADING_COLUMNS) + ").")
    raw = pd.read_csv(csv_path, header=None, skiprows=1, dtype=str, keep_default_na=False,
                      skip_blank_lines=True, encoding="utf-8-sig")
    names = list(_LEADING_COLUMNS.values()) + list(_TRAILING_COLUMNS)
    raw = raw.iloc[:, : min(raw.shape[1], len(names))]
    raw.columns = names[: raw.shape[1]]
    df = raw.copy()
    df["image"] = df["image"].str.strip()
    df["finding_labels"] = df["finding_labels"].str.strip()
    df["patient"] = pd.to_numeric(df["patient"], errors="coerce")
    df["follow_up"] = pd.to_numeric(df["follow_up"], errors="coerce")
    df["age"] = df["age"].map(_parse_age)
    for col in _TRAILING_COLUMNS:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    bad = (df["image"] == "") | df["patient"].isna() | (df["finding_labels"] == "")
    if bad.any():
        examples = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
        warnings.warn(f"{csv_path}: skipped {int(bad.sum())} of {len(df)} rows without an image "
                      f"name, finding labels or numeric Patient ID (CSV lines {examples}...)", stacklevel=2)
        df = df[~bad]
    df["patient"] = df["patient"].astype(np.int64)
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------- classes

def check_classes(classes, known=NIH_LABELS, folder=None) -> tuple[str, ...]:
    """Validate class names against ``known`` (NIH's labels); raise with the valid names if one is unknown.

    With ``folder`` (a class-folder dataset), ``known`` are its class folders and the message says so.
    """
    classes = tuple(classes)
    unknown = [c for c in classes if c not in known]
    if unknown and folder is not None:
        raise DataError(f"class name(s) {', '.join(map(repr, unknown))} not found in {folder}; the class folders "
                        f"there are: {', '.join(known) or 'none'}")
    if unknown:
        raise DataError(f"unknown class name(s) {', '.join(map(repr, unknown))}; "
                        f"valid names are: {', '.join(known)}")
    if len(set(classes)) != len(classes):
        raise DataError(f"class names repeat in {classes!r}; list each once")
    return classes


def select_classes(df: pd.DataFrame, classes=CLASSES, multi_label: bool = False) -> pd.DataFrame:
    """Keep images of the chosen classes and add integer ``label`` and text ``condition`` columns.

    By default only single-label images are kept (as the original prototype did).
    With ``multi_label=True`` an image is also admitted when several of its findings
    exist, if at least one is among ``classes``; it is assigned the *rarest* of its
    selected findings (so small classes gain images), and its full label string stays
    in ``finding_labels``. Findings outside ``classes`` are ignored then.

    Class names are NIH's labels, or any other label the table's findings hold (a synthetic
    dataset exported from a generator of class folders, e.g. ``NORMAL``/``PNEUMONIA``).
    """
    findings = df["finding_labels"].str.split("|")
    others = sorted(set(findings.explode().dropna()) - set(NIH_LABELS))
    classes = check_classes(classes, known=(*NIH_LABELS, *others))
    n_findings = findings.map(len)
    if not multi_label:
        mask = (n_findings == 1) & df["finding_labels"].isin(classes)
        out = df[mask].copy()
        out["condition"] = out["finding_labels"]
    else:
        single = df["finding_labels"][n_findings == 1]
        counts = single[single.isin(classes)].value_counts()
        rank = {c: counts.get(c, 0) for c in classes}

        def pick(labels):
            chosen = [x for x in labels if x in rank]
            return min(chosen, key=lambda c: rank[c]) if chosen else None
        condition = findings.map(pick)
        out = df[condition.notna()].copy()
        out["condition"] = condition[condition.notna()]
    out["label"] = out["condition"].map({c: i for i, c in enumerate(classes)}).astype(np.int64)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- images on disk

def index_images(data_dir) -> dict[str, Path]:
    """Map image file name to path for PNGs under ``images_*/images/``, ``images*/`` or flat in ``data_dir``."""
    data_dir = Path(data_dir)
    folders = [data_dir]
    for entry in sorted(data_dir.iterdir()) if data_dir.is_dir() else []:
        if entry.is_dir() and entry.name.startswith("images"):
            folders.append(entry)
            if (entry / "images").is_dir():
                folders.append(entry / "images")
    found: dict[str, Path] = {}
    for folder in folders:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.lower().endswith(".png") and e.is_file():
                    found.setdefault(e.name, Path(e.path))
    return found


def open_gray8(path):
    """Decode an image file to an 8-bit grayscale (mode ``L``) Pillow image.

    8-bit grayscale is returned as is; RGB, RGBA, palette and gray+alpha images are
    converted with ITU-R 601 luma (alpha dropped); 16-bit and 32-bit images are
    rescaled from their own minimum..maximum to 0..255 (never clipped at 255).
    A truncated or corrupt file raises :class:`ImageReadError` naming the file.
    Staying in Pillow (no NumPy round trip of the full-size image) keeps decoding fast.
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode == "L":
                return img  # pixels are loaded; closing the file keeps them
            if mode in ("I", "F") or mode.startswith("I;16"):
                arr = np.asarray(img).astype(np.float64)
                lo, hi = float(arr.min()), float(arr.max())
                scaled = np.zeros(arr.shape, np.uint8) if hi <= lo else \
                    np.round((arr - lo) / (hi - lo) * 255.0).astype(np.uint8)
                return Image.fromarray(scaled, mode="L")
            if mode in ("RGBA", "LA", "PA"):
                img = img.convert("RGBA").convert("RGB")
            return img.convert("L")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # PIL's errors for bad files
        raise ImageReadError(f"cannot decode {path}: {exc}") from exc


def read_gray8(path) -> np.ndarray:
    """Decode an image file to an 8-bit grayscale ``(H, W)`` uint8 array (see :func:`open_gray8`)."""
    return np.asarray(open_gray8(path), dtype=np.uint8)


# --------------------------------------------------------------------------- splits

def split_by_patient(df: pd.DataFrame, data_dir=None, val_fraction: float = 0.1,
                     test_fraction: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """Add a ``split`` column (train / val / test) with no patient in two splits.

    When ``data_dir`` holds NIH's official ``train_val_list.txt`` and ``test_list.txt``,
    the official test split is used and validation is carved out of train_val by
    patient. Otherwise patients are shuffled with ``seed`` and assigned by fraction.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DataError(f"split fractions val={val_fraction}, test={test_fraction} must each be in "
                        "[0, 1) and sum to less than 1")
    df = df.copy()
    rng = np.random.default_rng(seed)
    patients = np.array(sorted(df["patient"].unique()))
    official = None
    if data_dir is not None:
        for folder in [Path(data_dir), *Path(data_dir).glob("*/")]:
            if (folder / "test_list.txt").is_file():
                official = folder
                break
    split = pd.Series("train", index=df.index, dtype=object)
    if official is not None:
        test_names = set((official / "test_list.txt").read_text().split())
        is_test = df["image"].isin(test_names)
        test_patients = set(df.loc[is_test, "patient"])
        # the official lists are patient-disjoint; keep it so even if a partial copy is not
        split[df["patient"].isin(test_patients)] = "test"
        rest = np.array(sorted(set(patients) - test_patients))
        rng.shuffle(rest)
        n_val = round(len(rest) * val_fraction / max(1 - test_fraction, 1e-9))
        split[df["patient"].isin(set(rest[:n_val]))] = "val"
    else:
        rng.shuffle(patients)
        n_test = round(len(patients) * test_fraction)
        n_val = round(len(patients) * val_fraction)
        split[df["patient"].isin(set(patients[:n_test]))] = "test"
        split[df["patient"].isin(set(patients[n_test:n_test + n_val]))] = "val"
    df["split"] = split.values
    assert_patient_disjoint(df)
    return df


def _has_patient(df: pd.DataFrame) -> pd.Series:
    """Per image: does it have a patient id? (NIH and phantoms: integers, ChestMNIST: -1 for none;
    class folders: the id read from the file name, or None where it could not be read.)"""
    known = df["patient"].notna()
    if pd.api.types.is_numeric_dtype(df["patient"]):
        known &= df["patient"] >= 0
    return known


def patient_ids_known(df: pd.DataFrame) -> bool:
    """True when every image of a table has a patient id."""
    return bool(_has_patient(df).all())


def assert_patient_disjoint(df: pd.DataFrame) -> None:
    """Raise if any patient appears in more than one split (images without a patient id are not checked)."""
    if "patient" not in df or not len(df):
        return
    known = _has_patient(df)
    per_patient = df[known].groupby("patient")["split"].nunique()
    leaking = per_patient[per_patient > 1]
    if len(leaking):
        raise DataError(f"{len(leaking)} patients appear in several splits (e.g. {list(leaking.index[:5])}); "
                        "splits must be by patient")


# --------------------------------------------------------------------------- loading NIH

@dataclass
class LoadReport:
    """What a loader found: counts of listed, selected, present and missing images."""

    metadata: str = ""
    listed: int = 0
    selected: int = 0
    present: int = 0
    missing: int = 0
    skipped: dict = field(default_factory=dict)  # file name -> reason (filled by the cache)
    ignored: dict = field(default_factory=dict)  # file -> why it is not an image of the dataset (folder source)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"metadata: {self.metadata}",
               (f"listed images: {self.listed:,}; selected by class: {self.selected:,}; "
                f"present on disk: {self.present:,}; missing: {self.missing:,}")]
        if self.ignored:
            out.append(f"ignored files (not images of a class folder): {len(self.ignored):,}")
            out += [f"  {name}: {why}" for name, why in list(self.ignored.items())[:5]]
        if self.skipped:
            out.append(f"skipped while decoding: {len(self.skipped):,}")
            out += [f"  {name}: {why}" for name, why in list(self.skipped.items())[:10]]
        return out


def _locate_selected(data_dir, classes, multi_label):
    """Metadata, the selected rows and each one's path on disk (NaN where missing): no image is opened."""
    data_dir = Path(data_dir)
    csv_path = find_metadata(data_dir)
    meta = read_nih_metadata(csv_path)
    selected = select_classes(meta, classes, multi_label)
    files = index_images(csv_path.parent)
    if csv_path.parent != data_dir:
        files.update({k: v for k, v in index_images(data_dir).items() if k not in files})
    return csv_path, meta, selected, selected["image"].map(files)


def load_nih(data_dir, classes=CLASSES, multi_label: bool = False, val_fraction: float = 0.1,
             test_fraction: float = 0.2, seed: int = 0, verbose: bool = True):
    """Load an NIH-layout dataset: metadata, class selection, present images, patient splits.

    Returns ``(table, report)``: ``table`` has one row per selected image that is on disk
    (columns of :func:`read_nih_metadata` plus ``path``, ``condition``, ``label``,
    ``split``); ``report`` is a :class:`LoadReport`. Images listed in the CSV but not on
    disk (a partial download) are counted in ``report.missing`` and reported.
    """
    csv_path, meta, selected, paths = _locate_selected(data_dir, classes, multi_label)
    report = LoadReport(metadata=str(csv_path), listed=len(meta), selected=len(selected),
                        present=int(paths.notna().sum()), missing=int(paths.isna().sum()))
    table = selected[paths.notna()].copy()
    table["path"] = paths[paths.notna()].map(str)
    if table.empty:
        raise DataError(
            f"none of the {len(selected):,} selected images listed in {csv_path} is on disk under "
            f"{csv_path.parent} (looked in images_*/images/, images*/ and the folder itself). "
            "Check DATA_DIR points at the folder holding the images_* folders.")
    table = split_by_patient(table.reset_index(drop=True), csv_path.parent, val_fraction, test_fraction, seed)
    if verbose and report.missing:
        print(f"{report.missing:,} of {report.selected:,} selected images listed in {csv_path.name} are not "
              f"on disk (a partial download?); using the {report.present:,} present.")
    return table, report


# --------------------------------------------------------------------------- ChestMNIST

def chestmnist_conditions(labels: np.ndarray, classes=CLASSES, multi_label: bool = False):
    """Map ChestMNIST multi-hot rows to course conditions.

    An all-zero row means No Finding. Returns ``(keep_mask, condition_names)``; with
    ``multi_label=False`` only rows with exactly one positive in ``classes`` (or none,
    for No Finding) are kept; with ``multi_label=True`` rows with any selected finding
    are kept and assigned the rarest one.
    """
    classes = check_classes(classes)
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != len(CHESTMNIST_LABELS):
        raise DataError(f"ChestMNIST labels must have shape (N, 14), got {labels.shape}")
    counts = labels.sum(1)
    names = np.array(CHESTMNIST_LABELS)
    conditions = np.full(len(labels), None, dtype=object)
    conditions[counts == 0] = "No Finding"
    single = counts == 1
    conditions[single] = names[labels[single].argmax(1)]
    if multi_label:
        frequency = {c: int(((counts == 1) & (conditions == c)).sum()) for c in classes}
        for i in np.flatnonzero(counts > 1):
            chosen = [c for c in names[labels[i] > 0] if c in frequency]
            conditions[i] = min(chosen, key=frequency.get) if chosen else None
    keep = np.array([c in classes for c in conditions])
    return keep, conditions


def load_chestmnist_npz(npz_path, classes=CLASSES, multi_label: bool = False):
    """Read a MedMNIST+ ChestMNIST ``.npz`` into ``(images, table)``.

    ``images`` is uint8 ``(N, S, S)``; ``table`` has ``condition``, ``label`` and
    ``split`` (MedMNIST's official train/val/test, which follows NIH's patient-wise
    split; patient ids are not in the file, so ``patient`` is -1).
    """
    npz_path = Path(npz_path)
    if not npz_path.is_file():
        raise FileNotFoundError(f"ChestMNIST file {npz_path} not found; download it with "
                                "helpers.data.download_chestmnist(size, folder)")
    classes = check_classes(classes)
    images, tables = [], []
    with np.load(npz_path) as npz:
        for split in ("train", "val", "test"):
            if f"{split}_images" not in npz or f"{split}_labels" not in npz:
                raise DataError(f"{npz_path} lacks {split}_images/{split}_labels; keys are "
                                f"{sorted(npz.keys())}. Is it a MedMNIST ChestMNIST file?")
            x, y = npz[f"{split}_images"], npz[f"{split}_labels"]
            if x.ndim == 4:  # (N, S, S, 1) or (N, 1, S, S)
                x = x.reshape(x.shape[0], x.shape[-2] if x.shape[1] == 1 else x.shape[1], -1)
            keep, conditions = chestmnist_conditions(y, classes, multi_label)
            images.append(x[keep].astype(np.uint8))
            t = pd.DataFrame({"image": [f"chestmnist_{split}_{i:06d}" for i in np.flatnonzero(keep)],
                              "condition": conditions[keep], "split": split, "patient": -1})
            tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    table["label"] = table["condition"].map({c: i for i, c in enumerate(classes)}).astype(np.int64)
    return np.concatenate(images), table


def md5sum(path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def download_chestmnist(size: int = 64, folder="data/chestmnist") -> Path:
    """Download ChestMNIST at ``size`` (64, 128 or 224) from Zenodo and verify its MD5.

    No credentials needed; about 0.4 GB at 64 px, 1.6 GB at 128 px, 5 GB at 224 px.
    Reuses a file already present with the right checksum; a partial download is
    written to ``*.part`` and only renamed once complete and verified.
    """
    if size not in CHESTMNIST_FILES:
        raise DataError(f"ChestMNIST size {size} is not published; choose one of {sorted(CHESTMNIST_FILES)}")
    url, md5 = CHESTMNIST_FILES[size]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"chestmnist_{size}.npz"
    if target.is_file() and md5sum(target) == md5:
        return target
    with file_lock(folder / f".chestmnist_{size}.lock", f"downloading {target.name}"):
        if target.is_file() and md5sum(target) == md5:  # another process downloaded it while we waited
            return target
        return _download_verified(url, md5, target)


def _download_verified(url: str, md5: str, target: Path) -> Path:
    """Download ``url`` to ``target`` via ``target.npz.part``; rename only once the MD5 matches."""
    part = target.with_suffix(".npz.part")
    from tqdm.auto import tqdm
    with urllib.request.urlopen(url) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))
    got = md5sum(part)
    if got != md5:
        raise DataError(f"{part} has MD5 {got}, expected {md5}: the download is incomplete or altered. "
                        "Delete it and download again.")
    part.replace(target)
    return target


def download_nih(folder=None, method: str = "kagglehub") -> Path:
    """Download NIH ChestX-ray14 (about 45 GB) from Kaggle and return its folder.

    ``method="kagglehub"`` uses the ``kagglehub`` package (``pip install kagglehub``),
    which caches the dataset and returns its path. ``method="kaggle"`` runs the Kaggle
    CLI into ``folder``. Both need Kaggle credentials: create an API token on
    kaggle.com (Settings -> API -> Create New Token) and either put ``kaggle.json`` in
    ``~/.kaggle/`` or set ``KAGGLE_USERNAME`` and ``KAGGLE_KEY``; in Colab, store both
    as Colab secrets and export them before calling this. Only part of the images?
    That works: loaders use what is present and count what is missing.
    """
    if method == "kagglehub":
        try:
            import kagglehub
        except ImportError as exc:
            raise ImportError("download_nih(method='kagglehub') needs `pip install kagglehub`") from exc
        return Path(kagglehub.dataset_download(NIH_KAGGLE_DATASET))
    if method == "kaggle":
        import subprocess
        folder = Path(folder or "data/nih")
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["kaggle", "datasets", "download", "-d", NIH_KAGGLE_DATASET, "-p", str(folder), "--unzip"],
                       check=True)
        return folder
    raise DataError(f"download method {method!r} is unknown; use 'kagglehub' or 'kaggle'")


# --------------------------------------------------------------------------- class folders

#: File name endings read as images in class folders (case-insensitive); other files are counted and skipped.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
#: Split folder names (case-insensitive) and the split each one means.
SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "test": "test", "testing": "test"}
SPLITS = ("train", "val", "test")
#: Folders that archives and operating systems add; never read as a class or split.
_SYSTEM_FOLDERS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints"}

#: How a patient id is read from an image's file name (the stem, without the extension), first match wins.
#: Each pattern must match the whole stem; its first group is the patient id. Images whose names match
#: none are split one by one (and a warning counts them, since that may put one patient in two splits).
PATIENT_PATTERNS = (
    # NIH ChestX-ray14: 00012345_001.png -> 00012345 (the patient number, then the follow-up number)
    ("NIH ChestX-ray14", re.compile(r"(\d{8})_\d{3}")),
    # Kermany et al. pneumonia: person123_bacteria_456.jpeg, person123_virus_78.jpeg -> person123
    ("Kermany pneumonia", re.compile(r"(person\d+)_(?:bacteria|virus)(?:_\d+)+", re.IGNORECASE)),
    # Kermany et al. normal: IM-0001-0001.jpeg -> IM-0001, NORMAL2-IM-1427-0001.jpeg -> NORMAL2-IM-1427.
    # The data set's README says XXXX "appears to number the patient within each prefix" (undocumented
    # by the source); grouping by it can only make splits stricter, never leak more.
    ("Kermany normal", re.compile(r"((?:NORMAL\d*-)?IM-\d+)(?:-\d+)+", re.IGNORECASE)),
    # CheXpert-style and other exports: patient00042_study1_view1_frontal, subject-7_2 -> patient00042, subject-7
    ("patient prefix", re.compile(r"((?:patient|subject)[-_]?\d+)(?:[-_].*)?", re.IGNORECASE)),
)

_EXPECTED_LAYOUT = ("expected DATA_DIR/<condition>/<image files> (one folder per condition, as for "
                    "keras.utils.image_dataset_from_directory) or DATA_DIR/<split>/<condition>/<image files> "
                    "with <split> one of train, val (or valid, validation), test")


def patient_from_filename(name: str) -> tuple[str | None, str | None]:
    """``(patient id, rule name)`` read from an image file name by :data:`PATIENT_PATTERNS`, or ``(None, None)``.

    >>> patient_from_filename("person123_bacteria_456.jpeg")
    ('person123', 'Kermany pneumonia')
    """
    stem = Path(name).stem
    for rule, pattern in PATIENT_PATTERNS:
        match = pattern.fullmatch(stem)
        if match:
            return match.group(1), rule
    return None, None


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in _SYSTEM_FOLDERS


def _listing(folder: Path) -> tuple[list, list]:
    """``(sub-folders, files)`` of ``folder`` as sorted ``os.DirEntry`` lists, hidden folders left out."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    dirs = [e for e in entries if e.is_dir() and not _is_hidden(e.name)]
    files = [e for e in entries if not e.is_dir()]
    return dirs, files


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def scan_image_folder(data_dir, classes=None) -> dict:
    """List a class-folder dataset without opening any image.

    Layouts (those of ``keras.utils.image_dataset_from_directory`` and most Kaggle sets):
    ``DATA_DIR/<condition>/*.png`` or ``DATA_DIR/<split>/<condition>/*.jpeg`` with split
    folders named ``train``, ``val``/``valid``/``validation``, ``test`` (any case). A folder
    holding only one sub-folder and no images (an archive's wrapper) is stepped into.
    Conditions are the class folder names, sorted, or ``classes`` to choose and order them.

    Returns ``{"root", "classes", "available", "listed", "split_folders", "table", "ignored", "notes"}``
    (``listed``: images in all class folders, chosen or not):
    ``table`` has one row per image of a chosen class: ``image`` (path relative to the
    root, unique), ``path``, ``condition``, ``label``, ``folder_split`` (None without split
    folders), ``patient`` and ``patient_rule`` (from the file name; None where unreadable),
    ``bytes`` and ``mtime_ns``. ``ignored`` maps each skipped file to the reason.

    Raises :class:`DataError` naming the folder for: no such folder, images outside class
    folders only, split folders mixed with other folders, folders nested deeper than the
    layout, an empty class folder, fewer than two classes, unknown or repeated ``classes``.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"DATA_DIR {root} does not exist or is not a folder; {_EXPECTED_LAYOUT}")
    notes: list[str] = []
    dirs, files = _listing(root)
    while len(dirs) == 1 and not any(_is_image_name(f.name) for f in files) \
            and dirs[0].name.lower() not in SPLIT_FOLDERS:
        inner_dirs, inner_files = _listing(Path(dirs[0].path))
        if len(inner_dirs) < 2 or any(_is_image_name(f.name) for f in inner_files):
            break  # a single class folder: reported below as fewer than two classes
        notes.append(f"{root} holds only the folder {dirs[0].name}/: reading the dataset inside it")
        root, dirs, files = Path(dirs[0].path), inner_dirs, inner_files
    ignored: dict[str, str] = {}

    def ignore_files(entries, base: Path, where: str):
        for entry in entries:
            rel = Path(entry.path).relative_to(base).as_posix()
            ignored[rel] = (f"an image {where}: not in a class folder" if _is_image_name(entry.name)
                            else f"not an image file ({Path(entry.name).suffix or 'no extension'}) {where}")

    split_dirs = [d for d in dirs if d.name.lower() in SPLIT_FOLDERS]
    if split_dirs and len(split_dirs) != len(dirs):
        others = [d.name for d in dirs if d not in split_dirs]
        raise DataError(f"{root} mixes split folders ({', '.join(d.name for d in split_dirs)}) with other folders "
                        f"({', '.join(others)}); {_EXPECTED_LAYOUT}")
    if not dirs:
        n_images = sum(_is_image_name(f.name) for f in files)
        raise DataError(f"{root} has no sub-folders" + (f" ({n_images} images lie directly in it)" if n_images else "")
                        + f"; {_EXPECTED_LAYOUT}")
    ignore_files(files, root, "at the top of DATA_DIR")
    groups = [(SPLIT_FOLDERS[d.name.lower()], Path(d.path)) for d in split_dirs] if split_dirs else [(None, root)]
    class_dirs: list[tuple[str | None, str, Path]] = []  # (split, class name, folder)
    for split, folder in groups:
        sub_dirs, sub_files = _listing(folder) if split else (dirs, [])
        if split:
            ignore_files(sub_files, root, f"in the split folder {folder.name}/")
        class_dirs += [(split, d.name, Path(d.path)) for d in sub_dirs]
    available = sorted({name for _, name, _ in class_dirs})
    chosen = tuple(available) if classes is None else check_classes(classes, available, folder=root)
    if len(chosen) < 2:
        found = f"only {chosen[0]!r}" if chosen else "no class folder"
        raise DataError(f"found {found} in {root}: a conditional GAN needs at least two conditions, one folder of "
                        f"images per condition; {_EXPECTED_LAYOUT}")
    label_of = {c: i for i, c in enumerate(chosen)}
    rows, listed = [], 0
    for split, name, folder in class_dirs:
        sub_dirs, sub_files = _listing(folder)
        if sub_dirs:
            raise DataError(f"class folder {folder} holds sub-folders ({', '.join(d.name for d in sub_dirs[:5])}): "
                            f"folders nest deeper than expected; {_EXPECTED_LAYOUT}. Move the images up into "
                            f"{folder.name}/ or point DATA_DIR at the folder that holds the class folders")
        images = [f for f in sub_files if _is_image_name(f.name)]
        ignore_files([f for f in sub_files if not _is_image_name(f.name)], root, f"in the class folder {name}/")
        if not images:
            raise DataError(f"class folder {folder} holds no images ({len(sub_files)} other files); add images "
                            f"(endings {', '.join(IMAGE_SUFFIXES)}) or remove the folder")
        listed += len(images)
        if name not in label_of:
            continue
        for entry in images:
            stat = entry.stat()
            patient, rule = patient_from_filename(entry.name)
            rows.append((Path(entry.path).relative_to(root).as_posix(), entry.path, name, label_of[name], split,
                         patient, rule, stat.st_size, stat.st_mtime_ns))
    table = pd.DataFrame(rows, columns=["image", "path", "condition", "label", "folder_split", "patient",
                                        "patient_rule", "bytes", "mtime_ns"])
    table["label"] = table["label"].astype(np.int64)
    return {"root": root, "classes": chosen, "available": tuple(available), "listed": listed,
            "split_folders": sorted({d.name for d in split_dirs}), "table": table, "ignored": ignored, "notes": notes}


def _hash_draw(counts: dict, patient: str, seed: int) -> str:
    """A key of ``counts`` drawn with odds proportional to its count, by a hash of ``patient`` and ``seed``.

    Deterministic (no random state), and over many patients each key is drawn as often as
    its counts say, so splits keep their sizes on average.
    """
    digest = hashlib.sha1(f"{seed}:{patient}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2.0 ** 64 * sum(counts.values())
    total = 0
    for key in sorted(counts):
        total += counts[key]
        if point < total:
            return key
    return sorted(counts)[-1]


def _split_patients(df: pd.DataFrame, fractions: dict, seed: int) -> pd.Series:
    """Assign each patient of ``df`` (column ``key``) to a split by ``fractions``, stratified by condition.

    A patient's stratum is its most frequent condition; patients are shuffled within each
    stratum (``seed``) and cut by the fractions, so small classes get val/test images too.
    Returns the split of each row.
    """
    rng = np.random.default_rng(seed)
    counts = df.groupby(["key", "label"]).size().reset_index(name="n")
    counts = counts.sort_values(["key", "n", "label"], ascending=[True, False, True]).drop_duplicates("key")
    major = pd.Series(counts["label"].to_numpy(), index=counts["key"].to_numpy())
    assignment = {}
    for label in sorted(major.unique()):
        patients = np.array(sorted(major.index[major == label]))
        rng.shuffle(patients)
        start = 0
        for split, fraction in fractions.items():
            n = round(len(patients) * fraction)
            assignment.update({p: split for p in patients[start:start + n]})
            start += n
        assignment.update({p: "train" for p in patients[start:]})
    return df["key"].map(assignment)


def split_folder_dataset(table: pd.DataFrame, val_fraction: float = 0.1, test_fraction: float = 0.2,
                         seed: int = 0, resplit: str = "proportional") -> tuple[pd.DataFrame, dict]:
    """Add ``split`` (train / val / test) to a :func:`scan_image_folder` table, by patient where names carry one.

    With split folders, each image keeps its folder's split unless its patient has images
    in several split folders: then all of that patient's images go to one of those splits.
    ``resplit="proportional"`` (default) draws it with odds equal to the patient's image
    counts there, so the splits keep the sizes the folders gave them on average;
    ``"majority"`` takes the split holding most of them (fewer images move, but train
    grows at the others' expense: on Kermany's 70/15/15 folders it ends near 79/11/10).
    Both draw by a hash of the patient id and ``seed``: deterministic. A split folder
    that is missing (val or test) is carved out of train by patient. Without split folders, patients are split with ``val_fraction`` and
    ``test_fraction`` (as for NIH), stratified by condition. Images whose names carry no
    patient are split one by one. Returns ``(table, info)``; ``info`` says how, and counts
    the patients and images moved between split folders (``moved``: ``{"from->to": n}``).
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DataError(f"split fractions val={val_fraction}, test={test_fraction} must each be in "
                        "[0, 1) and sum to less than 1")
    if resplit not in ("proportional", "majority"):
        raise DataError(f"resplit={resplit!r} is unknown; use 'proportional' or 'majority'")
    df = table.copy()
    known = df["patient"].notna()
    df["key"] = np.where(known, "p:" + df["patient"].astype(str), "i:" + df["image"])
    info = {"moved_patients": 0, "moved_images": 0, "moved": {}, "carved": []}
    if df["folder_split"].notna().any():
        df["split"] = df["folder_split"]
        per_patient = df[known].groupby("key")["split"].nunique()
        mixed = set(per_patient.index[per_patient > 1])
        counts = df[df["key"].isin(mixed)].groupby(["key", "split"]).size()
        target_of = {}
        for key, per_split in counts.groupby(level=0):
            per_split = per_split.droplevel(0)
            if resplit == "majority":
                tied = per_split[per_split == per_split.max()]
                target = _hash_draw({k: 1 for k in tied.index}, key, seed)
            else:
                target = _hash_draw({k: int(v) for k, v in per_split.items()}, key, seed)
            target_of[key] = target
            for source, n in per_split.items():
                if source != target:
                    info["moved"][f"{source}->{target}"] = info["moved"].get(f"{source}->{target}", 0) + int(n)
                    info["moved_images"] += int(n)
        moving = df["key"].isin(mixed)
        df.loc[moving, "split"] = df.loc[moving, "key"].map(target_of)
        info["moved_patients"] = info["mixed_patients"] = len(mixed)
        present = set(df["split"])
        missing = {s: f for s, f in (("val", val_fraction), ("test", test_fraction)) if s not in present and f > 0}
        if missing:
            train = df["split"] == "train"
            rest = 1 - sum(f for s, f in (("val", val_fraction), ("test", test_fraction)) if s in present)
            fractions = {s: f / rest for s, f in missing.items()}
            df.loc[train, "split"] = _split_patients(df[train], fractions, seed).to_numpy()
            info["carved"] = sorted(missing)
        how = "the split folders"
        if info["moved_patients"]:
            how += (f", re-split by patient: {info['moved_patients']:,} patients had images in several split folders; "
                    f"{info['moved_images']:,} images moved ("
                    + ", ".join(f"{k} {v:,}" for k, v in sorted(info["moved"].items()))
                    + (") to the split holding most of each patient's images" if resplit == "majority" else
                       ") to one split per patient, drawn with odds equal to the patient's images in each (keeps the "
                       "split sizes on average)") + "; deterministic: a hash of the patient id")
        else:
            how += " (no patient in two of them)"
        if info["carved"]:
            shares = ", ".join(f"{name} {dict(val=val_fraction, test=test_fraction)[name]:g}" for name in info["carved"])
            how += (f"; {' and '.join(info['carved'])} carved out of train by patient, stratified by condition "
                    f"(no such split folder; {shares} of the images)")
    else:
        df["split"] = _split_patients(df, {"test": test_fraction, "val": val_fraction}, seed).to_numpy()
        how = (f"no split folders: split by patient, stratified by condition (val {val_fraction:g}, "
               f"test {test_fraction:g}, seed {seed})")
    info["how"] = how
    info["images_without_patient"] = int((~known).sum())
    leaking = df[known].groupby("key")["split"].nunique()
    assert (leaking <= 1).all(), "a patient in two splits after re-splitting"  # guaranteed by construction
    return df.drop(columns="key"), info


def summarise_folder(data_dir, classes=None, val_fraction: float = 0.1, test_fraction: float = 0.2,
                     seed: int = 0, resplit: str = "proportional") -> dict:
    """What a class-folder dataset holds, from its file listing alone (no image is decoded).

    Lists it with :func:`scan_image_folder` and splits it with :func:`split_folder_dataset`
    (``resplit`` says where a patient found in several split folders goes).
    Returns ``{"report"}`` (a :class:`LoadReport`), ``"per_condition"`` (images per
    condition and split, with totals), ``"patients"`` (``total``, ``read`` from file names,
    per split, and ``rules``: images per :data:`PATIENT_PATTERNS` rule), ``"split"`` (the
    ``info`` of :func:`split_folder_dataset`), ``"table"`` (one row per image, with ``split``),
    ``"classes"``, ``"root"``, ``"split_folders"``, ``"notes"``.
    """
    listing = scan_image_folder(data_dir, classes)
    table, info = split_folder_dataset(listing["table"], val_fraction, test_fraction, seed, resplit)
    chosen = listing["classes"]
    report = LoadReport(metadata=f"{listing['root']} (class folders)", listed=listing["listed"], selected=len(table),
                        present=len(table), ignored=listing["ignored"])
    counts = pd.crosstab(pd.Categorical(table["condition"], categories=list(chosen)),
                         pd.Categorical(table["split"], categories=list(SPLITS)), dropna=False)
    per_condition = pd.DataFrame({s: counts[s].to_numpy() for s in SPLITS}, index=pd.Index(list(chosen)))
    per_condition["total"] = per_condition.sum(axis=1)
    per_condition.loc["total"] = per_condition.sum()
    per_condition.index.name = "condition"
    key = np.where(table["patient"].notna(), "p:" + table["patient"].astype(str), "i:" + table["image"])
    patients = {"total": int(len(set(key))), "read": int(table["patient"].nunique()),
                "rules": {str(k): int(v) for k, v in table["patient_rule"].value_counts().items()}}
    for split in SPLITS:
        patients[split] = int(len(set(key[(table["split"] == split).to_numpy()])))
    return {"report": report, "per_condition": per_condition, "patients": patients, "split": info, "table": table,
            "classes": chosen, "root": listing["root"], "split_folders": listing["split_folders"],
            "notes": listing["notes"], "available": listing["available"]}


def folder_summary_lines(summary: dict) -> list[str]:
    """Printable lines for a :func:`summarise_folder` result: classes, patients, how split, images per class per split."""
    root, classes, info, patients = summary["root"], summary["classes"], summary["split"], summary["patients"]
    report = summary["report"]
    lines = list(summary["notes"])
    chosen = "chosen with classes=" if tuple(classes) != tuple(summary["available"]) else "from the folder names"
    layout = (f"split folders {', '.join(summary['split_folders'])}" if summary["split_folders"]
              else "no split folders")
    lines.append(f"class-folder dataset {root}: {len(classes)} conditions ({chosen}: {', '.join(classes)}); {layout}")
    n_ignored = len(report.ignored)
    lines.append(f"images: {report.selected:,}"
                 + (f" of {report.listed:,} in all class folders" if report.listed != report.selected else "")
                 + (f"; ignored {n_ignored:,} other file{'s' if n_ignored != 1 else ''} "
                    f"(e.g. {', '.join(list(report.ignored)[:3])})" if n_ignored else ""))
    rules = ", ".join(f"{rule} {n:,} images" for rule, n in patients["rules"].items())
    without = info["images_without_patient"]
    lines.append(f"patients: {patients['read']:,} read from file names ({rules or 'no name carries a patient id'}); "
                 f"{without:,} images without a patient id" + (" (split one by one)" if without else "")
                 + f"; per split: train {patients['train']:,}, val {patients['val']:,}, test {patients['test']:,}")
    lines.append(f"split: {info['how']}")
    lines += ["images per condition and split (no image decoded):", summary["per_condition"].to_string()]
    return lines


def _warn_folder(summary: dict, batch_size: int | None) -> None:
    """The warnings a folder dataset deserves: skipped files, images without patient, classes smaller than a batch."""
    ignored = summary["report"].ignored
    if ignored:
        names = ", ".join(list(ignored)[:5])
        warnings.warn(f"skipped {len(ignored)} files in {summary['root']} that are not images of a class folder "
                      f"(e.g. {names}); images must end in {', '.join(IMAGE_SUFFIXES)}", stacklevel=3)
    table = summary["table"]
    without = table["patient"].isna()
    if without.any():
        examples = ", ".join(table.loc[without, "image"].head(3))
        warnings.warn(f"{int(without.sum())} of {len(table)} images in {summary['root']} carry no patient id in their "
                      f"file names (e.g. {examples}): they are split image by image, so one patient's images may sit "
                      "in two splits (leakage). Names such as <patient>_<n>.png, or the NIH/Kermany patterns in "
                      "helpers.data.PATIENT_PATTERNS, let the split keep patients apart", stacklevel=3)
    per_condition = summary["per_condition"]
    for name in summary["classes"]:
        row = per_condition.loc[name]
        if batch_size and row["total"] < batch_size:
            warnings.warn(f"class {name!r} has only {int(row['total'])} images ({int(row['train'])} for training), "
                          f"fewer than one batch of {batch_size}: balanced batches will repeat them and a GAN may "
                          "memorise them; add images, merge classes or lower BATCH_SIZE", stacklevel=3)
        empty = [s for s in SPLITS if row[s] == 0]
        if empty and row["total"]:
            warnings.warn(f"class {name!r} has no images in the {' and '.join(empty)} split(s) of {summary['root']}",
                          stacklevel=3)


def load_folder(data_dir, classes=None, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
                batch_size: int | None = 32, verbose: bool = True, resplit: str = "proportional"):
    """Load a class-folder dataset's listing and patient-aware split; no image is decoded here.

    Returns ``(table, report)`` like :func:`load_nih`: ``table`` has ``image`` (path relative
    to the dataset root), ``path``, ``condition``, ``label``, ``patient``, ``split`` and the
    columns of :func:`scan_image_folder`; ``report`` is a :class:`LoadReport` whose
    ``ignored`` names the files skipped. Prints :func:`folder_summary_lines` when
    ``verbose``; warns about skipped files, images without a patient id, and classes with
    fewer than ``batch_size`` images (None: no such warning). ``classes`` chooses and
    orders the class folders (default: all, sorted); ``resplit``: see :func:`split_folder_dataset`.
    """
    summary = summarise_folder(data_dir, classes, val_fraction, test_fraction, seed, resplit)
    if verbose:
        print("\n".join(folder_summary_lines(summary)), flush=True)
    _warn_folder(summary, batch_size)
    table = summary["table"].copy()
    table.attrs["classes"] = summary["classes"]
    table.attrs["root"] = str(summary["root"])
    return table, summary["report"]


def folder_listing_digest(table: pd.DataFrame) -> str:
    """SHA-1 of a folder table's listing (relative names, sizes, modification times): part of the cache key."""
    digest = hashlib.sha1()
    for name, size, mtime in sorted(zip(table["image"], table["bytes"], table["mtime_ns"])):
        digest.update(f"{name}\t{size}\t{mtime}\n".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- choosing a source

#: Every value ``DATA_SOURCE`` may take (``helpers.course.DATA_SOURCES`` lists the same for the runner).
SOURCES = ("auto", "phantom", "nih", "chestmnist", "folder")
#: ``CXR_GAN_OFFLINE=1`` makes ``DATA_SOURCE="auto"`` pick the phantoms without touching the network.
OFFLINE_ENV = "CXR_GAN_OFFLINE"
#: Approximate download sizes of the ChestMNIST files, for the message that announces a download.
CHESTMNIST_GB = {64: 0.4, 128: 1.6, 224: 5.0}


class SourceChoice(NamedTuple):
    """What :func:`resolve_source` decided: a concrete ``source``, its folder and why, in one line."""

    source: str
    data_dir: Path
    reason: str


#: Decisions ``"auto"`` made in this process, by (folder, size), so a later ``load_dataset("auto", folder)``
#: keeps the choice even if the network came or went in between.
_AUTO_CHOICES: dict = {}


def chestmnist_file_size(size: int) -> int:
    """The published ChestMNIST file to read for ``size`` px: the same size, else the nearest larger, else 224."""
    larger = [s for s in sorted(CHESTMNIST_FILES) if s >= size]
    return larger[0] if larger else max(CHESTMNIST_FILES)


def _chestmnist_note(size: int) -> str:
    """'' when ChestMNIST is published at ``size``, else what is read instead and how it is resized."""
    file_size = chestmnist_file_size(size)
    if file_size == size:
        return ""
    how = "downscaled" if file_size > size else "upscaled (224 is the largest published)"
    return f"; no {size} px file is published, so the {file_size} px one is {how} to {size} px"


def find_chestmnist_npz(folder, size: int, allow_smaller: bool = True):
    """The ``chestmnist_<S>.npz`` in ``folder`` to use for ``size`` px, or None.

    Prefers ``S == size``, then the smallest ``S > size`` (downscaled), then, with
    ``allow_smaller``, the largest ``S < size`` (upscaled). Files are matched by name only.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    present = {}
    for path in folder.glob("chestmnist_*.npz"):
        tail = path.stem.split("_")[-1]
        if tail.isdigit():
            present[int(tail)] = path
    if size in present:
        return present[size]
    larger = [s for s in sorted(present) if s > size]
    if larger:
        return present[larger[0]]
    smaller = [s for s in sorted(present) if s < size]
    return present[smaller[-1]] if smaller and allow_smaller else None


def chestmnist_reachable(size: int = 64, timeout: float = 3.0) -> tuple[bool, str]:
    """Can ChestMNIST be downloaded now? ``(answer, why)`` from a HEAD request to its Zenodo URL.

    Waits at most ``timeout`` seconds in all (the request runs in a daemon thread, so a
    hanging DNS lookup cannot stall the caller) and downloads nothing. Respects the
    usual proxy variables, as the download itself does.
    """
    url = CHESTMNIST_FILES[chestmnist_file_size(size)][0]
    host = urllib.parse.urlsplit(url).hostname
    answer: list = []

    def probe():
        start = time.perf_counter()
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer.append((True, f"{host} answered HTTP {response.status} in {time.perf_counter() - start:.1f} s"))
        except urllib.error.HTTPError as exc:  # the server answered: 405 still means a GET would work
            ok = exc.code < 400 or exc.code == 405
            answer.append((ok, f"{host} answered HTTP {exc.code}"))
        except Exception as exc:  # noqa: BLE001 - DNS, refused, timeout, TLS, blocked sockets: all mean "no"
            answer.append((False, f"{host}: {type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=probe, name="chestmnist-reachable", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if not answer:
        return False, f"{host} did not answer within {timeout:g} s"
    return answer[0]


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


# --------------------------------------------------------------------------- summary

def summary_table(table: pd.DataFrame, classes=CLASSES) -> pd.DataFrame:
    """Images per class and split, with a total column and row."""
    counts = pd.crosstab(pd.Categorical(table["condition"], categories=list(classes)), table["split"], dropna=False)
    counts = counts.reindex(columns=[c for c in ("train", "val", "test") if c in counts.columns])
    counts["total"] = counts.sum(axis=1)
    counts.loc["total"] = counts.sum()
    counts.index.name = "condition"
    return counts


#: PNG colour types (the byte after the bit depth in the IHDR chunk).
_PNG_COLOUR = {0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(path) -> tuple[int, int, str]:
    """``(width, height, kind)`` from a PNG's first 29 bytes, e.g. ``(1024, 1024, "8-bit gray")``.

    Reads the signature and the IHDR chunk only; no pixel is decoded, so a file cut
    short after its header passes here (the decode cache finds it). Raises
    :class:`ImageReadError` naming the file when the header is missing or malformed.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(29)
    except OSError as exc:
        raise ImageReadError(f"cannot read {path}: {exc}") from exc
    if not head:
        raise ImageReadError(f"cannot read the PNG header of {path}: empty file")
    if not head.startswith(_PNG_SIGNATURE[:len(head)]) or (len(head) >= 8 and head[:8] != _PNG_SIGNATURE):
        raise ImageReadError(f"cannot read the PNG header of {path}: not a PNG file (starts {head[:8]!r})")
    if len(head) < 29 or head[12:16] != b"IHDR":
        raise ImageReadError(f"cannot read the PNG header of {path}: header cut short or malformed")
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    depth, colour = head[24], head[25]
    if width == 0 or height == 0 or colour not in _PNG_COLOUR:
        raise ImageReadError(f"malformed PNG header in {path}: {width}x{height}, colour type {colour}")
    return width, height, f"{depth}-bit {_PNG_COLOUR[colour]}"


def summarise_nih(data_dir, classes=CLASSES, multi_label: bool = False, seed: int = 0,
                  val_fraction: float = 0.1, test_fraction: float = 0.2, check_headers: bool = False) -> dict:
    """What an NIH-layout folder holds, from its metadata and file listing alone (no image is decoded).

    Returns ``{"report"}`` (a :class:`LoadReport`), ``"per_condition"`` (a DataFrame with
    one row per class and a total row: images ``selected`` in the metadata, ``present``
    on disk, ``missing``, and the present ones per ``train``/``val``/``test`` split, the
    same patient split :func:`load_nih` makes), ``"patients"`` (``listed`` in the
    metadata, ``present`` with a selected image on disk, and per split) and, with
    ``check_headers``, ``"headers"``: ``{"kinds": {"WxH kind": count}, "unreadable":
    {name: reason}}`` from :func:`png_header` of every present selected image.
    """
    classes = check_classes(classes)
    csv_path, meta, selected, paths = _locate_selected(data_dir, classes, multi_label)
    report = LoadReport(metadata=str(csv_path), listed=len(meta), selected=len(selected),
                        present=int(paths.notna().sum()), missing=int(paths.isna().sum()))
    present = selected[paths.notna()].reset_index(drop=True)
    condition = pd.Categorical(selected["condition"], categories=list(classes))
    table = pd.DataFrame({"selected": pd.Series(condition).value_counts(sort=False)})
    table["present"] = pd.Series(condition[paths.notna().to_numpy()]).value_counts(sort=False).to_numpy()
    table["missing"] = table["selected"] - table["present"]
    patients = {"listed": int(meta["patient"].nunique()), "present": int(present["patient"].nunique())}
    if len(present):
        present = split_by_patient(present, csv_path.parent, val_fraction, test_fraction, seed)
        splits = pd.crosstab(pd.Categorical(present["condition"], categories=list(classes)), present["split"],
                             dropna=False)
        for name in ("train", "val", "test"):
            table[name] = splits[name].to_numpy() if name in splits else 0
            patients[name] = int(present.loc[present["split"] == name, "patient"].nunique())
    table.loc["total"] = table.sum()
    table.index.name = "condition"
    out = {"report": report, "per_condition": table, "patients": patients}
    if check_headers:
        kinds: dict[str, int] = {}
        unreadable: dict[str, str] = {}
        for name, path in zip(selected["image"][paths.notna()], paths.dropna()):
            try:
                width, height, kind = png_header(path)
            except ImageReadError as exc:
                unreadable[name] = str(exc)
                continue
            key = f"{width}x{height} {kind}"
            kinds[key] = kinds.get(key, 0) + 1
        out["headers"] = {"kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])), "unreadable": unreadable}
    return out


def summarise_chestmnist(npz_path, classes=CLASSES, multi_label: bool = False) -> dict:
    """Images per condition and official split of a ChestMNIST ``.npz``, from its label arrays only.

    Returns ``{"report", "per_condition"}`` shaped like :func:`summarise_nih`'s (no
    patient ids: ChestMNIST files hold none).
    """
    classes = check_classes(classes)
    npz_path = Path(npz_path)
    table = pd.DataFrame(0, index=pd.Index(list(classes), name="condition"),
                         columns=["selected", "present", "missing", "train", "val", "test"])
    listed = 0
    with np.load(npz_path) as npz:  # an .npz is a zip: reading the labels leaves the images unread
        for split in ("train", "val", "test"):
            if f"{split}_labels" not in npz:
                raise DataError(f"{npz_path} lacks {split}_labels; keys are {sorted(npz.keys())}. "
                                "Is it a MedMNIST ChestMNIST file?")
            labels = npz[f"{split}_labels"]
            keep, conditions = chestmnist_conditions(labels, classes, multi_label)
            listed += len(labels)
            counts = pd.Series(conditions[keep]).value_counts()
            table[split] = counts.reindex(table.index, fill_value=0).to_numpy()
    table["selected"] = table["present"] = table[["train", "val", "test"]].sum(axis=1)
    table.loc["total"] = table.sum()
    total = int(table.loc["total", "selected"])
    report = LoadReport(metadata=str(npz_path), listed=listed, selected=total, present=total)
    return {"report": report, "per_condition": table}


def summary_lines(summary: dict) -> list[str]:
    """Printable lines for a :func:`summarise_nih` or :func:`summarise_chestmnist` result."""
    lines = summary["report"].lines()
    patients = summary.get("patients")
    if patients:
        per_split = ", ".join(f"{k} {patients[k]:,}" for k in ("train", "val", "test") if k in patients)
        lines.append(f"patients: {patients['listed']:,} in the metadata, {patients['present']:,} with a selected "
                     f"image on disk" + (f" ({per_split}; no patient in two splits)" if per_split else ""))
    lines += ["", "selected images per condition (split by patient; no image decoded):",
              summary["per_condition"].to_string()]
    headers = summary.get("headers")
    if headers is not None:
        read = sum(headers["kinds"].values())
        lines += ["", (f"PNG headers: {read:,} readable, {len(headers['unreadable']):,} unreadable "
                       "(pixels not decoded: a file truncated after its header shows up only when decoding)")]
        lines += [f"  {kind}: {n:,}" for kind, n in list(headers["kinds"].items())[:8]]
        lines += [f"  unreadable {name}: {why}" for name, why in list(headers["unreadable"].items())[:10]]
    return lines


def main(argv=None) -> int:
    """``python -m helpers.data DATA_DIR``: summarise a dataset folder without decoding any image."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data",
        description="Summarise an NIH-layout, ChestMNIST or class-folder dataset from its metadata or file "
                    "listing: images per condition (present on disk and missing), patients and patient splits. "
                    "No image is decoded and no cache is built.")
    parser.add_argument("data_dir")
    parser.add_argument("--multi-label", action="store_true", help="admit multi-label images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient split (default 0)")
    parser.add_argument("--size", type=int, default=None,
                        help="ChestMNIST only: summarise chestmnist_<size>.npz (default: the smallest present)")
    parser.add_argument("--check-headers", action="store_true",
                        help="also read every present image's PNG header (29 bytes each) and count unreadable files")
    parser.add_argument("--classes", nargs="+", default=None,
                        help="class-folder datasets only: the class folders to use, in label order (default: all, sorted)")
    parser.add_argument("--resplit", choices=("proportional", "majority"), default="proportional",
                        help="class-folder datasets only: where a patient found in several split folders goes")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    npz = sorted(data_dir.glob("chestmnist_*.npz"),
                 key=lambda p: int(p.stem.split("_")[-1]) if p.stem.split("_")[-1].isdigit() else 0)
    if not npz and data_dir.is_dir() and _holds_nih_layout(data_dir) is None:
        summary = summarise_folder(data_dir, args.classes, seed=args.seed, resplit=args.resplit)
        print("\n".join(folder_summary_lines(summary)))
        return 0
    if npz:
        if args.size is not None:
            npz = [p for p in npz if p.name == f"chestmnist_{args.size}.npz"] or npz
            if npz[0].name != f"chestmnist_{args.size}.npz":
                raise DataError(f"no chestmnist_{args.size}.npz in {data_dir}; found "
                                f"{', '.join(p.name for p in sorted(data_dir.glob('chestmnist_*.npz')))}")
        summary = summarise_chestmnist(npz[0], multi_label=args.multi_label)
    else:
        summary = summarise_nih(data_dir, multi_label=args.multi_label, seed=args.seed,
                                check_headers=args.check_headers)
    print("\n".join(summary_lines(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading chest X-ray data the way learners actually have it.

Three sources, one shape of result (a table with one row per usable image):

- **NIH ChestX-ray14** in the NIH / Kaggle layout: a metadata CSV
  (``Data_Entry_2017_v2020.csv``, ``Data_Entry_2017.csv`` with its trailing comma,
  or the Kaggle sample's ``sample_labels.csv``) beside PNGs under
  ``images_*/images/`` or in one flat folder. Partial downloads are normal: the
  images present are used and the missing ones are counted.
- **MedMNIST+ ChestMNIST** ``.npz`` files (64, 128 or 224 px), downloaded from the
  official Zenodo record with an MD5 check, no PyTorch needed.
- **Phantoms** (:mod:`helpers.phantoms`), written in the NIH layout, so they are
  read by the same NIH loader.

Splits are by patient: no ``Patient ID`` appears in two splits.

Command line: ``python -m helpers.data DATA_DIR`` summarises a dataset folder from its
metadata (images per condition, present and missing, patients, splits) without
decoding a single image.

Data credit: NIH Clinical Center, https://nihcc.app.box.com/v/ChestXray-NIHCC ;
Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM, "ChestX-ray8: Hospital-scale
Chest X-ray Database and Benchmarks on Weakly-Supervised Classification and
Localization of Common Thorax Diseases", IEEE CVPR 2017.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

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

def check_classes(classes) -> tuple[str, ...]:
    """Validate class names against NIH's labels; raise with the valid names if one is unknown."""
    classes = tuple(classes)
    unknown = [c for c in classes if c not in NIH_LABELS]
    if unknown:
        raise DataError(f"unknown class name(s) {', '.join(map(repr, unknown))}; "
                        f"valid names are: {', '.join(NIH_LABELS)}")
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
    """
    classes = check_classes(classes)
    findings = df["finding_labels"].str.split("|")
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
    except (OSError, SyntaxError, ValueError) as exc:  # PIL raises all three for broken files
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


def assert_patient_disjoint(df: pd.DataFrame) -> None:
    """Raise if any patient appears in more than one split."""
    per_patient = df.groupby("patient")["split"].nunique()
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

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"metadata: {self.metadata}",
               (f"listed images: {self.listed:,}; selected by class: {self.selected:,}; "
                f"present on disk: {self.present:,}; missing: {self.missing:,}")]
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
        description="Summarise an NIH-layout or ChestMNIST dataset folder from its metadata: images per "
                    "condition (present on disk and missing), patients and patient splits. No image is "
                    "decoded and no cache is built.")
    parser.add_argument("data_dir")
    parser.add_argument("--multi-label", action="store_true", help="admit multi-label images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient split (default 0)")
    parser.add_argument("--size", type=int, default=None,
                        help="ChestMNIST only: summarise chestmnist_<size>.npz (default: the smallest present)")
    parser.add_argument("--check-headers", action="store_true",
                        help="also read every present image's PNG header (29 bytes each) and count unreadable files")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    npz = sorted(data_dir.glob("chestmnist_*.npz"),
                 key=lambda p: int(p.stem.split("_")[-1]) if p.stem.split("_")[-1].isdigit() else 0)
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

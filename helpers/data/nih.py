"""NIH ChestX-ray14 in the NIH / Kaggle layout: metadata, class selection, patient splits, loading, download.

The layout: a metadata CSV (``Data_Entry_2017_v2020.csv``, ``Data_Entry_2017.csv`` with its
trailing comma, or the Kaggle sample's ``sample_labels.csv``) beside PNGs under
``images_*/images/`` or in one flat folder. Partial downloads are normal: the images present
are used and the missing ones are counted. The phantoms (:mod:`helpers.phantoms`) and the
synthetic datasets (:mod:`helpers.generate`) are written in it with :func:`write_nih_metadata`.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import CLASSES
from helpers.data.common import NIH_LABELS, DataError, LoadReport, assert_patient_disjoint, check_classes
from helpers.data.images import index_images


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


#: Header of the official ``Data_Entry_2017_v2020.csv`` (the bracketed names
#: contain commas, so data rows have two more fields than this header has names).
NIH_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)
#: The metadata file the writers make (the newest variant's name).
METADATA_NAME = "Data_Entry_2017_v2020.csv"

NIH_KAGGLE_DATASET = "nih-chest-xrays/data"

#: Single-label images per course class in the full NIH metadata (v2020), 85,116 in all.
NIH_SINGLE_LABEL_COUNTS = {
    "No Finding": 60361, "Atelectasis": 4215, "Effusion": 3955, "Infiltration": 9547,
    "Mass": 2139, "Nodule": 2705, "Pneumothorax": 2194,
}


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


def write_nih_metadata(out_dir, rows) -> Path:
    """Write ``rows`` (11 fields each) as ``out_dir/Data_Entry_2017_v2020.csv`` with the official header, CRLF."""
    path = Path(out_dir) / METADATA_NAME
    with open(path, "w", newline="") as f:
        f.write(NIH_HEADER + "\r\n")
        csv.writer(f, lineterminator="\r\n").writerows(rows)
    return path


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

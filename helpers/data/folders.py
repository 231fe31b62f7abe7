"""Class folders (``DATA_SOURCE="folder"``): one folder of images per condition, as Keras and Kaggle lay them out.

The layout of ``keras.utils.image_dataset_from_directory`` and most Kaggle sets, optionally
under ``train``/``val``/``test`` folders; the conditions are the folder names. Listing,
patient ids from file names (:data:`PATIENT_PATTERNS`), the patient-aware split, the summary
and :func:`load_folder`; no image is decoded here.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.common import DataError, LoadReport, check_classes


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

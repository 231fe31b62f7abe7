"""What a dataset folder holds, without decoding an image: the tables and lines of ``python -m helpers.data``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import CLASSES
from helpers.data.chestmnist import chestmnist_conditions
from helpers.data.common import DataError, ImageReadError, LoadReport, check_classes
from helpers.data.folders import folder_summary_lines, summarise_folder
from helpers.data.images import png_header
from helpers.data.nih import _locate_selected, split_by_patient
from helpers.data.sources import _holds_nih_layout


def summary_table(table: pd.DataFrame, classes=CLASSES) -> pd.DataFrame:
    """Images per class and split, with a total column and row."""
    counts = pd.crosstab(pd.Categorical(table["condition"], categories=list(classes)), table["split"], dropna=False)
    counts = counts.reindex(columns=[c for c in ("train", "val", "test") if c in counts.columns])
    counts["total"] = counts.sum(axis=1)
    counts.loc["total"] = counts.sum()
    counts.index.name = "condition"
    return counts


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

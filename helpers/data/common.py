"""What every data source shares: the errors, the label names, the load report, the patient checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


#: All labels that occur in NIH ChestX-ray14's ``Finding Labels``.
NIH_LABELS = (
    "No Finding", "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass",
    "Nodule", "Pneumonia", "Pneumothorax", "Consolidation", "Edema", "Emphysema",
    "Fibrosis", "Pleural_Thickening", "Hernia",
)


class DataError(ValueError):
    """Bad or unusable input data; the message names the file, the value and the fix."""


class ImageReadError(OSError):
    """An image file that cannot be decoded (truncated, corrupt or not an image)."""


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

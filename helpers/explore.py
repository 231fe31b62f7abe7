"""Tables behind notebook 01's look at the NIH metadata (plots live in :mod:`helpers.plots`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import CLASSES


def label_counts(meta: pd.DataFrame) -> pd.DataFrame:
    """Per label: images carrying it at all, and images carrying it alone."""
    findings = meta["finding_labels"].str.split("|")
    exploded = findings.explode()
    single = meta.loc[findings.map(len) == 1, "finding_labels"]
    out = pd.DataFrame({"any": exploded.value_counts(), "single_label": single.value_counts()}).fillna(0)
    return out.astype(int).sort_values("any", ascending=False)


def cooccurrence(meta: pd.DataFrame, labels=None) -> pd.DataFrame:
    """Image counts for every pair of labels (diagonal: images with that label)."""
    onehot = meta["finding_labels"].str.get_dummies(sep="|")
    if labels is not None:
        onehot = onehot.reindex(columns=list(labels), fill_value=0)
    m = onehot.to_numpy(np.int64)
    return pd.DataFrame(m.T @ m, index=onehot.columns, columns=onehot.columns)


def patient_stats(meta: pd.DataFrame) -> dict:
    """Patients, images per patient (mean, max) and the share of patients with follow-ups."""
    per = meta.groupby("patient").size()
    return {"images": int(len(meta)), "patients": int(per.size), "mean_images_per_patient": float(per.mean()),
            "max_images_per_patient": int(per.max()), "share_with_follow_ups": float((per > 1).mean())}


def by_condition(meta: pd.DataFrame, classes=CLASSES) -> pd.DataFrame:
    """Single-label images of the course classes: count, median age, share female, share AP view."""
    single = meta[meta["finding_labels"].isin(classes)]
    g = single.groupby("finding_labels")
    out = pd.DataFrame({
        "images": g.size(),
        "median_age": g["age"].median(),
        "share_female": g["sex"].apply(lambda s: float((s == "F").mean())),
        "share_AP": g["view"].apply(lambda s: float((s == "AP").mean())),
    }).reindex(list(classes))
    out["imbalance_vs_largest"] = out["images"].max() / out["images"]
    return out

"""Tables behind notebook 01's look at the NIH metadata, and NIH's shipped aggregate statistics.

Plots live in :mod:`helpers.plots`. :func:`nih_reference_stats` loads the aggregates that
``tools/nih_stats.py`` computed once from the official metadata; :func:`metadata_summary`
computes the same aggregates for any metadata table, so a run's data can be drawn beside NIH's.
"""

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


# --------------------------------------------------------------------------- aggregate statistics

#: Keys of the dict returned by :func:`metadata_summary` (and of ``nih_stats.json`` besides ``source``
#: and ``bbox``); see :func:`nih_reference_stats` for what each holds.
SUMMARY_KEYS = ("images", "patients", "labels", "label_counts", "labels_per_image", "classes",
                "single_label_counts", "imbalance", "cooccurrence", "images_per_patient", "by_condition",
                "age_histogram", "views", "sexes")

#: Keys of :func:`nih_reference_stats`: the summary keys plus provenance and the bounding-box summary.
REFERENCE_KEYS = ("source", *SUMMARY_KEYS, "bbox")

#: Decade edges of the per-condition age histograms (the last bin is 90 and over).
AGE_EDGES = tuple(range(0, 101, 10))


def _r(x, digits: int = 4):
    """A plain float rounded for JSON (NaN becomes None)."""
    return None if pd.isna(x) else round(float(x), digits)


def metadata_summary(meta: pd.DataFrame, classes=CLASSES, labels=None) -> dict:
    """Aggregate statistics of a metadata table (from :func:`helpers.data.read_nih_metadata`).

    The result holds only counts, shares and medians (no image names, no patient ids) and
    has the keys :data:`SUMMARY_KEYS`, as documented in :func:`nih_reference_stats`.
    ``labels`` defaults to NIH's 15 labels (*No Finding* and the 14 findings). Numbers are
    plain ints and floats rounded to 4 digits, so the dict survives a JSON round trip
    unchanged. Applied to any run's metadata (phantoms, an NIH download), it gives the
    same shape as the shipped NIH reference, so both can be drawn by the same plot.
    """
    from helpers.data import NIH_LABELS

    labels = list(NIH_LABELS if labels is None else labels)
    classes = list(classes)
    counts = label_counts(meta).reindex(labels, fill_value=0)
    n_labels = meta["finding_labels"].str.count(r"\|") + 1
    per_labels = n_labels.value_counts().sort_index()
    single = {c: int(counts.loc[c, "single_label"]) if c in counts.index else 0 for c in classes}
    present = {c: n for c, n in single.items() if n > 0}
    largest = max(present, key=present.get) if present else None
    smallest = min(present, key=present.get) if present else None
    co = cooccurrence(meta, labels)

    per_patient = meta.groupby("patient").size()

    chosen = meta[meta["finding_labels"].isin(classes)]
    groups = dict(tuple(chosen.groupby("finding_labels")))
    by_cond, ages = {}, {}
    for c in classes:
        g = groups.get(c, chosen.iloc[:0])
        by_cond[c] = {"images": int(len(g)), "median_age": _r(g["age"].median(), 1),
                      "share_female": _r((g["sex"] == "F").mean()) if len(g) else None,
                      "share_AP": _r((g["view"] == "AP").mean()) if len(g) else None}
        ages[c] = [int(n) for n in np.histogram(g["age"].dropna().clip(0, 99), bins=AGE_EDGES)[0]]
    return {
        "images": int(len(meta)),
        "patients": int(per_patient.size),
        "labels": labels,
        "label_counts": {lab: {"any": int(counts.loc[lab, "any"]), "single_label": int(counts.loc[lab, "single_label"])}
                         for lab in labels},
        "labels_per_image": {"labels": [int(k) for k in per_labels.index],
                             "images": [int(v) for v in per_labels.to_numpy()]},
        "classes": classes,
        "single_label_counts": single,
        "imbalance": {"largest": largest, "smallest": smallest,
                      "ratio": _r(present[largest] / present[smallest], 2) if present else None},
        "cooccurrence": {"labels": labels, "counts": co.to_numpy().astype(int).tolist()},
        "images_per_patient": _per_patient_summary(per_patient),
        "by_condition": by_cond,
        "age_histogram": {"edges": list(AGE_EDGES), "counts": ages},
        "views": {k: int(v) for k, v in meta["view"].value_counts().sort_index().items()},
        "sexes": {k: int(v) for k, v in meta["sex"].value_counts().sort_index().items()},
    }


def _per_patient_summary(per_patient: pd.Series) -> dict:
    """Mean, median, max images per patient, the share with follow-ups and the histogram."""
    hist = per_patient.value_counts().sort_index()
    return {"mean": _r(per_patient.mean()), "median": _r(per_patient.median(), 1), "max": int(per_patient.max()),
            "share_with_follow_ups": _r((per_patient > 1).mean()),
            "histogram": {"images": [int(k) for k in hist.index], "patients": [int(v) for v in hist.to_numpy()]}}


def table_summary(table: pd.DataFrame, classes) -> dict:
    """The statistics a dataset table alone supports, for sources without NIH metadata.

    ``table`` is a loaded dataset's ``.table`` (one row per image, its ``condition`` and
    ``patient``; ``patient`` is -1 where unknown). Gives the keys of
    :func:`metadata_summary` that need no findings list, ages or views: ``classes``,
    ``single_label_counts``, ``imbalance`` and ``images``; plus ``patients`` and
    ``images_per_patient`` when every image has a patient id (class folders with NIH or
    Kermany file names). Plots draw the missing statistics as "not available".
    """
    classes = list(classes)
    single = {c: int((table["condition"] == c).sum()) for c in classes}
    present = {c: n for c, n in single.items() if n > 0}
    largest = max(present, key=present.get) if present else None
    smallest = min(present, key=present.get) if present else None
    out = {"images": int(len(table)), "classes": classes, "single_label_counts": single,
           "imbalance": {"largest": largest, "smallest": smallest,
                         "ratio": _r(present[largest] / present[smallest], 2) if present else None}}
    from helpers.data import patient_ids_known

    if len(table) and patient_ids_known(table):
        per_patient = table.groupby("patient").size()
        out.update(patients=int(per_patient.size), images_per_patient=_per_patient_summary(per_patient))
    return out


def read_bbox_list(csv_path) -> pd.DataFrame:
    """Read NIH's ``BBox_List_2017.csv`` into columns ``image, label, x, y, w, h`` (1024-pixel coordinates).

    The file's header (``Image Index,Finding Label,Bbox [x,y,w,h],,,``) names the four
    numbers in one bracket, so it is skipped and the columns are named here.
    """
    raw = pd.read_csv(csv_path, header=None, skiprows=1, encoding="utf-8-sig")
    raw = raw.iloc[:, :6]
    raw.columns = ["image", "label", "x", "y", "w", "h"]
    return raw


def bbox_summary(boxes: pd.DataFrame) -> dict:
    """Boxes, images and, per finding, the number of boxes and their median width and height in pixels."""
    per = boxes.groupby("label")
    return {"boxes": int(len(boxes)), "images": int(boxes["image"].nunique()),
            "per_label": {lab: {"boxes": int(len(g)), "median_width": _r(g["w"].median(), 1),
                                "median_height": _r(g["h"].median(), 1)} for lab, g in per}}


def nih_reference_stats() -> dict:
    """NIH ChestX-ray14's aggregate statistics, shipped with the course (``helpers/resources/nih_stats.json``).

    Computed once from the official metadata by ``python tools/nih_stats.py``, so they are
    available offline and in Colab without downloading anything. Keys
    (:data:`REFERENCE_KEYS`):

    - ``source``: file names, row count and SHA-256 of the CSVs it was computed from, the
      command, and the data credit
    - ``images``, ``patients``: totals
    - ``labels``: the 15 labels (*No Finding* and 14 findings), the order used below
    - ``label_counts``: per label, ``any`` (images carrying it) and ``single_label`` (carrying it alone)
    - ``labels_per_image``: ``labels`` (1, 2, ...) and ``images`` with that many labels
    - ``classes``: the course's seven conditions (:data:`helpers.CLASSES`)
    - ``single_label_counts``: per course class, single-label images
    - ``imbalance``: the ``largest`` and ``smallest`` course class and their ``ratio``
    - ``cooccurrence``: ``labels`` and ``counts``, a 15x15 list of lists (images carrying
      both labels; the diagonal is ``any``)
    - ``images_per_patient``: ``mean``, ``median``, ``max``, ``share_with_follow_ups`` and an
      exact ``histogram`` (``images`` per patient -> number of ``patients``)
    - ``by_condition``: per course class (single-label images): ``images``, ``median_age``,
      ``share_female``, ``share_AP``
    - ``age_histogram``: decade ``edges`` and, per course class, ``counts`` (last bin: 90+)
    - ``views``, ``sexes``: image counts per view position and per sex
    - ``bbox``: from ``BBox_List_2017.csv``: ``boxes``, ``images`` and ``per_label`` box counts
      and median width/height in pixels (NIH spells Infiltration ``Infiltrate`` there)
    """
    import json
    from importlib import resources

    text = resources.files("helpers").joinpath("resources", "nih_stats.json").read_text(encoding="utf-8")
    return json.loads(text)


def counts_table(stats: dict) -> pd.DataFrame:
    """``label_counts`` of a summary as a table (``any``, ``single_label``), largest first."""
    return pd.DataFrame(stats["label_counts"]).T.sort_values("any", ascending=False)


def condition_table(stats: dict) -> pd.DataFrame:
    """``by_condition`` of a summary as a table, one row per course class."""
    table = pd.DataFrame(stats["by_condition"]).T.reindex(stats["classes"])
    table = table.astype({"median_age": float, "share_female": float, "share_AP": float})
    return table.astype({"images": int})

"""Compute NIH ChestX-ray14's aggregate statistics once and ship them with the course.

Notebook 01 runs offline on procedural phantoms by default, yet it teaches what the real
NIH data look like: class imbalance, co-occurring findings, follow-up images per patient,
age and view by condition. Those figures come from ``helpers/resources/nih_stats.json``,
a few KB of counts, shares and medians (no image names, no patient ids), which this script
computes from the official metadata:

    python tools/nih_stats.py PATH/TO/Data_Entry_2017_v2020.csv
    python tools/nih_stats.py PATH/TO/Data_Entry_2017_v2020.csv --bbox PATH/TO/BBox_List_2017.csv --out FILE

``--bbox`` defaults to ``BBox_List_2017.csv`` beside the metadata CSV (skipped if absent);
``--out`` defaults to ``helpers/resources/nih_stats.json``. Any metadata variant that
:func:`helpers.data.read_nih_metadata` reads is accepted; the shipped file was made from
the v2020 revision (112,120 rows). The keys are documented in
:func:`helpers.explore.nih_reference_stats`, which loads the file; ``tests/test_explore.py``
recomputes it from the CSV, when one is at hand, and checks that it matches.

Data credit: NIH Clinical Center, https://nihcc.app.box.com/v/ChestXray-NIHCC ; Wang X,
Peng Y, Lu L, Lu Z, Bagheri M, Summers RM, "ChestX-ray8: Hospital-scale Chest X-ray Database
and Benchmarks on Weakly-Supervised Classification and Localization of Common Thorax
Diseases", IEEE CVPR 2017.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "helpers" / "resources" / "nih_stats.json"
CREDIT = ("NIH Clinical Center, https://nihcc.app.box.com/v/ChestXray-NIHCC; Wang X, Peng Y, Lu L, Lu Z, "
          "Bagheri M, Summers RM, ChestX-ray8, IEEE CVPR 2017")


def sha256(path) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def compute(csv_path, bbox_path=None) -> dict:
    """The content of ``nih_stats.json``: provenance, :func:`helpers.explore.metadata_summary`, boxes."""
    from helpers.data import read_nih_metadata
    from helpers.explore import bbox_summary, metadata_summary, read_bbox_list

    csv_path = Path(csv_path)
    meta = read_nih_metadata(csv_path)
    source = {"metadata": csv_path.name, "rows": int(len(meta)), "metadata_sha256": sha256(csv_path),
              "made_by": "python tools/nih_stats.py " + csv_path.name, "credit": CREDIT}
    stats = {"source": source, **metadata_summary(meta)}
    stats["bbox"] = None
    if bbox_path is not None and Path(bbox_path).is_file():
        source["bbox"] = Path(bbox_path).name
        source["bbox_sha256"] = sha256(bbox_path)
        stats["bbox"] = bbox_summary(read_bbox_list(bbox_path))
    return stats


def dumps(obj, indent: int = 0) -> str:
    """Readable, compact JSON: one key a line, but short flat dicts and lists of numbers on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    flat = json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, dict):
        if not obj or (len(flat) <= 100 and not any(isinstance(v, (dict, list)) for v in obj.values())):
            return flat
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and all(isinstance(x, list) for x in obj):
        return "[\n" + ",\n".join(inner + json.dumps(x) for x in obj) + "\n" + pad + "]"
    return flat


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description="Write NIH ChestX-ray14 aggregate statistics as JSON.")
    parser.add_argument("csv", help="official metadata, e.g. Data_Entry_2017_v2020.csv")
    parser.add_argument("--bbox", default=None, help="BBox_List_2017.csv (default: beside the metadata CSV)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"output file (default {DEFAULT_OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    csv_path = Path(args.csv)
    bbox = Path(args.bbox) if args.bbox else csv_path.parent / "BBox_List_2017.csv"
    stats = compute(csv_path, bbox)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(stats) + "\n"
    assert json.loads(text) == stats
    out.write_text(text, encoding="utf-8")
    single = stats["single_label_counts"]
    print(f"{out}: {len(text):,} bytes from {stats['source']['rows']:,} rows, {stats['patients']:,} patients; "
          f"{stats['imbalance']['largest']} : {stats['imbalance']['smallest']} = {stats['imbalance']['ratio']} : 1; "
          f"{sum(single.values()):,} single-label images of the course classes")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())

"""helpers.explore: the shipped NIH aggregates match the official metadata, and the loader's keys."""

import importlib.util
import json

import pytest

from conftest import NIH_SAMPLE, ROOT
from helpers import CLASSES
from helpers.data import NIH_LABELS, NIH_SINGLE_LABEL_COUNTS, read_nih_metadata
from helpers.explore import (REFERENCE_KEYS, SUMMARY_KEYS, bbox_summary, condition_table, counts_table,
                             metadata_summary, nih_reference_stats, read_bbox_list)

SHIPPED = ROOT / "helpers" / "resources" / "nih_stats.json"
CSV = NIH_SAMPLE / "Data_Entry_2017_v2020.csv"
BBOX = NIH_SAMPLE / "BBox_List_2017.csv"


def test_loader_returns_the_documented_keys():
    stats = nih_reference_stats()
    assert tuple(stats) == REFERENCE_KEYS
    assert stats == json.loads(SHIPPED.read_text())
    assert stats["labels"] == list(NIH_LABELS) and stats["classes"] == list(CLASSES)
    assert stats["single_label_counts"] == NIH_SINGLE_LABEL_COUNTS  # the constant helpers.data keeps
    assert stats["images"] == stats["source"]["rows"] == 112120
    co = stats["cooccurrence"]["counts"]
    assert [co[i][i] for i in range(len(NIH_LABELS))] == [stats["label_counts"][lab]["any"] for lab in NIH_LABELS]
    per = stats["images_per_patient"]["histogram"]
    assert sum(per["patients"]) == stats["patients"]
    assert sum(k * n for k, n in zip(per["images"], per["patients"])) == stats["images"]
    assert sum(stats["labels_per_image"]["images"]) == stats["images"]
    assert list(condition_table(stats).index) == list(CLASSES)
    assert counts_table(stats).index[0] == "No Finding"
    assert SHIPPED.stat().st_size < 16_000


def test_summary_of_phantoms_has_the_same_shape(phantom_dir):
    from helpers.data import find_metadata

    summary = metadata_summary(read_nih_metadata(find_metadata(phantom_dir)))
    assert tuple(summary) == SUMMARY_KEYS
    assert json.loads(json.dumps(summary)) == summary
    assert set(summary["single_label_counts"].values()) == {12}
    assert summary["imbalance"]["ratio"] == 1.0
    assert summary["labels_per_image"]["labels"] == [1]


@pytest.mark.skipif(not CSV.is_file(), reason=f"official NIH metadata not found at {CSV}")
def test_shipped_json_matches_the_official_metadata(tmp_path):
    stats = nih_reference_stats()
    recomputed = metadata_summary(read_nih_metadata(CSV))
    assert {k: stats[k] for k in SUMMARY_KEYS} == json.loads(json.dumps(recomputed))
    assert stats["source"]["metadata"] == CSV.name
    if BBOX.is_file():
        assert stats["bbox"] == bbox_summary(read_bbox_list(BBOX))
        # the script itself rewrites the shipped file byte for byte
        spec = importlib.util.spec_from_file_location("nih_stats", ROOT / "tools" / "nih_stats.py")
        tool = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tool)
        out = tmp_path / "nih_stats.json"
        assert tool.main([str(CSV), "--out", str(out)]) == 0
        assert out.read_text() == SHIPPED.read_text()

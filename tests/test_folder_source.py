"""DATA_SOURCE="folder": class folders (optionally under split folders), patient-aware splits, bad input."""

import re
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import data as data_module
from helpers.data import (DataError, main, patient_from_filename, read_nih_metadata, scan_image_folder,
                          split_folder_dataset, summarise_folder)
from helpers.preprocess import load_dataset

from conftest import ROOT

KERMANY = ROOT.parent / "shared" / "kermany-cxr"

# warnings that tiny test folders earn everywhere; the tests about them catch them with pytest.warns
pytestmark = [pytest.mark.filterwarnings("ignore:.*carry no patient id:UserWarning"),
              pytest.mark.filterwarnings("ignore:class .* has no images in the:UserWarning"),
              pytest.mark.filterwarnings("ignore:class .* fewer than one batch:UserWarning")]


def write_image(path, value=100, size=(24, 24), mode="L", fmt=None):
    """A flat image of one gray level, saved in ``mode`` (L, RGB, RGBA, LA, P, I;16) and the format of its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(np.full(size[::-1], value * 257, np.uint16)).save(path)
    else:
        Image.fromarray(np.full(size[::-1], value, np.uint8), mode="L").convert(mode).save(path, format=fmt)
    return path


def make_folder(root, classes=("Pneumonia", "Normal"), per_class=20, splits=None, name="patient{p:03d}_{i}.png"):
    """``root/[split/]class/name`` with ``per_class`` images per class (per split), two images per patient."""
    for split in splits or [None]:
        for c, cls in enumerate(classes):
            folder = root / split / cls if split else root / cls
            for i in range(per_class):
                patient = 1000 * c + (100 * (splits or [None]).index(split)) + i // 2
                write_image(folder / name.format(p=patient, i=i), value=40 + 60 * c, size=(20, 20))
    return root


def test_patient_ids_from_file_names():
    assert patient_from_filename("00012345_001.png") == ("00012345", "NIH ChestX-ray14")
    assert patient_from_filename("person123_bacteria_456.jpeg") == ("person123", "Kermany pneumonia")
    assert patient_from_filename("person123_virus_78.jpeg") == ("person123", "Kermany pneumonia")
    assert patient_from_filename("person1_virus_9_2.jpeg")[0] == "person1"
    assert patient_from_filename("IM-0001-0001.jpeg") == ("IM-0001", "Kermany normal")
    assert patient_from_filename("IM-0011-0001-0001.jpeg")[0] == "IM-0011"
    assert patient_from_filename("NORMAL2-IM-1427-0001.jpeg") == ("NORMAL2-IM-1427", "Kermany normal")
    assert patient_from_filename("patient00042_study1_view1_frontal.jpg")[0] == "patient00042"
    assert patient_from_filename("img_5.png") == (None, None)
    assert patient_from_filename("COVID-12.png") == (None, None)


def test_classes_are_the_sorted_folder_names_and_load_dataset_decodes_them(tmp_path, capsys):
    root = make_folder(tmp_path / "ds", classes=("b_pneumonia", "a_normal", "c_covid"), per_class=40)
    data = load_dataset("folder", root, size=16, cache_dir=tmp_path / "c", batch_size=8)
    assert data.classes == ("a_normal", "b_pneumonia", "c_covid") and data.source == "folder"
    assert data.images.shape == (120, 16, 16)
    assert list(data.table["label"]) == [data.classes.index(c) for c in data.table["condition"]]
    for name, label in [("a_normal", 0), ("b_pneumonia", 1), ("c_covid", 2)]:  # pixels follow their rows
        rows = np.flatnonzero(data.table["condition"].to_numpy() == name)
        assert abs(float(np.asarray(data.images[rows]).mean()) - {0: 100, 1: 40, 2: 160}[label]) < 2
    assert data.table.groupby("patient")["split"].nunique().max() == 1  # by patient
    per_split = data.table.drop_duplicates("patient")["split"].value_counts(normalize=True)
    assert per_split["test"] == pytest.approx(0.2, abs=0.02) and per_split["val"] == pytest.approx(0.1, abs=0.02)
    for c in data.classes:  # stratified: every class in every split
        assert set(data.table.loc[data.table["condition"] == c, "split"]) == {"train", "val", "test"}
    out = capsys.readouterr().out
    assert "3 conditions (from the folder names: a_normal, b_pneumonia, c_covid); no split folders" in out
    assert "patients: 60 read from file names (patient prefix 120 images); 0 images without a patient id" in out
    assert "no split folders: split by patient, stratified by condition (val 0.1, test 0.2, seed 0)" in out
    assert re.search(r"c_covid\s+28\s+4\s+8\s+40", out)  # 20 patients: 14 / 2 / 4, two images each


def test_explicit_classes_choose_and_order(tmp_path):
    root = make_folder(tmp_path / "ds", classes=("x", "y", "z"), per_class=6)
    listing = scan_image_folder(root, classes=["z", "x"])
    assert listing["classes"] == ("z", "x") and listing["listed"] == 18 and len(listing["table"]) == 12
    assert dict(zip(listing["table"]["condition"], listing["table"]["label"])) == {"z": 0, "x": 1}
    with pytest.raises(DataError, match=r"class name\(s\) 'Z', 'w' not found in .*the class folders there are: x, y, z"):
        scan_image_folder(root, classes=["Z", "w"])
    with pytest.raises(DataError, match="at least two conditions"):
        scan_image_folder(root, classes=["x"])


def kermany_like(root):
    """Split folders re-drawn without regard to patients, as in the Kermany copy: patients cross folders."""
    layout = {  # file -> split folder
        "PNEUMONIA/person1_bacteria_1.jpeg": "train", "PNEUMONIA/person1_bacteria_2.jpeg": "train",
        "PNEUMONIA/person1_virus_3.jpeg": "train", "PNEUMONIA/person1_bacteria_4.jpeg": "test",
        "PNEUMONIA/person2_virus_5.jpeg": "val", "PNEUMONIA/person2_virus_6.jpeg": "test",
        "PNEUMONIA/person3_bacteria_7.jpeg": "train",
        "NORMAL/IM-0001-0001.jpeg": "train", "NORMAL/IM-0001-0002.jpeg": "val",
        "NORMAL/NORMAL2-IM-0001-0001.jpeg": "test",  # another prefix: another patient than IM-0001
        "NORMAL/IM-0002-0001.jpeg": "train", "NORMAL/IM-0003-0001.jpeg": "test",
        "NORMAL/scan_without_id.jpeg": "val", "PNEUMONIA/other.jpeg": "train",
    }
    for rel, split in layout.items():
        write_image(root / split / rel, value=90, size=(30, 26), mode="RGB")
    return layout


@pytest.mark.parametrize("resplit", ["majority", "proportional"])
def test_patients_mixed_across_split_folders_are_resplit(tmp_path, capsys, resplit):
    root = tmp_path / "kermany"
    kermany_like(root)
    with pytest.warns(UserWarning, match=r"2 of 14 images .* carry no patient id .*leakage"):
        table, report = data_module.load_folder(root, batch_size=None, resplit=resplit)
    out = capsys.readouterr().out
    assert report.selected == 14 and set(table["condition"]) == {"NORMAL", "PNEUMONIA"}
    assert table.groupby("patient")["split"].nunique().max() == 1
    assert table.loc[table["patient"] == "person1", "patient_rule"].iloc[0] == "Kermany pneumonia"
    assert set(table.loc[table["patient"].isna(), "image"]) == {"val/NORMAL/scan_without_id.jpeg",
                                                               "train/PNEUMONIA/other.jpeg"}
    moved = table["split"] != table["folder_split"]
    assert int(moved.sum()) == int(re.search(r"([\d,]+) images moved", out).group(1))
    assert "3 patients had images in several split folders" in out  # person1, person2, IM-0001
    assert set(table.loc[moved, "patient"]) <= {"person1", "person2", "IM-0001"}
    assert not moved[table["patient"].isin(["person3", "IM-0002", "IM-0003", "NORMAL2-IM-0001"])].any()
    assert not moved[table["patient"].isna()].any()  # no patient id: the folder's split stands
    if resplit == "majority":  # person1: 3 train + 1 test -> train; ties (1 + 1) by the hash
        assert set(table.loc[table["patient"] == "person1", "split"]) == {"train"}
        assert "test->train" in out
    again, _ = data_module.load_folder(root, batch_size=None, resplit=resplit, verbose=False)
    assert list(again["split"]) == list(table["split"])  # deterministic


def test_resplit_keeps_split_sizes_on_average():
    rng = np.random.default_rng(0)
    rows = []
    for p in range(3000):  # 70/15/15 folders drawn per image, 1-6 images per patient
        for i in range(rng.integers(1, 7)):
            rows.append({"image": f"{p}_{i}", "patient": f"p{p}", "label": 0, "condition": "a",
                         "folder_split": rng.choice(["train", "val", "test"], p=[0.7, 0.15, 0.15])})
    table = pd.DataFrame(rows)
    before = table["folder_split"].value_counts(normalize=True)
    prop, info = split_folder_dataset(table, resplit="proportional")
    major, info_major = split_folder_dataset(table, resplit="majority")
    after = prop["split"].value_counts(normalize=True)
    assert all(abs(after[s] - before[s]) < 0.02 for s in ("train", "val", "test"))
    assert major["split"].value_counts(normalize=True)["train"] > before["train"] + 0.05  # majority favours train
    assert info_major["moved_images"] < info["moved_images"]


def test_missing_split_folder_is_carved_from_train_by_patient(tmp_path, capsys):
    root = make_folder(tmp_path / "ds", per_class=20, splits=["training", "Testing"])
    table, _ = data_module.load_folder(root, batch_size=None)
    counts = table.groupby(["folder_split", "split"]).size().to_dict()
    assert counts[("test", "test")] == 40 and ("test", "val") not in counts
    assert counts[("train", "val")] == 4 and counts[("train", "train")] == 36  # 0.1 / 0.8 of train's patients
    assert table.groupby("patient")["split"].nunique().max() == 1
    assert "val carved out of train by patient" in capsys.readouterr().out


def test_valid_and_validation_are_val(tmp_path):
    root = make_folder(tmp_path / "ds", per_class=4, splits=["train", "valid", "test"])
    table, _ = data_module.load_folder(root, batch_size=None, verbose=False)
    assert set(table["folder_split"]) == {"train", "val", "test"}


def test_mixed_formats_decode_to_the_right_size(tmp_path):
    root = tmp_path / "ds"
    files = {
        "a/gray8_patient1_1.png": dict(mode="L"), "a/gray16_patient2_1.png": dict(mode="I;16"),
        "a/rgb_patient3_1.jpg": dict(mode="RGB"), "a/gray_patient4_1.jpeg": dict(mode="L"),
        "a/wide_patient5_1.JPG": dict(mode="RGB", size=(60, 30)),
        "b/rgba_patient6_1.png": dict(mode="RGBA"), "b/la_patient7_1.png": dict(mode="LA"),
        "b/palette_patient8_1.png": dict(mode="P"), "b/bitmap_patient9_1.bmp": dict(mode="RGB"),
        "b/tall_patient10_1.tif": dict(mode="L", size=(20, 50)),
    }
    for rel, kwargs in files.items():
        write_image(root / rel, value=150, **{"size": (40, 40), **kwargs})
    Image.fromarray(np.linspace(0, 65535, 40 * 40).reshape(40, 40).astype(np.uint16)).save(root / "a" / "ramp16.png")
    data = load_dataset("folder", root, size=16, cache_dir=tmp_path / "c", progress=False, batch_size=None)
    assert data.images.shape == (11, 16, 16) and not data.report.skipped
    by_name = dict(zip(data.table["image"], np.asarray(data.images)))
    for rel in files:
        img = by_name[rel]
        if "gray16" in rel:  # a flat 16-bit image has no range: rescaled min..max it is black
            assert img.max() == 0
        else:
            assert abs(float(img.mean()) - 150) < 3, rel
    ramp = by_name["a/ramp16.png"]
    assert ramp.min() < 20 and ramp.max() > 235  # rescaled, not clipped to white


def test_damaged_files_are_skipped_named_and_counted(tmp_path):
    root = make_folder(tmp_path / "ds", per_class=6)
    good_jpeg = write_image(tmp_path / "x.jpeg", size=(64, 64), mode="RGB").read_bytes()
    good_png = write_image(tmp_path / "x.png", size=(64, 64)).read_bytes()
    (root / "Normal" / "cut.jpeg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (root / "Normal" / "cut.png").write_bytes(good_png[:60])
    (root / "Pneumonia" / "page.png").write_bytes(b"<html>quota exceeded</html>")
    with pytest.warns(UserWarning, match=r"skipped 3 of 15 images that could not be decoded: .*Normal/cut.jpeg"):
        data = load_dataset("folder", root, size=16, cache_dir=tmp_path / "c", progress=False, batch_size=None)
    assert set(data.report.skipped) == {"Normal/cut.jpeg", "Normal/cut.png", "Pneumonia/page.png"}
    assert data.images.shape == (12, 16, 16) and len(data.table) == 12
    assert "skipped while decoding: 3" in "\n".join(data.report.lines())


def test_stray_files_are_counted_named_and_skipped(tmp_path):
    root = make_folder(tmp_path / "ds", per_class=4)
    (root / "Normal" / "notes.txt").write_text("x")
    (root / "Normal" / ".DS_Store").write_bytes(b"\0")
    (root / "Normal" / "._IM-0001-0001.jpeg").write_bytes(b"\0")  # macOS AppleDouble: hidden, not an image
    (root / "Pneumonia" / "Thumbs.db").write_bytes(b"\0")
    (root / "README.md").write_text("# data")
    (root / "loose.png").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"skipped 6 files in .* not images of a class folder \(e.g\. "):
        table, report = data_module.load_folder(root, batch_size=None, verbose=False)
    assert len(table) == 8 and len(report.ignored) == 6
    assert report.ignored["Normal/notes.txt"] == "not an image file (.txt) in the class folder Normal/"
    assert "not in a class folder" in report.ignored["loose.png"]
    assert "ignored files (not images of a class folder): 6" in "\n".join(report.lines())


def test_bad_layouts_are_clear_errors(tmp_path):
    root = make_folder(tmp_path / "empty", per_class=3)
    (root / "Effusion").mkdir()
    (root / "Effusion" / "list.csv").write_text("x")
    with pytest.raises(DataError, match=re.escape(str(root / "Effusion")) + r" holds no images \(1 other files\)"):
        scan_image_folder(root)

    root = make_folder(tmp_path / "deep", per_class=3)
    write_image(root / "Normal" / "2019" / "a.png")
    with pytest.raises(DataError, match=r"Normal holds sub-folders \(2019\): folders nest deeper than expected; "
                                        r"expected DATA_DIR/<condition>/<image files>"):
        scan_image_folder(root)

    one = tmp_path / "one"
    write_image(one / "Normal" / "a.png")
    with pytest.raises(DataError, match=r"found only 'Normal' in .*at least two conditions"):
        scan_image_folder(one)

    mixed = make_folder(tmp_path / "mixed", per_class=2, splits=["train"])
    write_image(mixed / "Normal" / "a.png")
    with pytest.raises(DataError, match=r"mixes split folders \(train\) with other folders \(Normal\)"):
        scan_image_folder(mixed)

    flat = tmp_path / "flat"
    write_image(flat / "a.png")
    with pytest.raises(DataError, match=r"has no sub-folders \(1 images lie directly in it\)"):
        scan_image_folder(flat)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_image_folder(tmp_path / "nowhere")
    with pytest.raises(DataError, match="DATA_SOURCE 'folder' needs DATA_DIR"):
        load_dataset("folder", None)


def test_wrapper_folder_is_stepped_into(tmp_path, capsys):
    make_folder(tmp_path / "chest_xray" / "chest_xray", per_class=2, splits=["train", "test"])
    (tmp_path / "chest_xray" / "__MACOSX").mkdir()
    summary = summarise_folder(tmp_path / "chest_xray")
    assert summary["root"] == tmp_path / "chest_xray" / "chest_xray"
    assert summary["notes"] == [f"{tmp_path / 'chest_xray'} holds only the folder chest_xray/: reading the "
                                "dataset inside it"]


def test_small_class_warns_with_its_count(tmp_path):
    root = make_folder(tmp_path / "ds", classes=("big", "small"), per_class=40)
    for path in sorted((root / "small").iterdir())[10:]:
        path.unlink()
    with pytest.warns(UserWarning, match=r"class 'small' has only 10 images \(\d+ for training\), fewer than one "
                                         r"batch of 32"):
        table, _ = data_module.load_folder(root, verbose=False)
    assert (table["condition"] == "small").sum() == 10  # warned, not dropped


def test_cache_key_follows_the_listing(tmp_path):
    root = make_folder(tmp_path / "ds", per_class=4)
    first = load_dataset("folder", root, size=16, cache_dir=tmp_path / "c", progress=False, batch_size=None)
    again = load_dataset("folder", root, size=16, cache_dir=tmp_path / "c", progress=False, batch_size=None)
    assert again.cache_path == first.cache_path
    write_image(root / "Normal" / "patient000_0.png", value=250, size=(21, 21))  # same name, new bytes
    changed = load_dataset("folder", root, size=16, cache_dir=tmp_path / "c", progress=False, batch_size=None)
    assert changed.cache_path != first.cache_path
    row = list(changed.table["image"]).index("Normal/patient000_0.png")
    assert int(changed.images[row].mean()) == 250


def test_folder_classes_flow_into_the_nih_layout_export(tmp_path):
    from helpers.generate import write_synthetic_dataset

    data = load_dataset("folder", make_folder(tmp_path / "ds", classes=("COVID-19", "Lung Opacity", "Normal"),
                                              per_class=2), size=16, cache_dir=tmp_path / "c", progress=False,
                        batch_size=None)

    class FlatGenerator:  # stands in for a Keras generator: label c draws gray level 50 * c
        def __call__(self, inputs, training=False):
            z, labels = inputs
            return np.ones((len(z), 16, 16, 1), np.float32) * (np.asarray(labels)[:, None, None, None] * 0.4 - 1)

    meta = {"classes": list(data.classes), "image_size": data.size, "latent_dim": 4}
    out = write_synthetic_dataset(FlatGenerator(), meta, tmp_path / "synthetic", per_class=3, progress=False)
    table = read_nih_metadata(out / "Data_Entry_2017_v2020.csv")
    assert list(table["finding_labels"]) == [c for c in data.classes for _ in range(3)]
    exported = load_dataset("folder", _as_class_folders(out, table), size=16, cache_dir=tmp_path / "c2",
                            progress=False, batch_size=None)
    assert exported.classes == data.classes


def _as_class_folders(nih_dir, table):
    """Re-file an NIH-layout export as class folders (what a learner might share on Kaggle)."""
    root = nih_dir.parent / "synthetic_folders"
    for name, label in zip(table["image"], table["finding_labels"]):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / name).write_bytes((nih_dir / "images_001" / "images" / name).read_bytes())
    return root


def test_summary_cli_reads_class_folders(tmp_path, capsys):
    root = tmp_path / "kermany"
    kermany_like(root)
    assert main([str(root), "--resplit", "majority"]) == 0
    out = capsys.readouterr().out
    assert "2 conditions (from the folder names: NORMAL, PNEUMONIA); split folders test, train, val" in out
    assert "images per condition and split (no image decoded):" in out


@pytest.mark.skipif(not KERMANY.is_dir(), reason=f"real Kermany chest X-rays not found at {KERMANY}")
def test_real_kermany_folders_listing_and_split_without_decoding(monkeypatch):
    import PIL.Image

    def no_decoding(*args, **kwargs):
        raise AssertionError("the summary must not decode images")
    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    monkeypatch.setattr("helpers.data.images.open_gray8", no_decoding)
    start = time.perf_counter()
    summary = summarise_folder(KERMANY)
    assert time.perf_counter() - start < 5
    table, per_condition = summary["table"], summary["per_condition"]
    assert summary["classes"] == ("NORMAL", "PNEUMONIA") and summary["split_folders"] == ["test", "train", "val"]
    assert per_condition.loc["total", "total"] == 5856 == len(table)
    assert per_condition.loc["NORMAL", "total"] == 1583 and per_condition.loc["PNEUMONIA", "total"] == 4273
    folder_counts = table.groupby(["condition", "folder_split"]).size()  # as the README's table says
    assert folder_counts[("NORMAL", "train")] == 1108 and folder_counts[("PNEUMONIA", "test")] == 641
    assert summary["split"]["images_without_patient"] == 0  # every name carries person<N> or IM-<N>
    assert summary["split"]["moved_patients"] > 100 and summary["split"]["moved_images"] > 0
    assert table.groupby("patient")["split"].nunique().max() == 1
    shares = table["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.70, abs=0.03) and shares["test"] == pytest.approx(0.15, abs=0.03)
    assert list(summary["report"].ignored) == ["README.md"]


def test_pipeline_balances_any_number_of_folder_classes(tmp_path):
    from helpers.preprocess import make_dataset

    root = make_folder(tmp_path / "ds", classes=("a", "b"), per_class=40)
    for path in sorted((root / "b").iterdir())[8:]:
        path.unlink()  # 40 of a, 8 of b
    data = load_dataset("folder", root, size=16, cache_dir=tmp_path / "c", progress=False, batch_size=None)
    counts = np.zeros(2, int)
    for x, y in make_dataset(data, "train", batch_size=20, balanced=True).take(10):
        assert x.shape == (20, 16, 16, 1)
        counts += np.bincount(y.numpy(), minlength=2)
    assert counts.sum() == 200 and 0.35 < counts[1] / 200 < 0.65

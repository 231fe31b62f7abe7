"""helpers.data: NIH metadata variants, image modes, bad input, splits, ChestMNIST, the summary CLI."""

import collections
import csv
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import CLASSES
from helpers.data import (CHESTMNIST_LABELS, DataError, ImageReadError, chestmnist_conditions,
                          download_chestmnist, find_metadata, load_chestmnist_npz, load_nih, main, png_header,
                          read_gray8, read_nih_metadata, select_classes, split_by_patient)
from helpers.preprocess import load_dataset

from conftest import NIH_SAMPLE

V2020_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
                "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]")
ROWS = [
    ("00000001_000.png", "No Finding", 0, 1, 57, "M", "PA"),
    ("00000001_001.png", "Effusion|Infiltration", 1, 1, 58, "M", "AP"),
    ("00000002_000.png", "Mass", 0, 2, 80, "F", "PA"),
    ("00000003_000.png", "Hernia", 0, 3, 70, "F", "PA"),
    ("00000004_000.png", "Effusion", 0, 4, 40, "M", "AP"),
]


def write_csv(path, header, rows, trailing="", age_fmt="{}"):
    lines = [header + trailing]
    for r in rows:
        fields = [r[0], r[1], str(r[2]), str(r[3]), age_fmt.format(r[4]), r[5], r[6], "2500", "2048", "0.143", "0.143"]
        lines.append(",".join(fields) + trailing)
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def write_png(path, value=128, size=32, mode="L"):
    arr = np.full((size, size), value, np.uint8)
    Image.fromarray(arr, mode="L").convert(mode).save(path)


@pytest.mark.parametrize("variant", ["v2020", "2017", "sample"])
def test_metadata_variants_parse_the_same(tmp_path, variant):
    if variant == "v2020":
        path = write_csv(tmp_path / "Data_Entry_2017_v2020.csv", V2020_HEADER, ROWS)
    elif variant == "2017":
        path = write_csv(tmp_path / "Data_Entry_2017.csv", V2020_HEADER, ROWS, trailing=",", age_fmt="{:03d}Y")
    else:
        header = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
                  "OriginalImageWidth,OriginalImageHeight,OriginalImagePixelSpacing_x,OriginalImagePixelSpacing_y")
        path = write_csv(tmp_path / "sample_labels.csv", header, ROWS, age_fmt="{:03d}Y")
    meta = read_nih_metadata(path)
    assert list(meta["image"]) == [r[0] for r in ROWS]
    assert list(meta["patient"]) == [1, 1, 2, 3, 4]
    assert list(meta["age"]) == [57, 58, 80, 70, 40]
    assert list(meta["width"]) == [2500] * 5 and list(meta["spacing_y"]) == [0.143] * 5
    assert find_metadata(tmp_path) == path


def test_metadata_with_wrong_header_names_file_and_columns(tmp_path):
    path = tmp_path / "Data_Entry_2017.csv"
    path.write_text("image,label,patient\na.png,Mass,1\n")
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*lacks Image Index"):
        read_nih_metadata(path)


def test_rows_without_patient_id_are_counted_not_silently_dropped(tmp_path):
    rows = ROWS + [("00000009_000.png", "Mass", 0, "abc", 50, "M", "PA")]
    path = write_csv(tmp_path / "Data_Entry_2017_v2020.csv", V2020_HEADER, rows)
    with pytest.warns(UserWarning, match=r"skipped 1 of 6 rows .*CSV lines 7"):
        meta = read_nih_metadata(path)
    assert len(meta) == 5


def test_missing_metadata_lists_what_was_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="Data_Entry_2017_v2020.csv, Data_Entry_2017.csv, sample_labels.csv"):
        find_metadata(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_metadata(tmp_path / "nope")


def test_unknown_class_lists_valid_names(tmp_path):
    meta = read_nih_metadata(write_csv(tmp_path / "Data_Entry_2017_v2020.csv", V2020_HEADER, ROWS))
    with pytest.raises(DataError, match=r"unknown class name\(s\) 'Pneumonitis'; valid names are: No Finding, .*Hernia"):
        select_classes(meta, ["Mass", "Pneumonitis"])


def test_single_label_by_default_and_multi_label_option(tmp_path):
    meta = read_nih_metadata(write_csv(tmp_path / "Data_Entry_2017_v2020.csv", V2020_HEADER, ROWS))
    single = select_classes(meta)
    assert list(single["image"]) == ["00000001_000.png", "00000002_000.png", "00000004_000.png"]
    assert list(single["label"]) == [0, CLASSES.index("Mass"), CLASSES.index("Effusion")]
    multi = select_classes(meta, multi_label=True)
    row = multi.set_index("image").loc["00000001_001.png"]
    # Effusion has 1 single-label image, Infiltration 0: the rarer one is assigned
    assert row["condition"] == "Infiltration" and row["finding_labels"] == "Effusion|Infiltration"
    assert "00000003_000.png" not in set(multi["image"])  # Hernia is not a selected class


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P"])
def test_8bit_modes_become_gray(tmp_path, mode):
    path = tmp_path / f"x_{mode}.png"
    write_png(path, value=200, mode=mode)
    out = read_gray8(path)
    assert out.dtype == np.uint8 and out.shape == (32, 32)
    assert abs(int(out.mean()) - 200) <= 1


def test_16bit_is_rescaled_not_clipped(tmp_path):
    arr = np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)  # 12-bit data in a 16-bit PNG
    path = tmp_path / "x16.png"
    Image.fromarray(arr).save(path)
    assert Image.open(path).mode.startswith("I")
    out = read_gray8(path)
    assert out.min() == 0 and out.max() == 255
    assert len(np.unique(out)) > 200  # a ramp, not a clipped white block


def test_truncated_png_raises_with_file_name(tmp_path):
    good = tmp_path / "good.png"
    write_png(good, size=256)
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="bad.png"):
        read_gray8(bad)


@pytest.fixture
def nih_like(tmp_path):
    """A tiny NIH-layout folder with 3 of 4 selected images present, one of them corrupt."""
    root = tmp_path / "nih"
    images = root / "images_001" / "images"
    images.mkdir(parents=True)
    write_csv(root / "Data_Entry_2017_v2020.csv", V2020_HEADER, ROWS)
    write_png(images / "00000001_000.png", 10, size=100)
    write_png(images / "00000002_000.png", 20, size=100)
    (images / "00000004_000.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return root


def test_partial_download_and_corrupt_image_are_counted(nih_like, tmp_path, capsys):
    with pytest.warns(UserWarning, match=r"skipped 1 of 3 images .*00000004_000.png"):
        data = load_dataset("nih", nih_like, size=16, cache_dir=tmp_path / "c", progress=True)
    assert data.report.selected == 3 and data.report.present == 3 and data.report.missing == 0
    assert list(data.report.skipped) == ["00000004_000.png"]
    assert len(data.table) == 2 and data.images.shape == (2, 16, 16)
    assert int(data.images[list(data.table["image"]).index("00000002_000.png")].mean()) == 20
    (nih_like / "images_001" / "images" / "00000002_000.png").unlink()
    table, report = load_nih(nih_like)
    assert report.missing == 1 and report.present == 2
    assert "1 of 3 selected images listed in Data_Entry_2017_v2020.csv are not on disk" in capsys.readouterr().out


def test_flat_folder_layout(nih_like):
    flat = nih_like.parent / "flat"
    flat.mkdir()
    shutil.copy(nih_like / "Data_Entry_2017_v2020.csv", flat)
    for p in (nih_like / "images_001" / "images").glob("*.png"):
        shutil.copy(p, flat)
    table, report = load_nih(flat)
    assert report.present == 3


def test_no_images_at_all_is_a_clear_error(tmp_path):
    write_csv(tmp_path / "Data_Entry_2017_v2020.csv", V2020_HEADER, ROWS)
    with pytest.raises(DataError, match="none of the 3 selected images .* Check DATA_DIR"):
        load_nih(tmp_path)


def _many_patients(n=200):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"image": [f"{i:08d}.png" for i in range(n * 3)],
                         "patient": np.repeat(np.arange(n), 3), "label": rng.integers(0, 7, n * 3)})


def test_random_split_is_patient_disjoint():
    df = split_by_patient(_many_patients(), val_fraction=0.1, test_fraction=0.2, seed=1)
    assert df.groupby("patient")["split"].nunique().max() == 1
    shares = df.drop_duplicates("patient")["split"].value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.2, abs=0.01) and shares["val"] == pytest.approx(0.1, abs=0.01)


def test_official_lists_define_test_and_val_is_carved_by_patient(tmp_path):
    df = _many_patients(50)
    test_images = df[df["patient"] < 10]["image"]
    (tmp_path / "test_list.txt").write_text("\n".join(test_images) + "\n")
    (tmp_path / "train_val_list.txt").write_text("\n".join(df[df["patient"] >= 10]["image"]) + "\n")
    out = split_by_patient(df, tmp_path, val_fraction=0.1, test_fraction=0.2)
    assert set(out.loc[out["split"] == "test", "patient"]) == set(range(10))
    assert out.groupby("patient")["split"].nunique().max() == 1
    assert (out["split"] == "val").any()


def test_bad_split_fractions():
    with pytest.raises(DataError, match="val=0.6, test=0.5"):
        split_by_patient(_many_patients(), val_fraction=0.6, test_fraction=0.5)


def make_chestmnist_npz(path, size=8):
    rng = np.random.default_rng(0)
    labels = np.zeros((6, 14), np.uint8)
    labels[1, CHESTMNIST_LABELS.index("Mass")] = 1
    labels[2, CHESTMNIST_LABELS.index("Cardiomegaly")] = 1  # not a course class
    labels[3, [CHESTMNIST_LABELS.index("Effusion"), CHESTMNIST_LABELS.index("Nodule")]] = 1
    labels[4, CHESTMNIST_LABELS.index("Pneumothorax")] = 1
    labels[5, CHESTMNIST_LABELS.index("Nodule")] = 1
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 255, (6, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = labels
    np.savez(path, **arrays)
    return path


def test_chestmnist_reader(tmp_path):
    npz = make_chestmnist_npz(tmp_path / "chestmnist_64.npz")
    images, table = load_chestmnist_npz(npz)
    assert images.shape == (12, 8, 8)  # 4 usable rows x 3 splits
    train = table[table["split"] == "train"]
    assert list(train["condition"]) == ["No Finding", "Mass", "Pneumothorax", "Nodule"]
    assert list(train["label"]) == [0, 4, 6, 5]
    images, table = load_chestmnist_npz(npz, multi_label=True)
    assert (table["split"] == "train").sum() == 5  # the Effusion|Nodule row joins
    keep, conditions = chestmnist_conditions(np.zeros((2, 14), int))
    assert keep.all() and list(conditions) == ["No Finding", "No Finding"]


def test_chestmnist_bad_inputs(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, train_images=np.zeros((1, 8, 8)))
    with pytest.raises(DataError, match="lacks train_images/train_labels"):
        load_chestmnist_npz(bad)
    with pytest.raises(DataError, match=r"shape \(N, 14\)"):
        chestmnist_conditions(np.zeros((3, 5)))
    with pytest.raises(DataError, match=r"size 100 is not published; choose one of \[64, 128, 224\]"):
        download_chestmnist(100, tmp_path)
    with pytest.raises(FileNotFoundError, match="download_chestmnist"):
        load_chestmnist_npz(tmp_path / "none.npz")


def test_chestmnist_through_load_dataset(tmp_path):
    make_chestmnist_npz(tmp_path / "chestmnist_64.npz")
    data = load_dataset("chestmnist", tmp_path, size=16, cache_dir=tmp_path / "c")
    assert data.images.shape == (12, 16, 16)
    assert set(data.table["split"]) == {"train", "val", "test"}


def printed_table(out):
    """The per-condition table that ``python -m helpers.data`` prints: {row name: [numbers]}, in order."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("selected images per condition"))
    columns = lines[start + 1].split()
    rows = {}
    for line in lines[start + 3:]:  # after the column line and the index-name line
        if not line.strip():
            break
        match = re.fullmatch(r"(.+?)\s{2,}([\d\s]+)", line)
        rows[match.group(1).strip()] = dict(zip(columns, map(int, match.group(2).split())))
    return rows


def test_summary_cli_counts_match_the_metadata_without_decoding(phantom_dir, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "ph"
    shutil.copytree(phantom_dir, folder)
    with open(folder / "Data_Entry_2017_v2020.csv", newline="") as f:  # read with csv, not helpers.data
        rows = list(csv.DictReader(f))
    per_condition = collections.Counter(r["Finding Labels"] for r in rows)
    images = folder / "images_001" / "images"
    gone = next(r for r in rows if r["Finding Labels"] == "Mass")["Image Index"]
    (images / gone).unlink()  # a partial download
    broken = next(r for r in rows if r["Finding Labels"] == "Nodule")["Image Index"]
    (images / broken).write_bytes(b"<html>quota exceeded</html>")  # a file that is not a PNG at all

    import PIL.Image

    def no_decoding(*args, **kwargs):
        raise AssertionError("the summary must not decode images")
    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    monkeypatch.setattr("helpers.data.images.open_gray8", no_decoding)
    assert main([str(folder), "--check-headers"]) == 0
    out = capsys.readouterr().out

    assert "listed images: 84; selected by class: 84; present on disk: 83; missing: 1" in out
    table = printed_table(out)
    assert list(table) == [*CLASSES, "total"]
    for name in CLASSES:
        row = table[name]
        assert row["selected"] == per_condition[name] == 12
        assert row["present"] == per_condition[name] - (name == "Mass") and row["missing"] == (name == "Mass")
        assert row["train"] + row["val"] + row["test"] == row["present"]
    assert table["total"] == {k: sum(table[c][k] for c in CLASSES) for k in table["total"]}
    # the splits are the ones load_nih makes for training (it reads no pixels either)
    split = load_nih(folder, verbose=False)[0]
    expected = pd.crosstab(split["condition"], split["split"])
    for name in CLASSES:
        assert [table[name][k] for k in ("train", "val", "test")] == [int(expected.loc[name, k]) for k in
                                                                     ("train", "val", "test")]
    patients = {r["Patient ID"] for r in rows}
    per_split = {k: split.loc[split["split"] == k, "patient"].nunique() for k in ("train", "val", "test")}
    assert (f"patients: {len(patients)} in the metadata, {len(patients)} with a selected image on disk "
            f"(train {per_split['train']}, val {per_split['val']}, test {per_split['test']}") in out
    assert "PNG headers: 82 readable, 1 unreadable" in out and "  64x64 8-bit gray: 82" in out
    assert f"unreadable {broken}: " in out and "not a PNG file" in out


def test_summary_cli_chestmnist_reads_labels_only(tmp_path, capsys):
    make_chestmnist_npz(tmp_path / "chestmnist_64.npz")
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "listed images: 18; selected by class: 12; present on disk: 12; missing: 0" in out
    table = printed_table(out)
    for name in ("No Finding", "Mass", "Pneumothorax", "Nodule"):  # one row of each per split
        assert (table[name]["train"], table[name]["val"], table[name]["test"]) == (1, 1, 1)
    assert table["Effusion"]["selected"] == 0 and table["total"]["selected"] == 12
    with pytest.raises(DataError, match="no chestmnist_128.npz .* found chestmnist_64.npz"):
        main([str(tmp_path), "--size", "128"])


def test_png_header(tmp_path):
    write_png(tmp_path / "g.png", size=20)
    assert png_header(tmp_path / "g.png") == (20, 20, "8-bit gray")
    write_png(tmp_path / "c.png", size=20, mode="RGBA")
    assert png_header(tmp_path / "c.png") == (20, 20, "8-bit RGBA")
    Image.fromarray(np.zeros((5, 7), np.uint16)).save(tmp_path / "w.png")
    assert png_header(tmp_path / "w.png") == (7, 5, "16-bit gray")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty.png: empty file"):
        png_header(tmp_path / "empty.png")
    (tmp_path / "short.png").write_bytes((tmp_path / "g.png").read_bytes()[:20])
    with pytest.raises(ImageReadError, match="short.png: header cut short"):
        png_header(tmp_path / "short.png")


@pytest.mark.skipif(not NIH_SAMPLE.is_dir(), reason=f"real NIH sample not found at {NIH_SAMPLE}")
def test_real_nih_sample(tmp_path):
    table, report = load_nih(NIH_SAMPLE, verbose=False)
    assert report.listed == 112_120
    assert report.selected == 85_116  # single-label images of the seven classes in the full CSV
    assert report.present == len(table) and report.missing == report.selected - report.present
    assert report.present >= 1
    assert table.groupby("patient")["split"].nunique().max() == 1
    data = load_dataset("nih", NIH_SAMPLE, size=64, cache_dir=tmp_path / "c", progress=False)
    assert data.images.shape == (report.present, 64, 64) and not data.report.skipped
    # every PNG present decodes (1024, 512 and 256 px originals, all 8-bit gray)
    for path in sorted((NIH_SAMPLE / "images_001" / "images").glob("*.png")):
        img = read_gray8(path)
        assert img.dtype == np.uint8 and img.shape[0] in (256, 512, 1024) and img.std() > 10


# --------------------------------------------------------------------------- DATA_SOURCE="auto"

@pytest.fixture
def offline_world(monkeypatch):
    """No real socket can open, no decision is remembered from another test, no offline switch is set."""
    import socket

    import helpers.data.sources as data_module  # where resolve_source looks its helpers up

    def refuse(*args, **kwargs):
        raise OSError("sockets are blocked in this test")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(data_module, "_AUTO_CHOICES", {})
    monkeypatch.delenv("CXR_GAN_OFFLINE", raising=False)
    return data_module


def test_auto_picks_chestmnist_when_reachable(offline_world, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(offline_world, "chestmnist_reachable", lambda size, timeout=3.0: (True, "mocked: HTTP 200"))
    choice = offline_world.resolve_source("auto", tmp_path / "cm", 64, phantom_dir=tmp_path / "ph")
    assert choice == (("chestmnist", tmp_path / "cm", choice.reason))
    assert "chestmnist_64.npz, about 0.4 GB" in choice.reason and "mocked: HTTP 200" in choice.reason
    line = capsys.readouterr().out.strip()
    assert line.count("\n") == 0 and line.startswith(f"DATA_SOURCE auto -> chestmnist ({tmp_path / 'cm'}): ")
    other = offline_world.resolve_source("auto", tmp_path / "cm96", 96, verbose=False)
    assert other.source == "chestmnist"
    assert "no 96 px file is published, so the 128 px one is downscaled to 96 px" in other.reason
    assert "upscaled" in offline_world.resolve_source("auto", tmp_path / "cm", 256, verbose=False).reason
    # decided once per folder and size: a network that goes away later does not change this process's data
    monkeypatch.setattr(offline_world, "chestmnist_reachable", lambda size, timeout=3.0: (False, "gone"))
    assert offline_world.resolve_source("auto", tmp_path / "cm", 64, verbose=False).source == "chestmnist"


def test_auto_picks_phantoms_when_unreachable(offline_world, monkeypatch, tmp_path):
    monkeypatch.setattr(offline_world, "chestmnist_reachable",
                        lambda size, timeout=3.0: (False, "mocked: zenodo.org did not answer within 3 s"))
    choice = offline_world.resolve_source("auto", None, 64, phantom_dir=tmp_path / "ph", verbose=False)
    assert choice.source == "phantom" and choice.data_dir == tmp_path / "ph"
    assert choice.reason == "ChestMNIST cannot be downloaded (mocked: zenodo.org did not answer within 3 s): " \
                            "the offline phantoms"


def test_auto_with_real_sockets_blocked_is_phantom_and_quick(offline_world, tmp_path):
    start = time.perf_counter()
    choice = offline_world.resolve_source("auto", tmp_path / "cm", 64, phantom_dir=tmp_path / "ph", verbose=False)
    assert time.perf_counter() - start < 3.5
    assert choice.source == "phantom" and "sockets are blocked in this test" in choice.reason


def test_auto_uses_a_present_file_or_the_offline_switch_without_any_check(offline_world, monkeypatch, tmp_path):
    def no_check(*args, **kwargs):
        raise AssertionError("no network check expected")
    monkeypatch.setattr(offline_world, "chestmnist_reachable", no_check)
    make_chestmnist_npz(tmp_path / "chestmnist_128.npz")
    choice = offline_world.resolve_source("auto", tmp_path, 64, verbose=False)
    assert choice.source == "chestmnist" and "chestmnist_128.npz is already in" in choice.reason
    assert "downscaled to 64 px" in choice.reason
    monkeypatch.setenv("CXR_GAN_OFFLINE", "1")
    choice = offline_world.resolve_source("auto", tmp_path / "empty", 64, phantom_dir=tmp_path / "ph", verbose=False)
    assert choice.source == "phantom" and "CXR_GAN_OFFLINE=1" in choice.reason
    smoke = offline_world.resolve_source("auto", tmp_path, 32, offline="smoke mode", verbose=False)
    assert smoke.source == "phantom" and smoke.reason.startswith("smoke mode")  # even with a file present


def test_explicit_sources_stay_and_unknown_ones_are_listed(offline_world, tmp_path):
    assert offline_world.resolve_source("phantom", None, 32).data_dir == Path("data/phantoms-32")
    assert offline_world.resolve_source("chestmnist").data_dir == Path("data/chestmnist")
    assert offline_world.resolve_source("folder", tmp_path).source == "folder"
    with pytest.raises(DataError, match="DATA_SOURCE 'folder' needs DATA_DIR"):
        offline_world.resolve_source("folder")
    with pytest.raises(DataError, match="DATA_SOURCE 'kaggle' is unknown; use one of auto, phantom, nih, "
                                        "chestmnist, folder"):
        offline_world.resolve_source("kaggle")


def test_load_dataset_auto_offline_writes_and_reads_phantoms(offline_world, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = load_dataset("auto", None, size=16, phantom_per_class=3, cache_dir=tmp_path / "c", progress=False)
    assert data.source == "phantom" and data.classes == CLASSES and len(data.table) == 21
    assert (tmp_path / "data" / "phantoms-16" / "Data_Entry_2017_v2020.csv").is_file()


def test_load_dataset_auto_reads_a_chestmnist_file_present(offline_world, tmp_path, monkeypatch):
    monkeypatch.setattr(offline_world, "chestmnist_reachable", lambda *a, **k: (False, "unused"))
    make_chestmnist_npz(tmp_path / "chestmnist_64.npz")
    data = load_dataset("auto", tmp_path, size=16, cache_dir=tmp_path / "c", progress=False)
    assert data.source == "chestmnist" and data.images.shape == (12, 16, 16)


def test_notebook_settings_auto_and_folder(offline_world, tmp_path, monkeypatch, capsys):
    from helpers.env import notebook_settings

    monkeypatch.delenv("CXR_GAN_SMOKE", raising=False)
    calls = []
    monkeypatch.setattr(offline_world, "chestmnist_reachable",
                        lambda size, timeout=3.0: calls.append(size) or (True, "mocked"))
    run = tmp_path / "run"
    smoke, run_dir, data_dir, per_class, source = notebook_settings(
        "auto", tmp_path / "cm", 64, run, False, 700, 0, return_source=True)
    assert (source, data_dir, calls) == ("chestmnist", tmp_path / "cm", [64])
    assert "DATA_SOURCE=auto -> chestmnist" in capsys.readouterr().out
    record = json.loads((run / "data_source.json").read_text())
    assert record["source"] == "chestmnist"
    # a later notebook of the same run (a new kernel: nothing remembered in memory) reads the record
    monkeypatch.setattr(offline_world, "_AUTO_CHOICES", {})
    monkeypatch.setattr(offline_world, "chestmnist_reachable", lambda *a, **k: (False, "network gone"))
    assert notebook_settings("auto", tmp_path / "cm", 64, run, False, 700, 0)[2] == tmp_path / "cm"
    assert "delete it to decide again" in capsys.readouterr().out
    # load_dataset("auto", DATA_DIR) in that kernel keeps the decision, whatever the network says now
    assert offline_world.resolve_source("auto", tmp_path / "cm", 64, verbose=False).source == "chestmnist"
    # smoke mode stays offline
    smoke, _, data_dir, per_class, source = notebook_settings("auto", None, 64, tmp_path / "smoke", True, 700, 0,
                                                              return_source=True)
    assert source == "phantom" and per_class == 30 and data_dir.name == "phantoms-64px-30pc-seed0"
    folder = notebook_settings("folder", tmp_path / "kaggle", 64, run, False, 700, 0, return_source=True)
    assert folder[2] == tmp_path / "kaggle" and folder[4] == "folder"
    with pytest.raises(ValueError, match="DATA_SOURCE='folder' needs DATA_DIR"):
        notebook_settings("folder", None, 64, run, False, 700, 0)

"""helpers.preprocess: resizing choices, the cache (reuse, resume), and the tf.data pipeline."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from helpers import preprocess
from helpers.data import DataError
from helpers.preprocess import build_cache, decode_many, load_dataset, make_dataset, resize_square


def test_crop_and_letterbox():
    wide = np.full((60, 120), 200, np.uint8)
    crop = resize_square(wide, 30, "crop")
    box = resize_square(wide, 30, "letterbox")
    assert crop.shape == box.shape == (30, 30)
    assert crop.min() == 200  # all image, no bars
    assert box[0].max() == 0 and box[-1].max() == 0 and box[15, 15] == 200  # black bars top and bottom
    with pytest.raises(DataError, match="fit='stretch' is unknown"):
        resize_square(wide, 30, "stretch")


def test_antialiased_resize_averages_fine_stripes():
    stripes = np.zeros((256, 256), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: nearest sampling would keep only one phase
    small = resize_square(stripes, 16)
    inner = small[:, 1:-1].astype(float)  # Lanczos rings a little at the border
    assert abs(inner.mean() - 127.5) < 3 and inner.std() < 3


def test_parallel_decode_matches_serial(phantom_dir):
    paths = sorted((phantom_dir / "images_001" / "images").glob("*.png"))
    serial = {r: img for r, img, _ in decode_many(paths, 32, workers=1, progress=False)}
    parallel = {r: img for r, img, _ in decode_many(paths, 32, workers=2, progress=False)}
    assert len(paths) >= 64 and serial.keys() == parallel.keys()
    assert all(np.array_equal(serial[r], parallel[r]) for r in serial)


def test_cache_is_reused(phantom_dir, tmp_path, monkeypatch):
    first = load_dataset("nih", phantom_dir, size=32, cache_dir=tmp_path, progress=False)

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached dataset must not be decoded again")
    monkeypatch.setattr(preprocess, "decode_many", no_decoding)
    again = load_dataset("nih", phantom_dir, size=32, cache_dir=tmp_path, progress=False)
    assert again.cache_path == first.cache_path
    assert np.array_equal(np.asarray(again.images), np.asarray(first.images))
    assert list(again.table["image"]) == list(first.table["image"])
    with pytest.raises(AssertionError, match="must not be decoded"):  # another size is another cache
        load_dataset("nih", phantom_dir, size=48, cache_dir=tmp_path, progress=False)


def test_interrupted_build_resumes(phantom_dir, tmp_path, monkeypatch):
    paths = sorted((phantom_dir / "images_001" / "images").glob("*.png"))
    names = [p.name for p in paths]
    real = preprocess.decode_many
    seen = []

    def interrupted(paths_, size, fit, workers, progress, start=0):
        for item in real(paths_, size, fit, 1, False, start=start):
            if item[0] == 50:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(preprocess, "decode_many", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_cache(paths, names, 32, tmp_path, "k", chunk=16)
    saved = json.loads((tmp_path / "k.partial" / "progress.json").read_text())
    assert saved["next"] == 48  # progress is saved every 16 images

    def counting(paths_, size, fit, workers, progress, start=0):
        seen.append(start)
        yield from real(paths_, size, fit, 1, False, start=start)
    monkeypatch.setattr(preprocess, "decode_many", counting)
    folder, skipped = build_cache(paths, names, 32, tmp_path, "k", chunk=16)
    assert seen == [48] and not skipped and not (tmp_path / "k.partial").exists()
    images = np.load(folder / "images.npy")
    reference = {r: img for r, img, _ in real(paths, 32, "crop", 1, False)}
    assert all(np.array_equal(images[r], reference[r]) for r in range(len(paths)))


@pytest.fixture(scope="module")
def cached(phantom_dir, tmp_path_factory):
    return load_dataset("nih", phantom_dir, size=32, cache_dir=tmp_path_factory.mktemp("c"), progress=False)


def test_pipeline_shapes_and_range(cached):
    ds = make_dataset(cached, "train", batch_size=8)
    x, y = next(iter(ds))
    assert x.shape == (8, 32, 32, 1) and x.dtype.name == "float32" and y.dtype.name == "int32"
    assert -1.0 <= float(x.numpy().min()) and float(x.numpy().max()) <= 1.0
    rows, labels = cached.split("train")
    n = sum(int(b[1].shape[0]) for b in make_dataset(cached, "train", 8, drop_remainder=False))
    assert n == len(rows)  # one epoch sees every training image once


def test_pipeline_images_match_the_cache(cached):
    x, y = next(iter(make_dataset(cached, "test", batch_size=4, shuffle=False)))
    rows, labels = cached.split("test")
    expected = np.asarray(cached.images[rows[:4]], np.float32) / 127.5 - 1
    assert np.allclose(x.numpy()[..., 0], expected) and list(y.numpy()) == list(labels[:4])


def test_balanced_sampling_evens_out_an_imbalance(cached):
    rows, labels = cached.split("train")
    keep = np.concatenate([rows[labels == 0], rows[labels == 4][:2]])  # many No Finding, 2 Mass
    skewed = cached.subset(np.sort(keep))
    counts = np.zeros(7, int)
    for _, y in make_dataset(skewed, "train", 50, balanced=True).take(8):
        counts += np.bincount(y.numpy(), minlength=7)
    assert counts[0] + counts[4] == 400
    assert 0.4 < counts[4] / 400 < 0.6  # natural sampling would give 2/(n+2)


def test_empty_split_is_a_clear_error(cached):
    with pytest.raises(DataError, match="split 'holdout' is empty"):
        make_dataset(cached, "holdout")


def test_unknown_source():
    with pytest.raises(DataError, match="DATA_SOURCE 'kaggle' is unknown"):
        load_dataset("kaggle", "x")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_phantom_build_leaves_no_file_git_would_see(tmp_path, monkeypatch):
    """Writing phantoms into data/ (as the notebooks do) leaves nothing that git neither tracks nor ignores."""
    from conftest import ROOT

    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    data = load_dataset("phantom", None, size=16, phantom_per_class=2, cache_dir=tmp_path / "data" / "cache",
                        progress=False)
    assert len(data.table) == 14 and (tmp_path / "data" / "phantoms-16" / "Data_Entry_2017_v2020.csv").is_file()
    seen = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "data"], check=True,
                          capture_output=True, text=True).stdout
    assert seen == "", f"files git neither tracks nor ignores: {seen}"
    locks = [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "data").rglob("*.lock")]
    assert [name for name in locks if not name.startswith("data/cache/")] == []  # the phantom lock went too

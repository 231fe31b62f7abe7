"""Decode once, train many times: the uint8 image cache and the ``tf.data`` pipeline.

Decoding a 1024x1024 PNG costs far more than a training step needs at 64 or 128
pixels, so every image is decoded and resized **once**, in parallel on all cores,
into a cache of uint8 squares keyed by the source, the size and the class
selection. Reruns with the same settings open the cache in seconds. The cache is a
memory-mapped ``.npy`` file, so a dataset larger than memory streams from disk,
and an interrupted build resumes where it stopped. A build holds a lock file, so two
notebooks or scripts loading the same data at once share one build.

Resizing choices (shown with pictures in notebook 02):

- **Centre crop to a square**, not letterbox. NIH images are already square
  (1024x1024), so for them this is a no-op; for the odd non-square image a crop
  loses a thin margin of shoulder or abdomen, while letterboxing would add black
  bars that the GAN would dutifully learn to draw. ``fit="letterbox"`` is
  available for data where the margins matter.
- **Antialiased downscaling**: Pillow's box ``reduce`` to within 3x of the target,
  then Lanczos. Plain nearest or bilinear sampling of a 16x reduction aliases rib
  edges into moire.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import CLASSES
from helpers.data import (
    SOURCES,
    DataError,
    ImageReadError,
    LoadReport,
    check_classes,
    file_lock,
    find_chestmnist_npz,
    find_metadata,
    folder_listing_digest,
    load_chestmnist_npz,
    load_folder,
    load_nih,
    open_gray8,
    resolve_source,
)

CACHE_VERSION = 1
FITS = ("crop", "letterbox")


def default_cache_dir() -> Path:
    """``$CXR_GAN_CACHE`` if set, else ``~/.cache/cxr-gan``."""
    return Path(os.environ.get("CXR_GAN_CACHE", Path.home() / ".cache" / "cxr-gan"))


def square_resize(img, size: int, fit: str = "crop"):
    """Make a mode-``L`` Pillow image square (centre crop or letterbox) and resize it to ``size``."""
    from PIL import Image

    if fit not in FITS:
        raise DataError(f"fit={fit!r} is unknown; use one of {FITS}")
    w, h = img.size
    if w != h:
        if fit == "crop":
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side))
        else:
            side = max(w, h)
            canvas = Image.new("L", (side, side), 0)
            canvas.paste(img, ((side - w) // 2, (side - h) // 2))
            img = canvas
    if img.size[0] != size:
        img = img.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return img


def resize_square(image: np.ndarray, size: int, fit: str = "crop") -> np.ndarray:
    """Make a uint8 grayscale array square (centre crop or letterbox) and resize it to ``size``."""
    from PIL import Image

    return np.asarray(square_resize(Image.fromarray(np.ascontiguousarray(image), mode="L"), size, fit),
                      dtype=np.uint8)


def decode_resize(path, size: int, fit: str = "crop") -> np.ndarray:
    """Decode an image file to 8-bit grayscale and resize it to a ``size`` square."""
    return np.asarray(square_resize(open_gray8(path), size, fit), dtype=np.uint8)


def _decode_task(task):
    """Worker: returns (row, array or None, error message or None)."""
    row, path, size, fit = task
    try:
        return row, decode_resize(path, size, fit), None
    except ImageReadError as exc:
        return row, None, str(exc.__cause__ or exc)


def _guard_sentence(script) -> str:
    """The one sentence said to a script that calls ``load_dataset`` at module level without a main guard."""
    return (f"{script} calls helpers' load_dataset/decode_many at module level without "
            "`if __name__ == \"__main__\":`, and the decode workers (spawned processes) re-run the script on start, "
            "so put that code under such a guard (or pass workers=1).")


def spawn_bootstrapping() -> bool:
    """True inside a ``spawn`` child that is re-running the parent's ``__main__`` (before its work starts).

    Such a child must not load data: it would load the dataset again, or wait forever on the
    cache lock its parent holds. ``multiprocessing`` itself detects this state the same way.
    """
    import multiprocessing as mp

    return bool(getattr(mp.current_process(), "_inheriting", False))


def unguarded_main_script() -> str | None:
    """The ``__main__`` script's path if it is calling us from module-level code outside ``if __name__ == "__main__":``.

    ``spawn`` workers re-run such code when they start, so a process pool must not be
    started from it. Looks for the script's module-level frame on the call stack and checks,
    with ``ast``, whether the line it is running lies inside a main guard. Returns None when
    it is safe or cannot be told (no script file: Jupyter, ``python -c``; unreadable source).
    """
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if not script or not str(script).endswith(".py") or getattr(main, "__name__", "") != "__main__":
        return None
    frame, lines = sys._getframe(1), []
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is vars(main):
            lines.append(frame.f_lineno)
        frame = frame.f_back
    if not lines:
        return None
    try:
        tree = ast.parse(Path(script).read_text(encoding="utf-8"), filename=str(script))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None

    def is_guard(test) -> bool:
        if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
            return False
        sides = [test.left, test.comparators[0]]
        return (any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides)
                and any(isinstance(x, ast.Constant) and x.value == "__main__" for x in sides))
    guarded = [(node.body[0].lineno, node.body[-1].end_lineno) for node in ast.walk(tree)
               if isinstance(node, ast.If) and is_guard(node.test)]
    if all(any(lo <= line <= hi for lo, hi in guarded) for line in lines):
        return None
    return str(script)


def decode_many(paths, size: int, fit: str = "crop", workers: int | None = None, progress: bool = True,
                start: int = 0, chunksize: int = 32):
    """Yield ``(row, image_or_None, error_or_None)`` for ``paths[start:]``, decoding in parallel.

    Uses a process pool (``spawn``, safe after TensorFlow has started threads) on
    ``workers`` cores (default: all). Small jobs (under 64 images) run in this process.
    Before starting the pool it refuses, in one sentence, to run from a script's
    module-level code without a ``__main__`` guard (the workers would re-run the script);
    a worker that dies (killed, out of memory) raises ``RuntimeError`` instead of hanging.
    """
    tasks = [(i, str(p), size, fit) for i, p in enumerate(paths) if i >= start]
    workers = workers or os.cpu_count() or 1
    parallel = workers > 1 and len(tasks) >= 64
    if parallel:
        script = unguarded_main_script()
        if script is not None:
            raise RuntimeError(_guard_sentence(script))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(paths), initial=start, desc=f"decode+resize to {size}px", unit="img",
                   mininterval=1.0)
    try:
        if not parallel:
            for item in map(_decode_task, tasks):
                if bar:
                    bar.update(1)
                yield item
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor
            from concurrent.futures.process import BrokenProcessPool

            pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
            try:
                for item in pool.map(_decode_task, tasks, chunksize=chunksize):
                    if bar:
                        bar.update(1)
                    yield item
            except BrokenProcessPool:
                script = getattr(sys.modules.get("__main__"), "__file__", None) or "the main script"
                raise RuntimeError(
                    "a decode worker process died before finishing: either it ran out of memory or was killed "
                    "(retry with fewer workers=), or " + _guard_sentence(script)) from None
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
    finally:
        if bar:
            bar.close()


# --------------------------------------------------------------------------- the cache

@dataclass
class CachedData:
    """A decoded dataset: ``images[i]`` is the uint8 square of ``table.iloc[i]``."""

    images: np.ndarray          # (N, S, S) uint8, usually a read-only memory map
    table: pd.DataFrame         # image, condition, label, split, patient, ... one row per image
    classes: tuple
    size: int
    report: LoadReport
    cache_path: Path | None = None
    source: str = ""            # the concrete source: phantom, nih, chestmnist or folder (never "auto")

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Row indices and labels of one split (``train``, ``val`` or ``test``)."""
        rows = np.flatnonzero(self.table["split"].to_numpy() == name)
        return rows, self.table["label"].to_numpy()[rows]

    def subset(self, rows) -> CachedData:
        """A view of some rows (images loaded into memory), e.g. to mimic another class balance."""
        rows = np.asarray(rows)
        return CachedData(np.asarray(self.images[rows]), self.table.iloc[rows].reset_index(drop=True),
                          self.classes, self.size, self.report, self.cache_path, self.source)

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images (uint8, loaded into memory) and labels of one split."""
        rows, labels = self.split(name)
        return np.asarray(self.images[rows]), labels


def cache_key(**parts) -> str:
    """Stable short hash of the settings that determine the cache's contents."""
    blob = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def build_cache(paths, names, size: int, cache_dir, key: str, fit: str = "crop", workers=None,
                progress: bool = True, chunk: int = 2048) -> tuple[Path, dict]:
    """Decode ``paths`` into ``cache_dir/key/`` (``images.npy`` + ``index.csv`` + ``meta.json``).

    Returns ``(folder, skipped)`` where ``skipped`` maps file name to the reason it
    could not be decoded. Unreadable images are skipped, counted and named in a
    warning; they never stop the build. The build writes to ``key.partial/`` and
    records progress after every ``chunk`` images, so an interrupted build resumes;
    the folder is renamed into place only when complete.

    Safe to share: the build holds the lock file ``cache_dir/key.lock`` (see
    :func:`helpers.data.file_lock`), so a second process asking for the same cache at
    the same time waits and then opens the first one's result instead of decoding again.
    """
    final = Path(cache_dir) / key
    if (final / "meta.json").is_file():
        meta = json.loads((final / "meta.json").read_text())
        return final, meta.get("skipped", {})
    with file_lock(Path(cache_dir) / f"{key}.lock", f"building the decode cache {final}"):
        if (final / "meta.json").is_file():  # another process finished it while we waited
            print(f"another process built the decode cache {final} meanwhile: using it", flush=True)
            meta = json.loads((final / "meta.json").read_text())
            return final, meta.get("skipped", {})
        return _build_cache_locked(paths, names, size, cache_dir, key, fit, workers, progress, chunk)


def _build_cache_locked(paths, names, size, cache_dir, key, fit, workers, progress, chunk) -> tuple[Path, dict]:
    """The body of :func:`build_cache`, run while holding its lock."""
    final = Path(cache_dir) / key
    partial = Path(cache_dir) / f"{key}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    n = len(paths)
    progress_file = partial / "progress.json"
    state = {"next": 0, "skipped": {}, "n": n, "size": size}
    mode = "w+"
    if progress_file.is_file() and (partial / "raw.npy").is_file():
        saved = json.loads(progress_file.read_text())
        if saved.get("n") == n and saved.get("size") == size:
            state, mode = saved, "r+"
    raw = np.lib.format.open_memmap(partial / "raw.npy", mode=mode, dtype=np.uint8, shape=(n, size, size))
    if state["next"]:
        print(f"resuming cache build at image {state['next']:,} of {n:,}")
    ok = np.ones(n, bool)
    for name in state["skipped"]:
        ok[names.index(name)] = False
    done_since_save = 0
    for row, image, error in decode_many(paths, size, fit, workers, progress, start=state["next"]):
        if image is None:
            ok[row] = False
            state["skipped"][names[row]] = error
        else:
            raw[row] = image
        state["next"] = row + 1
        done_since_save += 1
        if done_since_save >= chunk:
            raw.flush()
            progress_file.write_text(json.dumps(state))
            done_since_save = 0
    raw.flush()
    keep = np.flatnonzero(ok)
    images = np.lib.format.open_memmap(partial / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(len(keep), size, size))
    for start in range(0, len(keep), chunk):  # compact in chunks: never the whole set in memory
        images[start:start + chunk] = raw[keep[start:start + chunk]]
    images.flush()
    del images, raw
    (partial / "raw.npy").unlink()
    pd.DataFrame({"image": [names[i] for i in keep]}).to_csv(partial / "index.csv", index=False)
    meta = {"size": size, "fit": fit, "count": len(keep), "skipped": state["skipped"],
            "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    (partial / "meta.json").write_text(json.dumps(meta, indent=1))
    progress_file.unlink(missing_ok=True)
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    if state["skipped"]:
        listed = "; ".join(f"{k} ({v})" for k, v in list(state["skipped"].items())[:5])
        warnings.warn(f"skipped {len(state['skipped'])} of {n} images that could not be decoded: {listed}",
                      stacklevel=3)
    return final, state["skipped"]


def _open_cache(folder: Path, table: pd.DataFrame, report: LoadReport, classes, size, source: str = "") -> CachedData:
    """Open a cache folder and align ``table`` to its rows (images skipped at build time drop out)."""
    index = pd.read_csv(folder / "index.csv", dtype=str)
    images = np.load(folder / "images.npy", mmap_mode="r")
    by_name = table.set_index("image", drop=False)
    unknown = ~index["image"].isin(by_name.index)
    if unknown.any() or len(images) != len(index):
        raise DataError(f"cache {folder} does not match the dataset it was keyed on "
                        f"({int(unknown.sum())} unknown images); delete that folder to rebuild it")
    table = by_name.loc[index["image"]].reset_index(drop=True)
    return CachedData(images, table, tuple(classes), size, report, folder, source)


def load_dataset(source: str = "phantom", data_dir=None, size: int = 64, classes=None,
                 multi_label: bool = False, seed: int = 0, val_fraction: float = 0.1,
                 test_fraction: float = 0.2, cache_dir=None, fit: str = "crop", workers=None,
                 phantom_per_class: int = 300, progress: bool = True, batch_size: int | None = 32) -> CachedData:
    """The one entry point the notebooks use: any source to a decoded, split :class:`CachedData`.

    ``source`` is ``"phantom"`` (the offline default: writes phantoms into ``data_dir``
    first if it holds none), ``"nih"`` (NIH / Kaggle layout in ``data_dir``),
    ``"chestmnist"`` (``chestmnist_<size>.npz`` in ``data_dir``, downloaded if missing;
    another size reads the nearest larger file), ``"folder"`` (one folder of images per
    condition in ``data_dir``, optionally under train/val/test folders; see
    :func:`helpers.data.load_folder`) or ``"auto"`` (ChestMNIST when it is on disk or
    downloadable, else the phantoms; :func:`helpers.data.resolve_source` prints why).

    ``classes`` defaults to the course's seven NIH conditions, and for ``"folder"`` to
    the class folder names (sorted); the result's ``.classes`` says which, and ``.source``
    which concrete source was read. ``batch_size`` only serves a warning about folder
    classes with fewer images than one batch. Two processes may load the same dataset at
    once: the cache build (and phantom writing) is locked, and the second reuses the
    first's result.
    """
    if spawn_bootstrapping():
        script = getattr(sys.modules.get("__main__"), "__file__", None) or "the main script"
        raise SystemExit(_guard_sentence(script))
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    if source == "auto":
        source, data_dir, _ = resolve_source("auto", data_dir, size, verbose=progress)
    elif source not in SOURCES:
        raise DataError(f"DATA_SOURCE {source!r} is unknown; use one of {', '.join(SOURCES)}")
    if source == "folder":
        return _load_folder_source(data_dir, size, classes, seed, val_fraction, test_fraction, cache_dir, fit,
                                   workers, progress, batch_size)
    classes = check_classes(CLASSES if classes is None else classes)
    concrete = source
    if source == "phantom":
        from helpers.phantoms import write_dataset
        data_dir = Path(data_dir or f"data/phantoms-{size}")
        if not _has_metadata(data_dir):
            lock = data_dir / ".writing.lock"  # inside the folder it guards: nothing beside it for git to see
            with file_lock(lock, f"writing phantoms into {data_dir}"):
                if not _has_metadata(data_dir):  # another process may have written them while we waited
                    print(f"no dataset in {data_dir}: writing {phantom_per_class} phantoms per class at {size}px")
                    write_dataset(data_dir, phantom_per_class, size, seed=seed, progress=progress)
            # Safe to remove once the phantoms are written: a process still waiting on it finds them and writes
            # nothing. (Windows refuses while another process has it open; then it stays, hidden, in the folder.)
            with contextlib.suppress(OSError):
                lock.unlink()
        source = "nih"
    if source == "nih":
        if data_dir is None:
            raise DataError("DATA_SOURCE 'nih' needs DATA_DIR: the folder with the metadata CSV and images_* folders")
        table, report = load_nih(data_dir, classes, multi_label, val_fraction, test_fraction, seed, verbose=progress)
        csv_path = Path(report.metadata)
        stat = csv_path.stat()
        key = cache_key(source="nih", folder=str(csv_path.parent.resolve()), csv=csv_path.name,
                        csv_size=stat.st_size, csv_mtime=int(stat.st_mtime), present=report.present,
                        size=size, classes=classes, multi_label=multi_label, fit=fit)
        folder, skipped = build_cache(table["path"].tolist(), table["image"].tolist(), size, cache_dir, key,
                                      fit, workers, progress)
        report.skipped = skipped
        return _open_cache(folder, table, report, classes, size, concrete)
    return _load_chestmnist_source(data_dir, size, classes, multi_label, cache_dir, fit)


def _has_metadata(folder: Path) -> bool:
    try:
        find_metadata(folder)
        return True
    except FileNotFoundError:
        return False


def _load_chestmnist_source(data_dir, size, classes, multi_label, cache_dir, fit) -> CachedData:
    """``load_dataset("chestmnist", ...)``: the npz for ``size`` (downloaded if none is there), resized once, cached."""
    from helpers.data import chestmnist_file_size, download_chestmnist

    data_dir = Path(data_dir or "data/chestmnist")
    npz = find_chestmnist_npz(data_dir, size) or download_chestmnist(chestmnist_file_size(size), data_dir)
    if npz.stem != f"chestmnist_{size}":
        how = "upscaled: a larger file gives sharper images" if int(npz.stem.split("_")[-1]) < size else "downscaled"
        print(f"reading {npz.name} for {size} px images ({how})")
    images, table = load_chestmnist_npz(npz, classes, multi_label)
    report = LoadReport(metadata=str(npz), listed=len(images), selected=len(images), present=len(images))
    key = cache_key(source="chestmnist", file=str(npz.resolve()), bytes=npz.stat().st_size, size=size,
                    classes=classes, multi_label=multi_label)
    folder = cache_dir / key
    if not (folder / "meta.json").is_file():
        with file_lock(cache_dir / f"{key}.lock", f"building the decode cache {folder}"):
            if not (folder / "meta.json").is_file():
                partial = cache_dir / f"{key}.partial"
                partial.mkdir(parents=True, exist_ok=True)
                out = np.lib.format.open_memmap(partial / "images.npy", mode="w+", dtype=np.uint8,
                                                shape=(len(images), size, size))
                for i, img in enumerate(images):
                    out[i] = resize_square(img, size, fit)
                out.flush()
                del out
                table[["image"]].to_csv(partial / "index.csv", index=False)
                (partial / "meta.json").write_text(json.dumps({"size": size, "count": len(images), "skipped": {}}))
                if folder.exists():
                    shutil.rmtree(folder)
                partial.rename(folder)
    return _open_cache(folder, table, report, classes, size, "chestmnist")


def _load_folder_source(data_dir, size, classes, seed, val_fraction, test_fraction, cache_dir, fit, workers,
                        progress, batch_size) -> CachedData:
    """``load_dataset("folder", ...)``: list and split the class folders, decode them once into the cache."""
    if data_dir is None:
        raise DataError("DATA_SOURCE 'folder' needs DATA_DIR: a folder with one sub-folder of images per condition, "
                        "optionally under train/val/test folders")
    table, report = load_folder(data_dir, classes, val_fraction, test_fraction, seed, batch_size, verbose=progress)
    chosen = tuple(table.attrs["classes"])
    key = cache_key(source="folder", folder=str(Path(table.attrs["root"]).resolve()),
                    listing=folder_listing_digest(table), size=size, classes=chosen, fit=fit)
    folder, skipped = build_cache(table["path"].tolist(), table["image"].tolist(), size, cache_dir, key, fit,
                                  workers, progress)
    report.skipped = skipped
    return _open_cache(folder, table, report, chosen, size, "folder")


# --------------------------------------------------------------------------- tf.data

def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency weights that make every class equally likely (absent classes get 0)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, 1.0, 0.0)
    return weights / weights.sum()


def make_dataset(data: CachedData, split: str = "train", batch_size: int = 64, shuffle: bool = True,
                 balanced: bool = False, repeat: bool = False, drop_remainder: bool = True, seed: int = 0,
                 skip_batches: int = 0):
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches from the cache.

    Images come out as float32 ``(B, S, S, 1)`` scaled to [-1, 1]; labels as int32.
    Batches of indices are gathered from the memory-mapped cache, so nothing larger
    than a batch is held in memory. ``balanced=True`` draws every class equally often
    (with replacement; the stream is infinite), the remedy for NIH's 28:1 imbalance.

    With ``repeat=True`` the stream is infinite and *reproducible*: epoch ``e`` is
    shuffled with the stateless seed ``(seed, e)``, so ``skip_batches=k`` (skipped on
    indices, before any image is read) continues a stream exactly where batch ``k``
    of an uninterrupted run would be: what a resumed training run needs.
    """
    import tensorflow as tf

    rows, labels = data.split(split)
    if len(rows) == 0:
        raise DataError(f"split {split!r} is empty; splits present: {sorted(data.table['split'].unique())}")
    num_classes = len(data.classes)
    size = data.size
    if balanced:
        streams, weights = [], []
        for c in range(num_classes):
            idx = rows[labels == c]
            if len(idx):
                streams.append(tf.data.Dataset.from_tensor_slices(idx).repeat()
                               .shuffle(min(len(idx), 10_000), seed=seed + c))
                weights.append(1.0)
        ds = tf.data.Dataset.sample_from_datasets(streams, weights=[w / sum(weights) for w in weights],
                                                  seed=seed)
    elif repeat:
        rows_t = tf.constant(rows, tf.int64)

        def epoch_rows(epoch):
            if not shuffle:
                return tf.data.Dataset.from_tensor_slices(rows_t)
            keys = tf.random.stateless_uniform([len(rows)], seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
            return tf.data.Dataset.from_tensor_slices(tf.gather(rows_t, tf.argsort(keys)))
        ds = tf.data.Dataset.range(2 ** 62).flat_map(epoch_rows)
    else:
        ds = tf.data.Dataset.from_tensor_slices(rows)
        if shuffle:
            ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if skip_batches:
        ds = ds.skip(skip_batches)
    all_labels = data.table["label"].to_numpy().astype(np.int32)
    images = data.images

    def gather(idx):
        order = np.sort(idx)  # sorted reads are sequential on the memory map
        return images[order], all_labels[order]

    def load(idx):
        # stateful=False: a read of the read-only cache, so tf.data may keep prefetching and mapping in parallel
        # under op determinism (a stateful function there would make the whole pipeline run serially)
        x, y = tf.numpy_function(gather, [idx], [tf.uint8, tf.int32], stateful=False)
        x.set_shape([batch_size if drop_remainder else None, size, size])
        y.set_shape([batch_size if drop_remainder else None])
        x = tf.cast(x[..., None], tf.float32) / 127.5 - 1.0
        return x, y

    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

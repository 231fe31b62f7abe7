"""MedMNIST+ ChestMNIST: the ``.npz`` files, their labels as course conditions, download with an MD5 check.

The official files (64, 128 and 224 px) come from the Zenodo record, no PyTorch needed;
:func:`chestmnist_reachable` asks, without downloading, whether that works right now.
"""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import CLASSES
from helpers.data.common import DataError, check_classes
from helpers.data.lock import file_lock


#: ChestMNIST's 14 labels, in the order of its multi-hot label vectors.
CHESTMNIST_LABELS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule",
    "Pneumonia", "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis",
    "Pleural_Thickening", "Hernia",
)


#: Official MedMNIST+ files on Zenodo (record 10519652) and their MD5 sums.
CHESTMNIST_FILES = {
    64: ("https://zenodo.org/records/10519652/files/chestmnist_64.npz?download=1",
         "9de6cd0b934ebb5b7426cfba5efbae16"),
    128: ("https://zenodo.org/records/10519652/files/chestmnist_128.npz?download=1",
          "db107e5590b27930b62dbaf558aebee3"),
    224: ("https://zenodo.org/records/10519652/files/chestmnist_224.npz?download=1",
          "45bd33e6f06c3e8cdb481c74a89152aa"),
}


#: Approximate download sizes of the ChestMNIST files, for the message that announces a download.
CHESTMNIST_GB = {64: 0.4, 128: 1.6, 224: 5.0}


def chestmnist_conditions(labels: np.ndarray, classes=CLASSES, multi_label: bool = False):
    """Map ChestMNIST multi-hot rows to course conditions.

    An all-zero row means No Finding. Returns ``(keep_mask, condition_names)``; with
    ``multi_label=False`` only rows with exactly one positive in ``classes`` (or none,
    for No Finding) are kept; with ``multi_label=True`` rows with any selected finding
    are kept and assigned the rarest one.
    """
    classes = check_classes(classes)
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != len(CHESTMNIST_LABELS):
        raise DataError(f"ChestMNIST labels must have shape (N, 14), got {labels.shape}")
    counts = labels.sum(1)
    names = np.array(CHESTMNIST_LABELS)
    conditions = np.full(len(labels), None, dtype=object)
    conditions[counts == 0] = "No Finding"
    single = counts == 1
    conditions[single] = names[labels[single].argmax(1)]
    if multi_label:
        frequency = {c: int(((counts == 1) & (conditions == c)).sum()) for c in classes}
        for i in np.flatnonzero(counts > 1):
            chosen = [c for c in names[labels[i] > 0] if c in frequency]
            conditions[i] = min(chosen, key=frequency.get) if chosen else None
    keep = np.array([c in classes for c in conditions])
    return keep, conditions


def load_chestmnist_npz(npz_path, classes=CLASSES, multi_label: bool = False):
    """Read a MedMNIST+ ChestMNIST ``.npz`` into ``(images, table)``.

    ``images`` is uint8 ``(N, S, S)``; ``table`` has ``condition``, ``label`` and
    ``split`` (MedMNIST's official train/val/test, which follows NIH's patient-wise
    split; patient ids are not in the file, so ``patient`` is -1).
    """
    npz_path = Path(npz_path)
    if not npz_path.is_file():
        raise FileNotFoundError(f"ChestMNIST file {npz_path} not found; download it with "
                                "helpers.data.download_chestmnist(size, folder)")
    classes = check_classes(classes)
    images, tables = [], []
    with np.load(npz_path) as npz:
        for split in ("train", "val", "test"):
            if f"{split}_images" not in npz or f"{split}_labels" not in npz:
                raise DataError(f"{npz_path} lacks {split}_images/{split}_labels; keys are "
                                f"{sorted(npz.keys())}. Is it a MedMNIST ChestMNIST file?")
            x, y = npz[f"{split}_images"], npz[f"{split}_labels"]
            if x.ndim == 4:  # (N, S, S, 1) or (N, 1, S, S)
                x = x.reshape(x.shape[0], x.shape[-2] if x.shape[1] == 1 else x.shape[1], -1)
            keep, conditions = chestmnist_conditions(y, classes, multi_label)
            images.append(x[keep].astype(np.uint8))
            t = pd.DataFrame({"image": [f"chestmnist_{split}_{i:06d}" for i in np.flatnonzero(keep)],
                              "condition": conditions[keep], "split": split, "patient": -1})
            tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    table["label"] = table["condition"].map({c: i for i, c in enumerate(classes)}).astype(np.int64)
    return np.concatenate(images), table


def md5sum(path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def download_chestmnist(size: int = 64, folder="data/chestmnist") -> Path:
    """Download ChestMNIST at ``size`` (64, 128 or 224) from Zenodo and verify its MD5.

    No credentials needed; about 0.4 GB at 64 px, 1.6 GB at 128 px, 5 GB at 224 px.
    Reuses a file already present with the right checksum; a partial download is
    written to ``*.part`` and only renamed once complete and verified.
    """
    if size not in CHESTMNIST_FILES:
        raise DataError(f"ChestMNIST size {size} is not published; choose one of {sorted(CHESTMNIST_FILES)}")
    url, md5 = CHESTMNIST_FILES[size]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"chestmnist_{size}.npz"
    if target.is_file() and md5sum(target) == md5:
        return target
    with file_lock(folder / f".chestmnist_{size}.lock", f"downloading {target.name}"):
        if target.is_file() and md5sum(target) == md5:  # another process downloaded it while we waited
            return target
        return _download_verified(url, md5, target)


def _download_verified(url: str, md5: str, target: Path) -> Path:
    """Download ``url`` to ``target`` via ``target.npz.part``; rename only once the MD5 matches."""
    part = target.with_suffix(".npz.part")
    from tqdm.auto import tqdm
    with urllib.request.urlopen(url) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))
    got = md5sum(part)
    if got != md5:
        raise DataError(f"{part} has MD5 {got}, expected {md5}: the download is incomplete or altered. "
                        "Delete it and download again.")
    part.replace(target)
    return target


def chestmnist_file_size(size: int) -> int:
    """The published ChestMNIST file to read for ``size`` px: the same size, else the nearest larger, else 224."""
    larger = [s for s in sorted(CHESTMNIST_FILES) if s >= size]
    return larger[0] if larger else max(CHESTMNIST_FILES)


def _chestmnist_note(size: int) -> str:
    """'' when ChestMNIST is published at ``size``, else what is read instead and how it is resized."""
    file_size = chestmnist_file_size(size)
    if file_size == size:
        return ""
    how = "downscaled" if file_size > size else "upscaled (224 is the largest published)"
    return f"; no {size} px file is published, so the {file_size} px one is {how} to {size} px"


def find_chestmnist_npz(folder, size: int, allow_smaller: bool = True):
    """The ``chestmnist_<S>.npz`` in ``folder`` to use for ``size`` px, or None.

    Prefers ``S == size``, then the smallest ``S > size`` (downscaled), then, with
    ``allow_smaller``, the largest ``S < size`` (upscaled). Files are matched by name only.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    present = {}
    for path in folder.glob("chestmnist_*.npz"):
        tail = path.stem.split("_")[-1]
        if tail.isdigit():
            present[int(tail)] = path
    if size in present:
        return present[size]
    larger = [s for s in sorted(present) if s > size]
    if larger:
        return present[larger[0]]
    smaller = [s for s in sorted(present) if s < size]
    return present[smaller[-1]] if smaller and allow_smaller else None


def chestmnist_reachable(size: int = 64, timeout: float = 3.0) -> tuple[bool, str]:
    """Can ChestMNIST be downloaded now? ``(answer, why)`` from a HEAD request to its Zenodo URL.

    Waits at most ``timeout`` seconds in all (the request runs in a daemon thread, so a
    hanging DNS lookup cannot stall the caller) and downloads nothing. Respects the
    usual proxy variables, as the download itself does.
    """
    url = CHESTMNIST_FILES[chestmnist_file_size(size)][0]
    host = urllib.parse.urlsplit(url).hostname
    answer: list = []

    def probe():
        start = time.perf_counter()
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer.append((True, f"{host} answered HTTP {response.status} in {time.perf_counter() - start:.1f} s"))
        except urllib.error.HTTPError as exc:  # the server answered: 405 still means a GET would work
            ok = exc.code < 400 or exc.code == 405
            answer.append((ok, f"{host} answered HTTP {exc.code}"))
        except Exception as exc:  # noqa: BLE001 - DNS, refused, timeout, TLS, blocked sockets: all mean "no"
            answer.append((False, f"{host}: {type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=probe, name="chestmnist-reachable", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if not answer:
        return False, f"{host} did not answer within {timeout:g} s"
    return answer[0]

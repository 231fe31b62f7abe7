"""Image files on disk: find the PNGs of a dataset, decode any image to 8-bit gray, read a PNG header."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from helpers.data.common import ImageReadError


def index_images(data_dir) -> dict[str, Path]:
    """Map image file name to path for PNGs under ``images_*/images/``, ``images*/`` or flat in ``data_dir``."""
    data_dir = Path(data_dir)
    folders = [data_dir]
    for entry in sorted(data_dir.iterdir()) if data_dir.is_dir() else []:
        if entry.is_dir() and entry.name.startswith("images"):
            folders.append(entry)
            if (entry / "images").is_dir():
                folders.append(entry / "images")
    found: dict[str, Path] = {}
    for folder in folders:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.lower().endswith(".png") and e.is_file():
                    found.setdefault(e.name, Path(e.path))
    return found


def open_gray8(path):
    """Decode an image file to an 8-bit grayscale (mode ``L``) Pillow image.

    8-bit grayscale is returned as is; RGB, RGBA, palette and gray+alpha images are
    converted with ITU-R 601 luma (alpha dropped); 16-bit and 32-bit images are
    rescaled from their own minimum..maximum to 0..255 (never clipped at 255).
    A truncated or corrupt file raises :class:`ImageReadError` naming the file.
    Staying in Pillow (no NumPy round trip of the full-size image) keeps decoding fast.
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode == "L":
                return img  # pixels are loaded; closing the file keeps them
            if mode in ("I", "F") or mode.startswith("I;16"):
                arr = np.asarray(img).astype(np.float64)
                lo, hi = float(arr.min()), float(arr.max())
                scaled = np.zeros(arr.shape, np.uint8) if hi <= lo else \
                    np.round((arr - lo) / (hi - lo) * 255.0).astype(np.uint8)
                return Image.fromarray(scaled, mode="L")
            if mode in ("RGBA", "LA", "PA"):
                img = img.convert("RGBA").convert("RGB")
            return img.convert("L")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # PIL's errors for bad files
        raise ImageReadError(f"cannot decode {path}: {exc}") from exc


def read_gray8(path) -> np.ndarray:
    """Decode an image file to an 8-bit grayscale ``(H, W)`` uint8 array (see :func:`open_gray8`)."""
    return np.asarray(open_gray8(path), dtype=np.uint8)


#: PNG colour types (the byte after the bit depth in the IHDR chunk).
_PNG_COLOUR = {0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(path) -> tuple[int, int, str]:
    """``(width, height, kind)`` from a PNG's first 29 bytes, e.g. ``(1024, 1024, "8-bit gray")``.

    Reads the signature and the IHDR chunk only; no pixel is decoded, so a file cut
    short after its header passes here (the decode cache finds it). Raises
    :class:`ImageReadError` naming the file when the header is missing or malformed.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(29)
    except OSError as exc:
        raise ImageReadError(f"cannot read {path}: {exc}") from exc
    if not head:
        raise ImageReadError(f"cannot read the PNG header of {path}: empty file")
    if not head.startswith(_PNG_SIGNATURE[:len(head)]) or (len(head) >= 8 and head[:8] != _PNG_SIGNATURE):
        raise ImageReadError(f"cannot read the PNG header of {path}: not a PNG file (starts {head[:8]!r})")
    if len(head) < 29 or head[12:16] != b"IHDR":
        raise ImageReadError(f"cannot read the PNG header of {path}: header cut short or malformed")
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    depth, colour = head[24], head[25]
    if width == 0 or height == 0 or colour not in _PNG_COLOUR:
        raise ImageReadError(f"malformed PNG header in {path}: {width}x{height}, colour type {colour}")
    return width, height, f"{depth}-bit {_PNG_COLOUR[colour]}"

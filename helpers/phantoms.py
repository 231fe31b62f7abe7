"""Procedural chest-radiograph phantoms: the course's offline default dataset.

Nothing can be downloaded in CI or in an offline workshop, so the course ships a
generator of *phantoms*: simplified, procedurally drawn frontal chest
radiographs with the anatomy a reader expects (body outline, lungs with vascular
markings, heart and mediastinum, spine, ribs, clavicles, diaphragm domes and
costophrenic angles) and seven condition classes whose findings are local and
shaped like the real ones.

The dataset is written in the NIH ChestX-ray14 layout (PNGs under
``images_001/images/`` and a ``Data_Entry_2017_v2020.csv`` with the official
header), so every downstream step reads it through the same NIH loader.

Everything is drawn analytically on a coordinate grid, so one image at 64x64
costs about a millisecond and the same seed gives byte-identical files.

Command line::

    python -m helpers.phantoms OUT_DIR --per-class 200 --size 64 --seed 0

Phantoms are teaching material. They are not radiographs and say nothing about
real anatomy or disease; nor do the GANs trained on them.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from helpers import CLASSES
from helpers.data.nih import write_nih_metadata

_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1] (x to the image right, y downwards)."""
    if size not in _GRIDS:
        axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
        _GRIDS[size] = np.meshgrid(axis, axis)
    return _GRIDS[size]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _soft_inside(r: np.ndarray, edge: float) -> np.ndarray:
    """1 inside the unit level set ``r < 1``, 0 outside, with a soft edge."""
    return _sigmoid((1.0 - r) / edge)


def sample_patient(rng: np.random.Generator) -> dict:
    """Draw the anatomy of one synthetic patient (shared by their follow-ups)."""
    return {
        "body_w": rng.uniform(0.88, 0.98),
        "body_h": rng.uniform(0.98, 1.08),
        "lung_dx": rng.uniform(0.38, 0.45),
        "lung_w": rng.uniform(0.27, 0.33),
        "lung_h": rng.uniform(0.58, 0.68),
        "lung_y": rng.uniform(-0.12, -0.04),
        "dome_h": rng.uniform(0.10, 0.18),
        "heart_w": rng.uniform(0.30, 0.38),
        "heart_h": rng.uniform(0.22, 0.28),
        "rib_gap": rng.uniform(0.15, 0.19),
        "rib_curve": rng.uniform(0.25, 0.45),
        "vessel_n": int(rng.integers(9, 15)),
        "vessel_phase": rng.uniform(0, 2 * math.pi, size=2),
        "soft_tissue": rng.uniform(0.0, 0.12),
        "age": int(rng.integers(18, 90)),
        "sex": "M" if rng.random() < 0.55 else "F",
    }


def sample_view(rng: np.random.Generator) -> dict:
    """Draw the acquisition of one image: pose, exposure, blur and noise."""
    return {
        "angle": rng.uniform(-0.09, 0.09),
        "shift": rng.uniform(-0.05, 0.05, size=2),
        "zoom": rng.uniform(0.92, 1.08),
        "ap": bool(rng.random() < 0.35),
        "exposure": rng.uniform(-0.12, 0.12),
        "contrast": rng.uniform(0.75, 1.3),
        "gamma": rng.uniform(0.7, 1.45),
        "blur": rng.uniform(0.004, 0.012),
        "noise": rng.uniform(0.01, 0.035),
        "inflation": rng.uniform(-0.06, 0.06),
        "breast": rng.uniform(0.0, 0.14),
    }


def _blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian blur from shifted copies (pure elementwise, so deterministic)."""
    radius = int(min(3 * sigma_px, 8 * max(img.shape[0] // 64, 1)))
    if sigma_px < 0.2 or radius < 1:
        return img
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_px) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    for axis in (0, 1):
        padded = np.pad(img, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        out = np.zeros_like(img)
        n = img.shape[axis]
        for k, w in enumerate(taps):
            out += w * (padded[k:k + n] if axis == 0 else padded[:, k:k + n])
        img = out
    return img


def _finding(label: str, side: int, rng: np.random.Generator, X, Y, lungs, lung_frames, edge):
    """Opacity (positive: denser) and vessel mask for one condition on lung ``side``.

    Returns ``(opacity, vessel_keep)``; ``vessel_keep`` is 1 where lung markings stay visible.
    """
    opacity = np.zeros_like(X)
    keep = np.ones_like(X)
    u, v, lat = lung_frames[side]  # lung-local coordinates, lat > 0 laterally
    lung = lungs[side]

    if label == "Atelectasis":
        # plate-like / wedge collapse: a dense band across the lower lung and volume loss
        angle = rng.uniform(-0.5, 0.5)
        centre = rng.uniform(0.1, 0.5)
        thick = rng.uniform(0.10, 0.16)
        dist = (v - centre) * math.cos(angle) - u * math.sin(angle)
        wedge = 1.0 + 0.8 * np.clip(lat, 0, 1)  # thicker laterally, like a wedge
        opacity += 0.32 * _soft_inside(np.abs(dist) / (thick * wedge), 0.15) * lung
    elif label == "Effusion":
        # dependent basal fluid, meniscus rising laterally, blunting the costophrenic angle
        level = rng.uniform(0.35, 0.65)
        meniscus = level - rng.uniform(0.25, 0.45) * np.clip(lat, 0, 1) ** 2
        # fluid has soft-tissue density, so the dome silhouette and the angle vanish under it
        opacity += 0.30 * _sigmoid((v - meniscus) / 0.05) * lung
    elif label == "Infiltration":
        # patchy, ill-defined opacities clustered in one or both lungs
        sides = [side] if rng.random() < 0.6 else [0, 1]
        for s in sides:
            su, sv, _ = lung_frames[s]
            cu, cv = rng.uniform(-0.4, 0.4), rng.uniform(-0.3, 0.5)
            for _ in range(int(rng.integers(5, 9))):
                bu, bv = cu + rng.normal(0, 0.28), cv + rng.normal(0, 0.22)
                sig = rng.uniform(0.12, 0.22)
                opacity += rng.uniform(0.09, 0.15) * np.exp(-((su - bu) ** 2 + (sv - bv) ** 2) / (2 * sig ** 2)) * lungs[s]
    elif label == "Mass":
        cu, cv = rng.uniform(-0.45, 0.45), rng.uniform(-0.5, 0.45)
        radius = rng.uniform(0.13, 0.20)  # in image units (1 = half the image width)
        cx, cy = _lung_point(lung_frames[side], cu, cv, X, Y)
        r = np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) / radius
        opacity += rng.uniform(0.30, 0.38) * _soft_inside(r, max(edge * 1.5, 0.06)) * (0.4 + 0.6 * lung)
    elif label == "Nodule":
        for _ in range(int(rng.integers(1, 4))):
            s = int(rng.integers(0, 2))
            cu, cv = rng.uniform(-0.55, 0.55), rng.uniform(-0.55, 0.55)
            radius = rng.uniform(0.06, 0.085)
            cx, cy = _lung_point(lung_frames[s], cu, cv, X, Y)
            r = np.sqrt((X - cx) ** 2 + (Y - cy) ** 2) / radius
            opacity += rng.uniform(0.32, 0.42) * _soft_inside(r, max(edge * 2.0, 0.12)) * lungs[s]
    elif label == "Pneumothorax":
        # lung collapses towards the hilum: a rim with no markings behind a thin pleural line
        f = rng.uniform(0.62, 0.80)
        hub = -0.55 * (1.0 if side == 1 else -1.0)  # the medial side in lung-local u
        rc = np.sqrt(((u - hub) / f + hub) ** 2 + (v / f) ** 2)  # lung outline shrunk about the hilum
        collapsed = _soft_inside(rc, 0.04)
        rim = lung * (1.0 - collapsed)
        keep = 1.0 - rim
        opacity -= 0.09 * rim
        opacity += 0.16 * np.exp(-((rc - 1.0) / 0.035) ** 2) * lung
    elif label != "No Finding":
        raise ValueError(f"unknown phantom condition {label!r}; valid: {', '.join(CLASSES)}")
    return opacity, keep


def _lung_point(frame, cu, cv, X, Y):
    """Image coordinates of lung-local point (cu, cv) (nearest grid point)."""
    u, v, _ = frame
    idx = np.argmin((u - cu) ** 2 + (v - cv) ** 2)
    return X.flat[idx], Y.flat[idx]


def render_phantom(label: str, size: int, rng: np.random.Generator,
                   patient: dict | None = None, view: dict | None = None) -> np.ndarray:
    """Render one phantom radiograph of condition ``label`` as a ``(size, size)`` uint8 array.

    ``patient`` and ``view`` come from :func:`sample_patient` and :func:`sample_view`;
    missing ones are drawn from ``rng``.
    """
    patient = patient or sample_patient(rng)
    view = view or sample_view(rng)
    gx, gy = _grid(size)
    ca, sa = math.cos(view["angle"]), math.sin(view["angle"])
    z = view["zoom"]
    X = (ca * gx - sa * gy) / z + view["shift"][0]
    Y = (sa * gx + ca * gy) / z + view["shift"][1]
    edge = view["blur"] + 2.0 / size
    p = patient

    body = _soft_inside((X / p["body_w"]) ** 2 + ((Y - 0.08) / p["body_h"]) ** 2, 0.05)
    img = 0.08 + 0.42 * body
    img += p["soft_tissue"] * body * np.clip(np.abs(X) / p["body_w"], 0, 1) ** 2

    lung_frames, lungs = [], []
    for sign in (-1.0, 1.0):
        cx = sign * p["lung_dx"]
        u = (X - cx) / p["lung_w"]
        v = (Y - p["lung_y"]) / p["lung_h"]
        lung_frames.append((u, v, sign * u))
    side = int(rng.integers(0, 2))
    dome_raise = [0.0, 0.0]
    if label == "Atelectasis":  # volume loss raises the hemidiaphragm on the collapsed side
        dome_raise[side] = rng.uniform(0.10, 0.18)
    for s, (u, v, lat) in enumerate(lung_frames):
        medial_flat = np.where(lat < 0, u ** 4, u ** 2)  # straighter mediastinal border
        outline = medial_flat + np.where(v < 0, v ** 2, 0.0)
        dome = 0.95 - dome_raise[s] / p["lung_h"] - p["dome_h"] / p["lung_h"] * (1 - np.clip(u, -1, 1) ** 2)
        inside = _soft_inside(outline, edge * 4) * _sigmoid((dome - v) / (edge * 4))
        lungs.append(inside)
    lung_any = np.maximum(lungs[0], lungs[1])
    opacity, keep = _finding(label, side, rng, X, Y, lungs, lung_frames, edge)

    img -= (0.30 + view["inflation"]) * lung_any

    # vascular markings radiating from the hila, fading to the periphery
    for s, hx in enumerate((-0.17, 0.17)):
        dx, dy = X - hx, Y + 0.02
        r = np.sqrt(dx * dx + dy * dy) + 1e-6
        theta = np.arctan2(dy, dx)
        streak = (0.5 + 0.5 * np.cos(p["vessel_n"] * theta + p["vessel_phase"][s] + 6.0 * r)) ** 6
        img += 0.10 * streak * np.exp(-r / 0.42) * lungs[s] * keep

    heart_scale = 1.12 if view["ap"] else 1.0
    heart = ((X - 0.09) / (p["heart_w"] * heart_scale)) ** 2 + ((Y - 0.36) / (p["heart_h"] * heart_scale)) ** 2
    img += 0.22 * _soft_inside(heart, edge * 3)
    mediastinum = _soft_inside((X / 0.11) ** 2 + ((Y + 0.25) / 0.75) ** 8, edge * 3)
    img += 0.14 * mediastinum
    spine = _soft_inside((X / 0.065) ** 2, edge * 2) * body
    img += spine * (0.07 + 0.03 * np.cos(Y * math.pi / 0.085))

    thorax = _soft_inside((X / (p["lung_dx"] + p["lung_w"] + 0.04)) ** 2 + ((Y - 0.05) / 0.95) ** 6, 0.05)
    rib_phase = (Y - p["rib_curve"] * X ** 2 + 0.1 * np.abs(X)) / p["rib_gap"]
    ribs = (0.5 + 0.5 * np.cos(2 * math.pi * rib_phase)) ** 6
    img += 0.09 * ribs * thorax * _sigmoid((0.55 - Y) / 0.05)

    clav_y = -0.70 if view["ap"] else -0.62
    for sign in (-1.0, 1.0):
        ax = sign * X
        line = clav_y - 0.22 * (ax - 0.08) - Y
        clav = _soft_inside((line / 0.035) ** 2, 0.3) * _sigmoid((ax - 0.08) / 0.02) * _sigmoid((0.62 - ax) / 0.03)
        img += 0.14 * clav

    # class-independent distractors: breast shadows at the bases alter the histogram like fluid does
    breast = _soft_inside(((np.abs(X) - 0.45) / 0.35) ** 2 + ((Y - 0.55) / 0.30) ** 2, 0.15)
    img += view["breast"] * breast * body

    img += opacity
    img = _blur(img.astype(np.float32), view["blur"] * size / 2)
    img = np.clip((img + view["exposure"] - 0.05) * view["contrast"], 0, 1) ** view["gamma"]
    img += rng.normal(0.0, view["noise"], size=img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def plan_dataset(per_class: int, seed: int, classes=CLASSES) -> list[dict]:
    """Assign ``per_class`` images of each class to synthetic patients with follow-ups.

    Returns one record per image (label, patient id, follow-up number). Labels are
    shuffled before patients are formed, so a patient's follow-ups can carry
    different findings, as in NIH.
    """
    rng = np.random.default_rng([seed, 1])
    labels = [c for c in classes for _ in range(per_class)]
    rng.shuffle(labels)
    records, i, patient = [], 0, 0
    while i < len(labels):
        patient += 1
        n = min(int(rng.geometric(0.35)), 8, len(labels) - i)
        for follow_up in range(n):
            records.append({"label": labels[i], "patient": patient, "follow_up": follow_up})
            i += 1
    return records


def generate_arrays(labels, size: int = 64, seed: int = 0) -> np.ndarray:
    """Render one phantom per entry of ``labels`` (each its own patient) into a uint8 array.

    The in-memory route for tests and benchmarks; :func:`write_dataset` is the one
    that produces files in the NIH layout.
    """
    out = np.empty((len(labels), size, size), np.uint8)
    for i, label in enumerate(labels):
        rng = np.random.default_rng([seed, 2, i])
        out[i] = render_phantom(label, size, rng)
    return out


def write_dataset(out_dir, per_class: int = 200, size: int = 64, seed: int = 0,
                  classes=CLASSES, progress: bool = True) -> Path:
    """Write a phantom dataset in the NIH ChestX-ray14 layout and return its folder.

    ``out_dir/images_001/images/*.png`` holds the images and
    ``out_dir/Data_Entry_2017_v2020.csv`` the metadata with the official header.
    The same arguments give byte-identical files.
    """
    from PIL import Image

    out_dir = Path(out_dir)
    image_dir = out_dir / "images_001" / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    records = plan_dataset(per_class, seed, classes)
    patients: dict[int, dict] = {}
    rows = []
    iterator = records
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(records, desc=f"phantoms {size}px", unit="img", mininterval=1.0)
    for n, rec in enumerate(iterator):
        rng = np.random.default_rng([seed, 3, n])
        if rec["patient"] not in patients:
            patients[rec["patient"]] = sample_patient(np.random.default_rng([seed, 4, rec["patient"]]))
        anatomy = patients[rec["patient"]]
        view = sample_view(rng)
        img = render_phantom(rec["label"], size, rng, anatomy, view)
        name = f"{rec['patient']:08d}_{rec['follow_up']:03d}.png"
        Image.fromarray(img, mode="L").save(image_dir / name, compress_level=6)
        age = anatomy["age"] + rec["follow_up"] // 3
        rows.append([name, rec["label"], rec["follow_up"], rec["patient"], age, anatomy["sex"],
                     "AP" if view["ap"] else "PA", size, size, round(0.143 * 1024 / size, 4),
                     round(0.143 * 1024 / size, 4)])
    write_nih_metadata(out_dir, rows)
    (out_dir / "README.md").write_text(
        "# Phantom chest radiographs\n\n"
        f"Written by `python -m helpers.phantoms OUT_DIR --per-class {per_class} --size {size} --seed {seed}`.\n"
        "Procedural phantoms in the NIH ChestX-ray14 layout, for teaching. Not radiographs, "
        "not for clinical use.\n")
    return out_dir


def main(argv=None) -> int:
    """Command-line entry point: write a phantom dataset in the NIH layout."""
    parser = argparse.ArgumentParser(prog="python -m helpers.phantoms", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder to write (created if missing)")
    parser.add_argument("--per-class", type=int, default=200, help="images per condition (default 200)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes")
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error(f"--per-class must be at least 1, got {args.per_class}")
    if not 16 <= args.size <= 2048:
        parser.error(f"--size must be between 16 and 2048 pixels, got {args.size}")
    out = write_dataset(args.out_dir, args.per_class, args.size, args.seed)
    print(f"wrote {args.per_class * len(CLASSES)} phantoms of {args.size}x{args.size} px to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

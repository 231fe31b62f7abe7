"""Generators after training: sample, export, load, and write synthetic datasets.

- :func:`generate_images`: images from fixed-seed noise for given labels;
- :func:`export_generator` / :func:`load_generator`: ``generator.keras`` (EMA weights) with
  ``generator.json`` (classes, sizes) beside it, loaded in Keras safe mode;
- :func:`pretrained_paths`: the small 64 px phantom generator and judge that ship with the
  package, so notebook 05 runs without training (a workshop can skip notebook 04);
- :func:`write_synthetic_dataset` and the command line:

    python -m helpers.generate runs/quick/gan/generator.keras --per-class 500 --out data/synthetic --seed 0

Writes ``OUT/images_001/images/*.png`` and ``OUT/Data_Entry_2017_v2020.csv`` with the
official header: the intended condition in ``Finding Labels``, a synthetic image
name and id, and *no* patient information (age, sex and view are left empty), so
every NIH pipeline, this course's included, reads it unchanged.

Synthetic images are for teaching and research only; not for clinical use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from helpers.data.nih import write_nih_metadata

#: Where the shipped pretrained models live (inside the installed package).
PRETRAINED_DIR = Path(__file__).resolve().parent / "resources" / "pretrained"


def generate_images(generator, labels, seed: int = 0, latent_dim: int | None = None, batch_size: int = 256):
    """Images in [-1, 1], shape ``(N, S, S, 1)``, one per entry of ``labels``, from fixed-seed noise."""
    labels = np.asarray(labels, np.int32)
    latent_dim = latent_dim or generator.inputs[0].shape[-1]
    z = np.random.default_rng(seed).standard_normal((len(labels), latent_dim)).astype(np.float32)
    out = [np.asarray(generator([z[i:i + batch_size], labels[i:i + batch_size]], training=False))
           for i in range(0, len(labels), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, *generator.output_shape[1:]), np.float32)


def export_generator(gan, run_dir) -> Path:
    """Write ``RUN_DIR/generator.keras`` (the EMA weights of ``gan``) and ``generator.json`` (classes, sizes)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "generator.keras"
    tmp = run_dir / ".generator.tmp.keras"
    gan.ema_generator.save(tmp)
    os.replace(tmp, path)
    meta = {"classes": list(gan.config.classes), "image_size": gan.config.image_size,
            "latent_dim": gan.config.latent_dim, "conditioning": gan.config.conditioning,
            "step": int(np.asarray(gan.step)), "weights": "exponential moving average of the generator",
            "note": "synthetic images for teaching and research; not for clinical use"}
    (run_dir / "generator.json").write_text(json.dumps(meta, indent=1))
    return path


def load_generator(path):
    """Load ``generator.keras`` in Keras safe mode; return ``(model, metadata)``."""
    import keras

    import helpers.models  # noqa: F401  (registers the custom layers)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"generator file {path} not found; train one with notebook 04 "
                                "(or helpers.training.train), or use the shipped one: helpers.generate.pretrained_paths()")
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} (classes, image size, latent size) is missing beside {path}")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except ValueError as exc:  # e.g. a file from an earlier version of the course, without some weights
        raise ValueError(f"{path} does not fit this version's networks ({exc}). Retrain it with notebook 04 "
                         "(in a new RUN_DIR), or use the shipped one: helpers.generate.pretrained_paths()") from None
    return model, json.loads(meta_path.read_text())


def pretrained_paths(image_size: int = 64) -> dict:
    """Paths of the shipped pretrained ``generator`` and ``judge`` (64 px phantoms) and their ``info`` JSON.

    Raises ``FileNotFoundError`` naming what exists when none ships for ``image_size``.
    """
    paths = {"generator": PRETRAINED_DIR / f"generator-{image_size}px-phantom.keras",
             "judge": PRETRAINED_DIR / f"judge-{image_size}px-phantom.keras",
             "info": PRETRAINED_DIR / f"pretrained-{image_size}px-phantom.json"}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        shipped = sorted(p.name for p in PRETRAINED_DIR.glob("*.keras")) if PRETRAINED_DIR.is_dir() else []
        raise FileNotFoundError(f"no pretrained models for {image_size} px ship with this package (missing "
                                f"{missing}; shipped: {shipped or 'none'}). Train one with notebook 04.")
    return paths


def write_synthetic_dataset(generator, meta: dict, out_dir, per_class: int, seed: int = 0,
                            batch_size: int = 256, progress: bool = True) -> Path:
    """Generate ``per_class`` images of every class in ``meta['classes']`` into ``out_dir`` (NIH layout)."""
    from PIL import Image

    classes = list(meta["classes"])
    out_dir = Path(out_dir)
    images_dir = out_dir / "images_001" / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels = np.repeat(np.arange(len(classes)), per_class)
    size = int(meta["image_size"])
    rows = []
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(labels), desc="generating", unit="img")
    for start in range(0, len(labels), batch_size):
        chunk = labels[start:start + batch_size]
        images = generate_images(generator, chunk, seed=seed * 100_003 + start, latent_dim=meta["latent_dim"])
        pixels = np.clip((images[..., 0] + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        for k, (img, label) in enumerate(zip(pixels, chunk)):
            n = start + k + 1
            name = f"synthetic_{n:08d}.png"
            Image.fromarray(img, mode="L").save(images_dir / name)
            rows.append([name, classes[label], 0, n, "", "", "", size, size, "", ""])
        if bar:
            bar.update(len(chunk))
    if bar:
        bar.close()
    write_nih_metadata(out_dir, rows)
    (out_dir / "README.md").write_text(
        "# Synthetic chest X-rays\n\n"
        f"{len(rows)} images ({per_class} per condition) from a conditional GAN (generator step "
        f"{meta.get('step', '?')}, seed {seed}). `Finding Labels` is the condition the generator was asked for; "
        "`Patient ID` is a synthetic identifier with no patient behind it.\n\n"
        "**Not for clinical use.** Teaching and research material only.\n")
    return out_dir


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m helpers.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("generator", help="path to generator.keras (generator.json must sit beside it)")
    parser.add_argument("--per-class", type=int, required=True, help="images per condition")
    parser.add_argument("--out", required=True, help="output folder (NIH layout)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error(f"--per-class must be at least 1, got {args.per_class}")
    try:
        generator, meta = load_generator(args.generator)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = write_synthetic_dataset(generator, meta, args.out, args.per_class, args.seed, args.batch_size)
    print(f"wrote {args.per_class * len(meta['classes'])} synthetic images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

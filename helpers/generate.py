"""Write a synthetic dataset in the NIH layout from a trained generator.

    python -m helpers.generate runs/quick/generator.keras --per-class 500 --out data/synthetic --seed 0

Writes ``OUT/images_001/images/*.png`` and ``OUT/Data_Entry_2017_v2020.csv`` with the
official header: the intended condition in ``Finding Labels``, a synthetic image
name and id, and *no* patient information (age, sex and view are left empty), so
every NIH pipeline, this course's included, reads it unchanged.

Synthetic images are for teaching and research only; not for clinical use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from helpers.phantoms import write_nih_metadata


def write_synthetic_dataset(generator, meta: dict, out_dir, per_class: int, seed: int = 0,
                            batch_size: int = 256, progress: bool = True) -> Path:
    """Generate ``per_class`` images of every class in ``meta['classes']`` into ``out_dir`` (NIH layout)."""
    from PIL import Image

    from helpers.training import generate_images

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
    from helpers.training import load_generator

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

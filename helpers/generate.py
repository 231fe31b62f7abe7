"""Generators after training: sample, export, load, and write synthetic datasets.

- :func:`generate_images`: images from fixed-seed noise for given labels;
- :func:`export_generator` / :func:`load_generator`: ``generator.keras`` (EMA weights) with
  ``generator.json`` (classes, sizes) beside it, loaded in Keras safe mode;
- :func:`pretrained_paths`: the small 64 px phantom generator and judge that ship with the
  package, so notebook 05 runs without training (a workshop can skip notebook 04);
- :func:`choose_generator` (notebook 05) and :func:`shipped_generator` (notebook 04's ``TRAIN = False``):
  which generator to use, never one dataset's generator against another dataset's images;
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
from typing import NamedTuple

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


def shipped_info(image_size: int = 64) -> dict | None:
    """What the shipped generator of ``image_size`` px was trained on (its ``info`` JSON), or None if none ships."""
    try:
        return json.loads(pretrained_paths(image_size)["info"].read_text())
    except FileNotFoundError:
        return None


def _trained_on(info: dict) -> str:
    """``phantom (700 per class, seed 0, 64 px)``: the data a shipped generator was trained on, in words."""
    extra = (f"{info['phantoms_per_class']} per class, seed {info['seed']}, "
             if info["data_source"] == "phantom" else "")
    return f"{info['data_source']} ({extra}{info['image_size']} px)"


class GeneratorChoice(NamedTuple):
    """What notebook 05 evaluates (:func:`choose_generator`): the files, the data to score them on, and why."""

    generator: Path
    judge: Path
    kind: str  # "run" (notebook 04's), "pretrained" (shipped) or "path" (a file named in GENERATOR)
    data_source: str  # the concrete source to load: the notebook's own, or the shipped generator's
    data_kwargs: dict  # load_dataset's data_dir, seed and phantom_per_class for that source
    message: str  # one line for the notebook to print


def choose_generator(run_dir, source: str, image_size: int, requested: str = "auto", *, data_dir=None,
                     phantoms_per_class: int = 700, seed: int = 0, source_was_auto: bool = False,
                     smoke: bool = False) -> GeneratorChoice:
    """Which generator and judge notebook 05 evaluates, and on which data: never one dataset's generator on another's.

    ``requested`` is the notebook's ``GENERATOR``: ``"run"`` (notebook 04's ``RUN_DIR/gan/generator.keras``
    with ``RUN_DIR/judge_classifier.keras``), ``"pretrained"`` (the shipped pair, :func:`pretrained_paths`), a
    path to a ``generator.keras``, or ``"auto"``: the run's pair when both files exist, else the shipped one.
    ``source`` is the concrete data source (``notebook_settings`` resolved ``"auto"``), and ``data_dir``,
    ``phantoms_per_class`` and ``seed`` the notebook's; they come back unchanged in ``data_kwargs``
    unless the shipped generator is chosen and was trained on another source. Then:

    - with ``requested="auto"``, or ``"pretrained"`` while ``DATA_SOURCE`` was ``"auto"``
      (``source_was_auto``), the data switch to the shipped generator's own (its phantoms, with its
      ``phantoms_per_class`` and seed; at most 30 per class when ``smoke``) and ``message`` says so and why;
    - with ``"pretrained"`` and a source named by the user, it raises ``ValueError`` naming both datasets
      and the fix.

    Nothing is loaded: the notebook loads the files and still checks that the conditions match.
    """
    from helpers.env import phantom_folder

    run_dir = Path(run_dir)
    keep = {"data_dir": data_dir, "seed": seed, "phantom_per_class": phantoms_per_class}
    run_generator, run_judge = run_dir / "gan" / "generator.keras", run_dir / "judge_classifier.keras"
    if requested not in ("auto", "run", "pretrained"):  # a path to a generator.keras, judged by the run's judge
        chosen = GeneratorChoice(Path(requested), run_judge, "path", source, keep,
                                 f"Evaluating {requested} (judge: {run_judge}).")
    elif requested == "run" or (requested == "auto" and run_generator.is_file() and run_judge.is_file()):
        chosen = GeneratorChoice(run_generator, run_judge, "run", source, keep,
                                 f"Evaluating {run_generator} (judge: {run_judge}).")
    else:
        chosen = None
    if chosen is not None:
        for path in (chosen.generator, chosen.judge):
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: run notebook 04 with RUN_DIR={str(run_dir)!r} first, "
                                        "or set GENERATOR = 'pretrained' (the shipped generator)")
        return chosen
    info = shipped_info(image_size)
    if info is None:
        raise FileNotFoundError(f"no generator of this run in {run_dir / 'gan'} and none ships with the course for "
                                f"{image_size} px: run notebook 04 with RUN_DIR={str(run_dir)!r} and "
                                f"IMAGE_SIZE={image_size} first, or set IMAGE_SIZE = 64 (the shipped generator's)")
    shipped = pretrained_paths(image_size)
    why = "notebook 04's output was not found in the run folder" if requested == "auto" else "GENERATOR = 'pretrained'"
    if info["data_source"] == source:
        note = ""
        if source == "phantom" and (phantoms_per_class, seed) != (info["phantoms_per_class"], info["seed"]):
            note = (f"; note: it was trained on other phantoms ({info['phantoms_per_class']} per class, seed "
                    f"{info['seed']}), so the memorisation audit compares it with images it never saw")
        return GeneratorChoice(shipped["generator"], shipped["judge"], "pretrained", source, keep,
                               f"Evaluating the SHIPPED generator ({info['description']}) on {source}: {why}{note}.")
    if requested == "pretrained" and not source_was_auto:
        raise ValueError(f"GENERATOR = 'pretrained' is the shipped generator, trained on {_trained_on(info)}, but "
                         f"DATA_SOURCE = {source!r}: every number would score one dataset's generator against "
                         f"another's images. Set DATA_SOURCE = {info['data_source']!r} to evaluate the shipped "
                         f"generator (or GENERATOR = 'auto'), or run notebook 04 on {source} with "
                         f"RUN_DIR={str(run_dir)!r} and set GENERATOR = 'run'")
    per_class = min(info["phantoms_per_class"], 30) if smoke else info["phantoms_per_class"]
    own = {"data_dir": phantom_folder(image_size, per_class, info["seed"]), "seed": info["seed"],
           "phantom_per_class": per_class}
    shown = _trained_on({**info, "phantoms_per_class": per_class})
    return GeneratorChoice(shipped["generator"], shipped["judge"], "pretrained", info["data_source"], own,
                           f"Evaluating the SHIPPED generator on the data it was trained on, {shown}, not on "
                           f"{source}: {why}, and a generator is never scored against another dataset's images; "
                           f"to evaluate on {source}, run notebook 04 on it with RUN_DIR={str(run_dir)!r} first.")


def shipped_generator(source: str, image_size: int, classes) -> tuple[Path, str]:
    """The shipped generator for notebook 04's ``TRAIN = False``: ``(path, one line saying so)``.

    It fits when it was trained on the same kind of data (``source``), at ``image_size`` px, for the same
    conditions ``classes`` in the same order (today: the phantoms at 64 px, all seven conditions); otherwise
    ``ValueError`` says what ships and to set ``TRAIN = True``.
    """
    info = shipped_info(image_size)
    path = pretrained_paths(image_size)["generator"] if info else None
    drawn = json.loads(path.with_suffix(".json").read_text())["classes"] if info else None
    if info is None or info["data_source"] != source or list(drawn) != list(classes):
        ships = sorted(p.stem.removeprefix("pretrained-") for p in PRETRAINED_DIR.glob("pretrained-*.json"))
        raise ValueError(f"TRAIN = False needs a shipped generator for this data ({source} at {image_size} px, "
                         f"conditions {', '.join(classes)}), and none fits (the course ships: "
                         f"{', '.join(ships) or 'none'}, for the seven conditions). Set TRAIN = True to train one "
                         "(or DATA_SOURCE = 'phantom' and IMAGE_SIZE = 64 for the shipped one)")
    return path, (f"TRAIN = False: no training; the rest of this notebook runs on the SHIPPED generator "
                  f"({info['train_steps']:,} steps on {_trained_on(info)}, {path.name}).")


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

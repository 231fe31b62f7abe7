"""Decode-and-resize throughput of the cache builder against the plain PNG decode rate.

    python lab/decode_throughput.py [--size 64] [--tasks 1500]

Inputs: the full-size (1024x1024) PNGs of ../shared/nih-sample when present, otherwise
1024x1024 phantoms written to a temporary folder. Prints

- the plain decode rate D on one core (Pillow open + load, nothing else),
- the cache build rate P (decode + crop + antialiased resize + write) on all cores,
- P / (D x cores) (target >= 0.8), and the time to reload the cached dataset.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from PIL import Image

from helpers.preprocess import build_cache

NIH_SAMPLE = Path(__file__).resolve().parent.parent.parent / "shared" / "nih-sample" / "images_001" / "images"


def full_size_pngs(tmp: Path) -> tuple[list[Path], str]:
    """1024-px PNGs to decode, and a description of where they came from."""
    if NIH_SAMPLE.is_dir():
        big = [p for p in sorted(NIH_SAMPLE.glob("*.png")) if Image.open(p).size == (1024, 1024)]
        if big:
            return big, f"{len(big)} real NIH 1024x1024 PNGs from {NIH_SAMPLE}"
    from helpers.phantoms import write_dataset
    folder = write_dataset(tmp / "ph", per_class=3, size=1024, seed=0, progress=False)
    return sorted((folder / "images_001" / "images").glob("*.png")), "21 phantom 1024x1024 PNGs"


def main() -> None:
    """Measure and print the three numbers, and write them to results/decode_throughput/."""
    try:
        from lab.results import add_result_options, save_result, slug
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from results import add_result_options, save_result, slug
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=1500, help="decodes per measurement (files repeat)")
    add_result_options(parser)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files, origin = full_size_pngs(tmp)
        tasks = [files[i % len(files)] for i in range(args.tasks)]
        for p in files:  # warm the page cache so both measurements read from memory
            p.read_bytes()
        start = time.perf_counter()
        for p in tasks[: max(len(tasks) // 4, len(files))]:
            with Image.open(p) as img:
                img.load()
        decode = max(len(tasks) // 4, len(files)) / (time.perf_counter() - start)
        names = [f"{i:06d}_{p.name}" for i, p in enumerate(tasks)]
        start = time.perf_counter()
        build_cache(tasks, names, args.size, tmp / "cache", "bench", workers=cores, progress=False)
        build = len(tasks) / (time.perf_counter() - start)
        # a rerun of the whole loader (metadata, selection, splits, cache lookup) on a phantom set
        from helpers.preprocess import load_dataset
        load_dataset("phantom", tmp / "ph64", args.size, cache_dir=tmp / "cache", phantom_per_class=1000,
                     progress=False)
        start = time.perf_counter()
        data = load_dataset("phantom", tmp / "ph64", args.size, cache_dir=tmp / "cache", progress=False)
        reload_s = time.perf_counter() - start
    print(f"inputs: {origin}, {len(tasks)} decodes, {cores} cores, target size {args.size}")
    print(f"plain PNG decode, 1 core: {decode:.1f} img/s")
    print(f"cache build (decode+resize+write), {cores} cores: {build:.1f} img/s")
    print(f"ratio to decode x cores: {build / (decode * cores):.2f} (target >= 0.80)")
    print(f"cached reload of a {len(data.table):,}-image dataset through load_dataset: {reload_s:.2f} s")
    save_result(args, "decode_throughput", slug([f"size={args.size}"]), {
        "decode_img_per_s_one_core": decode, "cache_build_img_per_s": build, "cores": cores,
        "ratio_to_decode_x_cores": build / (decode * cores), "cached_reload_seconds": reload_s,
        "reloaded_images": len(data.table)}, seeds=None,
        data={"source": origin, "image_size": args.size, "decodes": len(tasks)})


if __name__ == "__main__":
    main()

"""Phantom generation speed on one core (target: >= 200 images/s at 64x64).

    python lab/phantom_speed.py [--size 64] [--count 2000]

Prints the in-memory rendering rate and the rate including PNG writing and the CSV.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy here is single-threaded anyway
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from helpers import CLASSES  # noqa: E402
from helpers.phantoms import generate_arrays, write_dataset  # noqa: E402


def main() -> None:
    """Time in-memory rendering and full dataset writing; write the rates to results/phantom_speed/."""
    try:
        from lab.results import add_result_options, save_result, slug
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from results import add_result_options, save_result, slug
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--count", type=int, default=2100)
    add_result_options(parser)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # pin to one core
    labels = [CLASSES[i % len(CLASSES)] for i in range(args.count)]
    generate_arrays(labels[:20], args.size)  # warm-up
    start = time.perf_counter()
    generate_arrays(labels, args.size, seed=1)
    render = args.count / (time.perf_counter() - start)
    per_class = max(args.count // len(CLASSES), 1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_dataset(tmp, per_class, args.size, seed=1, progress=False)
        written = per_class * len(CLASSES) / (time.perf_counter() - start)
    print(f"phantoms at {args.size}x{args.size} on 1 core: render {render:.0f} img/s, "
          f"render+PNG+CSV {written:.0f} img/s (target >= 200)")
    save_result(args, "phantom_speed", slug([f"size={args.size}"]), {
        "render_img_per_s": render, "render_png_csv_img_per_s": written}, seeds=[1],
        data={"source": "phantom", "image_size": args.size, "count": args.count}, notes="one core")


if __name__ == "__main__":
    main()

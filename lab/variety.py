"""How noisy is one reading of the variety target? The same-condition MS-SSIM gap over several draws.

    python lab/variety.py --out /tmp/ttf/base \\
        --generators /tmp/ttf/base/gan-default/generator.keras /tmp/ttf/base/gan-seed=1/generator.keras

``time_to_fidelity.py`` reads the variety target from one draw: 100 generated images and 100
same-condition pairs per condition, generated minus real mean MS-SSIM, and the *worst* condition's
gap. The worst of seven noisy numbers is itself noisy and biased upwards. This script repeats that
reading ``--draws`` times per generator, each with other generated images and other pairs (draw 0
is the benchmark's own reading), always against the one real reading the benchmark uses (the test
split, pair seed 0), and prints every draw's worst gap, their mean and standard deviation, and the
mean gap over conditions. It also prints the real test split's own per-condition spread over pair
seeds, the floor of that noise.
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    """Score each generator's variety over several draws, print the spread and write it to results/variety/."""
    try:
        from lab.results import add_result_options, save_result, slug
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from results import add_result_options, save_result, slug
    parser = argparse.ArgumentParser()
    parser.add_argument("--generators", nargs="+", required=True, help="generator.keras files (phantom classes)")
    parser.add_argument("--out", required=True, help="folder with (or for) the phantom dataset")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=700)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=100, help="same-condition pairs per condition and draw")
    parser.add_argument("--per-condition", type=int, default=100, help="generated images per condition and draw")
    add_result_options(parser)
    args = parser.parse_args()

    import numpy as np

    from helpers.classifier import to_model_range
    from helpers.evaluate import ms_ssim_diversity
    from helpers.generate import generate_images, load_generator
    from helpers.preprocess import load_dataset

    out = Path(args.out)
    data = load_dataset("phantom", out / "phantoms", args.size, phantom_per_class=args.per_class,
                        cache_dir=out / "cache", progress=False)
    num_classes = len(data.classes)
    x_test, y_test = data.arrays("test")
    real = [np.array(ms_ssim_diversity(to_model_range(x_test), y_test, num_classes, pairs=args.pairs, seed=s))
            for s in range(args.draws)]
    print(f"real test split, same-condition MS-SSIM per condition, mean of {args.draws} pair draws: "
          f"{np.round(np.mean(real, 0), 3).tolist()}; spread (std) {np.round(np.std(real, 0, ddof=1), 3).tolist()}")
    reference = real[0]  # the reading time_to_fidelity.py compares against, shared by every draw
    labels = np.repeat(np.arange(num_classes), args.per_condition)
    numbers = {"real_ms_ssim_mean": dict(zip(data.classes, np.mean(real, 0))),
               "real_ms_ssim_std": dict(zip(data.classes, np.std(real, 0, ddof=1))), "generators": []}
    for path in args.generators:
        generator, meta = load_generator(path)
        if tuple(meta.get("classes", ())) != tuple(data.classes) or meta.get("image_size") != args.size:
            raise SystemExit(f"{path} draws {meta.get('classes')} at {meta.get('image_size')} px; the phantoms are "
                             f"{data.classes} at --size {args.size}")
        worst, mean = [], []
        for draw in range(args.draws):
            images = generate_images(generator, labels, seed=2 + 10 * draw)
            gap = np.array(ms_ssim_diversity(images, labels, num_classes, pairs=args.pairs, seed=draw)) - reference
            worst.append(gap.max())
            mean.append(gap.mean())
        print(f"{path}: worst-condition gap per draw {np.round(worst, 3).tolist()}; mean {np.mean(worst):+.3f} "
              f"± {np.std(worst, ddof=1):.3f}; mean gap over conditions {np.mean(mean):+.3f}", flush=True)
        numbers["generators"].append({"generator": str(path), "worst_gap_per_draw": worst,
                                      "worst_gap": {"mean": np.mean(worst), "std": np.std(worst, ddof=1)},
                                      "mean_gap": np.mean(mean)})
    name = slug([Path(p).parent.name + "-" + Path(p).stem for p in args.generators])
    save_result(args, "variety", name, numbers, seeds=list(range(args.draws)),
                data={"source": "phantom", "data_dir": (out / "phantoms").name, "image_size": args.size,
                      "per_class": args.per_class, "test_images": len(y_test), "pairs": args.pairs,
                      "per_condition": args.per_condition, "classes": list(data.classes)})


if __name__ == "__main__":
    main()

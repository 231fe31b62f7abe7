"""Train on synthetic, test on real, with converged classifiers: issue 12's "useful" target.

    python lab/synthetic_only.py --out /tmp/ttf/base \\
        --generators /tmp/ttf/base/gan-aux_weight=1_d_mbstd=true/generator.keras ...

Uses the phantom dataset in ``OUT/phantoms`` (written there by ``time_to_fidelity.py``, or
here on first use: 700 images per condition, split by patient). For each generator it draws as
many images per condition as the real training split holds, trains ``--seeds`` classifiers on
them alone (``helpers.utility.train_fixed_steps``: ``--steps`` steps at ``--classifier-size``
px, cosine decay, the best of every ``--steps / 4`` steps on the real validation split kept) and
scores them on the real test split; real-only classifiers trained the same way are the
reference. Prints macro AUROC mean +- std over seeds per generator. Measured on the phantoms:
600 steps leave real-only classifiers at 0.958 +- 0.023 over three seeds, 2000 steps at 0.9995 +- 0.0003,
so 2000 is the default. One synthetic draw serves every seed: the spread is the classifiers' noise.
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    """Run the comparison, print its numbers and write them to results/synthetic_only/."""
    try:
        from lab.results import add_result_options, save_result, slug
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from results import add_result_options, save_result, slug
    parser = argparse.ArgumentParser()
    parser.add_argument("--generators", nargs="*", default=[], help="generator.keras files (phantom classes); "
                        "none: the real-only reference alone")
    parser.add_argument("--out", required=True, help="folder with (or for) the phantom dataset")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=700)
    parser.add_argument("--classifier-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    add_result_options(parser)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    from helpers.classifier import downsample, predict_classes, to_model_range
    from helpers.generate import generate_images, load_generator
    from helpers.metrics import classification_scores
    from helpers.preprocess import load_dataset
    from helpers.utility import train_fixed_steps

    out = Path(args.out)
    data = load_dataset("phantom", out / "phantoms", args.size, phantom_per_class=args.per_class,
                        cache_dir=out / "cache", progress=False)
    factor = args.size // args.classifier_size
    eval_every = args.steps // 4
    if args.steps % 4:
        raise SystemExit(f"--steps {args.steps}: the classifiers are scored on validation images every quarter "
                         f"of their steps; use a multiple of 4, e.g. --steps {max(4, args.steps // 4 * 4)}")
    num_classes = len(data.classes)

    def prepared(split):
        x, y = data.arrays(split)
        return downsample(to_model_range(x), factor), y

    (x_train, y_train), val, (x_test, y_test) = prepared("train"), prepared("val"), prepared("test")

    def scores(x, y):
        values = []
        for seed in args.seeds:
            model = train_fixed_steps(x, y, args.steps, num_classes, seed=seed, val=val, eval_every=eval_every)
            values.append(classification_scores(predict_classes(model, x_test), y_test, num_classes)["macro_auroc"])
        return np.array(values)

    rows = [("real training split", scores(x_train, y_train))]
    print(f"real: {rows[0][1].mean():.3f} +- {rows[0][1].std(ddof=1):.3f}", flush=True)
    for path in args.generators:
        generator, meta = load_generator(path)
        if tuple(meta.get("classes", ())) != tuple(data.classes) or meta.get("image_size") != args.size:
            raise SystemExit(f"{path} draws {meta.get('classes')} at {meta.get('image_size')} px; the phantoms are "
                             f"{data.classes} at --size {args.size}")
        synthetic = downsample(generate_images(generator, y_train, seed=3), factor)
        rows.append((path, scores(synthetic, y_train)))
        print(f"{path}: {rows[-1][1].mean():.3f} +- {rows[-1][1].std(ddof=1):.3f}", flush=True)
    print(f"\nmacro AUROC on {len(y_test)} real test phantoms; {len(y_train)} training images per arm; "
          f"{args.steps} steps at {args.classifier_size} px; seeds {args.seeds}")
    for name, values in rows:
        print(f"  {values.mean():.3f} +- {values.std(ddof=1):.3f}  {np.round(values, 3).tolist()}  {name}")
    numbers = {"arms": [{"trained_on": name, "macro_auroc": {"mean": v.mean(), "std": v.std(ddof=1)},
                         "per_seed": v} for name, v in rows]}
    name = slug([f"steps={args.steps}"] + [Path(p).parent.name + "-" + Path(p).stem for p in args.generators])
    save_result(args, "synthetic_only", name, numbers, seeds=args.seeds,
                data={"source": "phantom", "data_dir": (out / "phantoms").name, "image_size": args.size,
                      "classifier_size": args.classifier_size, "steps": args.steps, "train_images": len(y_train),
                      "test_images": len(y_test), "classes": list(data.classes)})


if __name__ == "__main__":
    main()

"""Where does synthetic data help? The scarce-condition utility study.

    python lab/utility_study.py --out runs/scarce-phantom                      # phantoms, Nodule + Pneumothorax scarce
    python lab/utility_study.py --source folder --data-dir ../shared/kermany-cxr \\
        --scarce NORMAL --out runs/scarce-kermany                                     # real radiographs

1. Loads the data (phantoms: 700 images per condition, split by patient; or a class-folder
   source such as ``../shared/kermany-cxr``) at ``--size`` px.
2. Cuts the ``--scarce`` conditions down to ``--scarce-count`` training images each (one fixed
   draw); the other conditions and the validation and test splits keep all theirs.
3. Trains the course's conditional GAN (``helpers.training.train``, balanced sampling) on that
   cut-down training split for ``--gan-steps`` steps, in ``OUT/gan`` (an interrupted run resumes),
   and generates ``max(--ratios)`` times the scarce count of images of each scarce condition.
4. Trains utility classifiers (``lab.scarce.scarce_utility_study``): the same
   ``--steps`` for every arm, cosine learning-rate decay, the best checkpoint on the real
   validation split kept, ``--seeds`` seeds per arm, at ``--classifier-size`` px. Arms: all real
   images (the ceiling), the cut-down split alone, with classic augmentation, with the scarce
   conditions duplicated, with synthetic images of the scarce conditions (the last two per ratio).
   Each trained classifier is logged to ``OUT/scarce_runs.jsonl``; a rerun reads them back.
5. Prints the table (mean +- std over seeds of the scarce conditions' AUROC and the macro AUROC
   on the real test split), the seed spread of the real arms (the study can see differences
   larger than that) and one verdict per ratio; writes ``OUT/scarce_study.json`` and ``.md``.

Checkpoint selection uses the real validation split with all its images, the same for every
arm; a project that really had only 30 images of a condition would have fewer to validate on.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python lab/utility_study.py`: make the `lab` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    """Run the study, print its numbers and write them to results/utility_study/."""
    try:
        from lab.results import add_result_options, save_result, slug
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from results import add_result_options, save_result, slug
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default="phantom", choices=["phantom", "folder"])
    parser.add_argument("--data-dir", default=None, help="class folders (with --source folder)")
    parser.add_argument("--size", type=int, default=64, help="GAN image size")
    parser.add_argument("--classifier-size", type=int, default=32, help="utility classifiers' image size")
    parser.add_argument("--per-class", type=int, default=700, help="phantom images per condition")
    parser.add_argument("--scarce", nargs="+", default=["Nodule", "Pneumothorax"], help="conditions to cut down")
    parser.add_argument("--scarce-count", type=int, default=30, help="training images kept per scarce condition")
    parser.add_argument("--gan-steps", type=int, default=3000)
    parser.add_argument("--ratios", type=float, nargs="+", default=[1.0, 4.0, 15.0],
                        help="images added per scarce condition, x its real count (15 x 30 about balances phantoms)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=2000, help="optimiser steps per utility classifier")
    parser.add_argument("--eval-every", type=int, default=250, help="validation scoring interval (steps)")
    parser.add_argument("--out", required=True, help="run folder (the GAN resumes from it)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="GANConfig fields or lab options (lab/gan_options.py)")
    parser.add_argument("--judge", default=None, help="a classifier of these conditions (e.g. time_to_fidelity's "
                        "OUT/judge.keras on the same phantoms): also print the scarce GAN's label fidelity")
    add_result_options(parser)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one predict function per classifier is expected, not a retracing problem

    from helpers.classifier import downsample, to_model_range
    from helpers.config import GANConfig
    from helpers.generate import generate_images
    from helpers.preprocess import load_dataset
    try:
        from lab.gan_options import split_settings, train_lab
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from gan_options import split_settings, train_lab
    from lab.scarce import scarce_utility_study, scarce_verdict, summarise_scarce
    from time_to_fidelity import parse_overrides  # this script's folder is on sys.path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if len(args.seeds) < 2:
        raise SystemExit(f"--seeds {args.seeds}: the verdict compares arms against their spread over seeds; give "
                         "at least two, e.g. --seeds 0 1 2")
    if args.steps % args.eval_every:
        raise SystemExit(f"--steps {args.steps} is not a multiple of --eval-every {args.eval_every}: use e.g. "
                         f"--steps {max(args.eval_every, args.steps // args.eval_every * args.eval_every)}")
    if args.size % args.classifier_size:
        raise SystemExit(f"--classifier-size {args.classifier_size} must divide --size {args.size}")
    if args.source == "phantom":
        data = load_dataset("phantom", out / "phantoms", args.size, phantom_per_class=args.per_class,
                            cache_dir=out / "cache", progress=False)
    else:
        if not args.data_dir:
            raise SystemExit("--source folder needs --data-dir, e.g. --data-dir ../shared/kermany-cxr")
        data = load_dataset("folder", args.data_dir, args.size, cache_dir=out / "cache", progress=True)
    unknown = [c for c in args.scarce if c not in data.classes]
    if unknown:
        raise SystemExit(f"--scarce {unknown}: not conditions of this data; it has {list(data.classes)}")
    scarce = [data.classes.index(c) for c in args.scarce]
    factor = args.size // args.classifier_size

    # 2. the cut-down training split: one fixed draw, the same for the GAN and every classifier
    labels = data.table["label"].to_numpy()
    split = data.table["split"].to_numpy()
    rng = np.random.default_rng(0)
    keep = np.ones(len(labels), bool)
    for c in scarce:
        rows = np.flatnonzero((split == "train") & (labels == c))
        if len(rows) < args.scarce_count:
            raise SystemExit(f"{data.classes[c]} has {len(rows)} training images, fewer than --scarce-count "
                             f"{args.scarce_count}: use --scarce-count {len(rows) // 2} or less, or another condition")
        keep[rng.permutation(rows)[args.scarce_count:]] = False
    scarce_data = data.subset(np.flatnonzero(keep))
    # an interrupted study resumes from OUT (GAN checkpoints, the classifier log), but only with the
    # settings it started with (the seeds may grow)
    settings = {k: v for k, v in vars(args).items() if k not in ("seeds", "out", "judge")}
    settings_path = out / "scarce_settings.json"
    if settings_path.is_file() and json.loads(settings_path.read_text()) != settings:
        raise SystemExit(f"{settings_path} holds other settings ({settings_path.read_text().strip()}) than these "
                         f"({json.dumps(settings)}): use another --out, or delete {out} to start again")
    settings_path.write_text(json.dumps(settings))
    counts = np.bincount(scarce_data.split("train")[1], minlength=len(data.classes))
    print(f"training split after the cut: {dict(zip(data.classes, counts.tolist()))}")

    # 3. the GAN on the cut-down data
    settings, options = split_settings(parse_overrides(args.set))
    config = GANConfig(image_size=args.size, classes=data.classes, balanced=True, **settings)
    t0 = time.perf_counter()
    gan = train_lab(scarce_data, out / "gan", config, options, steps=args.gan_steps, verbose=0, progress=True,
                    sample_every=10, checkpoint_every=500)  # progress and a sample grid every 10 epochs
    gan_minutes = (time.perf_counter() - t0) / 60
    wanted = int(np.ceil(max(args.ratios) * args.scarce_count))
    syn_labels = np.repeat(scarce, wanted)
    synthetic = generate_images(gan.ema_generator, syn_labels, seed=7)

    # does a GAN that saw 30 images of a condition copy them? (pixels, each scarce condition on its own)
    from helpers.evaluate import memorisation_audit

    x_train_cut, y_train_cut = scarce_data.arrays("train")
    x_test, y_test = scarce_data.arrays("test")
    audits = {}
    for c in scarce:
        flat = [a.reshape(len(a), -1) for a in (to_model_range(x_train_cut[y_train_cut == c]),
                                                to_model_range(x_test[y_test == c]), synthetic[syn_labels == c])]
        audit = memorisation_audit(*flat)
        audits[data.classes[c]] = {k: audit[k] for k in ("threshold", "share_synthetic_below", "share_test_below",
                                                         "median_synthetic", "median_test")}
        print(f"memorisation, {data.classes[c]} ({len(flat[0])} training images, {len(flat[2])} generated, "
              f"{len(flat[1])} test): {audit['share_synthetic_below']:.1%} of generated images are closer to a "
              f"training image than 99% of test images are (test itself: {audit['share_test_below']:.1%}); "
              f"median nearest distance generated {audit['median_synthetic']:.2f}, test {audit['median_test']:.2f}")

    fidelity = None
    if args.judge:
        import keras

        from helpers.evaluate import label_fidelity

        judge = keras.saving.load_model(args.judge, safe_mode=True)
        fidelity = label_fidelity(gan.ema_generator, judge, len(data.classes), 100, seed=1)
        print(f"label fidelity of the GAN trained on the cut data, judged by {args.judge} (100 per condition): "
              f"{fidelity['fidelity']:.3f}; " + ", ".join(f"{name} {v:.2f}" for name, v in
                                                          zip(data.classes, fidelity["per_class"])))

    # 4. the utility classifiers
    def prepared(name, source=scarce_data):
        x, y = source.arrays(name)
        return downsample(to_model_range(x), factor), y

    full_train = prepared("train", data)
    study = scarce_utility_study(prepared("train"), prepared("val"), prepared("test"),
                                 (downsample(synthetic, factor), syn_labels), scarce, len(data.classes),
                                 ratios=args.ratios, seeds=args.seeds, steps=args.steps, eval_every=args.eval_every,
                                 full_train=full_train, log_path=out / "scarce_runs.jsonl")
    summary = summarise_scarce(study)
    verdict = scarce_verdict(summary)

    # 5. report
    import pandas as pd

    pd.set_option("display.width", 160)
    print(f"\n{args.source} data, scarce {args.scarce} at {args.scarce_count} training images each; GAN "
          f"{args.gan_steps} steps ({gan_minutes:.1f} min); classifiers {args.steps} steps at "
          f"{args.classifier_size} px, best of every {args.eval_every} on real val, seeds {args.seeds}")
    print(summary.round(3).to_string(index=False))
    for arm in ("real, all images", "real"):
        spread = study.loc[study["arm"] == arm, "macro_auroc"]
        print(f"seed spread of '{arm}': macro AUROC {spread.mean():.3f} +- {spread.std():.3f} "
              f"(max - min {spread.max() - spread.min():.3f})")
    print(f"verdict: {verdict}")
    record = {"source": args.source, "data_dir": args.data_dir, "classes": list(data.classes), "scarce": args.scarce,
              "scarce_count": args.scarce_count, "gan_steps": args.gan_steps, "gan_minutes": gan_minutes,
              "gan_config": json.loads(config.to_json()), "lab_options": vars(options), "classifier_steps": args.steps,
              "classifier_size": args.classifier_size, "eval_every": args.eval_every, "seeds": args.seeds,
              "ratios": args.ratios, "verdict": verdict, "memorisation": audits,
              "fidelity": fidelity and {"judge": args.judge, **fidelity}, "summary": summary.to_dict("records"),
              "runs": study.to_dict("records")}
    (out / "scarce_study.json").write_text(json.dumps(record, indent=1, default=float))
    table = ["| trained on | added per scarce condition (x its real count) | images | scarce AUROC | macro AUROC |"
             " kept step |", "|---|---|---|---|---|---|"]
    table += [f"| {r.arm} | {r.ratio:g} | {r.train_images:.0f} | {r.scarce_mean:.3f} ± {r.scarce_std:.3f} | "
              f"{r.macro_mean:.3f} ± {r.macro_std:.3f} | {r.best_step:.0f} |" for r in summary.itertuples()]
    (out / "scarce_study.md").write_text("# Scarce-condition utility study\n\n" + "\n".join(table) +
                                         f"\n\n{verdict}\n")
    print(f"written: {out / 'scarce_study.json'}, {out / 'scarce_study.md'}")
    save_result(args, "utility_study", slug([args.source] + args.set), {k: v for k, v in record.items() if k not in (
        "source", "data_dir", "classes", "seeds")}, seeds=args.seeds,
        data={"source": args.source, "data_dir": Path(args.data_dir or out / "phantoms").name, "image_size": args.size,
              "classes": list(data.classes), "train_counts_after_cut": dict(zip(data.classes, counts.tolist()))},
        notes=verdict)


if __name__ == "__main__":
    main()

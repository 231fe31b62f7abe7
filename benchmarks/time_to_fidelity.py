"""Time to quality: training minutes until generated phantoms show the condition asked for.

    python benchmarks/time_to_fidelity.py --size 64 --minutes 10

1. Writes (or reuses) a phantom dataset, 700 images per class, and splits it by patient.
2. Trains the course classifier on the *real* training split and reports its accuracy
   on the real test split (the judge must be good before it judges).
3. Trains the default conditional GAN, pausing every ``--every`` seconds of training to
   score ``--per-class`` generated images per condition with that classifier (label
   fidelity). Evaluation time is not counted as training time.
4. Prints the fidelity curve and ends with ``fidelity <F> after <M> min`` (the first
   time fidelity reached ``--target``, or the last measurement if it never did).
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_overrides(pairs: list[str]) -> dict:
    """``["d_width=16", "augment=\"\""]`` -> ``{"d_width": 16, "augment": ""}``; values are JSON, else strings."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE, e.g. d_width=16")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def main() -> None:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--per-class", type=int, default=700, help="phantom images per class")
    parser.add_argument("--eval-per-class", type=int, default=100, help="generated images per class per evaluation")
    parser.add_argument("--every", type=float, default=60.0, help="seconds of training between evaluations")
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", default=None, help="run folder (default: a temporary one)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="GANConfig overrides, e.g. --set d_width=16 aux_weight=1 (values parsed as JSON)")
    args = parser.parse_args()

    from helpers.classifier import predict_classes, to_model_range, train_classifier
    from helpers.evaluate import label_fidelity
    from helpers.preprocess import load_dataset
    from helpers.config import GANConfig
    from helpers.training import PeriodicEvaluation, train

    work = Path(args.out or tempfile.mkdtemp(prefix="ttf-"))
    data = load_dataset("phantom", work / "phantoms", args.size, phantom_per_class=args.per_class,
                        cache_dir=work / "cache", progress=False)
    x_train, y_train = data.arrays("train")
    x_test, y_test = data.arrays("test")
    t0 = time.perf_counter()
    judge = train_classifier(to_model_range(x_train), y_train, epochs=10, seed=0)
    judge_acc = float((predict_classes(judge, to_model_range(x_test)).argmax(1) == y_test).mean())
    print(f"classifier: trained on {len(y_train)} real phantoms in {time.perf_counter() - t0:.0f} s; "
          f"accuracy on {len(y_test)} real test phantoms: {judge_acc:.3f}")

    def evaluate(gan):
        return {"fidelity": label_fidelity(gan.ema_generator, judge, len(data.classes), args.eval_per_class,
                                           seed=1)["fidelity"]}
    monitor = PeriodicEvaluation(evaluate, args.every, stop_when=lambda r: r["fidelity"] >= args.target)
    config = GANConfig(image_size=args.size, classes=data.classes, batch_size=args.batch,
                       **parse_overrides(args.set))
    print(f"config: {config.to_json()}")
    t0 = time.perf_counter()
    train(data, work / "gan", config, minutes=args.minutes, callbacks=[monitor], verbose=0, sample_every=10 ** 6,
          checkpoint_every=10 ** 9)
    wall = time.perf_counter() - t0
    if not monitor.history or monitor.history[-1]["train_seconds"] < monitor.train_seconds - 1:
        monitor.run()  # a final measurement at the end of the budget
    print("\nfidelity curve (training minutes, step, fidelity):")
    for r in monitor.history:
        print(f"  {r['train_seconds'] / 60:6.2f} min  step {r['step']:6d}  {r['fidelity']:.3f}")
    (work / "fidelity_curve.json").write_text(json.dumps(monitor.history, indent=1))
    reached = next((r for r in monitor.history if r["fidelity"] >= args.target), None)
    final = reached or monitor.history[-1]
    print(f"(wall time including evaluations: {wall / 60:.1f} min; run folder {work})")
    print(f"fidelity {final['fidelity']:.3f} after {final['train_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()

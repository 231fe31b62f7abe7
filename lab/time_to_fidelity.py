"""Steps (and minutes) to quality: how fast generated phantoms become faithful and varied.

    python lab/time_to_fidelity.py --size 64 --steps 3000 --every-steps 500
    python lab/time_to_fidelity.py --steps 3000 --set aux_weight=1 seed=1   # a remedy, another seed
    python lab/time_to_fidelity.py --steps 3000 --every-steps 1500 --ema-decays 0.98 0.999   # EMA horizons

1. Writes (or reuses) a phantom dataset, 700 images per class, and splits it by patient.
2. Trains the course classifier on the *real* training split and reports its accuracy
   on the real test split (the judge must be good before it judges).
3. Trains the conditional GAN (``--set`` overrides any GANConfig field or lab option of
   ``lab/gan_options.py``: r1_gamma, lecam_weight, ada_target), pausing every
   ``--every-steps`` steps (or ``--every`` seconds) to score ``--eval-per-class`` generated images
   per condition: label fidelity (overall and per condition), the same-condition MS-SSIM gap
   (generated minus real, mean over conditions; lower is more varied) and recall on the judge's
   features against the real test split, with the real-versus-real recall floor (val vs test).
   It also prints how often the discriminator's own class head names the condition of real test
   images (the teacher the generator learns the conditions from).
   Evaluation time is not counted as training time.
   ``--ema-decays`` keeps more EMA copies of the generator beside the run's own (the EMA does not
   feed back into training, so one run compares them exactly), scores them and the raw
   generator at every evaluation too, and saves the copies at the end as
   ``RUN/generator-ema<decay>.keras`` beside the run's own ``generator.keras``.
4. Prints the curve and ends with ``fidelity <F> after <M> min`` (the first time fidelity reached
   ``--target``, or the last measurement if it never did) and a one-line summary of the last
   evaluation.
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


def discriminator_class_accuracy(discriminator, images, labels, num_classes: int):
    """Share of ``images`` whose condition the discriminator's auxiliary head names (argmax over the
    conditions only, not its "generated" logit); ``None`` when the discriminator has no class head."""
    import numpy as np

    out = discriminator([images, np.asarray(labels, np.int32)], training=False)
    if not isinstance(out, (list, tuple)):
        return None
    predicted = np.argmax(np.asarray(out[1])[:, :num_classes], axis=1)
    return float(np.mean(predicted == np.asarray(labels)))


def extra_emas_callback(decays):
    """A Keras callback that keeps EMA copies of ``model.generator`` at each of ``decays``.

    Updated by the GAN's own rule, :func:`helpers.gan.update_ema`, after every step. Its
    ``generators()`` returns ``{decay: model}`` with the current averages.
    """
    import keras
    import tensorflow as tf

    from helpers.gan import update_ema

    class ExtraEMAs(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if not decays:
                return
            g = self.model.generator
            self.averages = {d: [tf.Variable(w) for w in g.weights] for d in decays}

            @tf.function
            def update(step):
                for d, averages in self.averages.items():
                    update_ema(averages, g.weights, d, step)
            self.update = update

        def on_train_batch_end(self, batch, logs=None):
            if decays:
                self.update(tf.constant(int(self.model.step.numpy()) - 1, tf.int64))

        def generators(self) -> dict:
            out = {}
            for d, averages in self.averages.items():
                out[d] = keras.models.clone_model(self.model.generator)
                out[d].set_weights([a.numpy() for a in averages])
            return out

    return ExtraEMAs()


def save_copies(copies: dict, run_dir: Path) -> list[Path]:
    """Save ``{decay: generator}`` as ``run_dir/generator-ema<decay>.keras``, each with the run's
    ``generator.json`` beside it (so ``helpers.generate.load_generator``, ``synthetic_only.py`` and
    ``variety.py`` can read it, and the metadata says which decay); returns the paths."""
    import json

    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "generator.json").read_text())
    paths = []
    for decay, generator in copies.items():
        path = run_dir / f"generator-ema{decay}.keras"
        generator.save(path)
        path.with_suffix(".json").write_text(json.dumps(
            {**meta, "weights": f"exponential moving average of the generator, decay {decay}"}, indent=1))
        paths.append(path)
    return paths


def main() -> None:
    """Run the benchmark, print its numbers and write them to results/time_to_fidelity/."""
    try:
        from lab.results import add_result_options, save_result, slug
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from results import add_result_options, save_result, slug
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=None, help="optional wall-clock cap")
    parser.add_argument("--steps", type=int, default=None, help="training steps (the default end: 3000)")
    parser.add_argument("--every-steps", type=int, default=None, help="evaluate every this many steps")
    parser.add_argument("--per-class", type=int, default=700, help="phantom images per class")
    parser.add_argument("--eval-per-class", type=int, default=100, help="generated images per class per evaluation")
    parser.add_argument("--every", type=float, default=60.0, help="seconds of training between evaluations "
                        "(when --every-steps is not given)")
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--judge", default=None, help="judge classifier to reuse (default: OUT/judge.keras, "
                        "trained there on first use)")
    parser.add_argument("--out", default=None, help="run folder (default: a temporary one)")
    parser.add_argument("--ema-decays", nargs="*", type=float, default=[], metavar="DECAY",
                        help="also keep and score EMA copies of the generator at these decays, and the raw generator")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="GANConfig fields or lab options (lab/gan_options.py), e.g. --set d_width=16 "
                        "r1_gamma=1 (values parsed as JSON)")
    add_result_options(parser)
    args = parser.parse_args()

    from helpers.classifier import predict_classes, to_model_range, train_classifier
    from helpers.evaluate import label_fidelity
    from helpers.preprocess import load_dataset
    from helpers.config import GANConfig
    import numpy as np

    from helpers.training import PeriodicEvaluation, StepEvaluation

    try:
        from lab.gan_options import split_settings, train_lab
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from gan_options import split_settings, train_lab

    work = Path(args.out or tempfile.mkdtemp(prefix="ttf-"))
    data = load_dataset("phantom", work / "phantoms", args.size, phantom_per_class=args.per_class,
                        cache_dir=work / "cache", progress=False)
    x_train, y_train = data.arrays("train")
    x_test, y_test = data.arrays("test")
    t0 = time.perf_counter()
    judge_path = Path(args.judge or work / "judge.keras")
    if judge_path.is_file():  # the same data and seed give the same judge: reuse it across runs
        import keras

        judge = keras.saving.load_model(judge_path, safe_mode=True)
    else:
        judge = train_classifier(to_model_range(x_train), y_train, epochs=10, seed=0)
        judge.save(judge_path)
    judge_acc = float((predict_classes(judge, to_model_range(x_test)).argmax(1) == y_test).mean())
    print(f"classifier: trained on {len(y_train)} real phantoms in {time.perf_counter() - t0:.0f} s; "
          f"accuracy on {len(y_test)} real test phantoms: {judge_acc:.3f}")

    from helpers.evaluate import classifier_extractor, extract_features, ms_ssim_diversity
    from helpers.generate import generate_images
    from helpers.metrics import precision_recall

    x_val, _ = data.arrays("val")
    extractor = classifier_extractor(judge)
    test_features = extract_features(extractor, to_model_range(x_test))
    recall_floor = precision_recall(test_features, extract_features(extractor, to_model_range(x_val)), k=5)["recall"]
    real_similarity = ms_ssim_diversity(to_model_range(x_test), y_test, len(data.classes), pairs=100, seed=0)
    print(f"real-vs-real recall floor (val vs test, judge features, k=5): {recall_floor:.3f}; real same-condition "
          f"MS-SSIM per condition: {[round(v, 2) for v in real_similarity]}")

    def score(generator):
        fid = label_fidelity(generator, judge, len(data.classes), args.eval_per_class, seed=1)
        labels = np.repeat(np.arange(len(data.classes)), args.eval_per_class)
        images = generate_images(generator, labels, seed=2)
        similarity = ms_ssim_diversity(images, labels, len(data.classes), pairs=100, seed=0)
        gap = [g - r for g, r in zip(similarity, real_similarity)]
        recall = precision_recall(test_features, extract_features(extractor, images), k=5)["recall"]
        return {"fidelity": fid["fidelity"], "weakest": float(min(fid["per_class"])),
                "per_class": [round(v, 2) for v in fid["per_class"]], "ms_ssim_gap": float(np.mean(gap)),
                "max_ms_ssim_gap": float(max(gap)), "recall": recall, "recall_vs_floor": recall / recall_floor}

    extra_emas = extra_emas_callback(args.ema_decays)

    def evaluate(gan):
        result = score(gan.ema_generator)
        result["d_head_accuracy"] = discriminator_class_accuracy(gan.discriminator, to_model_range(x_test), y_test,
                                                                 len(data.classes))
        if args.ema_decays:
            result["variants"] = {"raw": score(gan.generator),
                                  **{f"ema {d}": score(g) for d, g in extra_emas.generators().items()}}
        return result

    monitor = (StepEvaluation(evaluate, args.every_steps) if args.every_steps else
               PeriodicEvaluation(evaluate, args.every, stop_when=lambda r: r["fidelity"] >= args.target))
    settings, options = split_settings(parse_overrides(args.set))
    config = GANConfig(image_size=args.size, classes=data.classes, batch_size=args.batch, **settings)
    print(f"config: {config.to_json()}\nlab options: {options}")
    t0 = time.perf_counter()
    steps = args.steps if args.steps or args.minutes else 3000
    run_dir = work / ("gan-" + ("_".join(args.set) or "default").replace("/", "-"))
    if run_dir.exists():  # a benchmark starts from step 0
        import shutil

        shutil.rmtree(run_dir)
    train_lab(data, run_dir, config, options, steps=steps, minutes=args.minutes, callbacks=[extra_emas, monitor],
              verbose=0, sample_every=10 ** 6, checkpoint_every=10 ** 9)
    wall = time.perf_counter() - t0
    if args.ema_decays:
        saved = save_copies(extra_emas.generators(), run_dir)
        print("extra EMA copies saved: " + ", ".join(str(p) for p in saved))
    if not monitor.history or monitor.history[-1]["train_seconds"] < monitor.train_seconds - 1:
        monitor.run()  # a final measurement at the end of the budget
    print("\ncurve (training minutes, step, fidelity, weakest condition, MS-SSIM gap, recall / floor):")
    for r in monitor.history:
        print(f"  {r['train_seconds'] / 60:6.2f} min  step {r['step']:6d}  fidelity {r['fidelity']:.3f}  weakest "
              f"{r['weakest']:.2f}  gap {r['ms_ssim_gap']:+.3f} (max {r['max_ms_ssim_gap']:+.3f})  recall "
              f"{r['recall']:.3f} ({r['recall_vs_floor']:.2f} of floor)  per condition {r['per_class']}"
              + (f"  D's class head on real test {r['d_head_accuracy']:.3f}" if r.get("d_head_accuracy") is not None
                 else ""))
        for name, v in r.get("variants", {}).items():
            print(f"      {name:>10}: fidelity {v['fidelity']:.3f}  weakest {v['weakest']:.2f}  gap "
                  f"{v['ms_ssim_gap']:+.3f} (max {v['max_ms_ssim_gap']:+.3f})  recall {v['recall_vs_floor']:.2f} of "
                  f"floor  per condition {v['per_class']}")
    (work / "fidelity_curve.json").write_text(json.dumps(monitor.history, indent=1))
    reached = next((r for r in monitor.history if r["fidelity"] >= args.target), None)
    final = reached or monitor.history[-1]
    print(f"(wall time including evaluations: {wall / 60:.1f} min; run folder {work})")
    print(f"fidelity {final['fidelity']:.3f} after {final['train_seconds'] / 60:.1f} min")
    last = monitor.history[-1]
    print(f"last: step {last['step']}, {last['train_seconds'] / 60:.1f} min, {last['step'] / last['train_seconds']:.1f} "
          f"steps/s, fidelity {last['fidelity']:.3f}, weakest {last['weakest']:.2f}, MS-SSIM gap "
          f"{last['ms_ssim_gap']:+.3f} (max {last['max_ms_ssim_gap']:+.3f}), recall {last['recall']:.3f} "
          f"({last['recall_vs_floor']:.2f} of floor)")
    counts = {"train": len(y_train), "val": len(x_val), "test": len(y_test)}
    save_result(args, "time_to_fidelity", slug(args.set), {
        "judge_accuracy_real_test": judge_acc, "recall_floor": recall_floor,
        "real_ms_ssim": dict(zip(data.classes, real_similarity)), "wall_minutes": wall / 60,
        "steps_per_second": last["step"] / last["train_seconds"], "last": last, "curve": monitor.history,
        "config": json.loads(config.to_json()), "lab_options": vars(options)}, seeds=[config.seed],
        data={"source": "phantom", "data_dir": (work / "phantoms").name, "image_size": args.size,
              "per_class": args.per_class, "counts": counts, "classes": list(data.classes)})


if __name__ == "__main__":
    main()

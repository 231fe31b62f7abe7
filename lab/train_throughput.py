"""Training throughput: the course's compiled train_step against the prototype's loop.

    python lab/train_throughput.py --size 64 --batch 64
    python lab/train_throughput.py --size 64 128 --batch 64

*Ours*: the default :class:`helpers.gan.ConditionalGAN` (notebook 04's cells) (projection
conditioning, DiffAugment, EMA) trained by ``model.fit`` - both updates in one
compiled step. *Prototype*: a re-implementation of the original loop - per batch,
``d.train_on_batch`` on reals, ``g.predict`` for fakes, ``d.train_on_batch`` on fakes,
``gan.train_on_batch`` for the generator - with the prototype's concatenated
conditioning and layer sizes (:func:`helpers.prototype.build_prototype_models`).

Both see the same batch size on the same machine; data come from memory for both,
so the numbers compare training steps, not input pipelines. Each prints real
images consumed per second. The two are measured in turn ``--repeats`` times
(default 3) and the medians compared: on a shared 2-core machine a single
measurement can be off by a third. The last line per size is
``ours <X> img/s, prototype <Y> img/s, ratio <Z>``.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def ours(size: int, batch: int, jit_compile="auto", mixed_precision: str = "auto"):
    """A function ``steps -> images/s`` for the course's GAN step through model.fit (compiled once).

    ``jit_compile`` goes to ``gan.compile`` (Keras' ``"auto"``: XLA on a GPU, not on a CPU);
    ``mixed_precision`` to the config.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from helpers.config import GANConfig
    from helpers.gan import build_gan

    stamps: list[float] = []
    gan = build_gan(GANConfig(image_size=size, batch_size=batch, mixed_precision=mixed_precision))
    gan.compile(jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, size, size, 1)).astype("float32")
    y = rng.integers(0, 7, batch).astype("int32")
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    gan.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # trace and compile

    class StepClock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            stamps.append(time.perf_counter())

    def measure(steps: int) -> float:
        # timed from the end of the first step to the end of the last: the start and end of a fit call
        # (iterator set-up and tear-down, which sometimes stalls for seconds here) are not training steps
        stamps.clear()
        gan.fit(ds, steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=[StepClock()])
        return steps * batch / (stamps[-1] - stamps[0])
    return measure


def prototype(size: int, batch: int):
    """A function ``steps -> images/s`` for the prototype's train_on_batch + predict loop."""
    import numpy as np

    from helpers.prototype import build_prototype_models, prototype_train_step

    g, d, gan = build_prototype_models(size)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, size, size, 1)).astype("float32")
    y = rng.integers(0, 7, (batch, 1))
    for _ in range(2):
        prototype_train_step(g, d, gan, x, y, rng)

    def measure(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            prototype_train_step(g, d, gan, x, y, rng)
        return steps * batch / (time.perf_counter() - start)
    return measure


def main() -> None:
    """Measure both at each size, print the comparison and write it to results/train_throughput/."""
    try:
        from lab.results import add_result_options, save_result, slug
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from results import add_result_options, save_result, slug
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, nargs="+", default=[64])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="training steps per measurement of ours")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each, taken in turn")
    add_result_options(parser)
    args = parser.parse_args()
    numbers = {}
    for size in args.size:
        measure_ours, measure_prototype = ours(size, args.batch), prototype(size, args.batch)
        a, b = [], []
        for r in range(args.repeats):
            a.append(measure_ours(args.steps))
            b.append(measure_prototype(max(args.steps // 4, 3)))
            print(f"  size {size}, repeat {r + 1}: ours {a[-1]:.1f} img/s, prototype {b[-1]:.1f} img/s", flush=True)
        a, b = statistics.median(a), statistics.median(b)
        print(f"size {size}x{size}, batch {args.batch} (medians of {args.repeats}):")
        print(f"ours {a:.1f} img/s, prototype {b:.1f} img/s, ratio {a / b:.2f}")
        numbers[f"{size}px"] = {"ours_img_per_s": a, "prototype_img_per_s": b, "ratio": a / b}
    save_result(args, "train_throughput", slug([f"size={'-'.join(map(str, args.size))}", f"batch={args.batch}"]),
                numbers, seeds=None, data={"source": "random arrays in memory", "image_size": args.size,
                                           "batch": args.batch, "steps": args.steps, "repeats": args.repeats},
                notes=f"medians of {args.repeats} interleaved repeats")


if __name__ == "__main__":
    main()

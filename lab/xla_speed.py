"""XLA on the CPU: the course's train step with ``jit_compile`` off and on, side by side, and its arithmetic rate.

    python lab/xla_speed.py                                  # 64 px, batch 32, float32
    python lab/xla_speed.py --precision float32 mixed_float16 --steps 10 --repeats 3

On a GPU Keras compiles ``fit`` with XLA (``jit_compile="auto"``); on a CPU it leaves XLA off.
This measures whether XLA would speed up the course's step on this machine: the default GAN
(``GANConfig(image_size=size, batch_size=batch)``) is built and compiled once per variant
(plain graph, XLA; in each precision asked for), then the variants are measured in turn
``--repeats`` times, steady-state steps only (as ``lab/train_throughput.py`` measures them),
and the medians compared.

It also counts the floating-point operations of one train step - TensorFlow's profiler on the
step's graph (``tf.compat.v1.profiler``, float_operation: a multiply-add counts as 2; the
plain graph's count, which XLA executes too) - and turns steps per second into GFLOP/s, beside
what the same machine reaches on a 2048x2048 float32 matrix product and a large 3x3
convolution: how far the step is from the machine's limit.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PRECISIONS = {"float32": "off", "mixed_float16": "on"}  # the result's name -> GANConfig.mixed_precision


def step_flops(size: int, batch: int, mixed_precision: str = "off") -> dict:
    """Floating-point operations of one train step and of one generator and discriminator forward pass.

    Counted by TensorFlow's profiler on the traced graphs (a multiply-add is 2 operations).
    """
    import tensorflow as tf

    from helpers.config import GANConfig
    from helpers.gan import build_gan

    config = GANConfig(image_size=size, batch_size=batch, mixed_precision=mixed_precision)
    gan = build_gan(config)
    gan.compile(jit_compile=False)
    images, labels = tf.TensorSpec([batch, size, size, 1]), tf.TensorSpec([batch], tf.int32)
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()

    def count(function, *specs) -> int:
        graph = tf.function(function).get_concrete_function(*specs).graph
        return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)

    return {"train_step": count(gan.train_step, (images, labels)),
            "generator_forward": count(lambda z, y: gan.generator([z, y], training=True),
                                       tf.TensorSpec([batch, config.latent_dim]), labels),
            "discriminator_forward": count(lambda x, y: gan.discriminator([x, y], training=True), images, labels)}


def machine_rates(repeats: int = 5) -> dict:
    """GFLOP/s of a 2048x2048 float32 matrix product and of a 3x3 convolution (batch 32, 64x64, 128 -> 128 channels).

    Each is run once to warm up, then timed ``repeats`` times; the median is kept.
    """
    import tensorflow as tf

    def rate(function, args, flops: float) -> float:
        function(*args).numpy()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function(*args).numpy()
            times.append(time.perf_counter() - start)
        return flops / statistics.median(times) / 1e9

    n = 2048
    a, b = tf.random.normal([n, n], seed=1), tf.random.normal([n, n], seed=2)
    x, k = tf.random.normal([32, 64, 64, 128], seed=3), tf.random.normal([3, 3, 128, 128], seed=4)
    conv = tf.function(lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"))
    return {"matmul_2048_float32_gflop_per_s": rate(tf.function(tf.matmul), (a, b), 2 * n ** 3),
            "conv3x3_b32_64px_128ch_float32_gflop_per_s": rate(conv, (x, k), 2 * 32 * 64 * 64 * 128 * 128 * 9)}


def rates_median(rates: dict, precision: str, jit: bool) -> float:
    """Median steps/s of one variant."""
    return statistics.median(rates[precision, jit])


def main() -> None:
    """Measure plain against XLA steps, count the step's FLOPs, time the machine's rates; write results/xla/."""
    try:
        from lab.results import add_result_options, save_result, slug
        from lab.train_throughput import ours
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from results import add_result_options, save_result, slug
        from train_throughput import ours
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--precision", nargs="+", default=["float32"], choices=list(PRECISIONS),
                        help="mixed_float16 on a CPU is slow: measure it only with time to spare")
    parser.add_argument("--steps", type=int, default=10, help="training steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each variant, taken in turn")
    parser.add_argument("--notes", default="", help="added to the result's notes (e.g. how busy the machine was)")
    add_result_options(parser)
    args = parser.parse_args()

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    machine = machine_rates()
    print(", ".join(f"{k} {v:.1f}" for k, v in machine.items()), flush=True)
    flops = {p: step_flops(args.size, args.batch, PRECISIONS[p]) for p in args.precision}
    variants = {(p, jit): None for p in args.precision for jit in (False, True)}
    for p, jit in variants:
        start = time.perf_counter()
        variants[p, jit] = ours(args.size, args.batch, jit_compile=jit, mixed_precision=PRECISIONS[p])
        print(f"  built, compiled and warmed up {p}, jit_compile={jit} in {time.perf_counter() - start:.0f} s",
              flush=True)
    rates = {key: [] for key in variants}
    for r in range(args.repeats):
        for key, measure in variants.items():
            rates[key].append(measure(args.steps) / args.batch)
        print(f"  repeat {r + 1}: " + ", ".join(f"{p} jit={jit} {v[-1]:.2f} steps/s" for (p, jit), v in rates.items()),
              flush=True)

    rows = []
    for (p, jit), values in rates.items():
        steps_per_s = statistics.median(values)
        gflop_per_s = flops[p]["train_step"] * steps_per_s / 1e9
        rows.append({"precision": p, "jit_compile": jit, "steps_per_s": steps_per_s,
                     "img_per_s": steps_per_s * args.batch, "gflop_per_s": gflop_per_s,
                     "share_of_matmul_rate": gflop_per_s / machine["matmul_2048_float32_gflop_per_s"]})
    speedup = {f"{p}_xla_over_plain": rates_median(rates, p, True) / rates_median(rates, p, False)
               for p in args.precision}
    for row in rows:
        print(f"{row['precision']}, jit_compile={row['jit_compile']}: {row['steps_per_s']:.2f} steps/s, "
              f"{row['gflop_per_s']:.1f} GFLOP/s ({row['share_of_matmul_rate']:.0%} of the matmul rate)")
    print(", ".join(f"{k} {v:.2f}" for k, v in speedup.items()))

    numbers = {"runs": rows, "speedup": speedup,
               "gflop_per_step": {f"{p} {part}": n / 1e9 for p in args.precision for part, n in flops[p].items()},
               "machine": machine}
    notes = (f"Medians of {args.repeats} interleaved repeats of {args.steps} steady-state steps. FLOPs: TensorFlow's "
             "profiler on the plain graph of one train step (a multiply-add counts 2). The machine was shared "
             "with other jobs while this ran, so rates are lower and noisier than on an idle machine; compare "
             "rows of this run with each other.") + (f" {args.notes}" if args.notes else "")
    name = slug([f"size={args.size}", f"batch={args.batch}", "-".join(args.precision)])
    save_result(args, "xla", name, numbers, seeds=[0], notes=notes,
                data={"source": "random arrays in memory", "image_size": args.size, "batch": args.batch,
                      "steps": args.steps, "repeats": args.repeats, "precisions": args.precision,
                      "load_average_1min_before": load_before,
                      "load_average_1min_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
                title=f"XLA against the plain graph on this CPU ({args.size} px, batch {args.batch})")


if __name__ == "__main__":
    main()

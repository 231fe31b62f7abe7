"""What op determinism costs: the default GAN's training steps per second with it off and on, side by side.

    python lab/determinism_cost.py                       # 64 px, batch 32, 5 interleaved repeats of 30 steps
    python lab/determinism_cost.py --steps 20 --repeats 3 --no-result

``tf.config.experimental.enable_op_determinism()`` acts on the whole process and cannot be turned
off, so the two modes run in two worker processes started by this script, each seeded by
:func:`helpers.env.make_deterministic` (``ops=False`` for the plain one). Each worker loads the
phantoms (the course's pipeline: the decode cache through :func:`helpers.preprocess.make_dataset`),
builds and compiles the default GAN (``GANConfig(image_size=size, batch_size=batch)``), warms it up,
then waits. The script asks them in turn, ``--repeats`` times (alternating which goes first), to
train ``--steps`` steps through ``model.fit``, and keeps the median of the steady-state steps per
second (timed from the end of the first step to the end of the last, as ``lab/train_throughput.py``
does). Only one worker trains at a time. The cost is ``1 - on / off``; the course turns
determinism on by default when it is within :data:`BUDGET`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: the largest slowdown (a fraction of the plain steps per second) at which the course keeps determinism on
BUDGET = 0.15
MARK = "@@ "  # a worker's protocol lines start with this; anything else it prints is passed through


def worker(mode: str, size: int, batch: int, data_dir: str, per_class: int) -> None:
    """One mode in this process: build the GAN and pipeline, then answer ``steps N`` lines on stdin."""
    import keras

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from helpers.config import GANConfig
    from helpers.env import make_deterministic, op_determinism_enabled
    from helpers.gan import build_gan
    from helpers.preprocess import load_dataset, make_dataset

    make_deterministic(0, ops=mode == "on")
    data = load_dataset("phantom", data_dir, size, phantom_per_class=per_class, progress=False)
    gan = build_gan(GANConfig(image_size=size, batch_size=batch, classes=data.classes))
    gan.compile()
    dataset = make_dataset(data, "train", batch, repeat=True, seed=0)
    gan.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)  # trace and warm up
    stamps: list[float] = []

    class StepClock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            stamps.append(time.perf_counter())

    print(MARK + json.dumps({"ready": True, "op_determinism": op_determinism_enabled()}), flush=True)
    for line in sys.stdin:
        steps = int(line.split()[1])
        stamps.clear()
        gan.fit(dataset, steps_per_epoch=steps + 1, epochs=1, verbose=0, shuffle=False, callbacks=[StepClock()])
        print(MARK + json.dumps({"steps_per_s": steps / (stamps[-1] - stamps[0])}), flush=True)


def _read(process) -> dict:
    """The next protocol line of a worker (other lines are printed); raises if the worker died."""
    for line in process.stdout:
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
        print("  worker: " + line.rstrip(), flush=True)
    raise RuntimeError(f"a worker ({' '.join(process.args[-8:])}) exited with code {process.wait()} before answering; "
                       "rerun with the same arguments and read its messages above")


def main() -> None:
    """Start both workers, measure them in turn, print the medians and the cost, write results/determinism/."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30, help="training steps per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements of each mode, taken in turn")
    parser.add_argument("--phantoms-per-class", type=int, default=30,
                        help="the phantom set to read (a batch is gathered from the cache whatever its size)")
    parser.add_argument("--data-dir", default=None, help="default: data/phantoms-<size>px-<n>pc-seed0, as the course")
    parser.add_argument("--notes", default="", help="added to the result's notes (e.g. how busy the machine was)")
    parser.add_argument("--worker", choices=["off", "on"], help=argparse.SUPPRESS)
    try:
        from lab.results import add_result_options, save_result, slug
    except ModuleNotFoundError:  # run as a script: lab/ is on sys.path
        from results import add_result_options, save_result, slug
    add_result_options(parser)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    data_dir = args.data_dir or str(root / "data" / f"phantoms-{args.size}px-{args.phantoms_per_class}pc-seed0")
    if args.worker:
        worker(args.worker, args.size, args.batch, data_dir, args.phantoms_per_class)
        return

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    workers = {}
    for mode in ("off", "on"):  # one at a time: a start-up must not slow the other's warm-up into the measurement
        workers[mode] = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--size", str(args.size),
             "--batch", str(args.batch), "--data-dir", data_dir, "--phantoms-per-class", str(args.phantoms_per_class)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        state = _read(workers[mode])
        if state["op_determinism"] != (mode == "on"):
            raise RuntimeError(f"the {mode} worker reports op determinism {state['op_determinism']}")
        print(f"  worker '{mode}' ready after {time.perf_counter() - started:.0f} s", flush=True)
    rates = {"off": [], "on": []}
    try:
        for r in range(args.repeats):
            for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
                workers[mode].stdin.write(f"steps {args.steps}\n")
                workers[mode].stdin.flush()
                rates[mode].append(_read(workers[mode])["steps_per_s"])
            print(f"  repeat {r + 1}: off {rates['off'][-1]:.2f}, on {rates['on'][-1]:.2f} steps/s", flush=True)
    finally:
        for process in workers.values():
            process.stdin.close()
            process.wait(timeout=60)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    cost = 1 - on / off
    print(f"op determinism off {off:.2f} steps/s, on {on:.2f} steps/s (medians of {args.repeats}): cost {cost:+.1%} "
          f"({'within' if cost <= BUDGET else 'over'} the {BUDGET:.0%} budget); "
          f"{time.perf_counter() - started:.0f} s in all")
    numbers = {"runs": [{"op_determinism": mode == "on", "steps_per_s": statistics.median(values),
                         "img_per_s": statistics.median(values) * args.batch, "each_repeat": values}
                        for mode, values in rates.items()],
               "cost": cost, "budget": BUDGET, "within_budget": cost <= BUDGET}
    notes = (f"Medians of {args.repeats} interleaved repeats of {args.steps} steady-state steps; cost = 1 - on / off "
             "(negative: no slowdown measurable). Both modes seeded the same way; 'on' adds "
             "tf.config.experimental.enable_op_determinism(). The machine was shared with other jobs while this ran, "
             "so rates are lower and noisier than on an idle machine; compare the rows of this run with each other.")
    notes += f" {args.notes}" if args.notes else ""
    name = slug([f"size={args.size}", f"batch={args.batch}"])
    save_result(args, "determinism", name, numbers, seeds=[0], notes=notes,
                data={"source": "phantom", "data_dir": Path(data_dir).name, "image_size": args.size,
                      "batch": args.batch, "steps": args.steps, "repeats": args.repeats,
                      "load_average_1min_before": load_before,
                      "load_average_1min_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
                title=f"Op determinism off and on ({args.size} px, batch {args.batch}, the course's pipeline)")


if __name__ == "__main__":
    main()

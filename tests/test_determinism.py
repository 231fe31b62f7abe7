"""DETERMINISTIC: two runs of one seed, each in its own process, train bit-identical networks."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT

# One run as notebook 04 does it: notebook_settings(deterministic=True) seeds and turns op determinism on, the data
# is loaded, the default GAN (32 px, batch 8, the label faded in over 8 steps so that it acts) is built in the
# notebook's own code and trained by helpers.training.train, then a judge is trained with its augmentation.
RUN = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import numpy as np
    from helpers.env import notebook_settings, op_determinism_enabled
    from helpers.preprocess import load_dataset

    work, out, deterministic = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "on"
    smoke, run_dir, data_dir, per_class, source = notebook_settings(
        "phantom", work / "data", 32, out / "run", True, 6, 0, return_source=True, deterministic=deterministic)
    data = load_dataset(source, data_dir, size=32, seed=0, phantom_per_class=per_class, progress=False)

    from helpers.classifier import to_model_range, train_classifier
    from helpers.config import GANConfig
    from helpers.gan import build_gan
    from helpers.training import train

    config = GANConfig(image_size=32, batch_size=8, classes=data.classes, transition_start=0, transition_end=8)
    gan = build_gan(config)
    gan.compile()
    initial = [np.asarray(w) for w in gan.generator.weights]
    train(data, run_dir / "gan", config, gan=gan, steps=10, verbose=0, progress=False, export=False)
    x, y = data.arrays("train")
    judge = train_classifier(to_model_range(x), y, epochs=1, seed=0, width=8, num_classes=len(data.classes),
                             min_steps=12, batch_size=16)
    arrays = {f"{name}_{i}": np.asarray(w) for name, model in
              (("generator", gan.generator), ("ema", gan.ema_generator), ("discriminator", gan.discriminator),
               ("judge", judge)) for i, w in enumerate(model.weights)}
    arrays.update({f"initial_{i}": w for i, w in enumerate(initial)})
    np.savez(out / "weights.npz", **arrays)
    (out / "state.json").write_text(json.dumps({"op_determinism": op_determinism_enabled(),
                                                "step": int(np.asarray(gan.step)),
                                                "losses": (run_dir / "gan" / "losses.csv").read_text()}))
""")


def run_once(work, out, mode="on"):
    """One training run in a fresh Python process; returns its weights (a dict of arrays) and state."""
    out.mkdir(parents=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", RUN, str(work), str(out), mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out / "weights.npz") as f:
        weights = {k: f[k] for k in f.files}
    return weights, json.loads((out / "state.json").read_text())


@pytest.mark.slow
def test_two_deterministic_runs_train_identical_networks(tmp_path):
    """Generator, EMA copy, discriminator, the logged losses and the judge agree bit for bit between two processes.

    The first run writes the phantoms and builds the decode cache, the second finds them: the setup's path does
    not matter either.
    """
    first, state1 = run_once(tmp_path, tmp_path / "a")
    second, state2 = run_once(tmp_path, tmp_path / "b")
    assert state1["op_determinism"] and state2["op_determinism"]
    assert state1["step"] == state2["step"] == 10
    assert first.keys() == second.keys()
    assert any(k.startswith("judge_") for k in first) and any(k.startswith("generator_") for k in first)
    different = [k for k in first if not np.array_equal(first[k], second[k])]
    assert not different, f"weights that differ between the two runs: {different}"
    assert state1["losses"] == state2["losses"]
    trained = [k for k in first if k.startswith("generator_")]
    assert any(not np.array_equal(first[k], first[k.replace("generator", "initial")]) for k in trained), \
        "training changed no generator weight: the comparison would prove nothing"


def test_notebook_settings_leaves_the_process_alone_without_deterministic(tmp_path):
    """``deterministic=None`` (the course runner, tests) neither seeds nor turns op determinism on."""
    import random

    from helpers.env import notebook_settings, op_determinism_enabled

    before = op_determinism_enabled()
    random.seed(12345)
    expected = random.Random(12345).random()
    notebook_settings("phantom", tmp_path / "data", 32, tmp_path / "run", True, 6, 0)
    assert random.random() == expected  # not reseeded
    assert op_determinism_enabled() == before

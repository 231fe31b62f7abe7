"""The GPU's defaults, executed on the CPU: the GAN's ``train_step`` compiled by XLA, in float32 and mixed float16.

On a GPU Keras compiles ``fit`` with XLA (``jit_compile="auto"``) and the course trains in mixed precision
(``mixed_precision="auto"``); on a CPU Keras leaves XLA off. These tests force ``jit_compile=True`` on the
CPU, check that the step really runs inside an XLA compilation, that its losses are finite, and that it
computes what the plain graph step computes from the same state.

XLA (measured on the CPU) draws other random numbers for the same stateless seed: its kernels for ``tf.random.stateless_uniform``
and ``stateless_normal`` turn the Philox bits into floats differently from TensorFlow's, and for a seed with a
negative element (``stateless_fold_in`` makes many) even its integer draws differ. Only integer draws from
non-negative seeds agree. So the comparison feeds both steps the same random numbers, built from those, and
compares the arithmetic; the course's own draws under XLA are checked on their own (finite, well spread).
A run is reproducible under one setting of ``jit_compile``, not across the two.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.ops import control_flow_util

from helpers.config import GANConfig
from helpers.gan import build_gan

pytestmark = pytest.mark.slow  # each XLA compilation of the step takes 20-45 s on a shared 2-core machine

STEPS = 2  # the second step reads Adam's moments and the EMA from the first
#: Losses: (rtol, atol) per step. float32: XLA fuses and reorders the same arithmetic, so the losses agree to
#: a few float32 roundings (measured: 1e-5 relative at most); 1e-4 leaves headroom. Mixed float16: each op's
#: output is rounded to float16 (2**-11, about 5e-4 relative), and XLA fuses ops, so it rounds at other places
#: (measured: 2e-3 relative at most); 1e-2 is about twenty float16 roundings.
LOSS_TOLERANCE = {"off": (1e-4, 1e-5), "on": (1e-2, 2e-3)}
#: The generator's weight updates: the largest relative L2 difference allowed. float32, per weight (measured:
#: 2e-5 at most). Mixed float16, over all weights together (measured: 0.26): Adam with beta_1 = 0 moves each
#: weight by about +-lr in its first step, so an update records the sign of a gradient, and a gradient within
#: float16 rounding of zero takes either sign; 0.26 is what about 2% of the weights moving the other way gives.
UPDATE_TOLERANCE = {"off": 1e-3, "on": 0.5}


def tiny_config(mixed_precision: str) -> GANConfig:
    """The default GAN, shrunk: 32 px, narrow, batch 8; the label acts from step 0."""
    return GANConfig(image_size=32, latent_dim=16, g_width=8, d_width=8, batch_size=8, transition_end=0,
                     mixed_precision=mixed_precision)


def batch(config: GANConfig):
    """One fixed batch of random images in [-1, 1] and labels."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (config.batch_size, config.image_size, config.image_size, 1)).astype("float32")
    return x, rng.integers(0, config.num_classes, config.batch_size).astype("int32")


def dataset(config: GANConfig):
    """:func:`batch`, repeated."""
    return tf.data.Dataset.from_tensors(batch(config)).repeat()


def build(config: GANConfig, jit_compile: bool):
    """The GAN of ``config`` built from seed 0 and compiled with ``jit_compile``."""
    keras.utils.set_random_seed(0)
    gan = build_gan(config)
    gan.compile(jit_compile=jit_compile)
    assert gan.jit_compile is jit_compile
    return gan


def train(gan, steps: int = STEPS):
    """Fit ``steps`` steps; return (per-step logs as arrays, generator weight updates, whether traced under XLA)."""
    in_xla, rows = [], []
    step = gan.train_step

    def spy(data):  # fit traces train_step inside its tf.function: record whether that function is XLA's
        in_xla.append(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
        return step(data)

    gan.train_step = spy
    before = gan.generator.get_weights()
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: rows.append(dict(logs)))
    gan.fit(dataset(gan.config), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=[record])
    updates = [a - b for a, b in zip(gan.generator.get_weights(), before)]
    names = ("d_loss", "g_loss", "aux_real", "aux_fake")
    return {k: np.array([float(row[k]) for row in rows]) for k in names}, updates, in_xla


def use_same_draws(monkeypatch):
    """Stateless draws that TensorFlow and XLA agree on: integer draws and fold-ins from non-negative seeds.

    Floats are built from 23 random bits (uniform) and Box-Muller (normal).
    """
    uniform, fold_in = tf.random.stateless_uniform, tf.random.experimental.stateless_fold_in

    def non_negative(seed):
        return tf.bitwise.bitwise_and(seed, 2 ** 31 - 1)

    def integers(shape, seed, minval, maxval, dtype=tf.int32):
        return uniform(shape, non_negative(seed), minval, maxval, dtype=dtype)

    def bits(shape, seed):
        return tf.cast(integers(shape, seed, 0, 2 ** 23), tf.float32) * 2.0 ** -23

    def stateless_uniform(shape, seed, minval=0, maxval=None, dtype=tf.float32, **kw):
        if tf.as_dtype(dtype).is_integer:
            return integers(shape, seed, minval, maxval, dtype)
        maxval = 1.0 if maxval is None else maxval
        return tf.cast(minval + (maxval - minval) * bits(shape, seed), dtype)

    def stateless_normal(shape, seed, mean=0.0, stddev=1.0, dtype=tf.float32, **kw):
        u1 = bits(shape, stateless_fold_in(seed, 1)) + 2.0 ** -24  # > 0 for the log
        u2 = bits(shape, stateless_fold_in(seed, 2))
        z = tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos(2.0 * np.pi * u2)  # Box-Muller
        return tf.cast(mean + stddev * z, dtype)

    def stateless_fold_in(seed, data, **kw):
        return fold_in(non_negative(seed), data, **kw)

    monkeypatch.setattr(tf.random, "stateless_uniform", stateless_uniform)
    monkeypatch.setattr(tf.random.experimental, "stateless_fold_in", stateless_fold_in)
    monkeypatch.setattr(tf.random, "stateless_normal", stateless_normal)


def relative_l2(actual, expected) -> float:
    """``|actual - expected| / |expected|`` in the L2 norm (0 when both are zero)."""
    norm = float(np.linalg.norm(expected))
    return float(np.linalg.norm(actual - expected)) / norm if norm else float(np.linalg.norm(actual))


@pytest.fixture
def same_draws(monkeypatch):
    """:func:`use_same_draws` for one test."""
    use_same_draws(monkeypatch)


@pytest.mark.parametrize("mixed_precision", ["off", "on"])
def test_xla_step_agrees_with_the_graph_step(mixed_precision, same_draws):
    config = tiny_config(mixed_precision)
    plain, xla = build(config, False), build(config, True)
    for a, b in zip(plain.get_weights(), xla.get_weights()):
        np.testing.assert_array_equal(a, b)  # the same seed builds the same networks
    if mixed_precision == "on":
        for model in (plain.generator, plain.discriminator):  # build_gan applies the config's dtype policy
            assert model.get_layer("up_8" if model is plain.generator else "down_8").compute_dtype == "float16"
        assert isinstance(plain.g_optimizer, keras.optimizers.LossScaleOptimizer)
    plain_logs, plain_updates, plain_in_xla = train(plain)
    xla_logs, xla_updates, xla_in_xla = train(xla)
    assert plain_in_xla == [False] and xla_in_xla == [True]  # traced once each; only the second under XLA
    assert int(plain.step) == int(xla.step) == STEPS
    for name in ("g_optimizer", "d_optimizer"):  # with float16, steps whose gradients overflow are skipped
        assert int(getattr(plain, name).iterations) == int(getattr(xla, name).iterations), name
    rtol, atol = LOSS_TOLERANCE[mixed_precision]
    for name, values in plain_logs.items():
        assert np.isfinite(xla_logs[name]).all(), f"{name} under XLA: {xla_logs[name]}"
        np.testing.assert_allclose(xla_logs[name], values, rtol=rtol, atol=atol, err_msg=name)
    # A conv bias in front of an instance norm has no gradient in exact arithmetic (the norm subtracts the
    # channel's mean), so Adam turns rounding noise into its steps: those are left out.
    compared = [(w.path, a, b) for w, a, b in zip(plain.generator.weights, plain_updates, xla_updates)
                if not (w.path.startswith("up_") and w.path.endswith("/bias"))]
    assert max(float(np.abs(a).max()) for _, a, _ in compared) > 1e-4  # the generator did move
    tolerance = UPDATE_TOLERANCE[mixed_precision]
    if mixed_precision == "off":
        for path, a, b in compared:
            assert relative_l2(b, a) <= tolerance, f"{path}: {relative_l2(b, a):.2e}"
    else:
        a, b = (np.concatenate([u[i].ravel() for u in compared]) for i in (1, 2))
        assert relative_l2(b, a) <= tolerance, f"the generator's update: {relative_l2(b, a):.3f}"


def test_the_course_draws_under_xla():
    """XLA's own kernels for the course's draws (the step comparison replaces them): finite and well spread."""
    config = tiny_config("on")
    gan = build(config, True)
    images = tf.constant(batch(config)[0])

    @tf.function(jit_compile=True)
    def draws(step):
        gan.step.assign(step)
        z = tf.random.stateless_normal([4096, config.latent_dim], gan.seed_for(1))
        return z, gan.augment(images, gan.seed_for(2))  # float32, as in the step: real images and G's output

    for step in (0, 7, 1234):  # fold_in makes seeds with negative elements, which XLA treats its own way
        z, augmented = (x.numpy() for x in draws(tf.constant(step, tf.int64)))
        assert np.isfinite(z).all() and abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
        assert augmented.shape == images.shape and np.isfinite(augmented).all()
        # translation keeps [-1, 1], brightness adds at most 0.25, contrast gives f*x + (1 - f)*mean with f < 1.4
        assert np.abs(augmented).max() <= 1.4 * 1.25 + 0.4 * 1.25
        assert not np.array_equal(augmented, images.numpy())

"""helpers.models / helpers.training / helpers.generate: steps, resume, distribution, export, bad checkpoints."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from helpers import CLASSES
from helpers.classifier import to_model_range
from helpers.data import load_nih
from helpers.generate import main as generate_main
from helpers.config import GANConfig
from helpers.gan import build_gan, diff_augment
from helpers.generate import load_generator
from helpers.models import CONDITIONINGS, build_discriminator, build_generator
from helpers.prototype import build_prototype_models, prototype_train_step
from helpers.preprocess import load_dataset
from helpers.training import (CheckpointError, Checkpointer, DivergenceGuard, latest_checkpoint, restore_checkpoint,
                              save_checkpoint, train)


def training_state(gan):
    """Every variable a resumed run needs, as arrays: the GAN's (networks, EMA copy, step, ...) and the optimisers'."""
    return [np.asarray(v) for v in [*gan.weights, *gan.g_optimizer.variables, *gan.d_optimizer.variables]]


def tiny_config(size, **kw):
    """A small GAN for runs of a few steps: the label acts from step 0 unless a test fades it in."""
    return GANConfig(**{"image_size": size, "latent_dim": 8, "g_width": 4, "d_width": 4, "batch_size": 8,
                        "transition_end": 0, **kw})


@pytest.fixture(scope="module")
def data32(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ph32")
    return load_dataset("phantom", folder / "data", 32, phantom_per_class=6, cache_dir=folder / "c", progress=False)


@pytest.mark.parametrize("size", [64, 128, 256])
@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_models_shapes(size, conditioning):
    g = build_generator(size, latent_dim=8, width=4, conditioning=conditioning)
    d = build_discriminator(size, width=4, conditioning=conditioning)
    labels = tf.constant([0, 6], tf.int32)
    images = g([tf.random.normal((2, 8), seed=1), labels])
    assert images.shape == (2, size, size, 1) and images.dtype == "float32"
    assert float(tf.reduce_mean(tf.abs(images[0] - images[1]))) > 1e-4  # different noise, different images
    logits = d([images, labels])
    assert logits.shape == (2, 1) and np.isfinite(logits.numpy()).all()


def test_projection_generator_uses_the_label():
    g = build_generator(32, latent_dim=8, width=4)
    for layer in g.layers:  # give the class-conditional norms distinct per-class parameters
        if "cond_norm" in layer.name:
            layer.gamma.assign(np.random.default_rng(0).normal(0, 0.5, layer.gamma.shape))
    z = tf.random.normal((1, 8))
    a = g([z, tf.constant([0])]).numpy()
    b = g([z, tf.constant([4])]).numpy()
    assert np.abs(a - b).mean() > 1e-3


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="image_size=100 is not supported"):
        build_generator(100)
    with pytest.raises(ValueError, match="conditioning='film' is unknown"):
        build_discriminator(64, conditioning="film")


def test_prototype_loop_updates_d_then_g():
    g, d, gan = build_prototype_models(64)
    rng = np.random.default_rng(0)
    real, labels = rng.uniform(-1, 1, (4, 64, 64, 1)).astype("float32"), rng.integers(0, 7, (4, 1))
    d_before, g_before = [w.copy() for w in d.get_weights()], [w.copy() for w in g.get_weights()]
    losses = prototype_train_step(g, d, gan, real, labels, rng)
    assert all(np.isfinite(np.asarray(x)).all() for x in losses)
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, d.get_weights()))  # D trained
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, g.get_weights()))  # G trained
    d_mid = [w.copy() for w in d.get_weights()]
    d.trainable = False
    gan.train_on_batch([rng.standard_normal((4, 100)).astype("float32"), labels], np.ones((4, 1)))
    assert all(np.array_equal(a, b) for a, b in zip(d_mid, d.get_weights()))  # frozen inside the GAN


def test_diff_augment():
    x = tf.random.uniform((4, 32, 32, 1), -1, 1)
    seed = tf.constant([1, 2], tf.int32)
    assert np.allclose(diff_augment(x, seed, 0.0).numpy(), x.numpy())
    y = diff_augment(x, seed, 1.0)
    assert y.shape == x.shape and not np.allclose(y.numpy(), x.numpy())
    assert np.allclose(diff_augment(x, seed, 1.0).numpy(), y.numpy())  # stateless: same seed, same result
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(diff_augment(x, seed, 1.0))
    assert tape.gradient(out, x) is not None
    with pytest.raises(ValueError, match="augmentation 'rotate' is unknown"):
        diff_augment(x, seed, 1.0, "rotate")


@pytest.mark.parametrize("size", [64, pytest.param(128, marks=pytest.mark.slow),
                                  pytest.param(256, marks=pytest.mark.slow)])
def test_a_few_steps_at_each_size(size, tmp_path):
    data = load_dataset("phantom", tmp_path / "d", size, phantom_per_class=3, cache_dir=tmp_path / "c",
                        progress=False)
    config = tiny_config(size, batch_size=4)
    gan = train(data, tmp_path / "run", config, steps=2, verbose=0)
    assert int(gan.step.numpy()) == 2
    log = (tmp_path / "run" / "losses.csv").read_text().splitlines()
    header = log[0].split(",")
    assert "d_loss" in header and "g_loss" in header
    d_col = header.index("d_loss")
    assert all(np.isfinite(float(line.split(",")[d_col])) for line in log[1:])
    assert (tmp_path / "run" / "generator.keras").is_file()
    assert list((tmp_path / "run" / "samples").glob("*.png"))


@pytest.mark.slow
def test_resume_matches_uninterrupted(data32, tmp_path):
    config = tiny_config(32, transition_start=1, transition_end=5)
    train(data32, tmp_path / "split", config, steps=3, verbose=0)
    resumed = train(data32, tmp_path / "split", config, steps=6, verbose=0)
    straight = train(data32, tmp_path / "straight", config, steps=6, verbose=0)
    assert int(resumed.step.numpy()) == int(straight.step.numpy()) == 6
    assert len(training_state(resumed)) > len(resumed.generator.weights) * 3  # networks, EMA and optimisers
    for a, b in zip(training_state(resumed), training_state(straight), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent(f"""
        import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from helpers.preprocess import load_dataset
        from helpers.config import GANConfig
        from helpers.training import train
        data = load_dataset("phantom", r"{tmp_path}/d", 32, phantom_per_class=4, cache_dir=r"{tmp_path}/c", progress=False)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        config = GANConfig(image_size=32, latent_dim=8, g_width=4, d_width=4, batch_size=8,
                           transition_start=0, transition_end=4)
        gan = train(data, r"{tmp_path}/run", config, steps=3, strategy=strategy, verbose=0)
        print("replicas", strategy.num_replicas_in_sync, "step", int(gan.step.numpy()),
              "strength", sorted({{float(w.numpy()) for w in gan.strength_weights}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "replicas 2 step 3 strength [0.75]" in out.stdout  # transitional conditioning in replica context


def test_generate_command_round_trip(data32, tmp_path):
    train(data32, tmp_path / "run", tiny_config(32), steps=1, verbose=0)
    model, meta = load_generator(tmp_path / "run" / "generator.keras")
    assert meta["classes"] == list(CLASSES) and meta["image_size"] == 32
    assert generate_main([str(tmp_path / "run" / "generator.keras"), "--per-class", "3", "--out",
                          str(tmp_path / "syn"), "--seed", "1"]) == 0
    table, report = load_nih(tmp_path / "syn", verbose=False)
    assert report.present == 21 and report.missing == 0
    assert table["condition"].value_counts().to_dict() == {c: 3 for c in CLASSES}
    assert table["age"].isna().all() and (table["sex"] == "").all()  # no patient information
    assert generate_main([str(tmp_path / "none.keras"), "--per-class", "1", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.slow
def test_corrupt_checkpoint_is_a_clear_error_and_nothing_is_overwritten(data32, tmp_path):
    run = tmp_path / "run"
    train(data32, run, tiny_config(32), steps=2, verbose=0)
    ckpt = latest_checkpoint(run / "checkpoints")
    assert ckpt.name == "ckpt-2"
    data_file = next(ckpt.parent.glob(f"{ckpt.name}.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])  # truncated, as by a full disk
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir() if p.is_file()}
    generator_bytes = (run / "generator.keras").read_bytes()
    with pytest.raises(CheckpointError, match=rf"{ckpt.name} cannot be read .*Nothing was overwritten"):
        train(data32, run, tiny_config(32), steps=4, verbose=0)
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir() if p.is_file()} == before
    assert (run / "generator.keras").read_bytes() == generator_bytes
    (run / "checkpoints" / "checkpoint").write_text("garbage {")
    with pytest.raises(CheckpointError, match="checkpoint cannot be read or names checkpoint files that are missing"):
        train(data32, run, tiny_config(32), steps=4, verbose=0)


@pytest.mark.slow
def test_missing_or_mismatched_checkpoint(data32, tmp_path):
    gan = build_gan(tiny_config(32))
    gan.compile()
    with pytest.raises(CheckpointError, match="does not exist"):
        restore_checkpoint(gan, tmp_path / "ckpt-1")
    train(data32, tmp_path / "run", tiny_config(32), steps=1, verbose=0)
    with pytest.raises(CheckpointError, match="other settings .*g_width"):
        train(data32, tmp_path / "run", tiny_config(32, g_width=8), steps=2, verbose=0)
    saved = latest_checkpoint(tmp_path / "run" / "checkpoints")
    bigger = build_gan(tiny_config(32, g_width=8))
    bigger.compile()
    with pytest.raises(CheckpointError, match="different model .*incompatible tensor with shape"):
        restore_checkpoint(bigger, saved)
    headless = build_gan(tiny_config(32, aux_weight=0.0))  # the checkpoint holds a classifier head it lacks
    headless.compile()
    with pytest.raises(CheckpointError, match="different model .*aux_classifier"):
        restore_checkpoint(headless, saved)


def test_files_of_an_earlier_version_are_refused_with_the_fix(data32, tmp_path):
    """No compatibility shims: a config.json or checkpoint that this version cannot read stops the run."""
    run = tmp_path / "run"
    train(data32, run, tiny_config(32), steps=1, verbose=0)
    saved = json.loads((run / "config.json").read_text())
    del saved["transition_end"]
    (run / "config.json").write_text(json.dumps({**saved, "r1_gamma": 0.0}))
    with pytest.raises(CheckpointError, match=r"config.json: a config with unknown keys \['r1_gamma'\] and missing "
                       r"keys \['transition_end'\] was written by another version .*retrain .*new RUN_DIR"):
        train(data32, run, tiny_config(32), steps=2, verbose=0)
    old = tmp_path / "old" / "checkpoints"
    old.mkdir(parents=True)
    (old / "ckpt-00000500.npz").write_bytes(b"PK")
    with pytest.raises(CheckpointError, match=r"\.npz checkpoints, written by an earlier version .*new RUN_DIR"):
        train(data32, tmp_path / "old", tiny_config(32), steps=2, verbose=0)


def test_divergence_guard_stops_and_blocks_checkpoints(tmp_path):
    class FakeModel:
        step = tf.Variable(7, dtype=tf.int64)
        stop_training = False

    guard, checkpointer = DivergenceGuard(), Checkpointer(tmp_path, every_steps=1)
    model = FakeModel()
    guard.set_model(model)
    checkpointer.set_model(model)
    guard.on_train_batch_end(0, {"d_loss": float("nan"), "g_loss": 1.0})
    assert model.stop_training and "non-finite at step 7" in model.diverged
    checkpointer.on_train_batch_end(0, {"d_loss": float("nan"), "g_loss": 1.0})
    assert not list(tmp_path.iterdir())  # no checkpoint of a broken state


def test_training_needs_an_end(data32, tmp_path):
    with pytest.raises(ValueError, match="give steps, epochs or minutes"):
        train(data32, tmp_path, tiny_config(32))


def test_config_round_trip():
    config = tiny_config(64, balanced=True)
    assert GANConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match=r"unknown keys \['colour'\]"):
        GANConfig.from_json(json.dumps({**json.loads(config.to_json()), "colour": 1}))
    with pytest.raises(ValueError, match="augment_p=-1: use a probability in"):
        GANConfig(augment_p=-1)


def test_class_conditional_norm_modes():
    from helpers.models import ClassConditionalNorm

    x = tf.random.normal((2, 4, 4, 8)) * 3.0 + 1.0
    labels = tf.constant([0, 1])
    pixel = ClassConditionalNorm(2, mode="pixel")([x, labels])  # gamma = beta = 0 at first
    np.testing.assert_allclose(tf.sqrt(tf.reduce_mean(pixel ** 2, axis=-1)), 1.0, atol=1e-3)
    instance = ClassConditionalNorm(2, mode="instance")([x, labels])
    np.testing.assert_allclose(tf.reduce_mean(instance, axis=(1, 2)), 0.0, atol=1e-4)
    with pytest.raises(ValueError, match="'pixel' or 'instance'"):
        ClassConditionalNorm(2, mode="batch")


def test_pixel_norm_generator_exports_and_reloads(tmp_path, data32):
    gan = train(data32, tmp_path / "run", tiny_config(32, g_norm="pixel"), steps=2, verbose=0)
    model, meta = load_generator(tmp_path / "run" / "generator.keras")
    z, labels = np.zeros((2, 8), np.float32), np.array([1, 5], np.int32)
    np.testing.assert_allclose(model([z, labels]), gan.ema_generator([z, labels]), atol=1e-6)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["g_norm"] == "pixel"


def test_aux_fake_class_learns_to_spot_generated_images():
    keras.utils.set_random_seed(0)
    config = tiny_config(32, aux_fake_class=True, augment="", seed=3)
    gan = build_gan(config)
    gan.compile()
    assert gan.discriminator.output_shape[1] == (None, len(CLASSES) + 1)
    rng = np.random.default_rng(0)
    real = np.clip(rng.normal(0.3, 0.2, (8, 32, 32, 1)), -1, 1).astype("float32")
    labels = tf.constant(np.arange(8) % 7, tf.int32)
    history = gan.fit(tf.data.Dataset.from_tensors((real, labels)).repeat(), steps_per_epoch=80, epochs=1, verbose=0)
    assert np.isfinite(history.history["aux_real"]).all() and np.isfinite(history.history["aux_fake"]).all()
    fake = gan.generator([tf.random.normal((8, 8), seed=1), labels], training=False)
    real = tf.constant(real)

    def p_generated(images):
        return float(tf.reduce_mean(tf.nn.softmax(gan.discriminator([images, labels])[1])[:, -1]))

    assert p_generated(fake) > p_generated(real) + 0.1
    assert json.loads(config.to_json())["aux_fake_class"] is True


@pytest.mark.slow
def test_d_aux_weight_sets_how_much_the_discriminators_classifier_learns():
    """The classifier head learns only from D's own auxiliary loss: weight 0 leaves it exactly as built."""
    rng = np.random.default_rng(0)
    real = np.clip(rng.normal(0.3, 0.2, (8, 32, 32, 1)), -1, 1).astype("float32")
    labels = tf.constant(np.arange(8) % 7, tf.int32)
    moved = {}
    for d_aux_weight in (0.0, 3.0):
        keras.utils.set_random_seed(0)
        gan = build_gan(tiny_config(32, augment="", d_aux_weight=d_aux_weight))
        gan.compile()
        head = gan.discriminator.get_layer("aux_classifier")
        before = head.kernel.numpy().copy()
        gan.fit(tf.data.Dataset.from_tensors((real, labels)).repeat(), steps_per_epoch=3, epochs=1, verbose=0)
        moved[d_aux_weight] = float(np.abs(head.kernel.numpy() - before).max())
    assert moved[0.0] == 0.0 and moved[3.0] > 1e-4
    assert GANConfig().d_aux_weight == 3.0 and GANConfig().aux_weight == 1.0  # the default since the remedies study
    assert GANConfig.from_json(tiny_config(32, d_aux_weight=2.0).to_json()).d_aux_weight == 2.0
    with pytest.raises(ValueError, match="d_aux_weight=-1"):
        GANConfig(d_aux_weight=-1.0)


def test_without_the_auxiliary_classifier_there_is_no_generated_class(data32, tmp_path):
    """aux_weight=0 (the concat design's setting) drops the class head, and its "generated" class with it."""
    assert GANConfig().aux_fake_class is True  # the default since the remedies study
    config = tiny_config(32, aux_weight=0.0)
    assert config.aux_fake_class is False and GANConfig.from_json(config.to_json()).aux_fake_class is False
    gan = build_gan(config)
    assert not isinstance(gan.discriminator.output_shape, list)  # realism logit only
    gan = train(data32, tmp_path / "run", config, gan=gan, steps=2, verbose=0)
    assert int(gan.step.numpy()) == 2


@pytest.mark.slow
def test_mixed_precision_on_cpu_trains_in_float16_with_float32_outputs(data32, tmp_path):
    """The mixed-precision path (meant for GPUs) runs on the CPU too: float16 layers, float32 outputs."""
    gan = train(data32, tmp_path / "run", tiny_config(32, mixed_precision="on"), steps=3, verbose=0)
    assert gan.generator.get_layer("up_8").compute_dtype == "float16"
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    out = gan.ema_generator([tf.random.normal((2, 8)), tf.constant([0, 1])])
    assert out.dtype == "float32"
    log = (tmp_path / "run" / "losses.csv").read_text().splitlines()
    header = log[0].split(",")
    for name in ("d_loss", "g_loss", "aux_real", "aux_fake"):
        assert all(np.isfinite(float(line.split(",")[header.index(name)])) for line in log[1:]), name


def test_train_uses_a_gan_built_by_the_caller(data32, tmp_path):
    """Notebook 04 builds its own GAN (its cells may be edited) and passes it in: train must use that one."""
    import helpers.gan

    class CountingGAN(helpers.gan.ConditionalGAN):
        calls = 0

        def train_step(self, data):
            CountingGAN.calls += 1  # runs while tracing
            return super().train_step(data)

    config = tiny_config(32)
    base = build_gan(config)
    gan = CountingGAN(base.generator, base.discriminator, config)
    trained = train(data32, tmp_path / "run", gan=gan, steps=2, verbose=0)
    assert trained is gan and CountingGAN.calls >= 1 and int(gan.step.numpy()) == 2
    with pytest.raises(ValueError, match="config and gan.config differ"):
        train(data32, tmp_path / "other", tiny_config(32, g_width=8), gan=gan, steps=1, verbose=0)


def test_checkpoint_milestones_are_kept(data32, tmp_path):
    gan = build_gan(tiny_config(32))
    gan.compile()
    for step in (500, 1000, 1500, 2000, 2500, 3000):
        gan.step.assign(step)
        assert save_checkpoint(gan, tmp_path, keep=2, keep_every=1000) == tmp_path / f"ckpt-{step}"
    kept = sorted(int(p.name.split("-")[1].split(".")[0]) for p in tmp_path.glob("ckpt-*.index"))
    milestones = sorted(int(p.name.split("-")[1].split(".")[0]) for p in tmp_path.glob("milestones/ckpt-*.index"))
    assert kept == [2500, 3000] and milestones == [1000, 2000, 3000]  # the newest two, and every 1000th
    assert latest_checkpoint(tmp_path) == tmp_path / "ckpt-3000"
    gan.step.assign(0)
    assert restore_checkpoint(gan, tmp_path / "milestones" / "ckpt-1000") == 1000


def test_losses_match_their_formulas():
    from helpers.gan import d_hinge_loss, d_nonsaturating_loss, g_hinge_loss, g_nonsaturating_loss

    real, fake = tf.constant([[2.0], [0.5]]), tf.constant([[-3.0], [0.0]])
    # hinge: mean(relu(1 - [2, .5])) + mean(relu(1 + [-3, 0])) = (0 + .5)/2 + (0 + 1)/2
    assert float(d_hinge_loss(real, fake)) == pytest.approx(0.75)
    assert float(g_hinge_loss(fake)) == pytest.approx(1.5)
    assert float(d_hinge_loss(tf.zeros((4, 1)), tf.zeros((4, 1)))) == pytest.approx(2.0)  # "cannot tell"
    assert float(d_nonsaturating_loss(tf.zeros((4, 1)), tf.zeros((4, 1)))) == pytest.approx(2 * np.log(2), rel=1e-6)
    assert float(g_nonsaturating_loss(tf.constant([[0.0]]))) == pytest.approx(np.log(2), rel=1e-6)


def test_minibatch_stddev_sees_a_collapsed_batch():
    from helpers.models import MinibatchStdDev

    copies = tf.repeat(tf.random.normal((1, 4, 4, 3), seed=1), 6, axis=0)
    varied = tf.random.normal((6, 4, 4, 3), seed=2)
    out_copies, out_varied = MinibatchStdDev()(copies), MinibatchStdDev()(varied)
    assert out_copies.shape == (6, 4, 4, 4)
    assert float(tf.reduce_max(out_copies[..., -1])) < 1e-3 < float(tf.reduce_min(out_varied[..., -1]))
    d = build_discriminator(32, width=4, aux_classifier=True, mbstd=True)
    assert d.get_layer("minibatch_std") is not None


@pytest.mark.slow
def test_time_to_fidelity_extra_ema_copies_follow_the_gans_own_rule(data32, tmp_path):
    """lab/time_to_fidelity.py --ema-decays: a copy at the run's own decay equals the GAN's EMA generator."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("time_to_fidelity", ROOT / "lab" / "time_to_fidelity.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    config = tiny_config(32, ema_decay=0.8)
    extra = benchmark.extra_emas_callback([0.8, 0.3])  # 0.8 is reached at step 35: warm-up, then the cap
    gan = train(data32, tmp_path / "run", config, steps=40, verbose=0, callbacks=[extra])
    copies = extra.generators()
    z, labels = np.random.default_rng(0).standard_normal((4, 8)).astype("float32"), np.array([0, 2, 4, 6], np.int32)
    for ours, theirs in zip(copies[0.8].weights, gan.ema_generator.weights):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)
    np.testing.assert_allclose(copies[0.8]([z, labels]), gan.ema_generator([z, labels]), atol=1e-5)
    raw, shorter = gan.generator([z, labels]), copies[0.3]([z, labels])
    saved = benchmark.save_copies(copies, tmp_path / "run")
    assert [p.name for p in saved] == ["generator-ema0.8.keras", "generator-ema0.3.keras"]
    from helpers.generate import load_generator

    reloaded, meta = load_generator(saved[1])
    np.testing.assert_allclose(reloaded([z, labels]), shorter, atol=1e-6)
    assert meta["weights"].endswith("decay 0.3") and meta["classes"] == list(CLASSES)
    assert np.abs(shorter - raw).mean() < np.abs(copies[0.8]([z, labels]) - raw).mean()  # a shorter average is nearer
    images, labels = data32.arrays("train")
    images = to_model_range(images)
    head = np.asarray(gan.discriminator([images, labels.astype("int32")])[1])
    assert head.shape[1] == len(CLASSES) + 1  # the "generated" logit is left out of the accuracy
    expected = float(np.mean(np.argmax(head[:, :len(CLASSES)], axis=1) == labels))
    assert benchmark.discriminator_class_accuracy(gan.discriminator, images, labels, len(CLASSES)) == expected
    no_head = build_gan(tiny_config(32, aux_weight=0.0)).discriminator
    assert benchmark.discriminator_class_accuracy(no_head, images, labels, len(CLASSES)) is None


def test_condition_strength_fades_the_label_in_every_conditional_layer():
    """Strength 0 makes a layer ignore its label; 1 is the plain formula."""
    from helpers.models import ClassConditionalNorm, ProjectionHead

    x = tf.random.normal((2, 4, 4, 3))
    labels = tf.constant([0, 1])
    norm = ClassConditionalNorm(2, mode="pixel")
    norm([x, labels])
    norm.gamma.assign([[0.0] * 3, [1.0] * 3])
    norm.beta.assign([[0.0] * 3, [0.5] * 3])
    plain = norm([x, tf.constant([0, 0])])
    full = norm([x, labels]).numpy()
    np.testing.assert_allclose(full[1], plain[1] * 2.0 + 0.5, atol=1e-5)  # (1 + gamma) * norm(x) + beta
    norm.condition_strength.assign(0.0)
    np.testing.assert_allclose(norm([x, labels]), plain, atol=1e-6)  # the label has no effect at strength 0

    head = ProjectionHead(3)
    h = tf.random.normal((3, 5))
    conditional = head([h, tf.constant([0, 1, 2])])
    head.condition_strength.assign(0.0)
    unconditional = head([h, tf.constant([0, 1, 2])])
    np.testing.assert_allclose(unconditional, head.dense(h), atol=1e-5)
    assert np.abs(conditional - unconditional).max() > 1e-3


@pytest.mark.slow
def test_transitional_conditioning_schedule_ema_and_resume(data32, tmp_path):
    """train_step sets every strength weight (generator, discriminator, EMA copy) from the step; resume agrees."""
    from helpers.gan import condition_strength_weights, transition_strength, update_ema

    assert [round(float(transition_strength(s, 10, 30)), 2) for s in (0, 10, 20, 30, 99)] == [0, 0, 0.5, 1, 1]
    assert float(transition_strength(0, 0, 0)) == 1.0  # transition_end=0: no transition
    # the EMA averages every weight but the condition strength, which it copies
    average, source = keras.Variable(0.0, name="kernel"), keras.Variable(1.0, name="kernel")
    strength, target = (keras.Variable(0.0, trainable=False, name="condition_strength"),
                        keras.Variable(0.7, trainable=False, name="condition_strength"))
    update_ema([average, strength], [source, target], 0.9, step=1000)
    assert abs(float(average.numpy()) - 0.1) < 1e-6 and abs(float(strength.numpy()) - 0.7) < 1e-6
    config = tiny_config(32, transition_start=1, transition_end=5)
    gan = train(data32, tmp_path / "split", config, steps=3, verbose=0)
    weights = condition_strength_weights(gan.generator, gan.discriminator, gan.ema_generator)
    generator_layers = 1 + 4  # the label embedding and the class-conditional norms at 4, 8, 16 and 32 px
    assert len(weights) == 2 * generator_layers + 1  # ... twice (EMA copy), and the projection head
    assert {round(float(w.numpy()), 3) for w in weights} == {0.5}  # 3 steps done: (3 - 1) / (5 - 1)
    resumed = train(data32, tmp_path / "split", config, steps=5, verbose=0)  # exactly transition_end steps
    straight = train(data32, tmp_path / "straight", config, steps=5, verbose=0)
    assert {float(w.numpy()) for w in condition_strength_weights(resumed.ema_generator)} == {1.0}
    for a, b in zip(training_state(resumed), training_state(straight)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    model, _ = load_generator(tmp_path / "split" / "generator.keras")
    z, labels = np.zeros((2, 8), np.float32), np.array([1, 5], np.int32)
    np.testing.assert_allclose(model([z, labels]), resumed.ema_generator([z, labels]), atol=1e-6)
    with pytest.raises(ValueError, match="transition_start=5, transition_end=5"):
        GANConfig(transition_start=5, transition_end=5)


def test_a_generator_file_without_the_condition_strength_is_refused(tmp_path):
    """No compatibility shims: a .keras file lacking weights of today's layers fails with a message naming them."""
    import zipfile

    import h5py

    build_generator(32, latent_dim=8, width=4).save(tmp_path / "new.keras")
    removed = []
    with zipfile.ZipFile(tmp_path / "new.keras") as zin, zipfile.ZipFile(tmp_path / "old.keras", "w") as zout:
        for item in zin.namelist():
            if item != "model.weights.h5":
                zout.writestr(item, zin.read(item))
        (tmp_path / "w.h5").write_bytes(zin.read("model.weights.h5"))
        with h5py.File(tmp_path / "w.h5", "r+") as h5:  # the norms' third variable is the strength
            h5.visit(lambda name: removed.append(name) if "class_conditional_norm" in name
                     and name.endswith("vars/2") else None)
            for name in removed:
                del h5[name]
        zout.write(tmp_path / "w.h5", "model.weights.h5")
    assert len(removed) == 4
    (tmp_path / "old.json").write_text(json.dumps({"classes": list(CLASSES)}))
    with pytest.raises(ValueError, match=r"(?s)old.keras does not fit .*'condition_strength'.* Retrain it"):
        load_generator(tmp_path / "old.keras")

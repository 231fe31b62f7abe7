"""lab.gan_options: R1, LeCam, ADA and cutout, the options the course's GAN leaves to the lab."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.config import GANConfig
from helpers.gan import build_gan, diff_augment
from helpers.preprocess import load_dataset
from helpers.training import CheckpointError
from lab.gan_options import AdaptiveAugmenter, LabOptions, build_lab_gan, split_settings, train_lab


def tiny_config(**kw):
    """A small GAN for runs of a few steps."""
    return GANConfig(**{"image_size": 32, "latent_dim": 8, "g_width": 4, "d_width": 4, "batch_size": 8,
                        "transition_end": 0, **kw})


def training_state(gan):
    """Every variable a resumed run needs, as arrays."""
    return [np.asarray(v) for v in [*gan.weights, *gan.g_optimizer.variables, *gan.d_optimizer.variables]]


@pytest.mark.slow
def test_r1_lecam_and_ada_train_and_resume_exactly(tmp_path):
    data = load_dataset("phantom", tmp_path / "d", 32, phantom_per_class=6, cache_dir=tmp_path / "c", progress=False)
    config, options = tiny_config(augment_p=0.0), LabOptions(r1_gamma=1.0, lecam_weight=0.1, ada_target=0.6)
    train_lab(data, tmp_path / "split", config, options, steps=2, verbose=0)
    resumed = train_lab(data, tmp_path / "split", config, options, steps=4, verbose=0)
    straight = train_lab(data, tmp_path / "straight", config, options, steps=4, verbose=0)
    assert float(resumed.ema_real_logit.numpy()) != 0.0  # the LeCam averages moved and were checkpointed
    assert float(resumed.augmenter.p.numpy()) > 0.0  # ADA moved p at step 4 (D is confident on reals)
    for a, b in zip(training_state(resumed), training_state(straight), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    log = (tmp_path / "straight" / "losses.csv").read_text().splitlines()
    header = log[0].split(",")
    assert all(float(line.split(",")[header.index("r1")]) > 0 for line in log[1:])
    assert json.loads((tmp_path / "split" / "lab_options.json").read_text())["r1_gamma"] == 1.0
    with pytest.raises(CheckpointError, match="lab options .*resume with those"):
        train_lab(data, tmp_path / "split", config, LabOptions(), steps=6, verbose=0)


@pytest.mark.slow
def test_lab_gan_with_every_option_off_trains_as_the_course_gan():
    config = tiny_config(seed=2)
    rng = np.random.default_rng(0)
    batch = (rng.uniform(-1, 1, (8, 32, 32, 1)).astype("float32"), (np.arange(8) % 7).astype("int32"))
    gans = [build_lab_gan(config, LabOptions())]
    keras.utils.set_random_seed(config.seed)  # as helpers.training.train does before build_gan
    gans.append(build_gan(config))
    for gan in gans:
        gan.compile()
        gan.fit(tf.data.Dataset.from_tensors(batch).repeat(), steps_per_epoch=3, epochs=1, verbose=0)
    for model in ("generator", "discriminator", "ema_generator"):
        for a, b in zip(getattr(gans[0], model).weights, getattr(gans[1], model).weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_adaptive_augmenter_raises_p_when_d_is_overconfident():
    augmenter = AdaptiveAugmenter(p=0.0, target=0.6)
    confident = tf.ones((32, 1))  # sign(D(real)) = 1 > target 0.6
    for step in range(1, 9):
        augmenter.accumulate(confident)
        augmenter.update(tf.constant(step, tf.int64))
    assert float(augmenter.p.numpy()) == pytest.approx(2 * 128 / 20_000)  # two moves, each after 4 x 32 images
    assert float(augmenter.count.numpy()) == 0.0


def test_cutout_is_an_augmentation_once_the_lab_is_imported():
    x = tf.ones((4, 32, 32, 1))
    out = diff_augment(x, tf.constant([1, 2], tf.int32), 1.0, "cutout").numpy()
    holes = (out == 0).reshape(4, -1).sum(axis=1)
    assert ((holes > 0) & (holes <= 7 * 7)).all() and set(np.unique(out)) == {0.0, 1.0}


def test_split_settings_and_bad_options():
    settings, options = split_settings({"d_width": 8, "r1_gamma": 1, "ada_target": 0.6})
    assert settings == {"d_width": 8} and options == LabOptions(r1_gamma=1, ada_target=0.6)
    with pytest.raises(ValueError, match="ada_target=1.5"):
        LabOptions(ada_target=1.5)

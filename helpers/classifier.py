"""A small CNN that recognises the seven conditions.

One model serves three purposes in the course:

- checking that the phantom findings are learnable (notebook 01 and the tests);
- *label fidelity* (:func:`helpers.evaluate.label_fidelity`): does a generated image
  show the condition it was asked for?
- an offline feature extractor for FID/KID when ImageNet weights are unavailable.

Inputs are float images in [-1, 1] with shape ``(N, S, S, 1)`` (the GAN's range);
:func:`to_model_range` converts uint8 arrays.
"""

from __future__ import annotations

import numpy as np


def to_model_range(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, S, S)`` or ``(N, S, S, 1)`` images to float32 ``(N, S, S, 1)`` in [-1, 1]."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    return x.astype(np.float32) / 127.5 - 1.0


def build_classifier(image_size: int = 64, num_classes: int = 7, width: int = 32, name: str = "condition_classifier",
                     pooling: str = "avg"):
    """A compact CNN: conv blocks that halve the resolution down to 8x8, then global pooling.

    The penultimate layer is named ``features`` so it can serve as a feature extractor.
    ``pooling="max"`` learns small local findings in fewer steps (measured on phantoms
    at 32 px: 0.31 vs 0.19 accuracy after 250 steps); ``"avg"`` is the judge's default.
    """
    if pooling not in ("avg", "max"):
        raise ValueError(f"pooling={pooling!r}; use 'avg' or 'max'")
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 1), name="image")
    x = inputs
    filters = width
    size = image_size
    while size > 8:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        filters = min(filters * 2, 8 * width)
        size //= 2
    x = layers.GlobalAveragePooling2D()(x) if pooling == "avg" else layers.GlobalMaxPooling2D()(x)
    features = layers.Dense(128, activation="relu", name="features")(x)
    outputs = layers.Dense(num_classes, name="logits")(layers.Dropout(0.2)(features))
    return keras.Model(inputs, outputs, name=name)


def compile_classifier(model, steps: int, metrics=None):
    """Adam with a cosine learning-rate decay from 2e-3 over ``steps``, cross-entropy on logits."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.05)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=metrics)
    return model


def balanced_sample_weights(labels, num_classes: int) -> np.ndarray:
    """Per-image loss weights, inverse to the frequency of the image's class, averaging 1.

    Every class present then carries the same total weight (``len(labels) / classes present``);
    on balanced labels every weight is 1.
    """
    labels = np.asarray(labels, np.int64)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    per_class = len(labels) / (np.count_nonzero(counts) * np.maximum(counts, 1))
    return per_class[labels].astype(np.float32)


def train_classifier(images, labels, val_images=None, val_labels=None, epochs: int = 8,
                     batch_size: int = 64, seed: int = 0, width: int = 32, verbose: int = 0,
                     augment: bool = True, min_steps: int = 800, pooling: str = "avg", num_classes: int | None = None,
                     balanced: bool = True):
    """Train :func:`build_classifier` on images in [-1, 1] and integer labels; return the model.

    The model has ``num_classes`` outputs (default: the largest label + 1). ``balanced``
    weights each image by the inverse frequency of its class, so every condition counts
    the same in the loss: on imbalanced real data (NIH's 28:1, Kermany's 1:2.7) an
    unweighted judge would lean towards the commonest condition and under-rate generated
    images of the rare ones. On balanced data every weight is 1.

    ``augment`` adds small random shifts, which keep the classifier from latching onto
    exact pixel positions. Small training sets get more epochs, so that training runs
    for at least ``min_steps`` optimiser steps (a few hundred steps are not enough for
    this CNN to learn the phantom findings; measured: chance accuracy after 230 steps).
    Width 32 is the default. Width 16 trains 3x faster (40 s against 138 s on the quick
    course's 3,420 phantoms, 800 steps, 2-core CPU) and scores almost as well on real test
    images (0.98-0.99 against 0.994), but as a judge of generated images it was harsher and
    less stable: label fidelity 0.80 where the width-32 judge said 0.87-0.89 for a
    comparable generator. A judge must be robust, so the default stays 32.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels, np.int64)
    if num_classes is None:
        if not labels.size:
            raise ValueError("train_classifier needs labelled images (got none) or num_classes")
        num_classes = int(labels.max()) + 1
    model = build_classifier(images.shape[1], num_classes, width, pooling=pooling)
    steps_per_epoch = int(np.ceil(len(labels) / batch_size))
    epochs = max(epochs, int(np.ceil(min_steps / max(steps_per_epoch, 1))))
    steps = epochs * steps_per_epoch
    compile_classifier(model, steps, metrics=["accuracy"])
    weights = balanced_sample_weights(labels, num_classes) if balanced else np.ones(len(labels), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels, weights.astype(np.float32))).shuffle(len(labels), seed=seed)
    if augment:
        pad = max(images.shape[1] // 16, 1)
        size = images.shape[1]

        def jitter(i, xyw):
            # stateless, keyed on (seed, position in the epoch): a stateful random op in a parallel map hands out
            # its draws in whatever order the threads run, so two runs of one seed would train different judges
            x, y, w = xyw
            x = tf.image.resize_with_crop_or_pad(x, size + 2 * pad, size + 2 * pad)
            x = tf.image.stateless_random_crop(x, (size, size, 1), tf.stack([tf.constant(seed, tf.int64), i]))
            return x, y, w
        ds = ds.enumerate().map(jitter, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    val = None
    if val_images is not None:
        val = (np.asarray(val_images, np.float32), np.asarray(val_labels, np.int64))
    model.fit(ds, epochs=epochs, validation_data=val, verbose=verbose, shuffle=False)  # ds shuffles
    return model


def downsample(images, factor: int) -> np.ndarray:
    """Average-pool float images ``(N, S, S, C)`` by an integer factor (1 returns them unchanged)."""
    x = np.asarray(images, np.float32)
    if factor == 1:
        return x
    n, s, _, c = x.shape
    if s % factor:
        raise ValueError(f"image size {s} is not divisible by the downsampling factor {factor}")
    return x.reshape(n, s // factor, factor, s // factor, factor, c).mean((2, 4))


def predict_classes(model, images, batch_size: int = 256) -> np.ndarray:
    """Class probabilities ``(N, C)`` for images in [-1, 1]."""
    import tensorflow as tf

    logits = model.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    return tf.nn.softmax(logits).numpy()

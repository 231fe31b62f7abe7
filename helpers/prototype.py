"""The original prototype's generator and discriminator, re-implemented for comparison.

The prototype conditioned by concatenation (a label embedding beside the noise and beside
the image) and trained with ``train_on_batch`` loops. Notebook 03 shows it; the throughput
benchmark races it against the course's ``train_step``.
"""

from __future__ import annotations

import math

import keras
from keras import layers


def build_prototype_models(image_size: int = 128, latent_dim: int = 100, num_classes: int = 7):
    """The original prototype's generator and discriminator, re-implemented.

    Generator: 50-d label embedding to an 8x8 plane, latent to ``Dense(128*8*8)``,
    concatenated, then ``Conv2DTranspose(128, 4, strides=2)`` + LeakyReLU up to the
    image size and a 7x7 ``tanh`` convolution. Discriminator: the label embedding
    to a full-size plane concatenated to the image, ``Conv2D(128, 3, strides=2)`` +
    LeakyReLU down to 8x8, dropout 0.4 and a sigmoid output. Compiled as the
    prototype was: Adam(2e-4, beta_1=0.5) and binary cross-entropy, with a combined
    model whose discriminator is frozen. Returns ``(generator, discriminator, gan)``.
    """
    ups = int(math.log2(image_size // 8))
    z = keras.Input((latent_dim,))
    label = keras.Input((1,))
    plane = layers.Reshape((8, 8, 1))(layers.Dense(64)(layers.Embedding(num_classes, 50)(label)))
    x = layers.Reshape((8, 8, 128))(layers.LeakyReLU(0.2)(layers.Dense(128 * 8 * 8)(z)))
    x = layers.Concatenate()([x, plane])
    for _ in range(ups):
        x = layers.LeakyReLU(0.2)(layers.Conv2DTranspose(128, 4, strides=2, padding="same")(x))
    out = layers.Conv2D(1, 7, padding="same", activation="tanh")(x)
    generator = keras.Model([z, label], out, name="prototype_generator")

    image = keras.Input((image_size, image_size, 1))
    dlabel = keras.Input((1,))
    dplane = layers.Reshape((image_size, image_size, 1))(
        layers.Dense(image_size * image_size)(layers.Embedding(num_classes, 50)(dlabel)))
    y = layers.Concatenate()([image, dplane])
    resolution = image_size
    while resolution > 8:
        y = layers.LeakyReLU(0.2)(layers.Conv2D(128, 3, strides=2, padding="same")(y))
        resolution //= 2
    y = layers.Dense(1, activation="sigmoid")(layers.Dropout(0.4)(layers.Flatten()(y)))
    discriminator = keras.Model([image, dlabel], y, name="prototype_discriminator")
    discriminator.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy")
    discriminator.trainable = False
    gz, gl = keras.Input((latent_dim,)), keras.Input((1,))
    gan = keras.Model([gz, gl], discriminator([generator([gz, gl]), gl]), name="prototype_gan")
    gan.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy")
    return generator, discriminator, gan


def prototype_train_step(generator, discriminator, gan, real, labels, rng, latent_dim: int = 100):
    """One iteration of the prototype's loop: D on reals, ``predict`` fakes, D on fakes, G through the GAN.

    Keras 3 applies ``trainable`` when the weights are updated (Keras 2 fixed it at
    compile time), so the discriminator is unfrozen for its own updates and frozen
    for the generator's, as the prototype intended. Returns ``(d_loss_real, d_loss_fake, g_loss)``.
    """
    import numpy as np

    batch = len(real)
    ones, zeros = np.ones((batch, 1)), np.zeros((batch, 1))
    discriminator.trainable = True
    d_real = discriminator.train_on_batch([real, labels], ones)
    fake_labels = rng.integers(0, 7, (batch, 1))
    fake = generator.predict([rng.standard_normal((batch, latent_dim)).astype("float32"), fake_labels], verbose=0)
    d_fake = discriminator.train_on_batch([fake, fake_labels], zeros)
    discriminator.trainable = False
    g = gan.train_on_batch([rng.standard_normal((batch, latent_dim)).astype("float32"), fake_labels], ones)
    return d_real, d_fake, g

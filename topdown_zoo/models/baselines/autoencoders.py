"""Baselines of the GNCN and Conv-NGC papers, trained by backprop through ``train_step``.

* ``ConvAutoencoder``: Conv-NGC appendix "Convolutional Autoencoder": encoder blocks of a 3×3
  stride-2 "same" convolution with 32 maps, ReLU and batch normalisation (the paper's extra
  max-pool per block would shrink 32×32 below 1×1 after five blocks; we stop at 2×2 with four
  blocks), a decoder of transposed convolutions, logistic-sigmoid output, MSE loss. With
  ``denoising=True`` and SELU it is the Conv-DAE: Gaussian noise (σ = ``noise_std``) is injected
  into the input during training.
* ``DenseAutoencoder``: the GNCN paper's appendix 4.7 baselines on binary vectors — ``kind="rae"``
  (regularised AE), ``"gvae"`` (Gaussian VAE), ``"gvae_cv"`` (constant-variance VAE), ``"gan_ae"``
  (adversarial AE with a latent discriminator). ReLU hidden layers, sigmoid output, BCE, an L2
  penalty ``decoder_l2`` on the decoder weights, latent size 20.

Every model exposes ``encode``, ``decode`` and ``complete`` so the NGC evaluators apply.
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

_P = "topdown_zoo"


@keras.saving.register_keras_serializable(package=_P)
class ConvAutoencoder(keras.Model):
    def __init__(self, image_shape=(32, 32, 3), filters=32, blocks=4, activation="relu", denoising=False,
                 noise_std=0.1, **kwargs):
        super().__init__(**kwargs)
        self.image_shape, self.filters, self.blocks = tuple(image_shape), int(filters), int(blocks)
        self.activation, self.denoising, self.noise_std = activation, bool(denoising), float(noise_std)
        self.enc = []
        for _ in range(self.blocks):
            self.enc += [layers.Conv2D(self.filters, 3, strides=2, padding="same", activation=activation,
                                       kernel_initializer="glorot_uniform"), layers.BatchNormalization()]
        self.dec = [layers.Conv2DTranspose(self.filters, 3, strides=2, padding="same", activation=activation)
                    for _ in range(self.blocks - 1)]
        self.dec.append(layers.Conv2DTranspose(self.image_shape[-1], 3, strides=2, padding="same",
                                               activation="sigmoid"))
        self.noise = layers.GaussianNoise(self.noise_std)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def build(self, input_shape=None):
        if not self.built:
            self.call(ops.zeros((1, *self.image_shape)))  # builds the sub-layers (no recursion via __call__)
            self.built = True

    def call(self, x, training=False):
        h = self.noise(x, training=training) if self.denoising else x
        for layer in self.enc:
            h = layer(h, training=training)
        for layer in self.dec:
            h = layer(h, training=training)
        return h

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = ops.mean(ops.square(self(x, training=True) - x))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        self.loss_tracker.update_state(ops.mean(ops.square(self(x) - x)))
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "filters": self.filters,
                "blocks": self.blocks, "activation": self.activation, "denoising": self.denoising,
                "noise_std": self.noise_std}


def build_conv_ae(input_shape=(32, 32, 3), **config):
    model = ConvAutoencoder(image_shape=tuple(input_shape), **config)
    model.build((None, *input_shape))
    return model


build_conv_ae.model_class = ConvAutoencoder


@keras.saving.register_keras_serializable(package=_P)
class DenseAutoencoder(keras.Model):
    KINDS = ("rae", "gvae", "gvae_cv", "gan_ae")

    def __init__(self, input_dim=784, kind="rae", hidden=(360, 360), latent=20, decoder_l2=1e-4,
                 fixed_variance=0.1, **kwargs):
        super().__init__(**kwargs)
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        self.input_dim, self.kind, self.hidden, self.latent = int(input_dim), kind, [int(h) for h in hidden], int(latent)
        self.decoder_l2, self.fixed_variance = float(decoder_l2), float(fixed_variance)
        self.encoder_layers = [layers.Dense(h, activation="relu") for h in self.hidden]
        self.mu = layers.Dense(self.latent)
        self.logvar = layers.Dense(self.latent) if kind in ("gvae", "gan_ae") else None
        self.decoder_layers = [layers.Dense(h, activation="relu") for h in reversed(self.hidden)]
        self.out = layers.Dense(self.input_dim, activation="sigmoid")
        self.disc = [layers.Dense(64, activation="relu"), layers.Dense(1)] if kind == "gan_ae" else []
        self.seed_generator = keras.random.SeedGenerator(0)
        self.disc_optimizer = keras.optimizers.Adam(1e-3) if kind == "gan_ae" else None
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def encode_stats(self, x, training=False):
        h = ops.reshape(x, (-1, self.input_dim))
        for layer in self.encoder_layers:
            h = layer(h, training=training)
        mu = self.mu(h)
        if self.logvar is not None:
            return mu, self.logvar(h)
        return mu, ops.full_like(mu, math.log(self.fixed_variance))

    def encode(self, x):
        return self.encode_stats(x)[0]

    def decode(self, z, training=False):
        h = z
        for layer in self.decoder_layers:
            h = layer(h, training=training)
        return self.out(h)

    def call(self, x, training=False):
        return self.decode(self.encode(x))

    def complete(self, x, mask, steps=None):
        """Masked pixels from the reconstruction of the masked input; observed pixels stay x."""
        x = ops.reshape(ops.convert_to_tensor(x), (-1, self.input_dim))
        mask = ops.cast(ops.reshape(ops.convert_to_tensor(mask), (-1, self.input_dim)), x.dtype)
        return x * mask + self(x * mask) * (1 - mask)

    def _discriminate(self, z):
        h = z
        for layer in self.disc:
            h = layer(h)
        return h

    def _objective(self, x, training):
        mu, logvar = self.encode_stats(x, training)
        stochastic = self.kind != "rae" and training
        z = mu + ops.exp(0.5 * logvar) * keras.random.normal(ops.shape(mu), seed=self.seed_generator) if stochastic else mu
        p = ops.clip(self.decode(z, training), 1e-7, 1 - 1e-7)
        bce = -ops.sum(x * ops.log(p) + (1 - x) * ops.log(1 - p), axis=-1)
        loss = ops.mean(bce)
        dec_vars = [v for layer in self.decoder_layers + [self.out] for v in layer.trainable_variables if len(v.shape) == 2]
        loss = loss + self.decoder_l2 * sum(ops.sum(ops.square(v)) for v in dec_vars)
        if self.kind in ("gvae", "gvae_cv"):
            kl = 0.5 * ops.sum(ops.exp(logvar) + ops.square(mu) - 1.0 - logvar, axis=-1)
            loss = loss + ops.mean(kl)
        return loss, ops.mean(bce), z

    def train_step(self, data):
        import tensorflow as tf

        x = ops.reshape(ops.cast(data[0] if isinstance(data, (tuple, list)) else data, "float32"), (-1, self.input_dim))
        ae_vars = [v for v in self.trainable_variables if not any(v is w for l in self.disc for w in l.trainable_variables)]
        with tf.GradientTape() as tape:
            loss, bce, z = self._objective(x, True)
            if self.kind == "gan_ae":  # generator term: fool the discriminator
                loss = loss + ops.mean(ops.softplus(-self._discriminate(z)))
        grads = tape.gradient(loss, ae_vars)
        self.optimizer.apply_gradients(zip(grads, ae_vars))
        if self.kind == "gan_ae":
            d_vars = [w for l in self.disc for w in l.trainable_variables]
            real = keras.random.normal(ops.shape(z), seed=self.seed_generator)
            with tf.GradientTape() as tape:
                d_loss = ops.mean(ops.softplus(-self._discriminate(real))) + \
                    ops.mean(ops.softplus(self._discriminate(ops.stop_gradient(z))))
            self.disc_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        self.loss_tracker.update_state(bce)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        x = ops.reshape(ops.cast(data[0] if isinstance(data, (tuple, list)) else data, "float32"), (-1, self.input_dim))
        self.loss_tracker.update_state(self._objective(x, False)[1])
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]

    def build(self, input_shape):
        z = self.encode_stats(ops.zeros((1, self.input_dim)))[0]
        self.decode(z)
        if self.disc:
            self._discriminate(z)
        self.built = True

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "kind": self.kind, "hidden": list(self.hidden),
                "latent": self.latent, "decoder_l2": self.decoder_l2, "fixed_variance": self.fixed_variance}


def build_dense_ae(input_shape=(784,), **config):
    model = DenseAutoencoder(input_dim=int(math.prod(input_shape)), **config)
    model.build((None, int(math.prod(input_shape))))
    return model


build_dense_ae.model_class = DenseAutoencoder

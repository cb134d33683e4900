"""Baselines of the GNCN and Conv-NGC papers, trained by backprop on one objective each
(:class:`~topdown_zoo.learning.trainer.RuleTraining` with ``learning_rule = "objective"``: the
backend's autodiff, on JAX, PyTorch and TensorFlow alike).

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

**GAN-AE in one objective.** The adversarial autoencoder has two players: the encoder (the
generator of latent codes) minimises ``BCE + L2 + softplus(−D(z))`` and the discriminator ``D``
minimises ``softplus(−D(z_prior)) + softplus(D(z))``. Both are written as *one* loss whose
gradient gives each player exactly its own gradient::

    L = BCE + L2 + softplus(−D_frozen(z))  +  softplus(−D(z_prior)) + softplus(D(stop_gradient(z)))

``D_frozen`` is the discriminator evaluated with ``stop_gradient`` on its weights, so the
generator term moves only the autoencoder, and ``stop_gradient(z)`` keeps the discriminator term
off the encoder. No gradient reversal and no second optimizer: the compiled optimizer updates
both players simultaneously from the same forward pass (as the former two-optimizer step did,
which also computed both gradients before either update), with the compiled optimizer's
learning rate for the discriminator too (it was a separate Adam(1e-3)).

Every model exposes ``encode``, ``decode`` (dense) and ``complete`` (dense) or ``denoise`` (conv) so
the NGC evaluators apply.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from topdown_zoo.checks import check_choice, check_float, check_int, check_int_list
from topdown_zoo.errors import ConfigError
from topdown_zoo.learning.trainer import RuleTraining
from topdown_zoo.models.base import Prediction, ZooModel
from topdown_zoo.models.ngc import common

_P = "topdown_zoo"


def _check_activation(name: Any) -> Any:
    try:
        keras.activations.get(name)
    except (ValueError, TypeError):
        raise ConfigError(f"activation={name!r} is not allowed; use a Keras activation name "
                          "(relu, selu, …)") from None
    return name


def _images(x: Any, dtype: str) -> Any:
    return ops.cast(ops.convert_to_tensor(x), dtype)


@keras.saving.register_keras_serializable(package=_P)
class ConvAutoencoder(RuleTraining, ZooModel):
    """Convolutional (denoising) autoencoder; loss: pixel MSE of the reconstruction."""

    learning_rule = "objective"
    prediction_kind = "reconstruction"
    evaluator = "topdown_zoo.models.ngc.evaluate:evaluate_image"

    def __init__(self, image_shape: Sequence[int] = (32, 32, 3), filters: int = 32, blocks: int = 4,
                 activation: str = "relu", denoising: bool = False, noise_std: float = 0.1,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_shape = tuple(check_int_list("image_shape", image_shape))
        if len(self.image_shape) != 3:
            raise ConfigError(f"image_shape={list(self.image_shape)} is not allowed; it must be (H, W, C)")
        self.filters, self.blocks = check_int("filters", filters, 1), check_int("blocks", blocks, 1)
        self.activation = _check_activation(activation)
        self.denoising, self.noise_std = bool(denoising), check_float("noise_std", noise_std, 0.0)
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

    def build(self, input_shape: Any = None) -> None:
        if not self.built:
            self.call(ops.zeros((1, *self.image_shape)))  # builds the sub-layers (no recursion via __call__)

    def call(self, x: Any, training: bool = False) -> Any:
        h = self.noise(x, training=training) if self.denoising else x
        for layer in self.enc:
            h = layer(h, training=training)
        for layer in self.dec:
            h = layer(h, training=training)
        return h

    def denoise(self, x_noisy: Any) -> Any:
        """The reconstruction of a noisy image (what the image evaluator's ``denoise_*`` measure)."""
        return self(x_noisy, training=False)

    def plot_kinds(self) -> list[str]:
        """The contract's pictures plus ``denoising`` (:meth:`denoise`)."""
        return [*super().plot_kinds(), "denoising"]

    def objective(self, x: Any, y: Any, sample_weight: Any, training: bool = True) -> tuple[Any, Any]:
        """Pixel MSE between the (noisy-input, for the DAE) reconstruction and the clean image."""
        x = _images(x, self.compute_dtype)
        recon = self(x, training=training)
        return ops.mean(ops.square(recon - x)), recon

    def update_step_metrics(self, loss: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Any]:
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def interpret(self, inputs: Any, **options: Any) -> Prediction:
        """Per example ``reconstruction_error`` (pixel MSE on the [0, 255] scale, the image
        evaluator's ``mse``); array ``reconstruction``."""
        common.refuse_options(self, options)
        self.check_inputs(inputs)
        x = ops.convert_to_numpy(_images(inputs, self.compute_dtype))
        recon = ops.convert_to_numpy(self(x, training=False))
        return common.reconstruction_prediction(type(self).__name__, recon, common.mse_255_per_example(x, recon))

    def compile_default(self, optimizer: Any) -> None:
        self.compile(optimizer=optimizer)

    @property
    def metrics(self) -> list[Any]:
        return [self.loss_tracker]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "image_shape": list(self.image_shape), "filters": self.filters,
                "blocks": self.blocks, "activation": self.activation, "denoising": self.denoising,
                "noise_std": self.noise_std}


def build_conv_ae(input_shape: Sequence[int] = (32, 32, 3), **config: Any) -> ConvAutoencoder:
    """A built :class:`ConvAutoencoder` for images of ``input_shape``."""
    model = ConvAutoencoder(image_shape=tuple(input_shape), **config)
    model.build((None, *input_shape))
    return model


build_conv_ae.model_class = ConvAutoencoder  # type: ignore[attr-defined]


@keras.saving.register_keras_serializable(package=_P)
class DenseAutoencoder(RuleTraining, ZooModel):
    """Dense autoencoders of the GNCN paper (appendix 4.7); see the module docstring."""

    KINDS = ("rae", "gvae", "gvae_cv", "gan_ae")
    learning_rule = "objective"
    prediction_kind = "reconstruction"
    evaluator = "topdown_zoo.models.ngc.evaluate:evaluate_gncn"

    def __init__(self, input_dim: int = 784, kind: str = "rae", hidden: Sequence[int] = (360, 360),
                 latent: int = 20, decoder_l2: float = 1e-4, fixed_variance: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = check_choice("kind", kind, self.KINDS)
        self.input_dim, self.hidden = check_int("input_dim", input_dim, 1), check_int_list("hidden", hidden)
        self.latent = check_int("latent", latent, 1)
        self.decoder_l2 = check_float("decoder_l2", decoder_l2, 0.0)
        self.fixed_variance = check_float("fixed_variance", fixed_variance, 1e-12)
        self.encoder_layers = [layers.Dense(h, activation="relu") for h in self.hidden]
        self.mu = layers.Dense(self.latent)
        self.logvar = layers.Dense(self.latent) if kind in ("gvae", "gan_ae") else None
        self.decoder_layers = [layers.Dense(h, activation="relu") for h in reversed(self.hidden)]
        self.out = layers.Dense(self.input_dim, activation="sigmoid")
        self.disc = [layers.Dense(64, activation="relu"), layers.Dense(1)] if kind == "gan_ae" else []
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def _flat(self, x: Any) -> Any:
        return ops.reshape(_images(x, self.compute_dtype), (-1, self.input_dim))

    def encode_stats(self, x: Any, training: bool = False) -> tuple[Any, Any]:
        """(μ, log σ²) of the latent code (log σ² fixed for the RAE and the constant-variance VAE)."""
        h = self._flat(x)
        for layer in self.encoder_layers:
            h = layer(h, training=training)
        mu = self.mu(h)
        if self.logvar is not None:
            return mu, self.logvar(h)
        return mu, ops.full_like(mu, math.log(self.fixed_variance))

    def encode(self, x: Any) -> Any:
        return self.encode_stats(x)[0]

    def decode(self, z: Any, training: bool = False) -> Any:
        h = ops.convert_to_tensor(z)
        for layer in self.decoder_layers:
            h = layer(h, training=training)
        return self.out(h)

    def call(self, x: Any, training: bool = False) -> Any:
        return self.decode(self.encode(x))

    def complete(self, x: Any, mask: Any, iterations: int | None = None) -> Any:
        """Masked pixels from the reconstruction of the masked input; observed pixels stay x."""
        x = self._flat(x)
        mask = ops.cast(ops.reshape(ops.convert_to_tensor(mask), (-1, self.input_dim)), x.dtype)
        return x * mask + self(x * mask) * (1 - mask)

    def plot_kinds(self) -> list[str]:
        """The contract's pictures plus ``samples`` (:meth:`decode`) and ``completions`` (:meth:`complete`)."""
        return [*super().plot_kinds(), "samples", "completions"]

    def _discriminate(self, z: Any, frozen: bool = False) -> Any:
        """D(z) (logit); ``frozen`` reads D's weights through ``stop_gradient`` (the generator's view)."""
        h = z
        for layer in self.disc:
            kernel, bias = layer.kernel, layer.bias
            if frozen:
                kernel, bias = ops.stop_gradient(kernel), ops.stop_gradient(bias)
            h = layer.activation(ops.matmul(h, kernel) + bias)
        return h

    def objective(self, x: Any, y: Any, sample_weight: Any, training: bool = True) -> tuple[Any, Any]:
        """BCE + decoder L2 (+ KL for the VAEs, + both adversarial terms for the GAN-AE, see the
        module docstring); ``y_pred`` carries the batch-mean BCE that the ``loss`` metric reports."""
        x = self._flat(x)
        mu, logvar = self.encode_stats(x, training)
        stochastic = self.kind != "rae" and training
        z = mu + ops.exp(0.5 * logvar) * keras.random.normal(ops.shape(mu), seed=self.seed_generator) \
            if stochastic else mu
        p = ops.clip(self.decode(z, training), 1e-7, 1 - 1e-7)
        bce = ops.mean(-ops.sum(x * ops.log(p) + (1 - x) * ops.log(1 - p), axis=-1))
        dec_vars = [v for layer in self.decoder_layers + [self.out] for v in layer.trainable_variables
                    if len(v.shape) == 2]
        loss = bce + self.decoder_l2 * sum(ops.sum(ops.square(v)) for v in dec_vars)
        if self.kind in ("gvae", "gvae_cv"):
            kl = 0.5 * ops.sum(ops.exp(logvar) + ops.square(mu) - 1.0 - logvar, axis=-1)
            loss = loss + ops.mean(kl)
        if self.kind == "gan_ae" and training:
            prior = keras.random.normal(ops.shape(z), seed=self.seed_generator)
            loss = loss + ops.mean(ops.softplus(-self._discriminate(z, frozen=True)))      # generator
            loss = loss + ops.mean(ops.softplus(-self._discriminate(prior))) \
                + ops.mean(ops.softplus(self._discriminate(ops.stop_gradient(z))))      # discriminator
        return loss, {"bce": bce}

    def update_step_metrics(self, loss: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Any]:
        """``loss``: the reconstruction BCE (nats per image)."""
        self.loss_tracker.update_state(y_pred["bce"])
        return {"loss": self.loss_tracker.result()}

    def interpret(self, inputs: Any, **options: Any) -> Prediction:
        """Per example ``reconstruction_error`` (BCE in nats, the GNCN evaluator's ``bce``); array
        ``reconstruction`` (the Bernoulli means)."""
        common.refuse_options(self, options)
        self.check_inputs(inputs)
        x = self._flat(inputs)
        recon = ops.convert_to_numpy(self(x, training=False))
        error = common.bce_per_example(ops.convert_to_numpy(x), recon)
        return common.reconstruction_prediction(type(self).__name__, recon, error)

    def compile_default(self, optimizer: Any) -> None:
        self.compile(optimizer=optimizer)

    @property
    def metrics(self) -> list[Any]:
        return [self.loss_tracker]

    def build(self, input_shape: Any = None) -> None:
        z = self.encode_stats(ops.zeros((1, self.input_dim)))[0]
        self.decode(z)
        if self.disc:
            self._build_discriminator()

    def _build_discriminator(self) -> None:
        width = self.latent
        for layer in self.disc:
            layer.build((None, width))
            width = layer.units

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim, "kind": self.kind, "hidden": list(self.hidden),
                "latent": self.latent, "decoder_l2": self.decoder_l2, "fixed_variance": self.fixed_variance}


def build_dense_ae(input_shape: Sequence[int] = (784,), **config: Any) -> DenseAutoencoder:
    """A built :class:`DenseAutoencoder` for flattened inputs of ``input_shape``."""
    model = DenseAutoencoder(input_dim=int(math.prod(input_shape)), **config)
    model.build((None, int(math.prod(input_shape))))
    return model


build_dense_ae.model_class = DenseAutoencoder  # type: ignore[attr-defined]

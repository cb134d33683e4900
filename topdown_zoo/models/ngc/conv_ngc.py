"""Convolutional neural generative coding (Conv-NGC; Ororbia & Mali, eqs. 1–3, section 3.2,
Algorithms 1–2).

State maps ``z⁰`` (the image, H×W×C₀) … ``zᴸ`` (top, H/2ᴸ × W/2ᴸ × C_L). Each layer predicts
the one below by a stride-2 transposed convolution (eq. 1)::

    z̄ˡ⁻¹ = gˡ(conv_transpose(φ(zˡ), Wˡ, s) + bˡ),     eˡ⁻¹ = zˡ⁻¹ − z̄ˡ⁻¹

and corrects its state with the bottom-up error convolution and a leak (eq. 2)::

    zˡ ← zˡ + β dˡ − γ zˡ,      dˡ = −eˡ + conv(eˡ⁻¹, Eˡ, s)

with ``Eˡ = Wˡ`` read as a convolution (the exact adjoint of the transposed convolution: "error
filters tied to Wᵀ", the paper's default) or learned separately (``ΔE = λ ΔW``). The top layer
has no error maps. Initialisation (Algorithm 1, lines 3–10): ``zᴸ ~ N(μ_z, σ_z)``, then an
ancestral pass ``zˡ = z̄ˡ``; ``z⁰ = x``. As with dropout, the top maps are sampled only while
training (``init_noise="train"``, the default: the local learning step); at inference
(``model(x)``, ``reconstruct``, ``denoise``, ``evaluate``) they start at their mean ``μ_z``, so the
output is a deterministic function of the input and exports with a parity check.
``init_noise="always"`` samples at inference too (the paper does not say which it does). The
samples come from ``keras.random`` with the model's ``SeedGenerator`` (its state is a model
variable, so the stateless JAX step advances it too).
Clamping: ``clamp="all"`` keeps z⁰ = x (reconstruction, training, and :meth:`ConvNGC.denoise`:
ours, see its docstring); ``clamp="first"`` sets z⁰ = x only at step 1 and lets z⁰ evolve by eq. 2
with ``d⁰ = −e⁰`` (the paper's denoising protocol, :meth:`ConvNGC.denoise_clamp_first`).
The output is z̄⁰ after T = ``iterations`` steps.

Learning (section 3.2): ``ΔWˡ = eˡ⁻¹ *₁ Dilate(φ(zˡ), s)`` (``learning.ngc_hebbian.conv_delta_kernel``),
``Δbˡ = Σ eˡ⁻¹``, handed to the optimizer as ``−Δ`` by :meth:`ConvNGC.local_updates`, then every
3×3 kernel is re-projected to norm ≤ 1 (:meth:`ConvNGC.after_update`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from topdown_zoo.checks import check_choice, check_float, check_int, check_int_list, check_steps
from topdown_zoo.errors import ConfigError
from topdown_zoo.learning import ngc_hebbian as rules
from topdown_zoo.learning.trainer import RuleTraining
from topdown_zoo.models import loops
from topdown_zoo.models.base import Prediction, ZooModel
from topdown_zoo.models.ngc import common

#: ``init_noise`` values: sample the top initial states only while training, or at inference too
INIT_NOISE = ("train", "always")
ERROR_SYNAPSES = ("tied", "learned")
CLAMPS = ("all", "first")


@keras.saving.register_keras_serializable(package="topdown_zoo")
class ConvNGC(RuleTraining, ZooModel):
    """Args:
        image_shape: (H, W, C₀); H and W divisible by 2ᴸ.
        channels: channels of the state layers from the top down to the image (the paper:
            [10, 15, 20, 25, 3]; the last entry must equal C₀).
        kernel_size, strides: of every (de)convolution (3, 2).
        iterations: T (60); ``steps`` is its deprecated name. beta: β (0.1). leak: γ (0.001).
        activation: φ (leaky_relu). output_activation: g (identity).
        error_synapses: "tied" or "learned" (rate ``error_rate`` = λ).
        init_mean, init_std: μ_z, σ_z of the top states' initial noise (0.5, 0.05).
        init_noise: when the top states are sampled from N(μ_z, σ_z): "train" (default; only while
            training, μ_z at inference, like dropout) or "always" (at inference too: random output).
        weight_std: std of the Gaussian initial kernels (0.1).
        seed: of the initial kernels and of the initial-state noise.
    """

    learning_rule = "local"
    step_key = "iterations"
    prediction_kind = "reconstruction"
    evaluator = "topdown_zoo.models.ngc.evaluate:evaluate_image"

    def __init__(self, image_shape: Sequence[int] = (32, 32, 3), channels: Sequence[int] = (10, 15, 20, 25, 3),
                 kernel_size: int = 3, strides: int = 2, iterations: int = 60, beta: float = 0.1,
                 leak: float = 0.001, activation: str = "leaky_relu", output_activation: str = "identity",
                 error_synapses: str = "tied", error_rate: float = 0.9, init_mean: float = 0.5,
                 init_std: float = 0.05, weight_std: float = 0.1, seed: int = 0, init_noise: str = "train",
                 steps: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_shape = tuple(check_int_list("image_shape", image_shape))
        if len(self.image_shape) != 3:
            raise ConfigError(f"image_shape={list(self.image_shape)} is not allowed; it must be (H, W, C)")
        self.channels = check_int_list("channels", channels)
        if len(self.channels) < 2:
            raise ConfigError(f"channels={self.channels} is not allowed; it needs at least 2 layers (top … image)")
        if self.channels[-1] != self.image_shape[-1]:
            raise ConfigError(f"channels[-1]={self.channels[-1]} is not allowed; it must equal the image "
                              f"channels {self.image_shape[-1]}")
        self.L = len(self.channels) - 1
        self.kernel_size, self.strides = check_int("kernel_size", kernel_size, 1), check_int("strides", strides, 1)
        div = self.strides ** self.L
        if self.image_shape[0] % div or self.image_shape[1] % div:
            raise ConfigError(f"image_shape={list(self.image_shape)} is not allowed; height and width must be "
                              f"divisible by strides**L = {div}")
        self.init_noise = check_choice("init_noise", init_noise, INIT_NOISE)
        self.iterations = common.resolve_iterations(iterations, steps, "ConvNGC")
        self.beta, self.leak = check_float("beta", beta, 0.0), check_float("leak", leak, 0.0)
        self.activation, self.output_activation = activation, output_activation
        self.phi = common.activation(activation)
        self.g = common.activation(output_activation, "output_activation")
        self.error_synapses = check_choice("error_synapses", error_synapses, ERROR_SYNAPSES)
        self.error_rate = check_float("error_rate", error_rate)
        self.init_mean, self.init_std = check_float("init_mean", init_mean), check_float("init_std", init_std, 0.0)
        self.weight_std, self.seed = check_float("weight_std", weight_std, 0.0), check_int("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # layer ℓ (0 = image … L = top): spatial size and channels
        self.shapes = [(self.image_shape[0] // self.strides ** l, self.image_shape[1] // self.strides ** l,
                        self.channels[self.L - l]) for l in range(self.L + 1)]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.energy_tracker = keras.metrics.Mean(name="energy")

    def build(self, input_shape: Any = None) -> None:
        if self.built:
            return
        rng = np.random.default_rng(self.seed)
        self.W: list[Any] = []
        self.b: list[Any] = []
        self.E: list[Any] = []
        k = self.kernel_size
        for l in range(1, self.L + 1):  # W[l-1]: layer l predicts layer l-1
            shape = (k, k, self.shapes[l - 1][2], self.shapes[l][2])
            w0 = ops.convert_to_numpy(rules.project_kernels(rng.normal(0, self.weight_std, shape).astype("float32")))
            self.W.append(self.add_weight(shape=shape, name=f"W{l}", initializer=keras.initializers.Constant(w0)))
            self.b.append(self.add_weight(shape=(self.shapes[l - 1][2],), name=f"b{l}", initializer="zeros"))
            if self.error_synapses == "learned":
                e0 = rules.project_kernels(rng.normal(0, self.weight_std, shape).astype("float32"))
                self.E.append(self.add_weight(shape=shape, name=f"E{l}",
                                              initializer=keras.initializers.Constant(ops.convert_to_numpy(e0))))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "image_shape": list(self.image_shape), "channels": list(self.channels),
                "kernel_size": self.kernel_size, "strides": self.strides, "iterations": self.iterations,
                "beta": self.beta, "leak": self.leak, "activation": self.activation,
                "output_activation": self.output_activation, "error_synapses": self.error_synapses,
                "error_rate": self.error_rate, "init_mean": self.init_mean, "init_std": self.init_std,
                "weight_std": self.weight_std, "seed": self.seed, "init_noise": self.init_noise}

    # ------------------------------------------------------------------ dynamics
    def _param(self, value: Any) -> Any:
        """A weight in the compute dtype: settling runs in one dtype (``mixed_*`` policies: the
        compute dtype, also outside ``__call__``'s autocast, e.g. in the training step)."""
        return ops.cast(value, self.compute_dtype)

    def predict_layer(self, l: int, z_upper: Any) -> Any:
        """Eq. 1: z̄ˡ⁻¹ from zˡ."""
        h = ops.conv_transpose(self.phi(z_upper), self._param(self.W[l - 1]), strides=self.strides, padding="same")
        return self.g(h + self._param(self.b[l - 1]))

    def bottom_up(self, l: int, e_below: Any) -> Any:
        """conv(eˡ⁻¹, Eˡ, s) of eq. 2: with tied filters, the adjoint of the transposed convolution."""
        kernel = self.E[l - 1] if self.error_synapses == "learned" else self.W[l - 1]
        return ops.conv(e_below, self._param(kernel), strides=self.strides, padding="same")

    def predictions_and_errors(self, states: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """Eq. 1 for every layer: predictions z̄⁰ … z̄ᴸ⁻¹ and errors eˡ = zˡ − z̄ˡ."""
        zbar = [self.predict_layer(l, states[l]) for l in range(1, self.L + 1)]
        errs = [states[l] - zbar[l] for l in range(self.L)]
        return zbar, errs

    def initial_states(self, x: Any, training: bool = False) -> list[Any]:
        """Algorithm 1 lines 3–10: top maps ~ N(μ_z, σ_z) (``μ_z`` at inference with
        ``init_noise="train"``), ancestral pass down, z⁰ = x."""
        x = ops.convert_to_tensor(x)
        b = ops.shape(x)[0]
        shape = (b, *self.shapes[self.L])
        if training or self.init_noise == "always":
            top = self.init_mean + self.init_std * keras.random.normal(shape, seed=self.seed_generator, dtype=x.dtype)
        else:
            top = ops.full(shape, self.init_mean, dtype=x.dtype)
        states: list[Any] = [None] * (self.L + 1)
        states[self.L] = top
        for l in range(self.L, 1, -1):
            states[l - 1] = self.predict_layer(l, states[l])
        states[0] = x
        return states

    def _body(self, x: Any, clamp: str) -> Callable[[Any, tuple[Any, ...]], tuple[Any, ...]]:
        def body(_: Any, states: tuple[Any, ...]) -> tuple[Any, ...]:
            states_list = list(states)
            _, errs = self.predictions_and_errors(states_list)
            new = []
            if clamp == "all":
                new.append(x)
            else:
                z0 = states_list[0]
                new.append(z0 - self.beta * errs[0] - self.leak * z0)
            for l in range(1, self.L + 1):
                d = self.bottom_up(l, errs[l - 1])
                if l < self.L:
                    d = d - errs[l]
                new.append(states_list[l] + self.beta * d - self.leak * states_list[l])
            return tuple(new)
        return body

    def settle(self, x: Any, iterations: int | None = None, clamp: str = "all", trajectory: bool = False,
               initial_states: Sequence[Any] | None = None, training: bool = False) -> dict[str, Any]:
        """T steps of Algorithm 1 (eq. 2; ``training=True`` samples the initial top states, see
        ``init_noise``). Returns ``states`` [z⁰ … zᴸ], ``predictions`` [z̄⁰ … z̄ᴸ⁻¹], ``errors``
        [e⁰ … eᴸ⁻¹], ``energy`` (per example, eq. 3 negated) and with ``trajectory=True``
        ``energies`` (T+1,), ``z0_steps`` (the bottom state after each step) and
        ``reconstructions`` (T+1, B, H, W, C: z̄⁰ before step 1 and after every step)."""
        check_choice("clamp", clamp, CLAMPS)
        x = ops.cast(ops.convert_to_tensor(x), self.compute_dtype)
        steps = self.iterations if iterations is None else check_steps("iterations", iterations)
        if initial_states is None:
            initial_states = self.initial_states(x, training=training)
        states = tuple(initial_states)
        body = self._body(x, clamp)
        out = {}
        if trajectory:
            energies, z0s, recons = [], [], []
            for t in range(steps):
                zb, er = self.predictions_and_errors(list(states))
                energies.append(ops.mean(self.energy(er)))
                recons.append(zb[0])
                states = body(t, states)
                z0s.append(states[0])
            if z0s:
                out["z0_steps"] = ops.stack(z0s)
        else:
            states = loops.fori_loop(0, steps, body, states)
        states_list = list(states)
        zbar, errs = self.predictions_and_errors(states_list)
        energy = self.energy(errs)
        if trajectory:
            energies.append(ops.mean(energy))
            recons.append(zbar[0])
            out["energies"] = ops.stack(energies)
            out["reconstructions"] = ops.stack(recons)
        out.update(states=states_list, predictions=zbar, errors=errs, energy=energy)
        return out

    def energy(self, errs: Sequence[Any]) -> Any:
        """Total discrepancy (eq. 3 negated): Σ_ℓ ½‖zˡ − z̄ˡ‖², per example (summed in float32)."""
        total: Any = 0.0
        for e in errs:
            total = total + 0.5 * ops.sum(ops.square(ops.cast(e, "float32")), axis=(1, 2, 3))
        return total

    def call(self, x: Any, training: bool = False) -> Any:
        """Reconstruction z̄⁰ after T steps with the input clamped."""
        return self.settle(x, training=training)["predictions"][0]

    def step_outputs(self, x: Any, training: bool = False) -> list[Any]:
        """The reconstruction z̄⁰ before the first step and after every step (T + 1 maps)."""
        recons = self.settle(x, trajectory=True, training=training)["reconstructions"]
        return [recons[t] for t in range(self.iterations + 1)]

    def plot_kinds(self) -> list[str]:
        """The contract's pictures plus ``denoising`` (:meth:`denoise`)."""
        return [*super().plot_kinds(), "denoising"]

    def reconstruct(self, x: Any, clamp: str = "all", iterations: int | None = None) -> Any:
        """z̄⁰ after T steps (``clamp`` as in :meth:`settle`)."""
        return self.settle(x, iterations=iterations, clamp=clamp)["predictions"][0]

    def denoise(self, x_noisy: Any, iterations: int | None = None) -> Any:
        """Denoising as measured here (ours): settle T steps with z⁰ clamped to the noisy image and
        read the prediction z̄⁰. The model cannot reproduce pixel noise within T steps, so z̄⁰ is
        cleaner than its input (docs/conv-ngc.md). The paper's protocol is
        :meth:`denoise_clamp_first`."""
        return self.reconstruct(x_noisy, clamp="all", iterations=iterations)

    def denoise_clamp_first(self, x_noisy: Any, iterations: int | None = None) -> Any:
        """The paper's denoising protocol (appendix B): z⁰ clamped to the noisy image only at
        step 1, then free under eq. 2 (``d⁰ = −e⁰``); z̄⁰ after T steps. z⁰ is pulled towards the
        first, uninformed prediction while the upper states adapt, which on natural32 loses to
        the noisy input itself (docs/conv-ngc.md)."""
        return self.reconstruct(x_noisy, clamp="first", iterations=iterations)

    # ------------------------------------------------------------------ meaning
    def interpret(self, inputs: Any, **options: Any) -> Prediction:
        """Per example: ``reconstruction_error`` (pixel MSE on the [0, 255] scale, as the
        evaluator's ``mse``) and ``energy`` (total discrepancy after settling); array
        ``reconstruction`` (z̄⁰)."""
        common.refuse_options(self, options)
        self.check_inputs(inputs)
        x = ops.cast(ops.convert_to_tensor(inputs), self.compute_dtype)
        settled = self.settle(x)
        recon = ops.convert_to_numpy(settled["predictions"][0])
        error = common.mse_255_per_example(ops.convert_to_numpy(x), recon)
        return common.reconstruction_prediction(type(self).__name__, recon, error, settled["energy"])

    # ------------------------------------------------------------------ learning
    def hebbian_updates(self, settled: dict[str, Any]) -> list[tuple[Any, Any]]:
        """(variable, Δ) pairs of section 3.2 from the settled maps; Δ ascends −E (= −∂E/∂θ)."""
        states, errs = settled["states"], settled["errors"]
        pairs = []
        for l in range(1, self.L + 1):
            phi_up = self.phi(states[l])
            dw = rules.conv_delta_kernel(errs[l - 1], phi_up, self.W[l - 1].shape, self.strides)
            pairs.append((self.W[l - 1], dw))
            pairs.append((self.b[l - 1], rules.conv_delta_bias(errs[l - 1])))
            if self.error_synapses == "learned":
                pairs.append((self.E[l - 1], self.error_rate * dw))
        return pairs

    def _statistics(self, x: Any, settled: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        diff = ops.cast(settled["predictions"][0], "float32") - ops.cast(x, "float32")
        mse = ops.mean(ops.square(diff), axis=(1, 2, 3))
        return ops.mean(mse), {"mse": mse, "energy": settled["energy"]}

    def local_updates(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, list[tuple[Any, Any]]]:
        """Settle from sampled top maps (Algorithm 2), then the descent directions ``−Δ``."""
        x = ops.cast(ops.convert_to_tensor(x), self.compute_dtype)
        settled = self.settle(x, training=True)
        loss, stats = self._statistics(x, settled)
        return loss, stats, [(v, -ops.stop_gradient(d)) for v, d in self.hebbian_updates(settled)]

    def evaluation_loss(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any]:
        x = ops.cast(ops.convert_to_tensor(x), self.compute_dtype)
        return self._statistics(x, self.settle(x))

    def after_update(self) -> None:
        self.project()

    def project(self) -> None:
        """Every 2-D kernel of W (and E) to norm ≤ 1 (section 3.2)."""
        for w in self.W + self.E:
            w.assign(rules.project_kernels(w))

    def update_step_metrics(self, loss: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Any]:
        """``loss``: reconstruction MSE (per pixel, [0, 1] scale); ``energy``: total discrepancy."""
        self.loss_tracker.update_state(y_pred["mse"])
        self.energy_tracker.update_state(y_pred["energy"])
        return {m.name: m.result() for m in self.metrics}

    def compile_default(self, optimizer: Any) -> None:
        self.compile(optimizer=optimizer)

    @property
    def metrics(self) -> list[Any]:
        return [self.loss_tracker, self.energy_tracker]


def build_conv_ngc(input_shape: Sequence[int] = (32, 32, 3), **config: Any) -> ConvNGC:
    """A built Conv-NGC for images of ``input_shape``; other keywords go to :class:`ConvNGC`."""
    model = ConvNGC(image_shape=tuple(input_shape), **config)
    model.build((None, *input_shape))
    return model


build_conv_ngc.model_class = ConvNGC  # type: ignore[attr-defined]

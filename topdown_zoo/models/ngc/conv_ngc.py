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
training (``init_noise="train"``, the default: the local-learning ``train_step``); at inference
(``model(x)``, ``reconstruct``, ``denoise``, ``evaluate``) they start at their mean ``μ_z``, so the
output is a deterministic function of the input and exports with a parity check.
``init_noise="always"`` samples at inference too (the paper does not say which it does).
Clamping: ``clamp="all"`` keeps z⁰ = x (reconstruction, training); ``clamp="first"`` sets z⁰ = x
only at step 1 and lets z⁰ evolve by eq. 2 with ``d⁰ = −e⁰`` (the paper's denoising protocol). The output is z̄⁰ after T steps.

Learning (section 3.2): ``ΔWˡ = eˡ⁻¹ *₁ Dilate(φ(zˡ), s)`` (``learning.ngc_hebbian.conv_delta_kernel``),
``Δbˡ = Σ eˡ⁻¹``, applied as ``−Δ`` through the optimizer, then every 3×3 kernel is re-projected
to norm ≤ 1.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from topdown_zoo.learning import ngc_hebbian as rules
from topdown_zoo.models.ngc.gncn import _act

#: ``init_noise`` values: sample the top initial states only while training, or at inference too
INIT_NOISE = ("train", "always")


@keras.saving.register_keras_serializable(package="topdown_zoo")
class ConvNGC(keras.Model):
    """Args:
        image_shape: (H, W, C₀); H and W divisible by 2ᴸ.
        channels: channels of the state layers from the top down to the image (the paper:
            [10, 15, 20, 25, 3]; the last entry must equal C₀).
        kernel_size, strides: of every (de)convolution (3, 2).
        steps: T (60). beta: β (0.1). leak: γ (0.001).
        activation: φ (leaky_relu). output_activation: g (identity).
        error_synapses: "tied" or "learned" (rate ``error_rate`` = λ).
        init_mean, init_std: μ_z, σ_z of the top states' initial noise (0.5, 0.05).
        init_noise: when the top states are sampled from N(μ_z, σ_z): "train" (default; only while
            training, μ_z at inference, like dropout) or "always" (at inference too: random output).
        weight_std: std of the Gaussian initial kernels (0.1).
    """

    def __init__(self, image_shape=(32, 32, 3), channels=(10, 15, 20, 25, 3), kernel_size=3, strides=2,
                 steps=60, beta=0.1, leak=0.001, activation="leaky_relu", output_activation="identity",
                 error_synapses="tied", error_rate=0.9, init_mean=0.5, init_std=0.05, weight_std=0.1,
                 seed=0, init_noise="train", **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(v) for v in image_shape)
        self.channels = [int(c) for c in channels]
        if self.channels[-1] != self.image_shape[-1]:
            raise ValueError(f"channels[-1]={self.channels[-1]} must equal the image channels {self.image_shape[-1]}")
        self.L = len(self.channels) - 1
        div = int(strides) ** self.L
        if self.image_shape[0] % div or self.image_shape[1] % div:
            raise ValueError(f"image height/width must be divisible by strides**L = {div}")
        if error_synapses not in ("tied", "learned"):
            raise ValueError(f"error_synapses must be 'tied' or 'learned', got {error_synapses!r}")
        if init_noise not in INIT_NOISE:
            raise ValueError(f"init_noise must be one of {', '.join(map(repr, INIT_NOISE))}, got {init_noise!r}")
        self.init_noise = init_noise
        self.kernel_size, self.strides = int(kernel_size), int(strides)
        self.steps, self.beta, self.leak = int(steps), float(beta), float(leak)
        self.activation, self.output_activation = activation, output_activation
        self.phi, self.g = _act(activation), _act(output_activation)
        self.error_synapses, self.error_rate = error_synapses, float(error_rate)
        self.init_mean, self.init_std, self.weight_std, self.seed = float(init_mean), float(init_std), float(weight_std), int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # layer ℓ (0 = image … L = top): spatial size and channels
        self.shapes = [(self.image_shape[0] // self.strides ** l, self.image_shape[1] // self.strides ** l,
                        self.channels[self.L - l]) for l in range(self.L + 1)]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.energy_tracker = keras.metrics.Mean(name="energy")

    def build(self, input_shape=None):
        if self.built:
            return
        rng = np.random.default_rng(self.seed)
        self.W, self.b, self.E = [], [], []
        k = self.kernel_size
        for l in range(1, self.L + 1):  # W[l-1]: layer l predicts layer l-1
            shape = (k, k, self.shapes[l - 1][2], self.shapes[l][2])
            w0 = np.asarray(rules.project_kernels(rng.normal(0, self.weight_std, shape).astype("float32")))
            self.W.append(self.add_weight(shape=shape, name=f"W{l}", initializer=keras.initializers.Constant(w0)))
            self.b.append(self.add_weight(shape=(self.shapes[l - 1][2],), name=f"b{l}", initializer="zeros"))
            if self.error_synapses == "learned":
                e0 = np.asarray(rules.project_kernels(rng.normal(0, self.weight_std, shape).astype("float32")))
                self.E.append(self.add_weight(shape=shape, name=f"E{l}", initializer=keras.initializers.Constant(e0)))
        self.built = True

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "channels": list(self.channels),
                "kernel_size": self.kernel_size, "strides": self.strides, "steps": self.steps, "beta": self.beta,
                "leak": self.leak, "activation": self.activation, "output_activation": self.output_activation,
                "error_synapses": self.error_synapses, "error_rate": self.error_rate, "init_mean": self.init_mean,
                "init_std": self.init_std, "weight_std": self.weight_std, "seed": self.seed,
                "init_noise": self.init_noise}

    # ------------------------------------------------------------------ dynamics
    def predict_layer(self, l, z_upper):
        """Eq. 1: z̄ˡ⁻¹ from zˡ."""
        h = ops.conv_transpose(self.phi(z_upper), self.W[l - 1], strides=self.strides, padding="same")
        return self.g(h + self.b[l - 1])

    def bottom_up(self, l, e_below):
        """conv(eˡ⁻¹, Eˡ, s): with tied filters, the adjoint of the transposed convolution."""
        kernel = self.E[l - 1] if self.error_synapses == "learned" else self.W[l - 1]
        return ops.conv(e_below, kernel, strides=self.strides, padding="same")

    def predictions_and_errors(self, states):
        zbar = [self.predict_layer(l, states[l]) for l in range(1, self.L + 1)]
        errs = [states[l] - zbar[l] for l in range(self.L)]
        return zbar, errs

    def initial_states(self, x, training=False):
        """Algorithm 1 lines 3–10: top maps ~ N(μ_z, σ_z) (``μ_z`` at inference with
        ``init_noise="train"``), ancestral pass down, z⁰ = x."""
        b = ops.shape(x)[0]
        shape = (b, *self.shapes[self.L])
        if training or self.init_noise == "always":
            top = self.init_mean + self.init_std * keras.random.normal(shape, seed=self.seed_generator, dtype=x.dtype)
        else:
            top = ops.full(shape, self.init_mean, dtype=x.dtype)
        states = [None] * (self.L + 1)
        states[self.L] = top
        for l in range(self.L, 1, -1):
            states[l - 1] = self.predict_layer(l, states[l])
        states[0] = x
        return states

    def _body(self, x, clamp):
        def body(_, states):
            states = list(states)
            _, errs = self.predictions_and_errors(states)
            new = []
            if clamp == "all":
                new.append(x)
            else:
                z0 = states[0]
                new.append(z0 - self.beta * errs[0] - self.leak * z0)
            for l in range(1, self.L + 1):
                d = self.bottom_up(l, errs[l - 1])
                if l < self.L:
                    d = d - errs[l]
                new.append(states[l] + self.beta * d - self.leak * states[l])
            return tuple(new)
        return body

    def settle(self, x, steps=None, clamp="all", trajectory=False, initial_states=None, training=False):
        """T steps of Algorithm 1 (``training=True`` samples the initial top states, see ``init_noise``).
        Returns ``states`` [z⁰ … zᴸ], ``predictions`` [z̄⁰ … z̄ᴸ⁻¹],
        ``errors`` [e⁰ … eᴸ⁻¹], ``energy`` (per example, eq. 3 negated) and with ``trajectory=True``
        ``energies`` (T+1,) and ``z0_steps`` (the bottom state after each step)."""
        if clamp not in ("all", "first"):
            raise ValueError(f"clamp must be 'all' or 'first', got {clamp!r}")
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        steps = self.steps if steps is None else int(steps)
        states = tuple(initial_states) if initial_states is not None else tuple(self.initial_states(x, training=training))
        body = self._body(x, clamp)
        out = {}
        if trajectory:
            energies, z0s = [], []
            for t in range(steps):
                zb, er = self.predictions_and_errors(list(states))
                energies.append(ops.mean(self.energy(er)))
                states = body(t, states)
                z0s.append(states[0])
            out["z0_steps"] = ops.stack(z0s)
        else:
            states = ops.fori_loop(0, steps, body, states)
        states = list(states)
        zbar, errs = self.predictions_and_errors(states)
        energy = self.energy(errs)
        if trajectory:
            energies.append(ops.mean(energy))
            out["energies"] = ops.stack(energies)
        out.update(states=states, predictions=zbar, errors=errs, energy=energy)
        return out

    def energy(self, errs):
        """Total discrepancy (eq. 3 negated): Σ_ℓ ½‖zˡ − z̄ˡ‖², per example."""
        total = 0.0
        for e in errs:
            total = total + 0.5 * ops.sum(ops.square(e), axis=(1, 2, 3))
        return total

    def call(self, x, training=False):
        """Reconstruction z̄⁰ after T steps with the input clamped."""
        return self.settle(x, training=training)["predictions"][0]

    def reconstruct(self, x, clamp="all", steps=None):
        return self.settle(x, steps=steps, clamp=clamp)["predictions"][0]

    def denoise(self, x_noisy, steps=None):
        """The paper's denoising: z⁰ clamped to the noisy image only at step 1."""
        return self.reconstruct(x_noisy, clamp="first", steps=steps)

    # ------------------------------------------------------------------ learning
    def local_updates(self, settled):
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

    def project(self):
        for w in self.W + self.E:
            w.assign(rules.project_kernels(w))

    def _metrics_from(self, x, settled):
        self.loss_tracker.update_state(ops.mean(ops.square(settled["predictions"][0] - x), axis=(1, 2, 3)))
        self.energy_tracker.update_state(settled["energy"])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        x = ops.cast(x, self.compute_dtype)
        settled = self.settle(x, training=True)
        self.optimizer.apply_gradients([(-ops.stop_gradient(d), v) for v, d in self.local_updates(settled)])
        self.project()
        return self._metrics_from(x, settled)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        x = ops.cast(x, self.compute_dtype)
        return self._metrics_from(x, self.settle(x))

    @property
    def metrics(self):
        return [self.loss_tracker, self.energy_tracker]


def build_conv_ngc(input_shape=(32, 32, 3), **config):
    model = ConvNGC(image_shape=tuple(input_shape), **config)
    model.build((None, *input_shape))
    return model


build_conv_ngc.model_class = ConvNGC

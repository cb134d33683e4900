"""The generative neural coding network (GNCN; Ororbia & Kifer, "The neural coding framework
for learning generative models", eqs. 1–4, 6–8, 13–19 and appendix 4.6).

Layers ``z⁰ = x`` (Bernoulli output) and latent layers ``z¹ … zᴸ``. One settling step (appendix
steps 3–4, all layers in parallel from the previous step's error neurons):

* prediction (eq. 1/5): ``z̄ˡ = gˡ(φ(zˡ⁺¹) Wˡ)``, ``g⁰`` = sigmoid, ``gˡ`` = identity for ℓ ≥ 1;
* error neurons (eqs. 1, 13–14): ``e⁰ = z⁰ − z̄⁰`` (the sigmoid-BCE error), ``eˡ = (zˡ − z̄ˡ) Σˡ⁻¹``
  for 1 ≤ ℓ < L (Σ = I without precision); the top layer has no error neurons;
* state update (eq. 3 / appendix step 3)::

      zˡ ← zˡ + β( eˡ⁻¹ Eˡ⁻¹ − eˡ − φ(zˡ) Vˡ − γ zˡ )

  with error synapses ``E = Wᵀ`` (tied) or learned (eq. 19), and lateral competition ``V``
  (``topdown_zoo.layers.ngc_lateral``) or none.

States start at zero (step 1). After T steps the local rules of
``topdown_zoo.learning.ngc_hebbian`` give ΔW (eqs. 17–18), ΔE (eq. 19) and ΔΣ (eq. 8); ``train_step``
applies ``−Δ`` through the compiled optimizer (Adam in the recipes) and re-projects W's columns
(rows here: one upper unit's weights) to unit norm. No gradient tape touches the settling loop.

With tied E, φ = identity, no lateral matrix, the update is exact gradient descent on the total
discrepancy returned by :meth:`GNCN.energy` (eq. 6 negated, plus the leak's Gaussian prior
``γ/2 ‖z‖²``) — the tests check that, and that ΔW = −∂E/∂W at fixed states.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from topdown_zoo.layers.ngc_lateral import lateral_matrix
from topdown_zoo.learning import ngc_hebbian as rules

ACTIVATIONS = {"relu": ops.relu, "identity": lambda v: v, "linear": lambda v: v, "tanh": ops.tanh,
               "sigmoid": ops.sigmoid, "leaky_relu": lambda v: ops.leaky_relu(v, 0.01)}


def _act(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


@keras.saving.register_keras_serializable(package="topdown_zoo")
class GNCN(keras.Model):
    """Fully connected neural generative coding network.

    Args:
        input_dim: D, the number of (binary) pixels.
        hidden: sizes of z¹ … zᴸ (the paper: 360, 360, 360).
        steps: T, settling steps per input (paper: 50).
        beta: β, state update rate (0.1). leak: γ (0.001).
        activation: φ of the latent states. output_activation: g⁰ (sigmoid; "identity" gives a
            Gaussian output with squared-error discrepancy).
        precision: learn the covariances Σˡ (eq. 8) and weight errors by Σ⁻¹.
        error_synapses: "tied" (E = Wᵀ) or "learned" (eq. 19, rate ``error_rate`` = λ).
        lateral: lateral competition in groups of ``group_size`` units, strengths α_e, α_h.
        weight_norm: "unit" (the paper: columns renormalised to norm 1) or "clip" (norm ≤ 1).
        init_std: standard deviation of the Gaussian initial weights (before normalisation).
        sigma_min_eig: after every update Σ is symmetrised and its eigenvalues floored at this
            value (default 1: Σ⁻¹ never amplifies an error beyond the unweighted model, which keeps
            the explicit Euler settling at β = 0.1 stable; with a floor of 0.01 the precision grew
            to 100 within two epochs on mnist5k and settling diverged). The paper does not say how
            it keeps Σ positive definite.
    """

    def __init__(self, input_dim=784, hidden=(360, 360, 360), steps=50, beta=0.1, leak=0.001,
                 activation="relu", output_activation="sigmoid", precision=False, error_synapses="tied",
                 error_rate=0.9, lateral=False, group_size=18, alpha_e=0.13, alpha_h=0.125,
                 weight_norm="unit", init_std=0.05, sigma_min_eig=1.0, **kwargs):
        super().__init__(**kwargs)
        if error_synapses not in ("tied", "learned"):
            raise ValueError(f"error_synapses must be 'tied' or 'learned', got {error_synapses!r}")
        if weight_norm not in ("unit", "clip"):
            raise ValueError(f"weight_norm must be 'unit' or 'clip', got {weight_norm!r}")
        self.input_dim = int(input_dim)
        self.hidden = [int(h) for h in hidden]
        self.steps = int(steps)
        self.beta, self.leak = float(beta), float(leak)
        self.activation, self.output_activation = activation, output_activation
        self.phi, self.g0 = _act(activation), _act(output_activation)
        self.precision = bool(precision)
        self.error_synapses, self.error_rate = error_synapses, float(error_rate)
        self.lateral = bool(lateral)
        self.group_size, self.alpha_e, self.alpha_h = int(group_size), float(alpha_e), float(alpha_h)
        self.weight_norm, self.init_std, self.sigma_min_eig = weight_norm, float(init_std), float(sigma_min_eig)
        self.dims = [self.input_dim] + self.hidden
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.energy_tracker = keras.metrics.Mean(name="energy")

    # ------------------------------------------------------------------ parameters
    def build(self, input_shape=None):
        if self.built:
            return
        rng = np.random.default_rng(0)
        self.W, self.E, self.Sigma, self.V = [], [], [], []
        exact = self.weight_norm == "unit"
        for l in range(len(self.hidden)):
            lower, upper = self.dims[l], self.dims[l + 1]
            w0 = np.asarray(rules.project_rows(rng.normal(0, self.init_std, (upper, lower)).astype("float32"), 1.0, exact))
            self.W.append(self.add_weight(shape=(upper, lower), name=f"W{l}",
                                          initializer=keras.initializers.Constant(w0)))
            if self.error_synapses == "learned":
                e0 = np.asarray(rules.project_cols(rng.normal(0, self.init_std, (lower, upper)).astype("float32"), 1.0, exact))
                self.E.append(self.add_weight(shape=(lower, upper), name=f"E{l}",
                                              initializer=keras.initializers.Constant(e0)))
        if self.precision:  # Σˡ for the latent layers that receive a prediction: 1 … L−1
            for l in range(1, len(self.hidden)):
                self.Sigma.append(self.add_weight(shape=(self.dims[l], self.dims[l]), name=f"Sigma{l}",
                                                  initializer="identity"))
        if self.lateral:
            self.V = [ops.convert_to_tensor(lateral_matrix(h, self.group_size, self.alpha_e, self.alpha_h))
                      for h in self.hidden]
        self.built = True

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "hidden": list(self.hidden),
                "steps": self.steps, "beta": self.beta, "leak": self.leak, "activation": self.activation,
                "output_activation": self.output_activation, "precision": self.precision,
                "error_synapses": self.error_synapses, "error_rate": self.error_rate, "lateral": self.lateral,
                "group_size": self.group_size, "alpha_e": self.alpha_e, "alpha_h": self.alpha_h,
                "weight_norm": self.weight_norm, "init_std": self.init_std, "sigma_min_eig": self.sigma_min_eig}

    # ------------------------------------------------------------------ dynamics
    def precisions(self):
        """Σˡ⁻¹ for ℓ = 1 … L−1 (None without precision weighting)."""
        if not self.precision:
            return [None] * (len(self.hidden) - 1)
        return [ops.linalg.inv(s) for s in self.Sigma]

    def predict_and_errors(self, z0, zs, precisions):
        """Eq. 1: predictions z̄⁰ … z̄ᴸ⁻¹ and error neurons e⁰ … eᴸ⁻¹ for states (z⁰, [z¹ … zᴸ])."""
        states = [z0] + list(zs)
        zbar, errs = [], []
        for l in range(len(self.hidden)):
            h = ops.matmul(self.phi(states[l + 1]), self.W[l])
            pred = self.g0(h) if l == 0 else h
            diff = states[l] - pred
            if l > 0 and precisions[l - 1] is not None:
                diff = ops.matmul(diff, precisions[l - 1])
            zbar.append(pred)
            errs.append(diff)
        return zbar, errs

    def state_update(self, zs, errs):
        """Eq. 3 / appendix step 3 for every latent layer, from the current error neurons."""
        new = []
        L = len(self.hidden)
        for l in range(1, L + 1):
            z = zs[l - 1]
            e_below = errs[l - 1]
            up = ops.matmul(e_below, self.E[l - 1]) if self.error_synapses == "learned" \
                else ops.matmul(e_below, ops.transpose(self.W[l - 1]))
            dz = up - (errs[l] if l < L else 0.0)
            if self.lateral:
                dz = dz - ops.matmul(self.phi(z), self.V[l - 1])
            new.append(z + self.beta * (dz - self.leak * z))
        return new

    def _init_states(self, x):
        b = ops.shape(x)[0]
        return [ops.zeros((b, h), dtype=x.dtype) for h in self.hidden]

    def _body(self, x, mask, precisions):
        def body(_, carry):
            z0, zs = carry[0], list(carry[1:])
            _, errs = self.predict_and_errors(z0, zs, precisions)
            zs = self.state_update(zs, errs)
            if mask is not None:  # eq. 4: only the missing pixels move, towards the prediction
                z0 = x * mask + (z0 - self.beta * errs[0]) * (1.0 - mask)
            return (z0, *zs)
        return body

    def settle(self, x, steps=None, mask=None, trajectory=False):
        """Run T settling steps. ``mask`` (1 = observed) turns on pattern completion (eq. 4): the
        missing pixels of z⁰ start at 0 and follow ``z⁰ ← z⁰ − β e⁰``.

        Returns a dict: ``states`` [z¹ … zᴸ], ``z0``, ``predictions`` [z̄⁰ …], ``errors`` [e⁰ …],
        ``energy`` (per example) and, with ``trajectory=True`` (Python loop), ``energies`` (T+1,)
        batch-mean energies before step 1 and after every step.
        """
        x = ops.reshape(ops.convert_to_tensor(x, dtype=self.compute_dtype), (-1, self.input_dim))
        steps = self.steps if steps is None else int(steps)
        if mask is not None:
            mask = ops.reshape(ops.cast(ops.convert_to_tensor(mask), x.dtype), (-1, self.input_dim))
            mask = ops.broadcast_to(mask, ops.shape(x))
        z0 = x if mask is None else x * mask
        precisions = self.precisions()
        carry = (z0, *self._init_states(x))
        body = self._body(x, mask, precisions)
        energies = []
        if trajectory:
            for t in range(steps):
                zb, er = self.predict_and_errors(carry[0], list(carry[1:]), precisions)
                energies.append(ops.mean(self.energy(carry[0], list(carry[1:]), zb, er, precisions)))
                carry = body(t, carry)
        else:
            carry = ops.fori_loop(0, steps, body, carry)
        z0, zs = carry[0], list(carry[1:])
        zbar, errs = self.predict_and_errors(z0, zs, precisions)
        energy = self.energy(z0, zs, zbar, errs, precisions)
        out = {"z0": z0, "states": zs, "predictions": zbar, "errors": errs, "energy": energy}
        if trajectory:
            energies.append(ops.mean(energy))
            out["energies"] = ops.stack(energies)
        return out

    def energy(self, z0, zs, zbar, errs, precisions=None):
        """Total discrepancy per example (−ψ of eq. 6 plus the leak prior): BCE(z⁰, z̄⁰) (or ½‖e⁰‖²
        for an identity output) + Σ_ℓ ½ (zˡ − z̄ˡ)ᵀ Σˡ⁻¹ (zˡ − z̄ˡ) + ½ log|Σˡ| + γ/2 Σ_ℓ ‖zˡ‖²."""
        precisions = self.precisions() if precisions is None else precisions
        if self.output_activation == "sigmoid":
            p = ops.clip(zbar[0], 1e-7, 1 - 1e-7)
            total = -ops.sum(z0 * ops.log(p) + (1 - z0) * ops.log(1 - p), axis=-1)
        else:
            total = 0.5 * ops.sum(ops.square(z0 - zbar[0]), axis=-1)
        for l in range(1, len(self.hidden)):
            d = zs[l - 1] - zbar[l]
            total = total + 0.5 * ops.sum(d * errs[l], axis=-1)  # errs[l] = d Σ⁻¹
            if precisions[l - 1] is not None:
                chol = ops.linalg.cholesky(self.Sigma[l - 1])
                total = total + ops.sum(ops.log(ops.diagonal(chol)))  # ½ log|Σ| = Σ log diag(chol)
        for z in zs:
            total = total + 0.5 * self.leak * ops.sum(ops.square(z), axis=-1)
        return total

    def call(self, x, training=False):
        """Reconstruction z̄⁰ after T settling steps (clamped input), shape (B, D)."""
        return self.settle(x)["predictions"][0]

    def encode(self, x, steps=None):
        """The settled top-layer latents zᴸ (what the GMM prior and the classifier use)."""
        return self.settle(x, steps=steps)["states"][-1]

    def complete(self, x, mask, steps=None):
        """Pattern completion (eq. 4): z⁰ after T steps; observed pixels (mask = 1) stay x."""
        return self.settle(x, steps=steps, mask=mask)["z0"]

    def decode(self, z_top):
        """Ancestral sampling (section 4.3): z̄ˡ⁻¹ = gˡ⁻¹(φ(z̄ˡ) Wˡ⁻¹) down to the Bernoulli mean z̄⁰."""
        h = ops.convert_to_tensor(z_top, dtype=self.compute_dtype)
        for l in reversed(range(len(self.hidden))):
            h = ops.matmul(self.phi(h), self.W[l])
            if l == 0:
                h = self.g0(h)
        return h

    # ------------------------------------------------------------------ learning
    def local_updates(self, settled):
        """(variable, Δ) pairs from the settled statistics (eqs. 17–19, 8); Δ ascends ψ."""
        states = [settled["z0"]] + settled["states"]
        errs = settled["errors"]
        pairs = []
        for l in range(len(self.hidden)):
            phi_up = self.phi(states[l + 1])
            pairs.append((self.W[l], rules.delta_w(phi_up, errs[l])))
            if self.error_synapses == "learned":
                pairs.append((self.E[l], rules.delta_e(phi_up, errs[l], self.error_rate)))
        if self.precision:
            precs = self.precisions()
            for l in range(1, len(self.hidden)):
                pairs.append((self.Sigma[l - 1], rules.delta_sigma(errs[l], precs[l - 1])))
        return pairs

    def project(self):
        exact = self.weight_norm == "unit"
        for w in self.W:
            w.assign(rules.project_rows(w, 1.0, exact))
        for e in self.E:
            e.assign(rules.project_cols(e, 1.0, exact))
        for s in self.Sigma:
            s.assign(rules.project_covariance(s, self.sigma_min_eig))

    def _metrics_from(self, x, settled):
        p = ops.clip(settled["predictions"][0], 1e-7, 1 - 1e-7)
        bce = -ops.sum(x * ops.log(p) + (1 - x) * ops.log(1 - p), axis=-1)
        self.loss_tracker.update_state(bce)
        self.energy_tracker.update_state(settled["energy"])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        x = ops.reshape(ops.cast(x, self.compute_dtype), (-1, self.input_dim))
        settled = self.settle(x)
        pairs = self.local_updates(settled)
        self.optimizer.apply_gradients([(-ops.stop_gradient(d), v) for v, d in pairs])
        self.project()
        return self._metrics_from(x, settled)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        x = ops.reshape(ops.cast(x, self.compute_dtype), (-1, self.input_dim))
        return self._metrics_from(x, self.settle(x))

    @property
    def metrics(self):
        return [self.loss_tracker, self.energy_tracker]


def build_gncn(input_shape=(784,), **config):
    model = GNCN(input_dim=int(math.prod(input_shape)), **config)
    model.build((None, int(math.prod(input_shape))))
    return model


build_gncn.model_class = GNCN

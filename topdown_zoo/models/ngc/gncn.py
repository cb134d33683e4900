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
  (:mod:`topdown_zoo.models.ngc.lateral`) or none.

States start at zero (step 1). After T = ``iterations`` steps the local rules of
:mod:`topdown_zoo.learning.ngc_hebbian` give ΔW (eqs. 17–18), ΔE (eq. 19) and ΔΣ (eq. 8);
:meth:`GNCN.local_updates` hands ``−Δ`` to the compiled optimizer (plain SGD in the recipes, the
paper's optimizer: the step is exactly ``η Δ``, so eq. 19's λ scales the E step) through
:class:`~topdown_zoo.learning.trainer.RuleTraining` and :meth:`GNCN.after_update` re-projects W's
columns (rows here: one upper unit's weights) to unit norm after every update, as the paper's
training setup does. Nothing is differentiated.

With tied E, φ = identity, no lateral matrix, the update is exact gradient descent on the total
discrepancy returned by :meth:`GNCN.energy` (eq. 6 negated, plus the leak's Gaussian prior
``γ/2 ‖z‖²``) — the tests check that, and that ΔW = −∂E/∂W at fixed states.
"""
from __future__ import annotations

import math
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
from topdown_zoo.models.ngc.lateral import lateral_drive

ERROR_SYNAPSES = ("tied", "learned")
WEIGHT_NORMS = ("unit", "clip")


@keras.saving.register_keras_serializable(package="topdown_zoo")
class GNCN(RuleTraining, ZooModel):
    """Fully connected neural generative coding network.

    Args:
        input_dim: D, the number of (binary) pixels.
        hidden: sizes of z¹ … zᴸ (the paper: 360, 360, 360).
        iterations: T, settling steps per input (paper: 50). ``steps`` is its deprecated name.
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

    learning_rule = "local"
    step_key = "iterations"
    prediction_kind = "reconstruction"
    evaluator = "topdown_zoo.models.ngc.evaluate:evaluate_gncn"

    def __init__(self, input_dim: int = 784, hidden: Sequence[int] = (360, 360, 360), iterations: int = 50,
                 beta: float = 0.1, leak: float = 0.001, activation: str = "relu",
                 output_activation: str = "sigmoid", precision: bool = False, error_synapses: str = "tied",
                 error_rate: float = 0.9, lateral: bool = False, group_size: int = 18, alpha_e: float = 0.13,
                 alpha_h: float = 0.125, weight_norm: str = "unit", init_std: float = 0.05,
                 sigma_min_eig: float = 1.0, steps: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_dim = check_int("input_dim", input_dim, 1)
        self.hidden = check_int_list("hidden", hidden)
        self.iterations = common.resolve_iterations(iterations, steps, "GNCN")
        self.beta, self.leak = check_float("beta", beta, 0.0), check_float("leak", leak, 0.0)
        self.activation, self.output_activation = activation, output_activation
        self.phi = common.activation(activation)
        self.g0 = common.activation(output_activation, "output_activation")
        self.precision = bool(precision)
        self.error_synapses = check_choice("error_synapses", error_synapses, ERROR_SYNAPSES)
        self.error_rate = check_float("error_rate", error_rate)
        self.lateral = bool(lateral)
        self.group_size = check_int("group_size", group_size, 1)
        self.alpha_e, self.alpha_h = check_float("alpha_e", alpha_e), check_float("alpha_h", alpha_h)
        if self.lateral and any(h % self.group_size for h in self.hidden):
            raise ConfigError(f"group_size={self.group_size} is not allowed with lateral=True; it must divide "
                              f"every hidden size {self.hidden}")
        self.weight_norm = check_choice("weight_norm", weight_norm, WEIGHT_NORMS)
        self.init_std = check_float("init_std", init_std, 0.0)
        self.sigma_min_eig = check_float("sigma_min_eig", sigma_min_eig, 1e-12)
        self.dims = [self.input_dim] + self.hidden
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.energy_tracker = keras.metrics.Mean(name="energy")

    # ------------------------------------------------------------------ parameters
    def build(self, input_shape: Any = None) -> None:
        if self.built:
            return
        rng = np.random.default_rng(0)
        self.W: list[Any] = []
        self.E: list[Any] = []
        self.Sigma: list[Any] = []
        exact = self.weight_norm == "unit"
        for l in range(len(self.hidden)):
            lower, upper = self.dims[l], self.dims[l + 1]
            w0 = rng.normal(0, self.init_std, (upper, lower)).astype("float32")
            w0 = ops.convert_to_numpy(rules.project_rows(w0, 1.0, exact))
            self.W.append(self.add_weight(shape=(upper, lower), name=f"W{l}",
                                          initializer=keras.initializers.Constant(w0)))
            if self.error_synapses == "learned":
                e0 = rng.normal(0, self.init_std, (lower, upper)).astype("float32")
                e0 = ops.convert_to_numpy(rules.project_cols(e0, 1.0, exact))
                self.E.append(self.add_weight(shape=(lower, upper), name=f"E{l}",
                                              initializer=keras.initializers.Constant(e0)))
        if self.precision:  # Σˡ for the latent layers that receive a prediction: 1 … L−1
            for l in range(1, len(self.hidden)):
                # never autocast: Σ⁻¹ and log|Σ| are computed in float32 (no bfloat16 inverse)
                self.Sigma.append(self.add_weight(shape=(self.dims[l], self.dims[l]), name=f"Sigma{l}",
                                                  initializer="identity", autocast=False))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim, "hidden": list(self.hidden),
                "iterations": self.iterations, "beta": self.beta, "leak": self.leak, "activation": self.activation,
                "output_activation": self.output_activation, "precision": self.precision,
                "error_synapses": self.error_synapses, "error_rate": self.error_rate, "lateral": self.lateral,
                "group_size": self.group_size, "alpha_e": self.alpha_e, "alpha_h": self.alpha_h,
                "weight_norm": self.weight_norm, "init_std": self.init_std, "sigma_min_eig": self.sigma_min_eig}

    # ------------------------------------------------------------------ dynamics
    def _param(self, value: Any) -> Any:
        """A weight in the compute dtype: settling runs in one dtype (``mixed_*`` policies: the
        compute dtype, also outside ``__call__``'s autocast, e.g. in the training step)."""
        return ops.cast(value, self.compute_dtype)

    def precisions(self) -> list[Any]:
        """Σˡ⁻¹ for ℓ = 1 … L−1 (None without precision weighting; eqs. 13–14). The inverse is
        taken in float32 (no half-precision inverse on every backend), then cast to the compute dtype."""
        if not self.precision:
            return [None] * (len(self.hidden) - 1)
        return [self._param(ops.linalg.inv(ops.cast(s, "float32"))) for s in self.Sigma]

    def predict_and_errors(self, z0: Any, zs: Sequence[Any], precisions: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """Eq. 1: predictions z̄⁰ … z̄ᴸ⁻¹ and error neurons e⁰ … eᴸ⁻¹ for states (z⁰, [z¹ … zᴸ])."""
        states = [z0] + list(zs)
        zbar, errs = [], []
        for l in range(len(self.hidden)):
            h = ops.matmul(self.phi(states[l + 1]), self._param(self.W[l]))
            pred = self.g0(h) if l == 0 else h
            diff = states[l] - pred
            if l > 0 and precisions[l - 1] is not None:
                diff = ops.matmul(diff, precisions[l - 1])
            zbar.append(pred)
            errs.append(diff)
        return zbar, errs

    def error_synapses_matrices(self) -> list[Any]:
        """Eˡ for ℓ = 0 … L−1 in the compute dtype: the learned E (eq. 19) or Wᵀ (tied). Settling
        takes them once, not once per step: the weights do not change while the states settle."""
        if self.error_synapses == "learned":
            return [self._param(e) for e in self.E]
        return [ops.transpose(self._param(w)) for w in self.W]

    def state_update(self, zs: Sequence[Any], errs: Sequence[Any], feedback: Sequence[Any] | None = None) -> list[Any]:
        """Eq. 3 / appendix step 3 for every latent layer, from the current error neurons.
        ``feedback``: :meth:`error_synapses_matrices` (taken here when not given)."""
        feedback = self.error_synapses_matrices() if feedback is None else feedback
        new = []
        L = len(self.hidden)
        for l in range(1, L + 1):
            z = zs[l - 1]
            dz = ops.matmul(errs[l - 1], feedback[l - 1])
            if l < L:
                dz = dz - errs[l]
            if self.lateral:
                # − φ(z) V, V = α_h M ⊗ (1 − I) − α_e I (appendix 4.6), by group sums (lateral.py)
                dz = dz - lateral_drive(self.phi(z), self.group_size, self.alpha_e, self.alpha_h)
            new.append(z + self.beta * (dz - self.leak * z))
        return new

    def _init_states(self, x: Any) -> list[Any]:
        b = ops.shape(x)[0]
        return [ops.zeros((b, h), dtype=x.dtype) for h in self.hidden]

    def _body(self, x: Any, mask: Any, precisions: Sequence[Any]) -> Callable[[Any, tuple[Any, ...]], tuple[Any, ...]]:
        feedback = self.error_synapses_matrices()

        def body(_: Any, carry: tuple[Any, ...]) -> tuple[Any, ...]:
            z0, zs = carry[0], list(carry[1:])
            _, errs = self.predict_and_errors(z0, zs, precisions)
            zs = self.state_update(zs, errs, feedback)
            if mask is not None:  # eq. 4: only the missing pixels move, towards the prediction
                z0 = x * mask + (z0 - self.beta * errs[0]) * (1.0 - mask)
            return (z0, *zs)
        return body

    def _flat(self, x: Any) -> Any:
        return ops.reshape(ops.cast(ops.convert_to_tensor(x), self.compute_dtype), (-1, self.input_dim))

    def settle(self, x: Any, iterations: int | None = None, mask: Any = None, trajectory: bool = False,
               ) -> dict[str, Any]:
        """Run T settling steps (appendix steps 1–5). ``mask`` (1 = observed) turns on pattern
        completion (eq. 4): the missing pixels of z⁰ start at 0 and follow ``z⁰ ← z⁰ − β e⁰``.

        Returns a dict: ``states`` [z¹ … zᴸ], ``z0``, ``predictions`` [z̄⁰ …], ``errors`` [e⁰ …],
        ``energy`` (per example) and, with ``trajectory=True`` (Python loop), ``energies`` (T+1,)
        batch-mean energies before step 1 and after every step and ``reconstructions`` (T+1, B, D),
        z̄⁰ at the same moments.
        """
        x = self._flat(x)
        steps = self.iterations if iterations is None else check_steps("iterations", iterations)
        if mask is not None:
            mask = ops.reshape(ops.cast(ops.convert_to_tensor(mask), x.dtype), (-1, self.input_dim))
            mask = ops.broadcast_to(mask, ops.shape(x))
        z0 = x if mask is None else x * mask
        precisions = self.precisions()
        carry = (z0, *self._init_states(x))
        body = self._body(x, mask, precisions)
        energies, recons = [], []
        if trajectory:
            for t in range(steps):
                zb, er = self.predict_and_errors(carry[0], list(carry[1:]), precisions)
                energies.append(ops.mean(self.energy(carry[0], list(carry[1:]), zb, er, precisions)))
                recons.append(zb[0])
                carry = body(t, carry)
        else:
            carry = loops.fori_loop(0, steps, body, carry)
        z0, zs = carry[0], list(carry[1:])
        zbar, errs = self.predict_and_errors(z0, zs, precisions)
        energy = self.energy(z0, zs, zbar, errs, precisions)
        out = {"z0": z0, "states": zs, "predictions": zbar, "errors": errs, "energy": energy}
        if trajectory:
            energies.append(ops.mean(energy))
            recons.append(zbar[0])
            out["energies"] = ops.stack(energies)
            out["reconstructions"] = ops.stack(recons)
        return out

    def energy(self, z0: Any, zs: Sequence[Any], zbar: Sequence[Any], errs: Sequence[Any],
               precisions: Sequence[Any] | None = None) -> Any:
        """Total discrepancy per example (−ψ of eq. 6 plus the leak prior): BCE(z⁰, z̄⁰) (or ½‖e⁰‖²
        for an identity output) + Σ_ℓ ½ (zˡ − z̄ˡ)ᵀ Σˡ⁻¹ (zˡ − z̄ˡ) + ½ log|Σˡ| + γ/2 Σ_ℓ ‖zˡ‖²."""
        precisions = self.precisions() if precisions is None else precisions
        # summed in float32 whatever the compute dtype (a bfloat16 sum of ~500 nats is off by ±2)
        z0, zs, zbar, errs = _float32(z0), _float32(zs), _float32(zbar), _float32(errs)
        if self.output_activation == "sigmoid":
            total = _bce(z0, zbar[0])
        else:
            total = 0.5 * ops.sum(ops.square(z0 - zbar[0]), axis=-1)
        for l in range(1, len(self.hidden)):
            d = zs[l - 1] - zbar[l]
            total = total + 0.5 * ops.sum(d * errs[l], axis=-1)  # errs[l] = d Σ⁻¹
            if precisions[l - 1] is not None:
                chol = ops.linalg.cholesky(ops.cast(self.Sigma[l - 1], "float32"))
                total = total + ops.sum(ops.log(ops.diagonal(chol)))  # ½ log|Σ| = Σ log diag(chol)
        for z in zs:
            total = total + 0.5 * self.leak * ops.sum(ops.square(z), axis=-1)
        return total

    def call(self, x: Any, training: bool = False) -> Any:
        """Reconstruction z̄⁰ after T settling steps (clamped input), shape (B, D)."""
        return self.settle(x)["predictions"][0]

    def step_outputs(self, x: Any, training: bool = False) -> list[Any]:
        """The reconstruction z̄⁰ before the first settling step and after every step (T + 1)."""
        recons = self.settle(x, trajectory=True)["reconstructions"]
        return [recons[t] for t in range(self.iterations + 1)]

    def features(self, inputs: Any, training: bool = False) -> dict[str, list[Any]]:
        """The latent states z¹ … zᴸ after settling (one value each: the settled state), the
        reconstruction z̄⁰ before and after every settling step (``output``), and the per-example
        energy after settling."""
        settled = self.settle(inputs, trajectory=True)
        latents = {f"z{l + 1}": [state] for l, state in enumerate(settled["states"])}
        recons = settled["reconstructions"]
        return {**latents, "energy": [settled["energy"]], "output": [recons[t] for t in range(self.iterations + 1)]}

    def plot_kinds(self) -> list[str]:
        """The contract's pictures plus ``samples`` (:meth:`decode`) and ``completions`` (:meth:`complete`)."""
        return [*super().plot_kinds(), "samples", "completions"]

    def encode(self, x: Any, iterations: int | None = None) -> Any:
        """The settled top-layer latents zᴸ (what the GMM prior and the classifier use)."""
        return self.settle(x, iterations=iterations)["states"][-1]

    def complete(self, x: Any, mask: Any, iterations: int | None = None) -> Any:
        """Pattern completion (eq. 4): z⁰ after T steps; observed pixels (mask = 1) stay x."""
        return self.settle(x, iterations=iterations, mask=mask)["z0"]

    def decode(self, z_top: Any) -> Any:
        """Ancestral sampling (section 4.3): z̄ˡ⁻¹ = gˡ⁻¹(φ(z̄ˡ) Wˡ⁻¹) down to the Bernoulli mean z̄⁰."""
        h = ops.convert_to_tensor(z_top, dtype=self.compute_dtype)
        for l in reversed(range(len(self.hidden))):
            h = ops.matmul(self.phi(h), self._param(self.W[l]))
            if l == 0:
                h = self.g0(h)
        return h

    # ------------------------------------------------------------------ meaning
    def interpret(self, inputs: Any, **options: Any) -> Prediction:
        """Per example: ``reconstruction_error`` (BCE in nats summed over pixels for the sigmoid
        output, as the evaluator's ``bce``; mean squared error for an identity output) and
        ``energy`` (the total discrepancy after settling); array ``reconstruction`` (z̄⁰)."""
        common.refuse_options(self, options)
        self.check_inputs(inputs)
        x = self._flat(inputs)
        settled = self.settle(x)
        recon = ops.convert_to_numpy(settled["predictions"][0])
        x_np = ops.convert_to_numpy(x)
        error = common.bce_per_example(x_np, recon) if self.output_activation == "sigmoid" \
            else common.mse_per_example(x_np, recon)
        return common.reconstruction_prediction(type(self).__name__, recon, error, settled["energy"])

    # ------------------------------------------------------------------ learning
    def hebbian_updates(self, settled: dict[str, Any]) -> list[tuple[Any, Any]]:
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

    def _statistics(self, x: Any, settled: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        bce = _bce(_float32(x), _float32(settled["predictions"][0]))
        return ops.mean(bce), {"bce": bce, "energy": settled["energy"]}

    def local_updates(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, list[tuple[Any, Any]]]:
        """Settle on the batch, then the descent directions ``−Δ`` of eqs. 17–19 and 8."""
        x = self._flat(x)
        settled = self.settle(x)
        loss, stats = self._statistics(x, settled)
        return loss, stats, [(v, -ops.stop_gradient(d)) for v, d in self.hebbian_updates(settled)]

    def evaluation_loss(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any]:
        x = self._flat(x)
        return self._statistics(x, self.settle(x))

    def after_update(self) -> None:
        self.project()

    def project(self) -> None:
        """Re-projection after every update: W's columns to unit norm (``weight_norm``), E's
        columns to norm ≤ 1 (or 1), Σ symmetric with eigenvalues ≥ ``sigma_min_eig``."""
        exact = self.weight_norm == "unit"
        for w in self.W:
            w.assign(rules.project_rows(w, 1.0, exact))
        for e in self.E:
            e.assign(rules.project_cols(e, 1.0, exact))
        for s in self.Sigma:
            s.assign(rules.project_covariance(s, self.sigma_min_eig))

    def update_step_metrics(self, loss: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Any]:
        """``loss``: reconstruction BCE (nats per image); ``energy``: total discrepancy after settling."""
        self.loss_tracker.update_state(y_pred["bce"])
        self.energy_tracker.update_state(y_pred["energy"])
        return {m.name: m.result() for m in self.metrics}

    def compile_default(self, optimizer: Any) -> None:
        self.compile(optimizer=optimizer)

    @property
    def metrics(self) -> list[Any]:
        return [self.loss_tracker, self.energy_tracker]


def _float32(values: Any) -> Any:
    """``values`` (a tensor or a list of them) in float32."""
    if isinstance(values, (list, tuple)):
        return [ops.cast(v, "float32") for v in values]
    return ops.cast(values, "float32")


def _bce(x: Any, p: Any) -> Any:
    """Per-example binary cross-entropy in nats (the output discrepancy of eq. 6)."""
    p = ops.clip(p, 1e-7, 1 - 1e-7)
    return -ops.sum(x * ops.log(p) + (1 - x) * ops.log(1 - p), axis=-1)


def build_gncn(input_shape: Sequence[int] = (784,), **config: Any) -> GNCN:
    """A built GNCN for flattened inputs of ``input_shape``; other keywords go to :class:`GNCN`."""
    model = GNCN(input_dim=int(math.prod(input_shape)), **config)
    model.build((None, int(math.prod(input_shape))))
    return model


build_gncn.model_class = GNCN  # type: ignore[attr-defined]

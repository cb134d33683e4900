"""Convolutional recurrent cells of the ConvRNN family (recurrence and feedback lecture).

Every cell is a Keras layer with one method that matters, ``step(u, state) -> (output, state)``:
``u`` is the cell's feed-forward input (already convolved to ``filters`` channels by the layer
below), ``state`` a tuple of tensors of the same shape, and ``initial_state(u)`` the zero state.
The equations are written once, with ``keras.ops``, so that they trace in graph mode, unroll in
a fixed Python loop or a ``keras.ops.fori_loop``, and export.

* :class:`ReciprocalGatedCell` (Nayebi et al. 2018): the memory c and the output h gate each
  other's input and their own memory::

      τ_c = m_τ·σ(W_τc ∗ c) + o_τ        g_c = m_g·σ(W_gc ∗ h) + o_g
      τ_h = m_τ·σ(W_τh ∗ h) + o_τ        g_h = m_g·σ(W_gh ∗ c) + o_g
      c' = f_c((1 − τ_c)⊙c + (1 − g_c)⊙u)
      h' = f_h((1 − τ_h)⊙h + (1 − g_h)⊙u)

  With the issue's literal formula (m = 1, o = 0) a zero state gives h' = f_h(u/2): σ(0) = ½
  halves the input. The defaults keep the memory gates literal (m_τ = 1, o_τ = 0: 1 − τ = σ(−z)
  in (0, 1)) and set the input gates to m_g = 2, o_g = −1, i.e. 1 − g = 2σ(−W_g∗s): exactly one
  at zero state, so the cell **bypasses** — with zero state h' = f_h(u), the feed-forward layer's
  output (and u itself where u ≥ 0 for ELU, everywhere for ``activation="linear"``).
* :class:`ResNetLikeCell` (same slide)::

      h' = f(u + σ(W_xh ∗ u)⊙h + W_ch ∗ c)
      c' = f(σ(W_xg ∗ u)⊙c + W_xc ∗ u + W_cc ∗ c)

  (the slide writes W_xc for both the gate and the input of c; they are separate kernels here).
  Zero state: h' = f(u) — bypass.
* :class:`ConvLSTMCell` (Shi et al. 2015; the feedback network of Zamir et al. 2017)::

      [i, f, o, g] = W_x ∗ u + W_h ∗ h + b
      c' = σ(f)⊙c + σ(i)⊙tanh(g)          h' = σ(o)⊙tanh(c')

  Gating but no bypass (the lecture's point about standard LSTMs).

Gate convolutions have no bias (``gate_bias`` adds a constant inside the sigmoids), so that
W ∗ 0 = 0 and the zero-state behaviour above is exact.
"""
from __future__ import annotations

from typing import Any

import keras
from keras import ops

from topdown_zoo.checks import check_float, check_int

_PACKAGE = "topdown_zoo"
State = tuple[Any, ...]


def _conv(filters: int, kernel_size: int, name: str, use_bias: bool = False, dtype: Any = None) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=use_bias, name=name, dtype=dtype)


class _ConvCell(keras.layers.Layer):  # type: ignore[misc]
    """Shared plumbing: ``filters`` channels, square kernels, zero initial state."""

    state_size = 2  # number of tensors in the state

    def __init__(self, filters: int, kernel_size: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, 1)
        self.kernel_size = check_int("kernel_size", kernel_size, 1)

    def initial_state(self, u: Any) -> State:
        """The zero state for the feed-forward input ``u``."""
        zeros = ops.zeros_like(u)
        return tuple(zeros for _ in range(self.state_size))

    def step(self, u: Any, state: State) -> tuple[Any, State]:
        """One time step: (output, new state)."""
        raise NotImplementedError

    def _build_convs(self, convs: list[Any], input_shape: tuple[Any, ...]) -> None:
        shape = (None,) + tuple(input_shape)[1:-1] + (self.filters,)
        for conv in convs:
            conv.build(shape)

    def call(self, u: Any, state: State | None = None) -> tuple[Any, State]:
        """One step; with no state, the step from the zero state. Returns (output, new_state)."""
        if state is None:
            state = self.initial_state(u)
        return self.step(u, tuple(state))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ReciprocalGatedCell(_ConvCell):
    """Reciprocal gated cell (Nayebi et al. 2018); see the module docstring for the equations.

    Args:
        filters: channels of u, h and c.
        kernel_size: size of the four gate convolutions.
        tau_multiplier, tau_offset: m_τ, o_τ of the memory gates τ = m_τ·σ(W_τ∗s + b) + o_τ.
        gate_multiplier, gate_offset: m_g, o_g of the input gates (defaults 2, −1: bypass).
        gate_bias: constant b added inside every sigmoid (0 by default).
        activation_h, activation_c: f_h, f_c (ELU by default).
    """

    def __init__(self, filters: int, kernel_size: int = 3, tau_multiplier: float = 1.0, tau_offset: float = 0.0,
                 gate_multiplier: float = 2.0, gate_offset: float = -1.0, gate_bias: float = 0.0,
                 activation_h: str = "elu", activation_c: str = "elu", **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, **kwargs)
        self.tau_multiplier = check_float("tau_multiplier", tau_multiplier)
        self.tau_offset = check_float("tau_offset", tau_offset)
        self.gate_multiplier = check_float("gate_multiplier", gate_multiplier)
        self.gate_offset = check_float("gate_offset", gate_offset)
        self.gate_bias = check_float("gate_bias", gate_bias)
        self.activation_h = activation_h
        self.activation_c = activation_c
        self._f_h = keras.activations.get(activation_h)
        self._f_c = keras.activations.get(activation_c)
        k, f = self.kernel_size, self.filters
        self.w_tau_c = _conv(f, k, "w_tau_c", dtype=self.dtype_policy)  # c -> memory gate of c
        self.w_gate_c = _conv(f, k, "w_gate_c", dtype=self.dtype_policy)  # h -> input gate of c
        self.w_tau_h = _conv(f, k, "w_tau_h", dtype=self.dtype_policy)  # h -> memory gate of h
        self.w_gate_h = _conv(f, k, "w_gate_h", dtype=self.dtype_policy)  # c -> input gate of h

    def build(self, input_shape: tuple[Any, ...]) -> None:
        self._build_convs([self.w_tau_c, self.w_gate_c, self.w_tau_h, self.w_gate_h], input_shape)
        self.built = True

    def _gate(self, z: Any, multiplier: float, offset: float) -> Any:
        return multiplier * ops.sigmoid(z + self.gate_bias) + offset

    def step(self, u: Any, state: State) -> tuple[Any, State]:
        h, c = state
        tau_c = self._gate(self.w_tau_c(c), self.tau_multiplier, self.tau_offset)
        gate_c = self._gate(self.w_gate_c(h), self.gate_multiplier, self.gate_offset)
        tau_h = self._gate(self.w_tau_h(h), self.tau_multiplier, self.tau_offset)
        gate_h = self._gate(self.w_gate_h(c), self.gate_multiplier, self.gate_offset)
        c_new = self._f_c((1.0 - tau_c) * c + (1.0 - gate_c) * u)
        h_new = self._f_h((1.0 - tau_h) * h + (1.0 - gate_h) * u)
        return h_new, (h_new, c_new)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "tau_multiplier": self.tau_multiplier, "tau_offset": self.tau_offset,
                "gate_multiplier": self.gate_multiplier, "gate_offset": self.gate_offset,
                "gate_bias": self.gate_bias, "activation_h": self.activation_h, "activation_c": self.activation_c}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResNetLikeCell(_ConvCell):
    """The "ResNet-like" unit of the lecture's ConvRNN slide; see the module docstring."""

    def __init__(self, filters: int, kernel_size: int = 3, activation: str = "elu", **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, **kwargs)
        self.activation = activation
        self._f = keras.activations.get(activation)
        k, f = self.kernel_size, self.filters
        self.w_xh = _conv(f, k, "w_xh", dtype=self.dtype_policy)  # u -> gate on h
        self.w_ch = _conv(f, k, "w_ch", dtype=self.dtype_policy)  # c -> h
        self.w_xg = _conv(f, k, "w_xg", dtype=self.dtype_policy)  # u -> gate on c
        self.w_xc = _conv(f, k, "w_xc", dtype=self.dtype_policy)  # u -> c
        self.w_cc = _conv(f, k, "w_cc", dtype=self.dtype_policy)  # c -> c

    def build(self, input_shape: tuple[Any, ...]) -> None:
        self._build_convs([self.w_xh, self.w_ch, self.w_xg, self.w_xc, self.w_cc], input_shape)
        self.built = True

    def step(self, u: Any, state: State) -> tuple[Any, State]:
        h, c = state
        h_new = self._f(u + ops.sigmoid(self.w_xh(u)) * h + self.w_ch(c))
        c_new = self._f(ops.sigmoid(self.w_xg(u)) * c + self.w_xc(u) + self.w_cc(c))
        return h_new, (h_new, c_new)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConvLSTMCell(_ConvCell):
    """Convolutional LSTM cell (no peepholes); input u of any channel count."""

    def __init__(self, filters: int, kernel_size: int = 3, **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, **kwargs)
        self.w_x = _conv(4 * self.filters, self.kernel_size, "w_x", use_bias=True, dtype=self.dtype_policy)
        self.w_h = _conv(4 * self.filters, self.kernel_size, "w_h", dtype=self.dtype_policy)

    def build(self, input_shape: tuple[Any, ...]) -> None:
        self.w_x.build(tuple(input_shape))
        self.w_h.build((None,) + tuple(input_shape)[1:-1] + (self.filters,))
        self.built = True

    def initial_state(self, u: Any) -> State:
        zeros = ops.zeros(ops.shape(u)[:-1] + (self.filters,), dtype=u.dtype)
        return zeros, zeros

    def step(self, u: Any, state: State) -> tuple[Any, State]:
        h, c = state
        z = self.w_x(u) + self.w_h(h)
        i, f, o, g = ops.split(z, 4, axis=-1)
        c_new = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h_new = ops.sigmoid(o) * ops.tanh(c_new)
        return h_new, (h_new, c_new)


CELLS = {"reciprocal_gated": ReciprocalGatedCell, "resnet_like": ResNetLikeCell, "conv_lstm": ConvLSTMCell}

"""The BU-TD learning modes (paper section 4 and appendix B): which weights receive which
Counter-Hebb update (eq. 4).

The raw updates of one step are computed once, for the BU weights (the BU kernels, biases,
batch-norm γ/β and the prediction head). A mode turns them into the (variable, update) pairs the
optimizer applies:

* ``symmetric`` — one set of weights serves both streams (the paper's default; equals backprop):
  the raw updates as they are;
* ``asymmetric`` — separate TD kernels, initialised differently, receive the same update as their
  BU counterparts (eq. 4 applies one update to ``W`` and ``W̄``), with weight decay;
* ``weakly_symmetric`` — separate TD kernels initialised equal to the BU ones; each stream's update
  is multiplied by its own element-wise noise N(1, σ);
* ``feedback_alignment`` — separate random TD kernels that are never updated.

A weight decay ``decay·W`` is added to every update when ``weight_decay`` is not 0.
"""
from __future__ import annotations

from typing import Any, Sequence

from topdown_zoo.checks import check_choice
from topdown_zoo.learning.counter_hebb import noisy, with_weight_decay

MODES = ("symmetric", "asymmetric", "weakly_symmetric", "feedback_alignment")
#: modes whose separate TD kernels receive the BU kernels' Counter-Hebb update
SHARED_UPDATE_MODES = ("asymmetric", "weakly_symmetric")


def mode_updates(pairs: Sequence[tuple[Any, Any]], mode: str, kernel_pairs: Sequence[tuple[Any, Any]] = (),
                 noise_std: float = 0.0, weight_decay: float = 0.0, seed: Any = None) -> list[tuple[Any, Any]]:
    """The (variable, update) pairs of ``mode`` from the raw eq.-4 updates of the BU weights.

    Args:
        pairs: (BU variable, raw Counter-Hebb update) for every updated BU weight.
        mode: one of :data:`MODES`.
        kernel_pairs: (BU kernel, TD kernel) for every mirrored kernel (the TD kernel is the BU
            kernel itself in symmetric mode).
        noise_std: σ of the weakly symmetric mode's N(1, σ) noise.
        weight_decay: added to every update as ``decay·W``.
        seed: a ``keras.random.SeedGenerator`` for the weakly symmetric noise.
    """
    check_choice("mode", mode, MODES)
    out = list(pairs)
    td_pairs: list[tuple[Any, Any]] = []
    if mode in SHARED_UPDATE_MODES:
        td_of = {id(bu): td for bu, td in kernel_pairs}
        td_pairs = [(td_of[id(v)], d) for v, d in out if id(v) in td_of]
    if mode == "weakly_symmetric":
        out = [(v, noisy(d, noise_std, seed)) for v, d in out]
        td_pairs = [(v, noisy(d, noise_std, seed)) for v, d in td_pairs]
    out += td_pairs
    if weight_decay:
        out = with_weight_decay(out, weight_decay)
    return out

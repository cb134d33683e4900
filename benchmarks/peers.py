"""Peers: our GNCN-t1 and GNCN-PDH training updates against PCX's and fabricpc's plain predictive-coding update of the same sizes.

    python benchmarks/peers.py [--batch 512] [--steps 50] [--pcx-python PATH] [common options]

Every side runs in its own worker process (``benchmarks/_harness.py``), pinned to the same CPUs
and threads: ours on Keras (``--backend``), PCX and fabricpc on JAX (``jax.jit``; XLA's pool sized
from the CPU affinity). One call is one training update on one batch of binary 784-pixel images
with a 784-360-360-360 generative network (top-down predictions 360 → 360 → 360 → 784): K =
``--steps`` inference (settling) steps, then the weight update with Adam (learning rate 1e-3),
everything read back to the host before the call returns.

The peers come from their PyPI packages through their public API (``pip install
'topdown_zoo[bench]'`` installs fabricpc). PCX 0.6.3 requires ``jax<0.5`` and cannot share this
environment (jax 0.10): give it its own and pass its interpreter, e.g. ``python -m venv
.venv-pcx && .venv-pcx/bin/pip install pcx==0.6.3`` then ``--pcx-python .venv-pcx/bin/python``
(or ``$PCX_PYTHON``). A peer that is not installed is reported as skipped, with the reason.
ngc-learn is not compared: the TF2 ngc-learn whose ``GNCN_PDH`` the issue timed is not on PyPI,
and ngc-learn 3 (JAX, on PyPI) ships no GNCN model (its exemplars live in ngc-museum).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import _harness as h

TITLE = "Peers: GNCN against PCX and fabricpc"
MATH = [
    "**What differs in the math.** GNCN-t1 (ours, eqs. 1–3, 17): states move by the explicit rule z ← z + β(e·Wᵀ from "
    "below − own error − γz) with β = 0.1, no derivative of φ; φ = ReLU on the state before the top-down weights, a "
    "sigmoid output; no biases; Hebbian ΔW = φ(z)ᵀe; W's columns re-projected to unit norm after every update.",
    "GNCN-PDH adds per step the precision-weighted errors Σ⁻¹e (eqs. 13–14, Σ learned by eq. 8), learned error "
    "synapses E in place of Wᵀ (eq. 19) and lateral competition V: more work than either peer's plain PC network.",
    "PCX 0.6.3: Gaussian energies ½‖h − u‖² at every layer (also at the output, where GNCN uses the sigmoid/BCE error), "
    "u = W·ReLU(h_above) + b (sigmoid at the output), latents moved by SGD (η = 0.1) on the autodiff gradient of the "
    "energy (with ReLU′), weights by autodiff of the same energy; top latent from N(0, 0.05²); biases, no re-projection.",
    "fabricpc 0.6.0: u = f(W·h_above + b), the activation *after* the weights (ReLU hidden, sigmoid output), Gaussian "
    "energies, `InferenceSGD` (η = 0.1, K steps) on per-node autodiff gradients, `make_train_step` (local weight "
    "gradients, Adam); latents initialised from a normal distribution; biases, no re-projection.",
    "GNCN-t1 and the two peers do the same matrix products per step (a prediction through W and an error message "
    "through Wᵀ per layer); the peers also differentiate their activations.",
    "**The products alone** (`products_alone`, Keras on the same backend as ours): K steps of just those float32 "
    "matrix products, chained by the error subtractions and state additions, nothing else (no activation, leak, "
    "weight update or Adam); PDH's adds its two Σ⁻¹e products. No implementation of the same math with the same "
    "float32 products can beat it on this CPU, so `products alone / peer` is the best time ratio any GNCN could reach.",
]


def _dims(hidden: list[int]) -> list[int]:
    return [784, *hidden]


def _binary(batch: int) -> Any:
    import numpy as np

    return (np.random.default_rng(0).random((batch, 784)) > 0.5).astype("float32")


def pcx_update(batch: int, steps: int, hidden: list[int]) -> tuple[Any, dict[str, Any]]:
    """Factory (in a JAX worker): one PCX 0.6 training update of a generative PC network."""
    try:
        import jax
        import jax.numpy as jnp
        import optax
        import pcx as px
        import pcx.functional as pxf
        import pcx.nn as pxnn
        import pcx.predictive_coding as pxc
        import pcx.utils as pxu
    except ImportError as err:
        raise RuntimeError(f"pcx is not installed in {sys.executable} ({err}); pcx 0.6.3 needs jax<0.5: install it in its "
                           "own venv and pass --pcx-python") from err

    dims = _dims(hidden)

    class Generative(pxc.EnergyModule):
        """z_L (free) → … → z_0 = x (clamped): u_ℓ = W_ℓ·ReLU(h_{ℓ+1}) + b, sigmoid at the output."""

        def __init__(self) -> None:
            super().__init__()
            self.layers = [pxnn.Linear(dims[l + 1], dims[l]) for l in range(len(dims) - 1)]
            self.vodes = [pxc.Vode() for _ in dims[:-1]] + [pxc.Vode(pxc.zero_energy)]
            self.vodes[0].h.frozen = True

        def __call__(self, x: Any, top: Any) -> Any:
            z = self.vodes[-1](top)
            for l in reversed(range(len(self.layers))):
                u = self.layers[l](jax.nn.relu(z))
                z = self.vodes[l](jax.nn.sigmoid(u) if l == 0 else u)
            self.vodes[0].set("h", x)
            return self.vodes[0].get("u")

    vode_axes = pxu.M(pxc.VodeParam | pxc.VodeParam.Cache).to((None, 0))

    @pxf.vmap(vode_axes, in_axes=(0, 0), out_axes=0)
    def forward(x: Any, top: Any, *, model: Any) -> Any:
        return model(x, top)

    @pxf.vmap(vode_axes, in_axes=(0, 0), out_axes=(None, 0), axis_name="batch")
    def energy(x: Any, top: Any, *, model: Any) -> Any:
        y = model(x, top)
        return jax.lax.psum(model.energy(), "batch"), y

    free = pxu.M_hasnot(pxc.VodeParam, frozen=True)

    @pxf.jit(static_argnums=0)
    def update(k: int, x: Any, top: Any, *, model: Any, optim_w: Any, optim_h: Any) -> Any:
        model.train()
        with pxu.step(model, pxc.STATUS.INIT, clear_params=pxc.VodeParam.Cache):
            forward(x, top, model=model)
        optim_h.init(free(model))
        for _ in range(k):
            with pxu.step(model, clear_params=pxc.VodeParam.Cache):
                _, g = pxf.value_and_grad(free.to([False, True]), has_aux=True)(energy)(x, top, model=model)
            optim_h.step(model, g["model"])
        optim_h.clear()
        with pxu.step(model, clear_params=pxc.VodeParam.Cache):
            (e, _), g = pxf.value_and_grad(pxu.M(pxnn.LayerParam).to([False, True]), has_aux=True)(energy)(x, top, model=model)
        optim_w.step(model, g["model"])
        return e

    model = Generative()
    x = jnp.asarray(_binary(batch))
    top = 0.05 * jax.random.normal(jax.random.PRNGKey(0), (batch, dims[-1]))
    with pxu.step(model, pxc.STATUS.INIT, clear_params=pxc.VodeParam.Cache):
        forward(x, top, model=model)
        optim_h = pxu.Optim(lambda: optax.sgd(0.1))
        optim_w = pxu.Optim(lambda: optax.adam(1e-3), pxu.M(pxnn.LayerParam)(model))

    def call() -> None:
        update(steps, x, top, model=model, optim_w=optim_w, optim_h=optim_h).block_until_ready()

    return call, {"pcx": px.__version__ if hasattr(px, "__version__") else h.versions().get("pcx"), "jax": jax.__version__}


def fabricpc_update(batch: int, steps: int, hidden: list[int]) -> tuple[Any, dict[str, Any]]:
    """Factory (in a JAX worker): one fabricpc ``make_train_step`` update of a generative PC graph."""
    try:
        import fabricpc
        import jax
        import jax.numpy as jnp
        import optax
        from fabricpc.core.activations import ReLUActivation, SigmoidActivation
        from fabricpc.core.inference import InferenceSGD
        from fabricpc.core.topology import Edge
        from fabricpc.graph_assembly import TaskMap, graph
        from fabricpc.graph_initialization import initialize_params
        from fabricpc.nodes import Linear
        from fabricpc.training import make_train_step
    except ImportError as err:
        raise RuntimeError(f"fabricpc is not installed in {sys.executable} ({err}); pip install 'topdown_zoo[bench]'") from err

    dims = _dims(hidden)
    top = len(dims) - 1
    nodes = [Linear(shape=(dims[top],), name=f"z{top}")]
    for l in reversed(range(top)):
        nodes.append(Linear(shape=(dims[l],), name=f"z{l}", activation=SigmoidActivation() if l == 0 else ReLUActivation()))
    edges = [Edge(source=a, target=b.slot("in")) for a, b in zip(nodes, nodes[1:])]
    structure = graph(nodes=nodes, edges=edges, task_map=TaskMap(y=nodes[-1]),
                      inference=InferenceSGD(eta_infer=0.1, infer_steps=steps))
    optimizer = optax.adam(1e-3)
    state = {"params": initialize_params(structure, jax.random.PRNGKey(0))}
    state["opt"] = optimizer.init(state["params"])
    step = make_train_step(structure, optimizer)
    data, key = {"y": jnp.asarray(_binary(batch))}, jax.random.PRNGKey(1)

    def call() -> None:
        state["params"], state["opt"], metrics, _ = step(state["params"], state["opt"], data, key)
        jax.block_until_ready((state["params"], metrics))

    return call, {"fabricpc": fabricpc.__version__, "jax": jax.__version__}


def products_alone(batch: int, steps: int, hidden: list[int], precision: bool = False) -> tuple[Any, dict[str, Any]]:
    """Factory (in a Keras worker): the matrix products of K settling steps with nothing else but the
    error subtractions and state additions that chain them (no activations, no leak, no update):
    per step a prediction through W and an error message through Wᵀ per layer — the products
    GNCN-t1, PCX and fabricpc all do — and with ``precision`` also PDH's Σ⁻¹e at layers 1 … L−1.
    A lower bound on any float32 implementation of that math on this CPU's matrix products."""
    import numpy as np
    from _backend import compiled
    from keras import ops

    from topdown_zoo.models import loops

    dims = _dims(hidden)
    rng = np.random.default_rng(0)
    weights = [ops.convert_to_tensor(rng.normal(0, 0.05, (dims[l + 1], dims[l])).astype("float32"))
               for l in range(len(hidden))]
    transposed = [ops.transpose(w) for w in weights]
    sigmas = [ops.convert_to_tensor(np.eye(d, dtype="float32")) for d in hidden[:-1]] if precision else []
    x = ops.convert_to_tensor(_binary(batch))

    def settle(x: Any) -> Any:
        def body(_: Any, states: tuple[Any, ...]) -> tuple[Any, ...]:
            below = [x, *states]
            errs = []
            for l in range(len(hidden)):
                err = below[l] - ops.matmul(below[l + 1], weights[l])
                if precision and 0 < l:
                    err = ops.matmul(err, sigmas[l - 1])
                errs.append(err)
            return tuple(states[l] + 0.1 * (ops.matmul(errs[l], transposed[l]) - (errs[l + 1] if l + 1 < len(hidden) else 0.0))
                         for l in range(len(hidden)))
        return loops.fori_loop(0, steps, body, tuple(ops.zeros((batch, d)) for d in hidden))

    call = compiled(settle)
    flops = batch * steps * (4 * sum(dims[l] * dims[l + 1] for l in range(len(hidden)))
                             + (2 * sum(d * d for d in hidden[:-1]) if precision else 0))
    return (lambda: call(x)), {"flops": flops}


def add_arguments(parser: Any) -> None:
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50, help="K, inference (settling) steps per update")
    parser.add_argument("--pcx-python", default=os.environ.get("PCX_PYTHON"),
                        help="interpreter of a venv with pcx 0.6.3 (default: $PCX_PYTHON, else this one)")


def comparisons(args: Any, settings: h.Settings) -> list[h.Comparison]:
    batch, steps, hidden = (8, 3, [36, 36, 36]) if settings.quick else (args.batch, args.steps, [360, 360, 360])
    peer = {"batch": batch, "steps": steps, "hidden": hidden}
    sides = [
        h.Side("PCX", h.WorkerSpec("PCX", None, args.pcx_python), "peers:pcx_update", peer, "plain PC, autodiff", batch),
        h.Side("fabricpc", h.WorkerSpec("fabricpc", None), "peers:fabricpc_update", peer, "plain PC, make_train_step", batch),
    ]
    for variant in ("t1", "pdh"):
        label = f"GNCN-{'PDH' if variant == 'pdh' else 't1'} (ours)"
        sides.append(h.Side(label, h.WorkerSpec(label, settings.backend), "ngc_settling:gncn",
                            {"model": f"gncn-{variant}-mnist5k", "kind": "update", "batch": batch, "steps": steps,
                             "hidden": hidden if settings.quick else None}, "`train_on_batch(x)`", batch))
    for precision in (False, True):
        label = "PDH's products alone" if precision else "t1's products alone"
        sides.append(h.Side(label, h.WorkerSpec(label.replace(" ", "-").replace("'", ""), settings.backend),
                            "peers:products_alone", {**peer, "precision": precision},
                            "a lower bound: K steps of the matrix products only", batch))
    ratios = [(ours, p) for ours in ("GNCN-t1 (ours)", "GNCN-PDH (ours)") for p in ("PCX", "fabricpc")]
    ratios += [("t1's products alone", "PCX"), ("t1's products alone", "fabricpc"), ("PDH's products alone", "PCX"),
               ("GNCN-t1 (ours)", "t1's products alone"), ("GNCN-PDH (ours)", "PDH's products alone")]
    what = (f"one training update, {'-'.join(map(str, _dims(hidden)))} generative network, K = {steps} inference steps, batch "
            f"{batch} binary images, Adam(1e-3), results read back; ours on Keras/{settings.backend}, the peers on JAX; "
            "excludes building, the first (compiling) calls and data preparation")
    return [h.Comparison(TITLE, what, sides, ratios=ratios, notes=MATH)]


def main(argv: Sequence[str] | None = None) -> h.Section:
    return h.script_main(argv, title=TITLE, description=__doc__ or "", script="peers.py",
                         add_script_arguments=add_arguments, comparisons=comparisons)


if __name__ == "__main__":
    main()

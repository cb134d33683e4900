"""GNCN (and Conv-NGC): settling and the full training update of GNCN-t1 and GNCN-PDH, against this CPU's matmul rate.

    python benchmarks/ngc_settling.py [--batch 512] [--steps 50] [--n 2048] [--conv] [common options]

Sides, each in its own worker process (``benchmarks/_harness.py``): a float32 n × n matmul
(the reference: this machine's matrix-product rate, timed in the same rounds), then for
``gncn-t1-mnist5k`` and ``gncn-pdh-mnist5k`` (784-360-360-360, K = ``--steps``) the settling
alone (``model.settle(x)`` compiled as in ``benchmarks/_backend.py``) and the full training update
(``model.train_on_batch(x)``: settling, the local updates of eqs. 17–19 and 8, Adam, the
re-projection); with ``--conv`` also Conv-NGC (``conv-ngc-natural32``, T = 60, batch 64).
The fraction of the matmul rate counts only the matrix products GNCN-t1 also has — per example
and step the predictions (2·Σ J_{ℓ+1}·J_ℓ FLOPs) and the bottom-up error messages (the same
again); PDH's Σ⁻¹ and lateral products are not counted, so its fraction understates its rate.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import _harness as h

TITLE = "GNCN settling and training update"


def matmul(n: int) -> tuple[Any, dict[str, Any]]:
    """Factory (in a worker): a compiled float32 ``n × n`` matmul, its result summed on the host."""
    import numpy as np
    from _backend import compiled
    from keras import ops

    rng = np.random.default_rng(0)
    a = ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    b = ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    mm = compiled(ops.matmul)
    return (lambda: mm(a, b)), {"flops": 2 * n ** 3}


def gncn(model: str, kind: str, batch: int, steps: int, hidden: list[int] | None = None) -> tuple[Any, dict[str, Any]]:
    """Factory (in a worker): ``kind`` "settle" (compiled ``model.settle(x)``) or "update" (``train_on_batch(x)``)."""
    from _backend import compiled, example_batch, facts, forward_call, train_call

    import topdown_zoo as tz

    net = tz.create(model, iterations=steps, **({"hidden": hidden} if hidden else {}))
    x = example_batch(net, batch, binary=not model.startswith("conv"))
    info = facts(net)
    if kind == "update":
        return train_call(net, x, None), info
    if model.startswith("conv"):
        return forward_call(net, x), info
    settle = compiled(lambda v: net.settle(v)["predictions"][0], net.variables)
    dims = net.dims
    info["flops"] = batch * steps * 4 * sum(dims[l] * dims[l + 1] for l in range(len(dims) - 1))
    return (lambda: settle(x)), info


def add_arguments(parser: Any) -> None:
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50, help="K, settling steps of the GNCN")
    parser.add_argument("--n", type=int, default=2048, help="size of the reference matmul")
    parser.add_argument("--conv", action="store_true", help="also Conv-NGC (T = 60, batch 64)")


def comparisons(args: Any, settings: h.Settings) -> list[h.Comparison]:
    quick = settings.quick
    batch, steps, n = (8, 3, 128) if quick else (args.batch, args.steps, args.n)
    hidden = [36, 36, 36] if quick else None
    sides = [h.Side("matmul", h.WorkerSpec("matmul", settings.backend), "ngc_settling:matmul", {"n": n}, f"{n}×{n} float32")]
    for variant in ("t1", "pdh"):
        for kind in ("settle", "update"):
            label = f"GNCN-{variant.upper() if variant == 'pdh' else variant} {kind}"
            sides.append(h.Side(label, h.WorkerSpec(label.replace(" ", "-"), settings.backend), "ngc_settling:gncn",
                                {"model": f"gncn-{variant}-mnist5k", "kind": kind, "batch": batch, "steps": steps, "hidden": hidden},
                                items=batch))
    ratios = [("GNCN-PDH settle", "GNCN-t1 settle"), ("GNCN-PDH update", "GNCN-t1 update"),
              ("GNCN-t1 update", "GNCN-t1 settle"), ("GNCN-PDH update", "GNCN-PDH settle")]
    if args.conv and not quick:
        for kind in ("settle", "update"):
            label = f"Conv-NGC {kind}"
            sides.append(h.Side(label, h.WorkerSpec(label.replace(" ", "-"), settings.backend), "ngc_settling:gncn",
                                {"model": "conv-ngc-natural32", "kind": kind, "batch": 64, "steps": 60}, items=64))
        ratios.append(("Conv-NGC update", "Conv-NGC settle"))
    sizes = "784-36-36-36 (--quick)" if quick else "784-360-360-360"
    what = (f"GNCN {sizes}, K = {steps}, batch {batch} binary images, on {settings.backend}: settling = compiled "
            "`model.settle(x)` (K steps and the final prediction, output read back); update = `model.train_on_batch(x)` "
            f"(settling + local updates + Adam + re-projection); reference: a compiled {n}×{n} float32 matmul")
    return [h.Comparison(TITLE, what, sides, ratios=ratios)]


def matmul_fractions(result: dict[str, Any]) -> None:
    """Notes: each settling side's matrix-product rate as a fraction of the matmul's, per round."""
    sides = {s["label"]: s for s in result["sides"]}
    mm = sides.get("matmul", {})
    if "times_s" not in mm:
        return
    for s in result["sides"]:
        if s["label"] == "matmul" or "flops" not in s["facts"] or "times_s" not in s:
            continue
        values = [(s["facts"]["flops"] / t) / (mm["facts"]["flops"] / t_mm) for t, t_mm in zip(s["times_s"], mm["times_s"])]
        q1, q2, q3 = h.quartiles(values)
        s["matmul_fraction"] = {"median": q2, "q1": q1, "q3": q3}
        gflops = s["facts"]["flops"] / s["median_s"] / 1e9
        result["notes"].append(f"{s['label']}: {gflops:.1f} GFLOP/s in the counted matrix products, **{q2:.2f}** "
                               f"[{q1:.2f}–{q3:.2f}] of the matmul's rate in the same rounds")


def main(argv: Sequence[str] | None = None) -> h.Section:
    return h.script_main(argv, title=TITLE, description=__doc__ or "", script="ngc_settling.py",
                         add_script_arguments=add_arguments, comparisons=comparisons, postprocess=matmul_fractions)


if __name__ == "__main__":
    main()

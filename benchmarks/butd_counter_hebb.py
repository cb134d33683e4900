"""BU-TD: a Counter-Hebb training step against a backprop training step on the same network.

    python benchmarks/butd_counter_hebb.py [--model butd-multimnist5k] [--batch 64] [common options]

Both steps run the same instructed forward (TD task pass + gated BU pass) and apply their
updates with Adam, each through Keras's compiled train function of the backend
(``model.train_on_batch``): the Counter-Hebb step is the model's own training step (its
``local_updates``: the TD error pass and the local a·b̄ products), the backprop step
differentiates the same loss with the backend's autodiff (a wrapper whose ``objective`` is the
model's ``bu_pass`` and output loss, see ``topdown_zoo/learning/trainer.py``). On JAX that
wrapper's gradient is zero (not absent) for the TD-only weights, so Adam also steps them. Each
step runs in its own worker process (``benchmarks/_harness.py``; common options there).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import _harness as h

TITLE = "BU-TD: Counter-Hebb step against backprop"


def backprop_twin(model: Any) -> Any:
    """A ``keras.Model`` sharing ``model``'s weights whose training step is backprop on its loss."""
    import keras
    from keras import ops

    from topdown_zoo.learning.counter_hebb import output_error
    from topdown_zoo.learning.trainer import RuleTraining

    class Backprop(RuleTraining, keras.Model):
        learning_rule = "objective"

        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net
            self.built = True

        def call(self, inputs: Any, training: bool = False) -> Any:
            return self.net(inputs, training=training)

        def objective(self, x: Any, y: Any, sample_weight: Any, training: bool = True) -> Any:
            images, task = self.net.split_inputs(x)
            logits, _ = self.net.bu_pass(images, task, training=training)
            loss, _ = output_error(ops.cast(logits, "float32"), y, self.net.loss_name)
            return loss, logits

    return Backprop(model)


def step(kind: str, model: str, batch: int, learning_rate: float = 1e-4) -> tuple[Any, dict[str, Any]]:
    """Factory (in a worker): one training step, ``kind`` "counter_hebb" or "backprop"."""
    import keras
    from _backend import example_batch, facts, train_call

    import topdown_zoo as tz

    net = tz.create(model)
    x = example_batch(net, batch)
    y = keras.ops.convert_to_tensor([i % max(net.num_classes, 2) for i in range(batch)], "int32")
    if kind == "counter_hebb":
        return train_call(net, x, y, learning_rate), facts(net)
    twin = backprop_twin(net)
    twin.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return (lambda: twin.train_on_batch(x, y)), facts(net)


def add_arguments(parser: Any) -> None:
    parser.add_argument("--model", default="butd-multimnist5k")
    parser.add_argument("--batch", type=int, default=64)


def comparisons(args: Any, settings: h.Settings) -> list[h.Comparison]:
    batch = 2 if settings.quick else args.batch
    sides = [h.Side(label, h.WorkerSpec(label, settings.backend), "butd_counter_hebb:step",
                    {"kind": kind, "model": args.model, "batch": batch}, items=batch)
             for label, kind in (("backprop", "backprop"), ("Counter-Hebb", "counter_hebb"))]
    what = (f"`train_on_batch((image, task), y)` of `tz.create(\"{args.model}\")`, batch {batch}, Adam(1e-4), on "
            f"{settings.backend}: the Counter-Hebb step (TD error pass, local a·b̄ updates) against backprop through the "
            "same instructed forward; includes the optimizer update and reading the loss back; excludes building and tracing")
    return [h.Comparison(TITLE, what, sides)]


def main(argv: Sequence[str] | None = None) -> h.Section:
    return h.script_main(argv, title=TITLE, description=__doc__ or "", script="butd_counter_hebb.py",
                         add_script_arguments=add_arguments, comparisons=comparisons)


if __name__ == "__main__":
    main()

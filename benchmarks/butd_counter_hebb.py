"""Counter-Hebb training step vs a backprop training step on the same BU-TD network.

Both steps run the same instructed forward (TD task pass + gated BU pass) and apply their
updates with the same kind of Adam optimizer, each through Keras's compiled train function of
the backend (``model.train_on_batch``): the Counter-Hebb step is the model's own training step
(its ``local_updates``: the TD error pass and the local a·b̄ products), the backprop step
differentiates the same loss with the backend's autodiff (a wrapper whose ``objective`` is the
model's ``bu_pass`` and output loss, see ``topdown_zoo/learning/trainer.py``). On JAX that
wrapper's gradient is zero (not absent) for the TD-only weights, so Adam also steps them. The
ratio is measured in one run, alternating, after warm-up.

    python benchmarks/butd_counter_hebb.py [--model butd-multimnist5k] [--batch 64] [--steps 30]
        [--backend {tensorflow,jax,torch}]
"""
from __future__ import annotations

import argparse
import json
import time

from _backend import add_backend_argument, backend_version, select_backend


def backprop_twin(model):
    """A ``keras.Model`` sharing ``model``'s weights whose training step is backprop on its loss."""
    import keras
    from keras import ops

    from topdown_zoo.learning.counter_hebb import output_error
    from topdown_zoo.learning.trainer import RuleTraining

    class Backprop(RuleTraining, keras.Model):
        learning_rule = "objective"

        def __init__(self, net):
            super().__init__()
            self.net = net
            self.built = True

        def call(self, inputs, training=False):
            return self.net(inputs, training=training)

        def objective(self, x, y, sample_weight, training=True):
            images, task = self.net.split_inputs(x)
            logits, _ = self.net.bu_pass(images, task, training=training)
            loss, _ = output_error(ops.cast(logits, "float32"), y, self.net.loss_name)
            return loss, logits

    return Backprop(model)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="butd-multimnist5k")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    add_backend_argument(p)
    args = p.parse_args(argv)
    backend = select_backend(argv)

    import keras
    import numpy as np
    from keras import ops

    import topdown_zoo as tz

    keras.utils.set_random_seed(0)
    model = tz.create(args.model)
    from topdown_zoo.registry import get_spec

    spec = get_spec(args.model)
    shape = (args.batch,) + tuple(spec.input_shape)
    x = ops.convert_to_tensor(np.random.default_rng(0).random(shape, dtype=np.float32))
    task = ops.convert_to_tensor(np.arange(args.batch) % model.num_tasks, "int32")
    y = ops.convert_to_tensor(np.arange(args.batch) % max(model.num_classes, 2) if model.num_classes > 1
                              else np.arange(args.batch) % 2, "int32")
    model.compile_default(keras.optimizers.Adam(1e-4))
    twin = backprop_twin(model)
    twin.compile(optimizer=keras.optimizers.Adam(1e-4))

    def ch_step():
        return model.train_on_batch((x, task), y)

    def bp_step():
        return twin.train_on_batch((x, task), y)

    for f in (ch_step, bp_step):
        for _ in range(3):
            f()
    times = {"counter_hebb": [], "backprop": []}
    for _ in range(args.steps):
        for name, f in (("counter_hebb", ch_step), ("backprop", bp_step)):
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    out = {"model": args.model, "batch": args.batch, "steps": args.steps, "backend": backend,
           "versions": backend_version(backend),
           "counter_hebb_ms": round(1e3 * med["counter_hebb"], 2), "backprop_ms": round(1e3 * med["backprop"], 2),
           "ratio_counter_hebb_over_backprop": round(med["counter_hebb"] / med["backprop"], 3)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()

"""Counter-Hebb training step vs a backprop training step on the same BU-TD network.

Both steps run the same instructed forward (TD task pass + gated BU pass) and apply their
updates with the same Adam optimizer; the Counter-Hebb step then runs the TD error pass and the
local a·b̄ products, the backprop step uses ``tf.GradientTape``. Both are ``tf.function``s; the
ratio is measured in one run, alternating, after warm-up.

    python benchmarks/butd_counter_hebb.py [--model butd-multimnist5k] [--batch 64] [--steps 30]
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    import keras
    import numpy as np
    import tensorflow as tf

    import topdown_zoo as tz

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="butd-multimnist5k")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args(argv)

    keras.utils.set_random_seed(0)
    model = tz.create(args.model)
    from topdown_zoo.registry import get_spec

    spec = get_spec(args.model)
    shape = (args.batch,) + tuple(spec.input_shape)
    x = tf.random.uniform(shape)
    task = tf.constant(np.arange(args.batch) % model.num_tasks, tf.int32)
    y = tf.constant(np.arange(args.batch) % max(model.num_classes, 2) if model.num_classes > 1
                    else np.arange(args.batch) % 2, tf.int32)
    opt_ch, opt_bp = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)
    variables = model.trainable_variables
    opt_ch.build(variables)
    opt_bp.build(variables)

    @tf.function
    def ch_step():
        loss, _, pairs = model.counter_hebb_updates(x, task, y, training=True)
        opt_ch.apply_gradients(model._mode_updates(pairs))
        return loss

    @tf.function
    def bp_step():
        from topdown_zoo.learning.counter_hebb import output_error

        with tf.GradientTape() as tape:
            logits, _ = model.bu_pass(x, task, training=True)
            loss, _ = output_error(tf.cast(logits, tf.float32), y, model.loss_name)
        opt_bp.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    for f in (ch_step, bp_step):
        for _ in range(3):
            f().numpy()
    times = {"counter_hebb": [], "backprop": []}
    for _ in range(args.steps):
        for name, f in (("counter_hebb", ch_step), ("backprop", bp_step)):
            t0 = time.perf_counter()
            f().numpy()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    out = {"model": args.model, "batch": args.batch, "steps": args.steps,
           "counter_hebb_ms": round(1e3 * med["counter_hebb"], 2), "backprop_ms": round(1e3 * med["backprop"], 2),
           "ratio_counter_hebb_over_backprop": round(med["counter_hebb"] / med["backprop"], 3)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()

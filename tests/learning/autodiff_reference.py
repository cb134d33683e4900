"""Plain backprop through a layer chain by the active backend's autodiff: the reference the local
rules are compared with (tests only; the rules themselves never differentiate)."""
import keras


def autodiff_gradients(layers, x, y, loss):
    """(loss, logits, [(variable, ∂loss/∂variable)]) of the chain ``layers`` in training mode."""
    variables = [w for layer in layers for w in layer.trainable_weights]

    def run():
        h = x
        for layer in layers:
            h = layer(h, training=True)
        return loss(y, h), h

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value, logits = run()
        grads = tape.gradient(value, variables)
    elif backend == "jax":
        import jax

        def f(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return run()

        (value, logits), grads = jax.value_and_grad(f, has_aux=True)([v.value for v in variables])
    else:
        for v in variables:
            v.value.grad = None
        value, logits = run()
        value.backward()
        grads = [v.value.grad for v in variables]
    return value, logits, list(zip(variables, grads))

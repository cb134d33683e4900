"""Plain backprop through a layer chain by the active backend's autodiff: the reference the local
rules are compared with (tests only; the rules themselves never differentiate)."""
from autodiff import value_and_grad


def autodiff_gradients(layers, x, y, loss):
    """(loss, logits, [(variable, ∂loss/∂variable)]) of the chain ``layers`` in training mode."""
    variables = [w for layer in layers for w in layer.trainable_weights]

    def run():
        h = x
        for layer in layers:
            h = layer(h, training=True)
        return loss(y, h), h

    value, logits, grads = value_and_grad(run, variables)
    return value, logits, list(zip(variables, grads))

"""A hand-written reference for the gated ConvRNN tests: its first step with zero states."""
import keras


def feedforward_first_step(model, h):
    """Bypass at the network level: with zero states step 0 is ``Conv → ELU → pool → … → GAP →
    Dense`` on ``h`` (the image, or the stem's output)."""
    for l, conv in enumerate(model.convs):
        if l:
            h = model.pool(h)
        h = keras.activations.elu(conv(h))
    return model.readout(model.gap(h))

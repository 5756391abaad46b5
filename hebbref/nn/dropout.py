"""Inverted dropout: keep each unit with probability 1 − p and scale kept units by 1/(1 − p)."""


def dropout_forward(x, p, rng):
    """Inputs:  x: (...); p: drop probability in [0, 1); rng: numpy Generator (None or p = 0: identity).
    Outputs: out: (...) = x · mask; cache = mask (same dtype as x) or None.
    """
    if p == 0 or rng is None:
        return x, None
    mask = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1 - p)
    return x * mask, mask


def dropout_backward(dout, cache):
    """dout: (...) -> dx = dout · mask."""
    return dout if cache is None else dout * cache

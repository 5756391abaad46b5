"""One update in the order of docs/MATH.md §5, after the loss and gradients, for both
experiments: clip the global gradient norm (optional), optimiser step → θ', Hebbian rule on θ'
with the forward pass's h → θ (skipped for the plain softmax).
"""
import numpy as np

from hebbref.optim import OPTIMIZERS, clip_grad_norm


def train_step(params, grads, opt_state, h, y, *, optimizer, lr, clip=None,
               hebbian_softmax=None, reference=False):
    """Update params (and opt_state, hebbian_softmax.counts) in place. h: (N, H) the activations
    that entered the softmax in this step's forward pass; y: (N,) its labels; hebbian_softmax:
    None for the plain softmax; reference: the plain twins. Returns the norm before clipping."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    norm = clip_grad_norm(grads, clip) if clip else None
    OPTIMIZERS[optimizer](params, grads, opt_state, lr=lr, reference=reference)
    if hebbian_softmax is not None:
        present = np.unique(y)
        before = hebbian_softmax.counts[present]
        hebbian_softmax.update(params["softmax.theta"], h, y, reference=reference)
        apply_write_levers(params, opt_state, hebbian_softmax,
                           written=present[before < hebbian_softmax.T], first=present[before == 1])
    return norm


def apply_write_levers(params, opt_state, hebbian_softmax, *, written, first):
    """The levers of docs/MATH.md §5.7 that act outside the rule, after it wrote rows `written`
    (c_i < T), of which `first` for the first time (c_i = 1). moments "reset_first"/"reset":
    zero the optimiser's moments of θ's rows `first`/`written`, so steps on a replaced row are
    not scaled by the old row's gradients. fresh_bias "mean"/"zero": on the first write set b_i
    to the seen classes' mean bias, or 0 (absent, gradient descent pushed it down); "none": b = 0.
    """
    if hebbian_softmax.moments != "keep":
        rows = first if hebbian_softmax.moments == "reset_first" else written
        for prefix in ("m", "v", "momentum"):
            buffer = opt_state.get(f"{prefix}/softmax.theta")
            if buffer is not None:
                buffer[rows] = 0
    b = params.get("softmax.b")
    if b is None or hebbian_softmax.fresh_bias == "keep":
        return
    if hebbian_softmax.fresh_bias == "none":
        b[...] = 0
    elif first.size:
        seen = hebbian_softmax.counts > 1
        seen[first] = False
        b[first] = b[seen].mean() if hebbian_softmax.fresh_bias == "mean" and seen.any() else 0


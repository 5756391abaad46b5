"""One update in the order of docs/MATH.md §5, after the loss and gradients, shared by both experiments
(`experiments.curriculum.curriculum_train_step`, `experiments.lm_train.lm_train_step`).

    1. clip the global gradient norm (optional)
    2. optimiser step on every parameter            → θ'
    3. Hebbian rule on θ' with the forward pass's h  → θ   (skipped for the plain softmax)
"""
import numpy as np

from hebbref.optim import OPTIMIZERS, clip_grad_norm


def train_step(params, grads, opt_state, h, y, *, optimizer, lr, clip=None,
               hebbian_softmax=None, reference=False):
    """Update params (and opt_state, hebbian_softmax.counts) in place.

    params, grads: flat dicts; h: (N, H) the activations that entered the softmax in this step's
    forward pass; y: (N,) its labels; optimizer: a key of OPTIMIZERS; hebbian_softmax: a
    HebbianSoftmax, or None for the plain softmax; reference: the optimiser's plain step and
    hebbian_update_reference instead of their fast twins. Returns the gradient norm before
    clipping (None if no clip).
    """
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
    (λ > 0, i.e. c_i < T), of which `first` were written for the first time (c_i = 1).

    moments: "keep" (the paper: the optimiser's state of a written row carries on), "reset_first"
        or "reset": zero the moments (RMSProp's v, Adam's m and v, SGD's momentum) of θ's rows
        `first` or `written`, so the next steps on a row the rule replaced are not scaled by
        gradients of the row it replaced.
    fresh_bias: "keep" (the paper: while a class is absent gradient descent pushes b_i down, and
        the write leaves it there), "mean" or "zero": on the first write set b_i to the mean bias
        of the classes already seen, or to 0; "none": a bias-free softmax, b held at 0.
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


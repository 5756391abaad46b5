"""One update in METHOD §2 order, after the loss and gradients, shared by both experiments
(`experiments.curriculum.curriculum_train_step`, `experiments.lm_train.lm_train_step`).

    1. clip the global gradient norm (optional)
    2. optimiser step on every parameter            → θ'
    3. Hebbian rule on θ' with the forward pass's h  → θ   (skipped for the plain softmax)
"""
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
        hebbian_softmax.update(params["softmax.theta"], h, y, reference=reference)
    return norm

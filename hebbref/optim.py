"""Optimisers over flat parameter dicts, updating in place; dense and sparse-row (METHOD §4).

Every optimiser has the signature ``opt(params, grads, state, *, lr, ...) -> None``:

- ``params``: {name: ndarray}. Arrays named in ``grads`` are changed in place (the caller's
  array objects), so any other reference to them sees the step.
- ``grads``: {name: ndarray or SparseRows}, keys a subset of ``params``. A dense gradient has the
  parameter's shape; a :class:`~hebbref.nn.embedding.SparseRows` ``(ids (K,), rows (K, ...))``
  is zero outside rows ``ids`` (unique, sorted). Parameters without a gradient are untouched,
  and so is their state.
- ``state``: a dict the caller creates empty (``{}``) and passes back on every step. The
  optimiser fills it lazily with plain values, so ``np.savez(path, **state)`` and
  ``dict(np.load(path))`` restore it bit-exactly:

  ===================== ============================ =====================================
  key                   value                        written by
  ===================== ============================ =====================================
  ``"step/<name>"``     int (a 0-d int64 array after  all three: steps applied to <name>
                        a round trip through .npz)
  ``"momentum/<name>"`` array like params[<name>]    sgd with momentum > 0
  ``"m/<name>"``        array like params[<name>]    adam: first moment
  ``"v/<name>"``        array like params[<name>]    adam: second moment; rmsprop: mean g²
  ===================== ============================ =====================================

  Buffers take the parameter's dtype (float32 parameters get float32 state). The step count is
  kept per parameter, as torch.optim does: a parameter that receives no gradient in a call
  does not advance.

The update formulas are torch.optim's (SGD with dampening 0 and no Nesterov, Adam, RMSprop,
all without weight decay), so the torch parity tests hold to 1e-10. Each optimiser writes its
formula once, as a function of row blocks; the dense path applies it to the whole array and the
sparse path to the rows ``ids`` only, so on touched rows the two agree bit for bit.

Validation happens before anything is written: a bad argument raises and leaves params and
state as they were. Gradients are not checked for finiteness (NaN or Inf propagate).

``reference=True`` runs the plain NumPy steps (:func:`sgd_step_numpy`, :func:`adam_step_numpy`);
otherwise SGD and Adam run their numba kernels (hebbref.kernels.sgd_step, adam_step), which are
bit-identical to them and imported only when first used, so the plain path never loads numba.
"""
import math

import numpy as np

from hebbref.nn.embedding import SparseRows
from hebbref.validate import check_array, check_number, check_same_dtype


# --------------------------------------------------------------------------------------------
# Boundary checks
# --------------------------------------------------------------------------------------------

def _check_fraction(x, name):
    """Return float(x) after checking 0 <= x < 1 (decay rates such as beta1, alpha, momentum)."""
    x = check_number(x, name, low=0.0, high=1.0)
    if x >= 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {x}")
    return x


def _check_positive(x, name):
    x = check_number(x, name, low=0.0)
    if x <= 0.0:
        raise ValueError(f"{name} must be > 0, got {x}")
    return x


def _check_gradient(name, g, p):
    """Check one gradient against its parameter: shape, dtype, and for SparseRows the ids."""
    if isinstance(g, SparseRows):
        if p.ndim == 0:
            raise ValueError(f"grads[{name!r}] is SparseRows but params[{name!r}] is a scalar")
        ids = check_array(g.ids, f"grads[{name!r}].ids", ndim=1, dtype_kind="i")
        rows = check_array(g.rows, f"grads[{name!r}].rows", shape=(ids.shape[0],) + p.shape[1:],
                           finite=False)
        if ids.size:
            if ids[0] < 0 or ids[-1] >= p.shape[0] or not np.all(ids[1:] > ids[:-1]):
                raise ValueError(
                    f"grads[{name!r}].ids must be unique, sorted and in [0, {p.shape[0]}), "
                    f"got {ids if ids.size <= 10 else str(ids[:10])[:-1] + ' ...]'}"
                )
        check_same_dtype(f"params[{name!r}]", p, f"grads[{name!r}].rows", rows)
    else:
        check_array(g, f"grads[{name!r}]", shape=p.shape, finite=False)
        check_same_dtype(f"params[{name!r}]", p, f"grads[{name!r}]", g)


def _check_step_inputs(params, grads, state, buffer_prefixes):
    """Validate params, grads and the state buffers this optimiser will use."""
    for arg_name, arg in (("params", params), ("grads", grads), ("state", state)):
        if not isinstance(arg, dict):
            raise TypeError(f"{arg_name} must be a dict, got {type(arg).__name__}")
    for name, g in grads.items():
        if name not in params:
            raise ValueError(
                f"grads has key {name!r}, which is not in params (keys: {sorted(params)})"
            )
        p = check_array(params[name], f"params[{name!r}]", finite=False)
        if not p.flags.writeable:
            raise ValueError(f"params[{name!r}] must be writeable (it is updated in place)")
        _check_gradient(name, g, p)
        for prefix in buffer_prefixes:
            key = f"{prefix}/{name}"
            if key in state:
                buffer = check_array(state[key], f"state[{key!r}]", shape=p.shape, finite=False)
                check_same_dtype(f"params[{name!r}]", p, f"state[{key!r}]", buffer)
                if not buffer.flags.writeable:
                    raise ValueError(f"state[{key!r}] must be writeable (it is updated in place)")


def _check_lr(lr):
    return check_number(lr, "lr", low=0.0)


# --------------------------------------------------------------------------------------------
# The plain steps, and the choice of their numba twins
# --------------------------------------------------------------------------------------------

def sgd_step_numpy(p, g, lr):
    """p ← p − lr · g in place (lr acts in p's dtype, NumPy's rule for Python scalars).
    p, g: same shape and dtype. Plain twin of hebbref.kernels.sgd_step."""
    p -= lr * g


def adam_step_numpy(p, g, m, v, *, beta1, beta2, eps, step_size, sqrt_bias_correction2):
    """Adam's moment update and step, one array operation a line; plain twin of
    hebbref.kernels.adam_step. p, g, m, v: same shape and dtype; p, m, v updated in place:

        m ← beta1 · m + (1 − beta1) · g,       then 0 where |m| < tiny
        v ← beta2 · v + (1 − beta2) · g²,      then 0 where v < tiny
        p ← p − step_size · m / (sqrt(v) / sqrt_bias_correction2 + eps)

    tiny is the dtype's smallest normal number (float32 1.2e-38): moments that have decayed into
    the subnormal range are flushed to zero (docs/MATH.md §4.3: why, and the bound on p).
    Python-float coefficients act in the arrays' dtype (NumPy's rule for scalars), so float32
    stays float32. Returns None.
    """
    tiny = np.finfo(m.dtype).tiny
    m *= beta1
    m += (1.0 - beta1) * g
    m[np.abs(m) < tiny] = 0.0
    v *= beta2
    v += (1.0 - beta2) * (g * g)
    v[v < tiny] = 0.0
    denom = np.sqrt(v)
    denom /= sqrt_bias_correction2
    denom += eps
    delta = np.divide(m, denom, out=denom)
    delta *= step_size
    p -= delta


def _kernel(name, reference, *in_place):
    """hebbref.kernels.<name>, or None for the plain step: on the reference path, or when an
    array the kernel updates in place is not C-contiguous (it works on flat views)."""
    if reference or not all(a.flags.c_contiguous for a in in_place):
        return None
    from hebbref import kernels

    return getattr(kernels, name)


# --------------------------------------------------------------------------------------------
# Shared driver: the dense path and the sparse-row path around one row-block formula
# --------------------------------------------------------------------------------------------

def _apply(params, grads, state, buffer_prefixes, update_rows):
    """Run ``update_rows`` on every (param, grad) pair, dense or on the touched rows only.

    update_rows(p_rows, g_rows, buffer_rows, step) updates p_rows and each block of buffer_rows
    (a tuple with one row block per prefix) in place.
    Dense: the blocks are the parameter and the state arrays themselves, so nothing is copied.
    Sparse: the blocks are copies of rows ``ids``, written back after the update.
    """
    for name, g in grads.items():
        p = params[name]
        step_key = f"step/{name}"
        step = int(state.get(step_key, 0)) + 1
        state[step_key] = step
        buffers = []
        for prefix in buffer_prefixes:
            key = f"{prefix}/{name}"
            if key not in state:
                state[key] = np.zeros_like(p)
            buffers.append(state[key])

        if isinstance(g, SparseRows):
            ids = g.ids
            if ids.size == 0:
                continue  # the step counter still advances, as in torch.optim.SparseAdam
            rows = tuple(b[ids] for b in buffers)
            p_rows = p[ids]
            update_rows(p_rows, g.rows, rows, step)
            # ids are unique, so fancy-index assignment writes each row once (no scatter-add).
            for buffer, block in zip(buffers, rows):
                buffer[ids] = block
            p[ids] = p_rows
        else:
            update_rows(p, g, tuple(buffers), step)


# --------------------------------------------------------------------------------------------
# The optimisers
# --------------------------------------------------------------------------------------------

def sgd(params, grads, state, *, lr, momentum=0.0, reference=False):
    """Stochastic gradient descent, with optional heavy-ball momentum (torch.optim.SGD).

    Equations (dampening 0, no Nesterov, as torch.optim.SGD):
        momentum = 0:   p ← p − lr · g
        momentum > 0:   buf ← momentum · buf + g   (buf starts at 0, so the first step has buf = g)
                        p ← p − lr · buf

    Inputs:  params, grads, state as in the module docstring; lr ≥ 0; momentum in [0, 1);
             reference: the plain step (sgd_step_numpy) instead of its numba twin.
    State:   "step/<name>"; with momentum > 0 also "momentum/<name>" (shape and dtype of the param).
    Sparse:  for a SparseRows gradient only the rows ``ids`` of the parameter and of its momentum
             buffer change. The buffers of untouched rows are *not* decayed (a dense step with a
             zero gradient there would decay them and keep moving those rows); a row's buffer
             starts at 0 the first time it is touched.
    Returns None (params and state are updated in place).
    """
    lr = _check_lr(lr)
    momentum = _check_fraction(momentum, "momentum")
    prefixes = ("momentum",) if momentum > 0.0 else ()
    _check_step_inputs(params, grads, state, prefixes)

    def update_rows(p, g, buffers, step):
        if momentum > 0.0:
            (buf,) = buffers
            buf *= momentum
            buf += g                  # buf ← momentum · buf + g
            g = buf
        (_kernel("sgd_step", reference, p) or sgd_step_numpy)(p, g, lr)   # p ← p − lr·g

    _apply(params, grads, state, prefixes, update_rows)


def adam(params, grads, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, reference=False):
    """Adam (Kingma & Ba, 2015) with bias correction, as torch.optim.Adam computes it.

    Equations (t = this parameter's step count, starting at 1):
        m ← beta1 · m + (1 − beta1) · g
        v ← beta2 · v + (1 − beta2) · g²
        p ← p − lr / (1 − beta1^t) · m / (sqrt(v) / sqrt(1 − beta2^t) + eps)
    i.e. p ← p − lr · m̂ / (sqrt(v̂) + eps) with m̂ = m/(1 − beta1^t), v̂ = v/(1 − beta2^t).
    One departure: entries of m and v that fall below the dtype's smallest normal number are set
    to 0 (docs/MATH.md §4.3; subnormal arithmetic made long runs 2–4× slower).

    Inputs:  params, grads, state as in the module docstring; lr ≥ 0; beta1, beta2 in [0, 1);
             eps > 0; reference: the plain step (adam_step_numpy) instead of its numba twin.
    State:   "step/<name>", "m/<name>", "v/<name>".
    Sparse:  lazy, like torch.optim.SparseAdam: for a SparseRows gradient only rows ``ids`` of
             the parameter, m and v change; the moments of untouched rows are not decayed. The
             bias correction uses the parameter's step count (every call that passes a gradient
             for it, however few rows it touches), not a per-row count. One difference from
             SparseAdam: eps is added to sqrt(v̂) here, as in dense Adam, whereas SparseAdam adds
             it to sqrt(v) (equivalent to eps · sqrt(1 − beta2^t) here). Keeping the dense
             formula makes a sparse step equal a dense step on the touched rows.
    Returns None (params and state are updated in place).
    """
    lr = _check_lr(lr)
    beta1 = _check_fraction(beta1, "beta1")
    beta2 = _check_fraction(beta2, "beta2")
    eps = _check_positive(eps, "eps")
    prefixes = ("m", "v")
    _check_step_inputs(params, grads, state, prefixes)

    def update_rows(p, g, buffers, step):
        m, v = buffers
        bias_correction1 = 1.0 - beta1**step
        bias_correction2 = 1.0 - beta2**step
        step_fn = _kernel("adam_step", reference, p, m, v) or adam_step_numpy
        step_fn(p, g, m, v, beta1=beta1, beta2=beta2, eps=eps, step_size=lr / bias_correction1,
                sqrt_bias_correction2=math.sqrt(bias_correction2))

    _apply(params, grads, state, prefixes, update_rows)


def rmsprop(params, grads, state, *, lr, alpha=0.99, eps=1e-8, reference=False):
    """RMSProp (Tieleman & Hinton, 2012), uncentred and without momentum (torch.optim.RMSprop).

    Equations:
        v ← alpha · v + (1 − alpha) · g²        (v starts at 0)
        p ← p − lr · g / (sqrt(v) + eps)

    Inputs:  params, grads, state as in the module docstring; lr ≥ 0; alpha in [0, 1); eps > 0;
             reference: accepted so that every optimiser takes the same arguments; RMSProp has
             only the plain path.
    State:   "step/<name>", "v/<name>".
    Sparse:  only rows ``ids`` of the parameter and of v change; v of untouched rows is not
             decayed.
    Returns None (params and state are updated in place).
    """
    lr = _check_lr(lr)
    alpha = _check_fraction(alpha, "alpha")
    eps = _check_positive(eps, "eps")
    prefixes = ("v",)
    _check_step_inputs(params, grads, state, prefixes)

    def update_rows(p, g, buffers, step):
        (v,) = buffers
        v *= alpha
        v += (1.0 - alpha) * (g * g)  # v ← alpha · v + (1 − alpha) · g²
        denom = np.sqrt(v)
        denom += eps
        p -= lr * (g / denom)

    _apply(params, grads, state, prefixes, update_rows)


OPTIMIZERS = {"sgd": sgd, "adam": adam, "rmsprop": rmsprop}


def clip_grad_norm(grads, max_norm):
    """Scale all gradients so their global L2 norm is at most max_norm (torch clip_grad_norm_).

    Equations:
        total = sqrt(Σ over dense grads ‖g‖² + Σ over SparseRows ‖rows‖²)
        if total > max_norm:  g ← g · max_norm / (total + 1e-6)   for every gradient
    The 1e-6 is torch's, so after clipping the norm is max_norm · total/(total + 1e-6), a hair
    below max_norm.

    Inputs:  grads: {name: ndarray or SparseRows} (floating); max_norm > 0.
    Outputs: total, the norm before clipping, as a float. Gradients (dense arrays and the
             ``rows`` of SparseRows) are scaled in place, keeping their dtype. A non-finite total
             leaves the gradients unchanged, so the caller can see it and skip the step.
    """
    max_norm = _check_positive(max_norm, "max_norm")
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict, got {type(grads).__name__}")
    arrays = []
    for name, g in grads.items():
        if isinstance(g, SparseRows):
            arrays.append(check_array(g.rows, f"grads[{name!r}].rows", finite=False))
        else:
            arrays.append(check_array(g, f"grads[{name!r}]", finite=False))

    # Each array's norm in its own dtype; the norms are combined in Python floats.
    total = math.sqrt(sum(float(np.linalg.norm(a.ravel())) ** 2 for a in arrays))
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for a in arrays:
            a *= scale
    return total

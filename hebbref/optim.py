"""Optimisers over flat parameter dicts, updating in place; dense and sparse-row (docs/MATH.md §4).

Every optimiser is ``opt(params, grads, state, *, lr, ..., reference=False) -> None``: the
arrays of ``params`` named in ``grads`` ({name: ndarray or SparseRows (ids (K,) unique and
sorted, rows (K, ...)), §4.5}) change in place; ``state``, a dict the caller creates empty,
fills lazily with "step/<name>", "momentum/<name>", "m/<name>", "v/<name>" in the parameter's
dtype, so np.savez round-trips it bit-exactly. The formulas are torch.optim's (no weight decay),
each written once on row blocks, so a sparse step equals the dense one on touched rows bit for
bit. A bad argument raises before anything is written; gradients are not checked for finiteness.
reference=True runs the plain steps (sgd_step_numpy, adam_step_numpy), not the numba kernels.
"""
import math

import numpy as np

from hebbref.nn.embedding import SparseRows
from hebbref.checks import check_array, check_number, check_same_dtype


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
        if ids.size and (ids[0] < 0 or ids[-1] >= p.shape[0] or not np.all(ids[1:] > ids[:-1])):
            shown = ids if ids.size <= 10 else str(ids[:10])[:-1] + " ...]"
            raise ValueError(f"grads[{name!r}].ids must be unique, sorted and in "
                             f"[0, {p.shape[0]}), got {shown}")
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
            raise ValueError(f"grads has key {name!r}, which is not in params (keys: "
                             f"{sorted(params)})")
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


def sgd_step_numpy(p, g, lr):
    """p ← p − lr · g in place (lr acts in p's dtype, NumPy's rule for Python scalars).
    p, g: same shape and dtype. Plain twin of hebbref.kernels.sgd_step."""
    p -= lr * g


def adam_step_numpy(p, g, m, v, *, beta1, beta2, eps, step_size, sqrt_bias_correction2):
    """Adam's moment update and step (docs/MATH.md §4.3), one array operation a line; plain
    twin of hebbref.kernels.adam_step. p, g, m, v: same shape and dtype; p, m, v in place.
    Moments below the dtype's smallest normal number are flushed to 0 (§4.3 says why)."""
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


def _apply(params, grads, state, buffer_prefixes, update_rows):
    """Run update_rows(p_rows, g_rows, buffer_rows, step), which updates p_rows and each block of
    the tuple buffer_rows in place, on every (param, grad) pair: dense, on the arrays themselves;
    sparse, on copies of rows ``ids`` that are written back."""
    _check_step_inputs(params, grads, state, buffer_prefixes)  # before anything is written
    for name, g in grads.items():
        p = params[name]
        step = state[f"step/{name}"] = int(state.get(f"step/{name}", 0)) + 1
        for prefix in buffer_prefixes:
            if f"{prefix}/{name}" not in state:
                state[f"{prefix}/{name}"] = np.zeros_like(p)
        buffers = [state[f"{prefix}/{name}"] for prefix in buffer_prefixes]

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


def sgd(params, grads, state, *, lr, momentum=0.0, reference=False):
    """SGD with optional heavy-ball momentum, as torch.optim.SGD (docs/MATH.md §4.2).
    lr >= 0; momentum in [0, 1). Sparse: untouched rows' buffers are not decayed."""
    lr = check_number(lr, "lr", low=0.0)
    momentum = _check_fraction(momentum, "momentum")
    prefixes = ("momentum",) if momentum > 0.0 else ()

    def update_rows(p, g, buffers, step):
        if momentum > 0.0:
            (buf,) = buffers
            buf *= momentum
            buf += g                  # buf ← momentum · buf + g
            g = buf
        (_kernel("sgd_step", reference, p) or sgd_step_numpy)(p, g, lr)   # p ← p − lr·g

    _apply(params, grads, state, prefixes, update_rows)


def adam(params, grads, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, reference=False):
    """Adam with bias correction, as torch.optim.Adam (docs/MATH.md §4.3); lr >= 0; beta1, beta2
    in [0, 1); eps > 0. Sparse: lazy, as torch.optim.SparseAdam, but eps as in dense Adam (§4.5)."""
    lr = check_number(lr, "lr", low=0.0)
    beta1 = _check_fraction(beta1, "beta1")
    beta2 = _check_fraction(beta2, "beta2")
    eps = _check_positive(eps, "eps")

    def update_rows(p, g, buffers, step):
        m, v = buffers
        bias_correction1 = 1.0 - beta1**step
        bias_correction2 = 1.0 - beta2**step
        step_fn = _kernel("adam_step", reference, p, m, v) or adam_step_numpy
        step_fn(p, g, m, v, beta1=beta1, beta2=beta2, eps=eps, step_size=lr / bias_correction1,
                sqrt_bias_correction2=math.sqrt(bias_correction2))

    _apply(params, grads, state, ("m", "v"), update_rows)


def rmsprop(params, grads, state, *, lr, alpha=0.99, eps=1e-8, reference=False):
    """RMSProp, uncentred, no momentum, as torch.optim.RMSprop (docs/MATH.md §4.4). lr >= 0;
    alpha in [0, 1); eps > 0; reference: accepted for a uniform signature (plain path only)."""
    lr = check_number(lr, "lr", low=0.0)
    alpha = _check_fraction(alpha, "alpha")
    eps = _check_positive(eps, "eps")

    def update_rows(p, g, buffers, step):
        (v,) = buffers
        v *= alpha
        v += (1.0 - alpha) * (g * g)  # v ← alpha · v + (1 − alpha) · g²
        denom = np.sqrt(v)
        denom += eps
        p -= lr * (g / denom)

    _apply(params, grads, state, ("v",), update_rows)


OPTIMIZERS = {"sgd": sgd, "adam": adam, "rmsprop": rmsprop}


def clip_grad_norm(grads, max_norm):
    """Scale all gradients in place so their global L2 norm is at most max_norm (docs/MATH.md
    §4.1, torch's clip_grad_norm_). grads: {name: ndarray or SparseRows}; max_norm > 0.
    Returns the norm before clipping; a non-finite one leaves the gradients unchanged, so the
    caller can see it and skip the step.
    """
    max_norm = _check_positive(max_norm, "max_norm")
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict, got {type(grads).__name__}")
    arrays = [check_array(g.rows, f"grads[{name!r}].rows", finite=False)
              if isinstance(g, SparseRows) else check_array(g, f"grads[{name!r}]", finite=False)
              for name, g in grads.items()]

    # Each array's norm in its own dtype; the norms are combined in Python floats.
    total = math.sqrt(sum(float(np.linalg.norm(a.ravel())) ** 2 for a in arrays))
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for a in arrays:
            a *= scale
    return total

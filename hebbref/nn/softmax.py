"""Softmax output layer and cross-entropy loss (docs/MATH.md §3). Plain path (read this):
softmax_layer_forward → softmax_cross_entropy_reference → softmax_layer_backward. Fast twins,
tested equal: softmax_cross_entropy (in place, row blocks on the BLAS threads) and
linear_cross_entropy (the whole layer fused over row blocks, so the (N, V) logits never exist).
They import hebbref.threads and hebbref.kernels (numba) when first called.
"""
import numpy as np

from hebbref.checks import check_array, check_labels, check_same_dtype


SOFTMAX_BIAS_INITS = ("zero", "uniform")


def softmax_init(hidden_size, num_classes, rng, *, dtype, bias_init="zero"):
    """{"theta": (V, H) ~ U(−1/√H, 1/√H), "b": (V,)} (docs/MATH.md §2.9), drawn in that order;
    bias_init "zero" or "uniform" (b ~ U(−1/√H, 1/√H), as torch.nn.Linear draws it)."""
    if bias_init not in SOFTMAX_BIAS_INITS:
        raise ValueError(f"bias_init must be one of {SOFTMAX_BIAS_INITS}, got {bias_init!r}")
    bound = 1.0 / np.sqrt(hidden_size)
    theta = rng.uniform(-bound, bound, (num_classes, hidden_size)).astype(dtype)
    b = (rng.uniform(-bound, bound, num_classes).astype(dtype) if bias_init == "uniform"
         else np.zeros(num_classes, dtype=dtype))
    return {"theta": theta, "b": b}


def softmax_layer_forward(h, params):
    """h: (N, H); params {"theta": (V, H), "b": (V,)} -> z: (N, V) = h θᵀ + b, cache (h, theta)."""
    theta = check_array(params.get("theta"), "params['theta']", ndim=2)
    b = check_array(params.get("b"), "params['b']", shape=(theta.shape[0],))
    h = check_array(h, "h", shape=(None, theta.shape[1]))
    check_same_dtype("h", h, "params['theta']", theta)
    z = h @ theta.T
    z += b  # in place: a second (N, V) array would cost as much as the bias add itself
    return z, (h, theta)


def softmax_layer_backward(dz, cache):
    """dz: (N, V) -> dh: (N, H) = dz θ, grads {"theta": (V, H) = dzᵀ h, "b": (V,) = Σ_t dz_t}."""
    h, theta = cache
    return dz @ theta, {"theta": dz.T @ h, "b": dz.sum(axis=0)}


def log_softmax(z):
    """Stable log-softmax over the last axis: z − max − log Σ exp(z − max). (N, V) -> (N, V)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def nll_per_target_reference(z, y):
    """−log p_t[y_t] for every row, through log_softmax: z: (N, V), y: (N,) -> (N,)."""
    logp = log_softmax(z)
    return -logp[np.arange(z.shape[0]), y]


def nll_per_target(z, y):
    """Fast twin of nll_per_target_reference (bit for bit: the same operations on every row),
    over row blocks on the BLAS threads, without the (N, V) log-probabilities."""
    from hebbref import threads

    return np.concatenate(threads.map_row_blocks(_nll_rows, (z, y), z.shape[0], z.shape[1]))


def _nll_rows(rows, z, y):
    """−log p_t[y_t] for the rows `rows` (a slice) of z, on a copy of the block (z unchanged)."""
    return _softmax_numerators(slice(None), z[rows].copy(), y[rows])[0]


def softmax_cross_entropy_reference(z, y):
    """Mean cross-entropy and its gradient, as docs/MATH.md §3.2–§3.3 write them.
    z: (N, V) logits; y: (N,) int in [0, V) -> loss (0.0 when N = 0), dz: (N, V), a new array."""
    z = check_array(z, "z", ndim=2)
    y = check_labels(y, "y", z.shape[1], shape=(z.shape[0],))
    n = z.shape[0]
    if n == 0:
        return 0.0, np.zeros_like(z)
    rows = np.arange(n)
    logp = log_softmax(z)
    loss = -logp[rows, y].mean()
    dz = np.exp(logp)            # p
    dz[rows, y] -= 1.0           # p − onehot(y)
    dz /= n
    return float(loss), dz


def softmax_cross_entropy(z, y, *, overwrite_z=False):
    """Fast twin of softmax_cross_entropy_reference, one exp per logit, in row blocks on the BLAS
    threads (every row computed alike, so the split does not matter). overwrite_z: build dz in
    z's buffer and skip the NaN/Inf scan (a non-finite logit shows as a non-finite loss), which
    saves one (N, V) array and two passes over it on logits the caller owns.
    """
    z = check_array(z, "z", ndim=2, finite=not overwrite_z)
    y = check_labels(y, "y", z.shape[1], shape=(z.shape[0],))
    n = z.shape[0]
    if n == 0:
        return 0.0, np.zeros_like(z)
    from hebbref import threads

    dz = z if overwrite_z else z.copy()
    nll = threads.map_row_blocks(_cross_entropy_rows, (dz, y, n), n, z.shape[1])
    return float(np.mean(np.concatenate(nll))), dz


def _softmax_numerators(rows, z, y):
    """On the rows `rows` (a slice) of z, in place: z ← exp(z − max z) row by row, the softmax's
    numerators. Returns (−log p_t[y_t], Σ_j exp(z_j − max z)) for those rows, each (rows,)."""
    z, y = z[rows], y[rows]
    z -= z.max(axis=1, keepdims=True)
    target_shifted = z[np.arange(z.shape[0]), y]
    np.exp(z, out=z)
    total = z.sum(axis=1)
    return np.log(total) - target_shifted, total


def _cross_entropy_rows(rows, dz, y, n):
    """On the rows `rows` (a slice) of dz, in place: dz ← (softmax(dz) − onehot(y)) / n, with one
    exp (the buffer that holds exp(z − max) becomes dz). Returns −log p_t[y_t] for those rows."""
    nll, total = _softmax_numerators(rows, dz, y)
    z = dz[rows]
    z /= (total * n)[:, None]
    z[np.arange(z.shape[0]), y[rows]] -= z.dtype.type(1.0 / n)
    return nll


# Logit elements per row block of linear_cross_entropy (32 MiB in float32), but never fewer than
# MIN_BLOCK_ROWS rows: every block reads θ twice and the (V, H) gradient once whatever its
# height, so short blocks ran 1.5–2.5× slower than the unfused layer (validation/README.md).
BLOCK_ELEMENTS = 1 << 23
MIN_BLOCK_ROWS = 256


def linear_cross_entropy(h, params, y, *, block_rows=None):
    """Fused twin of softmax_layer_forward → softmax_cross_entropy_reference →
    softmax_layer_backward: the same (loss, dh (N, H), grads {"theta", "b"}) from h: (N, H),
    params, y: (N,), without the (N, V) logits. block_rows: at most this many rows per block
    (default BLOCK_ELEMENTS / V, at least MIN_BLOCK_ROWS), blocks of equal height.
    """
    # θ, b and the logits are not scanned for NaN/Inf (a pass over θ costs as much as the bias
    # add): a non-finite value shows as a non-finite loss, which the caller checks.
    theta = check_array(params.get("theta"), "params['theta']", ndim=2, finite=False)
    b = check_array(params.get("b"), "params['b']", shape=(theta.shape[0],), finite=False)
    h = check_array(h, "h", shape=(None, theta.shape[1]))
    check_same_dtype("h", h, "params['theta']", theta)
    V, N = theta.shape[0], h.shape[0]
    y = check_labels(y, "y", V, shape=(N,))
    dh = np.empty_like(h)
    if N == 0:
        return 0.0, dh, {"theta": np.zeros_like(theta), "b": np.zeros_like(b)}
    # The first block writes dθ, the others add to it: no pass to zero dθ.
    grads = {"theta": np.empty_like(theta), "b": np.zeros_like(b)}
    blocks = -(-N // (block_rows or max(MIN_BLOCK_ROWS, BLOCK_ELEMENTS // V)))
    rows = -(-N // blocks)
    z_buffer = np.empty((min(rows, N), V), dtype=h.dtype)
    nll = []
    for start in range(0, N, rows):
        block = slice(start, min(start + rows, N))
        nll += _fused_block(h[block], y[block], theta, b, z_buffer, dh[block], grads, N,
                            first=start == 0)
    return float(np.mean(np.concatenate(nll))), dh, grads


def _fused_block(h, y, theta, b, z_buffer, dh, grads, n, *, first):
    """One row block of linear_cross_entropy: writes its rows of dh, adds its terms to grads
    (overwrites grads["theta"] if `first`); returns [−log p_t[y_t] of its rows]. Its dz_t =
    s_t e_t − onehot(y_t)/n (e_t = exp(z_t − max z_t) in z's buffer, s_t = 1/(n Σ_j e_tj)) is
    never written out: s scales the small side of each product and the onehot's terms are rows
    of θ and h, which saves a pass over the logits."""
    from hebbref import threads
    from hebbref.kernels import matmul_accumulate, scatter_add_rows

    z = z_buffer[:h.shape[0]]
    z[...] = b
    matmul_accumulate(z, h, theta, transpose="b")   # z = b + h θᵀ: no second pass to add b
    parts = threads.map_row_blocks(_softmax_numerators, (z, y), z.shape[0], z.shape[1])
    s = 1 / (np.concatenate([total for _, total in parts]) * n)      # (rows,): p_t = s_t e_t
    inv_n = h.dtype.type(1 / n)
    np.matmul(z, theta, out=dh)
    dh *= s[:, None]
    dh -= theta[y] * inv_n                          # dh = dz θ
    hs = h * s[:, None]
    if first:
        np.matmul(z.T, hs, out=grads["theta"])
    else:
        matmul_accumulate(grads["theta"], z, hs)    # dθ += (s e)ᵀ h, no (V, H) temporary
    scatter_add_rows(grads["theta"], y, h * -inv_n)  # dθ[y_t] −= h_t / n
    grads["b"] += z.T @ s                           # db += Σ_t s_t e_t
    np.subtract.at(grads["b"], y, inv_n)            # db[y_t] −= 1 / n
    return [nll for nll, _ in parts]

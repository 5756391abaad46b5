"""Neural cache of Grave et al. (2017) for evaluating the language model: p_cache and the mixture
with λ_c are docs/MATH.md §6.4. Log space with a max shift keeps θ_c = 1e3 finite. The fast path
keeps h_t·h_j and the cache's log-sum-exp in the model's dtype (float32's exp is faster, and the
products carry float32 precision anyway), then mixes in float64; over a stream only the target's
cache probability is computed, O(W·H) per target (reference=True: the one-step formula).
"""
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from hebbref.stream import walk
from hebbref.checks import check_array, check_int, check_labels, check_number

# Default grid: Grave et al. (2017) report caches of 100 and 2,000 words; LSTM outputs are
# tanh-bounded, |h_t·h_j| <= H, so θ_c in {0.1, 0.3, 1} runs from a flat to a peaked cache.
DEFAULT_WINDOWS = (100, 500, 2000)
DEFAULT_THETA_CS = (0.1, 0.3, 1.0)
DEFAULT_LAMBDA_CS = (0.05, 0.1, 0.2, 0.3)

def check_window(window, name="window"):
    return check_int(window, name, 1)


def check_theta_c(theta_c, name="theta_c"):
    return check_number(theta_c, name, low=0.0)


def check_lambda_c(lambda_c, name="lambda_c"):
    """λ_c (and MbPA's λ_m) in [0, 1]."""
    return check_number(lambda_c, name, low=0.0, high=1.0)


def check_grid_values(values, name, check):
    """A non-empty sequence, each value passed through check(value, "name[i]"); repeated values
    dropped, order kept."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty sequence, got {values!r}")
    return tuple(dict.fromkeys(check(value, f"{name}[{i}]") for i, value in enumerate(values)))


def cache_log_probs_reference(h_t, window_h, window_next, V, *, theta_c):
    """log p_cache(w | h_t) for every word w, by a plain loop over the window (docs/MATH.md §6.4).
    h_t: (H,); window_h: (W, H) earlier h_j, W >= 0; window_next: (W,) int, the word x_{j+1}
    after each; V: vocabulary size -> (V,) float64, −inf for words not in the window."""
    V = check_int(V, "V", 1)
    h_t = check_array(h_t, "h_t", ndim=1)
    window_h = check_array(window_h, "window_h", shape=(None, h_t.shape[0]))
    window_next = check_labels(window_next, "window_next", V, shape=(window_h.shape[0],))
    theta_c = check_theta_c(theta_c)
    log_unnormalised = np.full(V, -np.inf)
    for j in range(window_h.shape[0]):
        a_j = theta_c * float(np.dot(h_t.astype(np.float64), window_h[j].astype(np.float64)))
        word = window_next[j]
        log_unnormalised[word] = np.logaddexp(log_unnormalised[word], a_j)
    log_total = -np.inf
    for word in range(V):
        log_total = np.logaddexp(log_total, log_unnormalised[word])
    if log_total == -np.inf:
        return log_unnormalised
    return log_unnormalised - log_total


def mix_log_probs(log_p_model, log_p_cache, lambda_c):
    """log((1 − λ_c) p_model + λ_c p_cache), elementwise, as float64 (docs/MATH.md §6.4).
    Arrays of one shape (−inf allowed in log_p_cache); λ_c = 0 returns log_p_model exactly."""
    lambda_c = check_lambda_c(lambda_c)
    log_p_model = np.asarray(log_p_model, dtype=np.float64)
    log_p_cache = np.asarray(log_p_cache, dtype=np.float64)
    if log_p_model.shape != log_p_cache.shape:
        raise ValueError(f"log_p_model and log_p_cache must have the same shape, got "
                         f"{log_p_model.shape} and {log_p_cache.shape}")
    return _mix(log_p_model, log_p_cache, lambda_c)


def _mix(log_p_model, log_p_cache, lambda_c):
    if lambda_c == 0.0:
        return log_p_model.copy()
    if lambda_c == 1.0:
        return log_p_cache.copy()
    return np.logaddexp(math.log1p(-lambda_c) + log_p_model, math.log(lambda_c) + log_p_cache)


def _log_cache_prob_of_targets(scores, valid, match, theta_c):
    """log p_cache(target) of n steps, in scores' dtype: (n,), −inf where nothing matches.
    scores: (n, W) h_t·h_j; valid: (n, W) bool, the entry holds a pair (None: all do);
    match: (n, W) bool, x_{j+1} equals the target (only where valid)."""
    a = scores * scores.dtype.type(theta_c)
    if valid is not None:
        a[~valid] = -np.inf
    top = a.max(axis=1)                                    # −inf for an empty window
    shift = np.where(np.isfinite(top), top, 0)
    a -= shift[:, None]
    weights = np.exp(a, out=a)                             # 0 outside the window; the max gives 1
    total = weights.sum(axis=1)                            # >= 1 for a non-empty window
    matched = np.sum(weights, axis=1, where=match)
    log_total = np.log(np.where(total > 0, total, 1))      # empty window: matched = 0 too
    with np.errstate(divide="ignore"):
        log_p = np.log(matched) - log_total                # log 0 = −inf: target not in the window
    # A target whose entries all lie far below the window's max underflows (or loses digits to
    # subnormals) with the shared shift; redo its numerator shifted by its own max.
    info = np.finfo(scores.dtype)
    redo = (matched < info.tiny / info.eps) & match.any(axis=1)
    if redo.any():
        a_match = scores[redo] * scores.dtype.type(theta_c)
        a_match[~match[redo]] = -np.inf
        top_match = a_match.max(axis=1)
        log_matched = top_match + np.log(np.exp(a_match - top_match[:, None]).sum(axis=1))
        log_p[redo] = log_matched - (shift[redo] + log_total[redo])
    return log_p


def _slide(window_h, window_next, h, y):
    """One segment's targets scored against their columns' windows, and the windows moved on.

    window_h: (N, W, H), window_next: (N, W): each column's last W pairs, oldest first (x = −1,
    matching no word, where it has fewer); h: (t·N, H), y: (t, N) of the segment. Returns
    scores: (t·N, W) h_t·h_j; match: (t·N, W) x_{j+1} == target; the windows after it. Step i's
    window is rows [i, i + W) of window + segment: one (t, W + t) product per column, banded.
    """
    t, columns = y.shape
    W = window_h.shape[1]
    # contiguous, so that the batched product below goes to BLAS
    h_by_column = np.ascontiguousarray(h.reshape(t, columns, -1).transpose(1, 0, 2))
    past_h = np.concatenate([window_h, h_by_column], axis=1)                     # (N, W + t, H)
    past_next = np.concatenate([window_next, y.T], axis=1)                       # (N, W + t)
    products = h_by_column @ past_h.transpose(0, 2, 1)                           # (N, t, W + t)
    # scores[n, i, k] = products[n, i, i + k]: a view that steps one row and one column at a
    # time along i (no copy; the reshape below makes the one copy).
    row_stride, col_stride = products.strides[1:]
    scores = as_strided(products, shape=(columns, t, W), writeable=False,
                        strides=(products.strides[0], row_stride + col_stride, col_stride))
    match = sliding_window_view(past_next, W, axis=1)[:, :t] == y.T[:, :, None]  # (N, t, W)
    # the target order of stream.walk: row-major over (t, N)
    scores = scores.transpose(1, 0, 2).reshape(t * columns, W)
    match = match.transpose(1, 0, 2).reshape(t * columns, W)
    return scores, match, past_h[:, t:].copy(), past_next[:, t:].copy()


def _cache_segments(params, tokens, batch_size, bptt, windows, theta_cs):
    """Per segment of stream.walk: (model nll (n,), targets (n,), {(W, θ_c): log p_cache (n,)}).
    Each window is the newest W entries of the largest, so one set of dot products serves every
    W and θ_c; each (W, θ_c) costs one log-sum-exp over W entries per target.
    """
    max_window = max(windows)
    for start, y, h, _, nll in walk(params, tokens, batch_size=batch_size, bptt=bptt):
        t, columns = y.shape
        if start == 0:
            window_h = np.zeros((columns, max_window, h.shape[1]), dtype=h.dtype)
            window_next = np.full((columns, max_window), -1, dtype=np.int64)
        scores, match, window_h, window_next = _slide(window_h, window_next, h, y)
        history = np.repeat(start + np.arange(t), columns)    # earlier pairs in the column
        log_p_cache = {}
        for W in windows:
            recent = slice(max_window - W, max_window)
            if history.min() >= W:             # every window full: skip the mask
                valid, match_W = None, match[:, recent]
            else:
                valid = np.arange(W)[None, :] >= (W - np.minimum(history, W))[:, None]
                match_W = match[:, recent] & valid
            for theta_c in theta_cs:
                log_p_cache[W, theta_c] = _log_cache_prob_of_targets(
                    scores[:, recent], valid, match_W, theta_c).astype(np.float64)
        yield nll, y.reshape(-1), log_p_cache


def _cache_segments_reference(params, tokens, batch_size, bptt, windows, theta_cs):
    """Plain twin of `_cache_segments`: the model's plain path, then cache_log_probs_reference
    at every target over its column's last W pairs, past_h: (steps, N, H), past_next: (steps, N)."""
    for start, y, h, z, nll in walk(params, tokens, batch_size=batch_size, bptt=bptt,
                                    reference=True):
        t, columns = y.shape
        h = h.reshape(t, columns, -1)
        if start == 0:
            past_h, past_next = h[:0], y[:0]
        log_p_cache = {(W, theta_c): np.empty(t * columns) for W in windows
                       for theta_c in theta_cs}
        for i in range(t):
            for b in range(columns):
                for W, theta_c in log_p_cache:
                    log_p = cache_log_probs_reference(h[i, b], past_h[-W:, b], past_next[-W:, b],
                                                      z.shape[1], theta_c=theta_c)
                    log_p_cache[W, theta_c][i * columns + b] = log_p[y[i, b]]
            past_h = np.concatenate([past_h, h[i:i + 1]])[-max(windows):]
            past_next = np.concatenate([past_next, y[i:i + 1]])[-max(windows):]
        yield nll, y.reshape(-1), log_p_cache


def _grid(params, tokens, batch_size, bptt, windows, theta_cs, lambda_cs, reference):
    """NLL of every target at every grid point from one model pass; each λ_c costs one
    log-add-exp per target. Returns ({(W, θ_c, λ_c): nll (K,)}, model nll (K,), targets (K,))."""
    windows = check_grid_values(windows, "windows", check_window)
    theta_cs = check_grid_values(theta_cs, "theta_cs", check_theta_c)
    lambda_cs = check_grid_values(lambda_cs, "lambda_cs", check_lambda_c)
    segments = _cache_segments_reference if reference else _cache_segments
    pieces, model_nll, all_targets = {}, [], []
    for nll, targets, log_p_cache in segments(params, tokens, batch_size, bptt, windows,
                                              theta_cs):
        model_nll.append(nll)
        all_targets.append(targets)
        for (W, theta_c), log_p in log_p_cache.items():
            for lambda_c in lambda_cs:
                pieces.setdefault((W, theta_c, lambda_c), []).append(-_mix(-nll, log_p, lambda_c))
    nll_by_point = {point: np.concatenate(parts) for point, parts in pieces.items()}
    return nll_by_point, np.concatenate(model_nll), np.concatenate(all_targets)


def evaluate_with_cache(params, tokens, *, batch_size, bptt, window, theta_c, lambda_c,
                        reference=False):
    """NLL of every target of a token stream under the model mixed with a neural cache
    (docs/MATH.md §6.4): tokens: (M,) int ids; window W >= 1; theta_c >= 0; lambda_c in [0, 1];
    reference: the model's plain twins and cache_log_probs_reference at every target.
    Returns (nll (K,) float64, targets (K,) int64) in the order of experiments.lm.evaluate,
    whose NLLs these equal bit for bit when lambda_c = 0.
    """
    point = (check_window(window), check_theta_c(theta_c), check_lambda_c(lambda_c))
    nll_by_point, _, targets = _grid(params, tokens, batch_size, bptt, (point[0],), (point[1],),
                                     (point[2],), reference)
    return nll_by_point[point], targets


def grid_search(params, tokens, *, batch_size, bptt, windows=DEFAULT_WINDOWS,
                theta_cs=DEFAULT_THETA_CS, lambda_cs=DEFAULT_LAMBDA_CS, reference=False):
    """Choose (W, θ_c, λ_c) minimising the mean NLL on `tokens` (use the validation split).

    windows, theta_cs, lambda_cs: non-empty sequences of valid values; ties go to the earliest
    point of windows × theta_cs × lambda_cs. Pass 0.0 among lambda_cs to let "no cache" win.
    Returns a JSON-ready dict:
        window, theta_c, lambda_c: the chosen point; mean_nll, perplexity: its score;
        model_mean_nll, model_perplexity: the model alone on the same targets;
        tokens: K; grid: [{window, theta_c, lambda_c, mean_nll, perplexity}, ...] in grid order.
    """
    nll_by_point, model_nll, targets = _grid(params, tokens, batch_size, bptt, windows,
                                             theta_cs, lambda_cs, reference)
    grid = []
    for (W, theta_c, lambda_c), nll in nll_by_point.items():
        mean_nll = float(nll.mean())
        grid.append({"window": W, "theta_c": theta_c, "lambda_c": lambda_c,
                     "mean_nll": mean_nll, "perplexity": float(np.exp(mean_nll))})
    best = min(grid, key=lambda row: row["mean_nll"])       # min keeps the first of equal rows
    model_mean_nll = float(model_nll.mean())
    return {**best, "model_mean_nll": model_mean_nll,
            "model_perplexity": float(np.exp(model_mean_nll)),
            "tokens": int(targets.shape[0]), "grid": grid}

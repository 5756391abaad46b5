"""Memory-based parameter adaptation (MbPA; Sprechmann et al., ICLR 2018) of the softmax layer,
for evaluating the language model: the kernel weights w_k, the local loss L_t and its S steps
are docs/MATH.md §6.5. `adapted_logits_reference` builds θ_x in full; `adapted_logits` keeps
θ_x = θ − Aᵀ H_K, b_x = b − c (§6.5's span form), so a step costs O(K²V), not O(KVH).
"""
import time

import numpy as np

from hebbref.cache import (DEFAULT_LAMBDA_CS, check_grid_values, check_lambda_c,
                           evaluate_with_cache, grid_search, mix_log_probs)
from hebbref.metrics import frequency_buckets, perplexity_by_bucket
from hebbref.nn.softmax import log_softmax
from hebbref.stream import eval_tokens, walk
from hebbref.checks import check_array, check_labels, check_int, check_number

def check_settings(neighbours, steps, step_size, beta, eps):
    """K >= 1, S >= 0 integers; α >= 0, β >= 0 and ε > 0 finite reals. Returns them cleaned."""
    neighbours = check_int(neighbours, "neighbours", 1)
    steps = check_int(steps, "steps", 0)
    step_size = check_number(step_size, "step_size", low=0.0)
    beta = check_number(beta, "beta", low=0.0)
    eps = check_number(eps, "eps", low=0.0)
    if eps == 0.0:
        raise ValueError("eps must be > 0 (an exact match would get weight 1/0), got 0.0")
    return neighbours, steps, step_size, beta, eps


def _check_inputs(theta, b, h, memory_h, memory_y):
    theta = check_array(theta, "theta", ndim=2)
    V, H = theta.shape
    b = check_array(b, "b", shape=(V,))
    h = check_array(h, "h", shape=(H,))
    memory_h = check_array(memory_h, "memory_h", shape=(None, H))
    memory_y = check_labels(memory_y, "memory_y", V, shape=(memory_h.shape[0],))
    for name, array in (("b", b), ("h", h), ("memory_h", memory_h)):
        if array.dtype != theta.dtype:
            raise TypeError(f"{name} must have the dtype of theta ({theta.dtype}), got "
                            f"{array.dtype}")
    return theta, b, h, memory_h, memory_y


def _nearest(h, memory_h, neighbours):
    """(indices of the min(K, M) rows nearest to h ordered by (d², index), their d² float64)."""
    d2 = np.square(memory_h.astype(np.float64) - h.astype(np.float64)).sum(axis=1)
    order = np.lexsort((np.arange(d2.shape[0]), d2))[:neighbours]
    return order, d2[order]


def nearest_neighbours(h, memory_h, neighbours, eps):
    """The min(K, M) rows of memory_h: (M, H) nearest to h: (H,), and their kernel weights
    (docs/MATH.md §6.5) -> (indices ordered by (d², index), float64 weights summing to 1)."""
    order, d2 = _nearest(h, memory_h, neighbours)
    kernel = 1.0 / (eps + d2)
    return order, kernel / kernel.sum() if order.size else kernel


def adaptation_gradient(theta_x, b_x, theta, b, neighbour_h, neighbour_y, weights, beta):
    """(∂L_t/∂θ_x (V, H), ∂L_t/∂b_x (V,)) of docs/MATH.md §6.5 at (θ_x, b_x). theta_x, theta:
    (V, H); b_x, b: (V,); neighbour_h: (K, H); neighbour_y: (K,) int; weights: (K,)."""
    G = np.exp(log_softmax(neighbour_h @ theta_x.T + b_x))
    G[np.arange(neighbour_y.shape[0]), neighbour_y] -= 1.0
    G *= weights[:, None]
    return G.T @ neighbour_h + beta * (theta_x - theta), G.sum(axis=0) + beta * (b_x - b)


def adapted_logits_reference(theta, b, h, memory_h, memory_y, *, neighbours, steps, step_size,
                             beta, eps):
    """Logits θ_x h + b_x of p_MbPA after S plain gradient steps on L_t, θ_x built in full.

    Inputs:  theta: (V, H); b: (V,); h: (H,); memory_h: (M, H), M >= 0; memory_y: (M,) int in
             [0, V); one float dtype. neighbours K >= 1, steps S >= 0, step_size α >= 0,
             beta β >= 0, eps ε > 0. Output: (V,) float64.
    """
    theta, b, h, memory_h, memory_y = _check_inputs(theta, b, h, memory_h, memory_y)
    neighbours, steps, step_size, beta, eps = check_settings(neighbours, steps, step_size, beta,
                                                             eps)
    theta, b = theta.astype(np.float64), b.astype(np.float64)
    index, weights = nearest_neighbours(h, memory_h, neighbours, eps)
    neighbour_h = memory_h[index].astype(np.float64)
    theta_x, b_x = theta.copy(), b.copy()
    for _ in range(steps):
        dtheta_x, db_x = adaptation_gradient(theta_x, b_x, theta, b, neighbour_h,
                                             memory_y[index], weights, beta)
        theta_x = theta_x - step_size * dtheta_x
        b_x = b_x - step_size * db_x
    return theta_x @ h.astype(np.float64) + b_x


def _span_steps(z_neighbours, gram, neighbour_y, weights, step_size, beta, steps):
    """Yield (A, c) after each of S span-form steps from A = 0, c = 0. z_neighbours: (K, V) =
    H_K θᵀ + b; gram: (K, K) = H_K H_Kᵀ; neighbour_y, weights: (K,)."""
    dtype = z_neighbours.dtype
    A = np.zeros_like(z_neighbours)
    c = np.zeros(z_neighbours.shape[1], dtype=dtype)
    rows = np.arange(neighbour_y.shape[0])
    decay = dtype.type(1.0 - step_size * beta)
    for _ in range(steps):
        G = np.exp(log_softmax(z_neighbours - gram @ A - c))
        G[rows, neighbour_y] -= 1
        G *= weights.astype(dtype)[:, None]
        A = decay * A + dtype.type(step_size) * G
        c = decay * c + dtype.type(step_size) * G.sum(axis=0)
        yield A, c


def _group(points):
    """{(K, α, β, ε): sorted distinct S} for a list of (K, S, α, β, ε) points."""
    groups = {}
    for K, S, alpha, beta, eps in points:
        groups.setdefault((K, alpha, beta, eps), set()).add(S)
    return {key: sorted(steps) for key, steps in groups.items()}


def _span_logits(theta, b, h, memory_h, memory_y, groups):
    """Span-form logits θ_x h + b_x at every point of a grid: {(K, S, α, β, ε): (V,)}; groups:
    {(K, α, β, ε): sorted step counts}. The nearest K_max rows are found once, the first K of
    them serve every smaller K, and one run of S_max steps serves every S <= S_max."""
    z = theta @ h + b
    index, d2 = _nearest(h, memory_h, max(key[0] for key in groups))
    neighbour_h = memory_h[index]
    z_neighbours = neighbour_h @ theta.T + b                                  # (K_max, V)
    gram = neighbour_h @ neighbour_h.T                                        # (K_max, K_max)
    projection = neighbour_h @ h                                              # (K_max,)
    out = {}
    for (K, alpha, beta, eps), step_counts in groups.items():
        k = min(K, index.size)
        if k and step_counts[-1]:
            kernel = 1.0 / (eps + d2[:k])
            steps = _span_steps(z_neighbours[:k], gram[:k, :k], memory_y[index[:k]],
                                kernel / kernel.sum(), alpha, beta, step_counts[-1])
            for S, (A, c) in enumerate(steps, start=1):
                if S in step_counts:
                    out[K, S, alpha, beta, eps] = z - A.T @ projection[:k] - c
        for S in step_counts:           # S = 0 or an empty memory: the unadapted logits
            out.setdefault((K, S, alpha, beta, eps), z)
    return out


def adapted_logits(theta, b, h, memory_h, memory_y, *, neighbours, steps, step_size, beta, eps):
    """Span-form twin of `adapted_logits_reference` (same inputs); works with (K, V) and (K, K)
    arrays only. Output: (V,) logits in the dtype of theta."""
    theta, b, h, memory_h, memory_y = _check_inputs(theta, b, h, memory_h, memory_y)
    point = check_settings(neighbours, steps, step_size, beta, eps)
    return _span_logits(theta, b, h, memory_h, memory_y, _group([point]))[point]


# Default grid, about 200 rows of (K, V) softmax per position: ε = 1e-3 as in Sprechmann et al.'s
# kernel; β = 0.1, small, as with S <= 3 the weights stay near (θ, b) anyway; α spans a decade
# around 1 (‖∇L_t‖ is at most about ‖h‖ <= √H); one point with S = 3 asks if more steps help.
DEFAULT_POINTS = (*((K, 1, alpha, 0.1, 1e-3) for K in (8, 32) for alpha in (0.3, 1.0, 3.0)),
                  (32, 3, 1.0, 0.1, 1e-3))
DEFAULT_LAMBDA_MS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)


def _check_point(point, name):
    if not isinstance(point, (tuple, list)) or len(point) != 5:
        raise ValueError(f"{name} must be a (K, S, α, β, ε) tuple, got {point!r}")
    return check_settings(*point)


def mbpa_log_probs(params, tokens, *, batch_size, bptt, memory_size, points=DEFAULT_POINTS,
                   reference=False):
    """log p_model and log p_MbPA of every target of a token stream at every grid point.

    tokens: (M,) int ids walked as experiments.lm.evaluate walks them (stream.walk);
    memory_size: M >= 1 scored pairs (h_j, y_j) kept per batchify column; points: (K, S, α, β, ε)
    tuples; reference: the model's plain twins and adapted_logits_reference at every target.
    Returns {"model": (n,), point: (n,), ...} float64, "targets": (n,) int64, "seconds".
    """
    memory_size = check_int(memory_size, "memory_size", 1)
    points = check_grid_values(points, "points", _check_point)
    groups = _group(points)
    start_time = time.perf_counter()
    theta, b = params["softmax.theta"], params["softmax.b"]
    out = {key: [] for key in ("model", "targets") + points}
    for start, y, h, _, nll in walk(params, tokens, batch_size=batch_size, bptt=bptt,
                                    reference=reference):
        targets, columns = y.reshape(-1), y.shape[1]
        out["model"].append(-nll)
        out["targets"].append(targets)
        if start == 0:
            memory_h, memory_y = [h[:0]] * columns, [targets[:0]] * columns
        for row, target in enumerate(targets):          # row-major over (t, N): time order
            column = row % columns
            memory = memory_h[column], memory_y[column]
            if reference:
                logits = {(K, S, alpha, beta, eps): adapted_logits_reference(
                    theta, b, h[row], *memory, neighbours=K, steps=S, step_size=alpha,
                    beta=beta, eps=eps) for K, S, alpha, beta, eps in points}
            else:
                logits = _span_logits(theta, b, h[row], *memory, groups)
            for point in points:
                out[point].append(float(log_softmax(logits[point][None])[0, target]))
            memory_h[column] = np.concatenate([memory_h[column], h[row][None]])[-memory_size:]
            memory_y[column] = np.append(memory_y[column], target)[-memory_size:]
    result = {key: np.concatenate(out[key]) if key in ("model", "targets")
              else np.array(out[key], dtype=np.float64) for key in out}
    result["seconds"] = time.perf_counter() - start_time
    return result


def choose(log_probs, lambda_ms=DEFAULT_LAMBDA_MS):
    """The point and λ_m minimising the mean NLL of (1 − λ_m) p_model + λ_m p_MbPA over
    log_probs (mbpa_log_probs on validation); ties go to the first. -> {"point", "lambda_m",
    "mean_nll", "grid": [{point, lambda_m, mean_nll}, ...]}."""
    lambda_ms = check_grid_values(lambda_ms, "lambda_ms", check_lambda_c)
    grid = [{"point": point, "lambda_m": lam,
             "mean_nll": float(-np.mean(mix_log_probs(log_probs["model"], log_probs[point], lam)))}
            for point in log_probs if isinstance(point, tuple) for lam in lambda_ms]
    best = min(grid, key=lambda row: row["mean_nll"])
    return {**best, "grid": grid}


def evaluate_mbpa(config, corpus, params, *, with_cache=False, points=DEFAULT_POINTS):
    """docs/MATH.md §6.5 rows for one model: (K, S, α, β, ε, λ_m) chosen on validation, then
    perplexity by bucket on validation and test with MbPA and, if with_cache, with the cache of
    §6.4 too (its (W, θ_c) by cache.grid_search, λ_c re-chosen for the combination; the cache
    alone is a row too). Runs on the first config.mbpa_tokens (else eval_tokens) tokens of each
    split. Returns a JSON-ready dict, with tokens/s of the MbPA passes.
    """
    limit = config.mbpa_tokens if config.mbpa_tokens is not None else config.eval_tokens
    tokens = {split: eval_tokens(corpus, split, limit) for split in ("valid", "test")}
    walk_args = dict(batch_size=config.eval_batch_size, bptt=config.bptt,
                     reference=config.reference)
    passes = {"valid": mbpa_log_probs(params, tokens["valid"], memory_size=config.mbpa_memory,
                                      points=points, **walk_args)}
    chosen = choose(passes["valid"])
    passes["test"] = mbpa_log_probs(params, tokens["test"], memory_size=config.mbpa_memory,
                                    points=(chosen["point"],), **walk_args)
    mixed = {split: mix_log_probs(p["model"], p[chosen["point"]], chosen["lambda_m"])
             for split, p in passes.items()}
    results = {"chosen": {"point": list(chosen["point"]), "lambda_m": chosen["lambda_m"]},
               "grid": [{**row, "point": list(row["point"])} for row in chosen["grid"]]}
    rows = {"mbpa": mixed}
    if with_cache:
        cache = grid_search(params, tokens["valid"], **walk_args)
        window = {k: cache[k] for k in ("window", "theta_c")}
        log_p_cache = {split: -evaluate_with_cache(params, tokens[split], lambda_c=1.0, **window,
                                                   **walk_args)[0] for split in passes}
        lambda_c = min((0.0,) + DEFAULT_LAMBDA_CS, key=lambda lam: -np.mean(
            mix_log_probs(mixed["valid"], log_p_cache["valid"], lam)))
        rows["cache"] = {split: mix_log_probs(p["model"], log_p_cache[split], cache["lambda_c"])
                         for split, p in passes.items()}
        rows["cache_mbpa"] = {split: mix_log_probs(mixed[split], log_p_cache[split], lambda_c)
                              for split in passes}
        results["chosen"].update(window, cache_lambda_c=cache["lambda_c"], lambda_c=lambda_c)
    rows["model"] = {split: p["model"] for split, p in passes.items()}
    buckets = frequency_buckets(config.buckets)
    for name, by_split in rows.items():
        results[name] = {split: perplexity_by_bucket(-log_p, passes[split]["targets"],
                                                     corpus.train_counts,
                                                     corpus.word_to_id["<unk>"], buckets)
                         for split, log_p in by_split.items()}
    results["tokens_per_second"] = {
        split: {"points": len(p) - 3, "value": p["targets"].size / p["seconds"]}
        for split, p in passes.items()}
    return results

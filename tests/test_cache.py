"""The neural cache (docs/MATH.md §6.4): p_cache(w | h_t) ∝ Σ_{j in window, x_{j+1} = w} exp(θ_c h_t·h_j),
p = (1 − λ_c) p_model + λ_c p_cache.

Gold computations are independent of hebbref.cache where possible: the direct formula with
np.exp (small θ_c), counts of the target in the window (θ_c = 0, where p_cache is the target's
frequency among the window's next words), experiments.lm.evaluate (λ_c = 0), and the plain path
of evaluate_with_cache (the model's plain twins and the one-step reference at every target).
"""
import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import cache
from hebbref.cache import cache_log_probs_reference, evaluate_with_cache, grid_search, mix_log_probs
from hebbref.data.batching import batchify
from hebbref.experiments.lm import evaluate
from hebbref.models.lm import lm_init

PROPERTY = settings(max_examples=60, deadline=None)
THETAS = st.one_of(st.sampled_from([0.0, 1e3]), st.floats(0.0, 5.0))
LAMBDAS = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))


def cache_nll_grid(params, tokens, *, batch_size, bptt, windows=cache.DEFAULT_WINDOWS,
                   theta_cs=cache.DEFAULT_THETA_CS, lambda_cs=cache.DEFAULT_LAMBDA_CS,
                   reference=False):
    """{(W, θ_c, λ_c): per-target NLL} from one model pass: the grid grid_search chooses from."""
    return cache._grid(params, tokens, batch_size, bptt, windows, theta_cs, lambda_cs,
                       reference)[0]


def tiny_model(seed, dtype=np.float64, V=11):
    """An untrained embed 4 → LSTM 6 → softmax V model; recurrent weights scaled up so the
    activations h spread over (−1, 1) and θ_c h_t·h_j reaches hundreds at θ_c = 1e3."""
    params = lm_init(V, 4, 6, np.random.default_rng(seed), dtype=dtype)
    for key in ("lstm1.Wx", "lstm1.Wh"):
        params[key] = (params[key] * 4).astype(dtype)
    return params


def one_step(draw, max_window=12, max_vocab=6):
    """(h_t, window_h, window_next, V): few words, so the window repeats them."""
    H = draw(st.integers(1, 5))
    W = draw(st.integers(0, max_window))
    V = draw(st.integers(1, max_vocab))
    floats = st.floats(-3.0, 3.0)
    h_t = draw(hnp.arrays(np.float64, (H,), elements=floats))
    window_h = draw(hnp.arrays(np.float64, (W, H), elements=floats))
    window_next = draw(hnp.arrays(np.int64, (W,), elements=st.integers(0, V - 1)))
    return h_t, window_h, window_next, V


@st.composite
def steps(draw):
    return one_step(draw)


def plain_stream(params, tokens, batch_size, **cache):
    """evaluate_with_cache's plain path (the model's plain twins, the one-step reference at every
    target) over each whole column in one segment: the carried state makes segments unneeded."""
    return evaluate_with_cache(params, tokens, batch_size=batch_size, bptt=tokens.size,
                               reference=True, **cache)[0]


# ------------------------------------------------------------------------------------------------
# One step over the vocabulary

@PROPERTY
@given(step=steps(), theta_c=THETAS)
def test_cache_distribution_sums_to_one(step, theta_c):
    """docs/MATH.md §6.4: p_cache is a distribution over the words of the window: Σ_w p_cache(w) = 1 for a
    non-empty window, p_cache(w) = 0 exactly for words not in it, and all zero (log −inf) for an
    empty window."""
    h_t, window_h, window_next, V = step
    log_p = cache_log_probs_reference(h_t, window_h, window_next, V, theta_c=theta_c)
    assert log_p.shape == (V,) and log_p.dtype == np.float64
    absent = np.setdiff1d(np.arange(V), window_next)
    assert np.all(log_p[absent] == -np.inf)
    if window_next.size:
        assert np.all(np.isfinite(log_p[np.unique(window_next)]))
        assert math.isclose(np.exp(log_p).sum(), 1.0, rel_tol=1e-12)
    else:
        assert np.all(log_p == -np.inf)


def test_cache_equals_direct_formula():
    """docs/MATH.md §6.4 written out with np.exp and no shift (safe at this θ_c): the unnormalised weight
    of w is Σ_{j: x_{j+1} = w} exp(θ_c h_t·h_j)."""
    rng = np.random.default_rng(3)
    h_t, window_h = rng.normal(size=4), rng.normal(size=(9, 4))
    window_next = np.array([2, 0, 2, 5, 2, 0, 5, 5, 1])
    weights = np.zeros(7)
    for j in range(9):
        weights[window_next[j]] += np.exp(0.7 * h_t @ window_h[j])
    with np.errstate(divide="ignore"):
        expected = np.log(weights / weights.sum())
    got = cache_log_probs_reference(h_t, window_h, window_next, 7, theta_c=0.7)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


def test_large_theta_neither_overflows_nor_underflows():
    """θ_c = 1e3 with scores 1 apart: exp(θ_c s) overflows float64 and exp(θ_c Δs) underflows,
    yet the exact answer is log p(w) = −1000 · (gap) up to log(1 + e^{−1000}) ≈ 0."""
    h_t = np.array([1.0])
    window_h = np.array([[3.0], [2.0], [1.0]])
    window_next = np.array([0, 1, 2])
    log_p = cache_log_probs_reference(h_t, window_h, window_next, 4, theta_c=1e3)
    np.testing.assert_allclose(log_p[:3], [0.0, -1000.0, -2000.0], rtol=1e-12, atol=1e-12)
    assert log_p[3] == -np.inf


# ------------------------------------------------------------------------------------------------
# Mixing

@PROPERTY
@given(log_model=hnp.arrays(np.float64, 5, elements=st.floats(-30.0, 0.0)),
       log_cache=hnp.arrays(np.float64, 5, elements=st.one_of(st.just(-np.inf),
                                                             st.floats(-30.0, 0.0))),
       lambda_c=LAMBDAS)
def test_mix_is_the_linear_interpolation(log_model, log_cache, lambda_c):
    """docs/MATH.md §6.4: exp(mixed) = (1 − λ_c) p_model + λ_c p_cache; λ_c = 0 returns log p_model bit
    for bit and λ_c = 1 returns log p_cache."""
    mixed = mix_log_probs(log_model, log_cache, lambda_c)
    if lambda_c == 0.0:
        assert np.array_equal(mixed, log_model)
    elif lambda_c == 1.0:
        assert np.array_equal(mixed, log_cache)
    else:
        expected = (1 - lambda_c) * np.exp(log_model) + lambda_c * np.exp(log_cache)
        np.testing.assert_allclose(np.exp(mixed), expected, rtol=1e-13)


# ------------------------------------------------------------------------------------------------
# Over a token stream

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), length=st.integers(8, 60), batch_size=st.integers(1, 4),
       bptt=st.integers(1, 9), window=st.integers(1, 25), theta_c=THETAS, lambda_c=LAMBDAS)
def test_stream_equals_reference_loop(seed, length, batch_size, bptt, window, theta_c, lambda_c):
    """docs/MATH.md §6.4 over a stream: evaluate_with_cache (one product per column and segment, nested
    sliding windows, target-only log-sum-exp) equals the step-by-step reference, including
    windows not yet full at the start (W up to 25 > the column length), W = 1, θ_c = 1e3 and
    λ_c ∈ {0, 1}. Tolerance 1e-9 · (1 + θ_c · 36): the activations come from one whole-column
    forward pass here and BPTT segments there."""
    length = max(length, 2 * batch_size)
    params = tiny_model(seed)
    tokens = np.random.default_rng(seed).integers(0, 11, length)
    nll, targets = evaluate_with_cache(params, tokens, batch_size=batch_size, bptt=bptt,
                                       window=window, theta_c=theta_c, lambda_c=lambda_c)
    expected = plain_stream(params, tokens, batch_size, window=window, theta_c=theta_c,
                            lambda_c=lambda_c)
    assert nll.dtype == np.float64 and targets.dtype == np.int64
    assert np.array_equal(targets, batchify(tokens, batch_size)[1:].reshape(-1))
    np.testing.assert_allclose(nll, expected, rtol=0, atol=1e-9 * (1 + 36 * theta_c))


def test_float32_model_close_to_float64_reference():
    """A float32 model keeps the cache arithmetic in float32; its NLLs stay within float32
    rounding of the float64 reference over the same (float32) parameters."""
    params = tiny_model(5, np.float32)
    tokens = np.random.default_rng(5).integers(0, 11, 90)
    nll, _ = evaluate_with_cache(params, tokens, batch_size=3, bptt=7, window=10, theta_c=2.0,
                                 lambda_c=0.4)
    assert nll.dtype == np.float64
    params64 = {k: v.astype(np.float64) for k, v in params.items()}
    expected = plain_stream(params64, tokens, 3, window=10, theta_c=2.0, lambda_c=0.4)
    np.testing.assert_allclose(nll, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size,bptt", [(1, 5), (3, 4), (4, 35)])
def test_lambda_zero_is_the_model(reference, dtype, batch_size, bptt):
    """docs/MATH.md §6.4, λ_c = 0: the NLLs and targets equal experiments.lm.evaluate's bit for
    bit, on the fast and on the plain path, so the perplexity is exactly the model's."""
    params = tiny_model(1, dtype)
    tokens = np.random.default_rng(1).integers(0, 11, 101)
    run = dict(batch_size=batch_size, bptt=bptt, reference=reference)
    nll_model, targets_model = evaluate(params, tokens, **run)
    nll, targets = evaluate_with_cache(params, tokens, window=7, theta_c=0.5, lambda_c=0.0, **run)
    assert np.array_equal(targets, targets_model)
    assert np.array_equal(nll, nll_model)
    assert np.exp(nll.mean()) == np.exp(nll_model.mean())


@pytest.mark.parametrize("lambda_c", [0.1, 0.5])
def test_repeated_word_is_more_probable_with_the_cache(lambda_c):
    """Hand-built stream 5 7 5 7 ... with θ_c = 0, where p_cache(w) is the share of w among the
    window's next words. Every target from the third on repeats a word in the window, where
    p_cache(target) = 1/2 (window of 4 alternating words; 1/2 and 1/3 while it fills) while
    p_model < 1/3 (30 words, untrained); the gold is (1 − λ_c) p_model + λ_c · count/len with
    evaluate's p_model."""
    params = tiny_model(2, V=30)
    tokens = np.array([5, 7] * 20)
    nll_model, _ = evaluate(params, tokens, batch_size=1, bptt=6)
    nll, targets = evaluate_with_cache(params, tokens, batch_size=1, bptt=6, window=4,
                                       theta_c=0.0, lambda_c=lambda_c)
    p_model = np.exp(-nll_model)
    share = np.zeros_like(p_model)
    for t in range(targets.size):
        window_next = targets[max(0, t - 4):t]
        if window_next.size:
            share[t] = np.mean(window_next == targets[t])
    np.testing.assert_allclose(np.exp(-nll), (1 - lambda_c) * p_model + lambda_c * share,
                               rtol=1e-12)
    assert share[0] == share[1] == 0.0 and np.all(share[2:] >= 1 / 3)
    assert p_model.max() < 1 / 3
    assert np.all(nll[2:] < nll_model[2:])
    assert np.all(nll[:2] > nll_model[:2])     # not in the window: only (1 − λ_c) p_model


def test_large_theta_in_a_stream_does_not_underflow():
    """θ_c = 1e4, λ_c = 1: p_cache(target) is finite and nonzero exactly when the target occurs
    among the window's next words, even where its terms are exp(−thousands) relative to the
    window's largest (the case a single shared max shift would round to zero)."""
    params = tiny_model(4)
    tokens = np.random.default_rng(4).integers(0, 11, 80)
    nll, targets = evaluate_with_cache(params, tokens, batch_size=2, bptt=5, window=6,
                                       theta_c=1e4, lambda_c=1.0)
    data = batchify(tokens, 2)
    in_window = np.array([[data[t + 1, b] in data[max(0, t - 6) + 1:t + 1, b]
                           for b in range(2)] for t in range(data.shape[0] - 1)]).reshape(-1)
    assert np.array_equal(np.isfinite(nll), in_window)
    assert nll[in_window].max() > 745      # some probabilities below exp(−745), the float64 floor
    expected = plain_stream(params, tokens, 2, window=6, theta_c=1e4, lambda_c=1.0)
    # dot-product rounding times θ_c: about 1e4 · 6 · 1e-16 absolute
    np.testing.assert_allclose(nll[in_window], expected[in_window], rtol=1e-9, atol=1e-10)


def test_grid_equals_individual_runs():
    """cache_nll_grid (one model pass, windows nested in the largest) equals evaluate_with_cache
    run separately at every grid point."""
    params = tiny_model(6)
    tokens = np.random.default_rng(6).integers(0, 11, 120)
    windows, thetas, lambdas = (1, 4, 50), (0.0, 0.5, 1e3), (0.0, 0.3, 1.0)
    grid = cache_nll_grid(params, tokens, batch_size=3, bptt=7, windows=windows,
                          theta_cs=thetas, lambda_cs=lambdas)
    assert set(grid) == {(w, t, l) for w in windows for t in thetas for l in lambdas}
    for (window, theta_c, lambda_c), nll in grid.items():
        single, _ = evaluate_with_cache(params, tokens, batch_size=3, bptt=7, window=window,
                                        theta_c=theta_c, lambda_c=lambda_c)
        np.testing.assert_allclose(nll, single, rtol=1e-12, atol=1e-12,
                                   err_msg=f"grid point {(window, theta_c, lambda_c)}")


def test_grid_search_picks_the_lowest_mean_nll():
    params = tiny_model(7)
    tokens = np.random.default_rng(7).integers(0, 4, 150)     # 4 words: the cache helps
    kwargs = dict(batch_size=2, bptt=9, windows=(2, 20), theta_cs=(0.0, 1.0),
                  lambda_cs=(0.0, 0.2, 0.6))
    result = grid_search(params, tokens, **kwargs)
    grid = cache_nll_grid(params, tokens, **kwargs)
    means = {point: nll.mean() for point, nll in grid.items()}
    best = min(means, key=means.get)
    assert (result["window"], result["theta_c"], result["lambda_c"]) == best
    assert math.isclose(result["mean_nll"], means[best], rel_tol=1e-12)
    assert result["lambda_c"] > 0.0
    nll_model, _ = evaluate(params, tokens, batch_size=2, bptt=9)
    assert result["model_mean_nll"] == nll_model.mean()
    assert result["tokens"] == nll_model.size and len(result["grid"]) == 12


# ------------------------------------------------------------------------------------------------
# Bad arguments

@pytest.mark.parametrize("bad,message", [
    (dict(lambda_c=-0.1), "lambda_c"), (dict(lambda_c=1.5), "lambda_c"),
    (dict(lambda_c=float("nan")), "lambda_c"), (dict(theta_c=-1.0), "theta_c"),
    (dict(theta_c=float("inf")), "theta_c"), (dict(window=0), "window"),
    (dict(window=2.5), "window"), (dict(window=True), "window"), (dict(window=-3), "window"),
    (dict(bptt=0), "bptt"),
])
def test_bad_arguments_raise_value_error(bad, message):
    params = tiny_model(0)
    tokens = np.arange(20) % 11
    kwargs = dict(batch_size=2, bptt=5, window=3, theta_c=0.5, lambda_c=0.1)
    kwargs.update(bad)
    with pytest.raises((ValueError, TypeError), match=message):
        evaluate_with_cache(params, tokens, **kwargs)


@pytest.mark.parametrize("bad,message", [
    (dict(windows=()), "windows"), (dict(windows=(10, 0)), r"windows\[1\]"),
    (dict(theta_cs=(0.1, -1.0)), r"theta_cs\[1\]"), (dict(lambda_cs=(2.0,)), r"lambda_cs\[0\]"),
    (dict(lambda_cs=0.1), "lambda_cs"),
])
def test_bad_grid_arguments_raise_value_error(bad, message):
    params = tiny_model(0)
    tokens = np.arange(20) % 11
    for fn in (cache_nll_grid, grid_search):
        with pytest.raises(ValueError, match=message):
            fn(params, tokens, batch_size=2, bptt=5, **bad)


def test_bad_types_and_step_arguments():
    h_t, window_h, window_next = np.zeros(3), np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(TypeError, match="lambda_c"):
        mix_log_probs(np.zeros(2), np.zeros(2), "0.1")
    with pytest.raises(ValueError, match="same shape"):
        mix_log_probs(np.zeros(2), np.zeros(3), 0.5)
    with pytest.raises(ValueError, match="window_next"):
        cache_log_probs_reference(h_t, window_h, np.array([0, 5]), 5, theta_c=1.0)
    with pytest.raises(ValueError, match="window_h"):
        cache_log_probs_reference(h_t, np.zeros((2, 4)), window_next, 5, theta_c=1.0)
    with pytest.raises(ValueError, match="theta_c"):
        cache_log_probs_reference(h_t, window_h, window_next, 5, theta_c=-0.5)
    with pytest.raises(ValueError, match="V must"):
        cache_log_probs_reference(h_t, window_h, window_next, 0, theta_c=0.5)
    with pytest.raises(TypeError, match="window_next"):
        cache_log_probs_reference(h_t, window_h, window_next.astype(float), 5, theta_c=0.5)

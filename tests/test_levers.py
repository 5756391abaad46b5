"""The levers against the late cost (docs/MATH.md §5.7): write_gain, calibrate and prior_count
inside the rule (reference loop == fast path), moments and fresh_bias after it
(hebbref.train.apply_write_levers), and the fresh KanjiVG split of validation/curriculum_levers.py.
"""
import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref.hebbian import (WRITE_SCALES, HebbianConfig, HebbianSoftmax, hebbian_update,
                             hebbian_update_reference)
from hebbref.models.classifier import classifier_init, classifier_loss
from hebbref.train import train_step


def rule_inputs(seed, V=6, H=5, N=9, dtype=np.float64):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((V, H)).astype(dtype)
    counts = rng.choice([1, 1, 2, 7, 40], V).astype(np.int64)
    h = np.abs(rng.standard_normal((N, H))).astype(dtype)   # ReLU-like features
    y = rng.integers(0, V, N)
    return theta, counts, h, y


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), write_scale=st.sampled_from(WRITE_SCALES),
       write_gain=st.sampled_from([0.0, 0.25, 1.0, 3.0]), calibrate=st.booleans(),
       running=st.booleans(), prior_count=st.sampled_from([0.0, 1.0, 2.5]),
       lam_rule=st.sampled_from(["paper", "exact_mean"]))
def test_levers_in_the_rule_reference_equals_fast(seed, write_scale, write_gain, calibrate,
                                                  running, prior_count, lam_rule):
    """Property (docs/MATH.md §5.7, §5.4): with write_gain, calibrate, prior_count and a given
    running mean h̄, the reference loop and the fast path write the same θ and counts (to
    1e-12, float64)."""
    theta, counts, h, y = rule_inputs(seed)
    h_bar = np.random.default_rng(seed + 1).standard_normal(h.shape[1]) if running else None
    args = dict(gamma=0.1, T=30.0, write_scale=write_scale, write_gain=write_gain,
                calibrate=calibrate, h_bar=h_bar, prior_count=prior_count, lam_rule=lam_rule)
    theta_ref, counts_ref = theta.copy(), counts.copy()
    hebbian_update_reference(theta_ref, counts_ref, h, y, **args)
    hebbian_update(theta, counts, h, y, **args)
    np.testing.assert_allclose(theta, theta_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(counts, counts_ref)


@pytest.mark.parametrize("update", [hebbian_update, hebbian_update_reference])
def test_write_gain_scales_a_first_write(update):
    """Property (docs/MATH.md §5.7): a first write (c_i = 1, λ = 1) sets θ[i] = g ĥ_i, so the
    row written with gain g is g times the row written with gain 1."""
    theta, counts, h, y = rule_inputs(3)
    counts[:] = 1
    plain, scaled = theta.copy(), theta.copy()
    update(plain, counts.copy(), h, y, gamma=0.1, T=30.0)
    update(scaled, counts.copy(), h, y, gamma=0.1, T=30.0, write_gain=0.25)
    rows = np.unique(y)
    np.testing.assert_allclose(scaled[rows], 0.25 * plain[rows], rtol=1e-14)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
       m=st.integers(1, 8), reference=st.booleans())
def test_prior_count_weighs_the_gradient_row_like_k_activations(seed, k, m, reference):
    """Property (docs/MATH.md §5.7): with λ = 1/(c + k), γ = 0 and T = ∞, m single-activation
    writes h_1 … h_m into a row θ_0 first seen now (c = 1) leave the running mean in which θ_0
    counts as k activations: θ = (k θ_0 + Σ_j h_j) / (k + m). k = 0 is the paper's running
    mean of the activations alone (§8 P2)."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((3, 4))
    theta_0, counts = theta[1].copy(), np.ones(3, np.int64)
    hs = rng.standard_normal((m, 4))
    update = hebbian_update_reference if reference else hebbian_update
    for h in hs:
        update(theta, counts, h[None], np.array([1]), gamma=0.0, T=np.inf, prior_count=k)
    np.testing.assert_allclose(theta[1], (k * theta_0 + hs.sum(axis=0)) / (k + m), rtol=1e-12,
                               atol=1e-12)
    assert counts[1] == 1 + m


@pytest.mark.parametrize("update", [hebbian_update, hebbian_update_reference])
def test_calibrated_first_write_reaches_the_reference_logit(update):
    """Property (docs/MATH.md §5.7): a class written for the first time gets θ[i] · m_i = ℓ_ref,
    the mean of θ'[y_t] · h_t over the batch's images of classes seen before."""
    theta = np.abs(np.random.default_rng(0).standard_normal((4, 3)))
    counts = np.array([1, 5, 5, 1], np.int64)
    h = np.abs(np.random.default_rng(1).standard_normal((6, 3)))
    y = np.array([0, 1, 2, 1, 0, 2])
    seen = counts[y] > 1
    l_ref = np.mean(np.sum(theta[y[seen]] * h[seen], axis=1))
    update(theta, counts, h, y, gamma=0.1, T=30.0, calibrate=True)
    m_0 = h[y == 0].mean(axis=0)
    assert theta[0] @ m_0 == pytest.approx(l_ref, rel=1e-12)


def step(rule_options, optimizer="rmsprop", seed=0, counts=None, state=None, params=None):
    """One classifier train_step with a Hebbian layer; returns (params, state, layer, y, before)."""
    rng = np.random.default_rng(seed)
    params = params or classifier_init(5, [4], 7, rng)
    x = rng.standard_normal((8, 5))
    y = np.array([0, 0, 1, 2, 3, 3, 4, 2])
    _, grads, h = classifier_loss(params, x, y, activation="relu")
    layer = HebbianSoftmax(7, gamma=0.1, T=50.0, counts=counts.copy(), **rule_options)
    state = {} if state is None else state
    train_step(params, grads, state, h, y, optimizer=optimizer, lr=0.01, hebbian_softmax=layer)
    return params, state, layer, y


COUNTS = np.array([1, 3, 1, 60, 2, 1, 9], np.int64)   # 0, 2 new; 3 handed back (T = 50)


def warm_state(optimizer):
    """Params and optimiser state after a few plain steps, so every moment is non-zero."""
    params, state = None, {}
    for seed in range(3):
        params, state, _, _ = step({}, optimizer, seed, COUNTS, state, params)
    return params, state


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd"])
@pytest.mark.parametrize("moments", ["reset_first", "reset"])
def test_moments_reset_zeroes_exactly_the_written_rows(optimizer, moments):
    """Property (docs/MATH.md §5.7): moments="reset_first" zeroes θ's optimiser moments on the
    rows written for the first time (c_i = 1), "reset" on every written row (c_i < T); all
    other rows, the bias's state and the parameters equal a step with moments="keep"."""
    params, state = warm_state(optimizer)
    if optimizer == "sgd":   # give SGD a momentum buffer to reset
        state["momentum/softmax.theta"] = np.ones_like(params["softmax.theta"])
    kept = step({}, optimizer, 5, COUNTS, copy.deepcopy(state), copy.deepcopy(params))
    reset = step({"moments": moments}, optimizer, 5, COUNTS, copy.deepcopy(state),
                 copy.deepcopy(params))
    y = kept[3]
    present = np.unique(y)
    rows = present[COUNTS[present] == 1] if moments == "reset_first" else \
        present[COUNTS[present] < 50]
    others = np.setdiff1d(np.arange(7), rows)
    buffers = [k for k in kept[1] if k.split("/")[0] in ("m", "v", "momentum")]
    assert buffers
    for key in buffers:
        if key.endswith("softmax.theta"):
            assert not reset[1][key][rows].any(), key
            assert kept[1][key][rows].any(), key
            np.testing.assert_array_equal(reset[1][key][others], kept[1][key][others])
        else:
            np.testing.assert_array_equal(reset[1][key], kept[1][key])
    for name in kept[0]:
        np.testing.assert_array_equal(reset[0][name], kept[0][name])


@pytest.mark.parametrize("fresh_bias", ["mean", "zero"])
def test_fresh_bias_is_set_on_first_write_only(fresh_bias):
    """Property (docs/MATH.md §5.7): on a class's first write b_i becomes the mean bias of the
    classes seen before (or 0); every other bias equals the step with fresh_bias="keep"."""
    params, state = warm_state("rmsprop")
    kept = step({}, "rmsprop", 5, COUNTS, copy.deepcopy(state), copy.deepcopy(params))
    moved = step({"fresh_bias": fresh_bias}, "rmsprop", 5, COUNTS, copy.deepcopy(state),
                 copy.deepcopy(params))
    first = np.array([0, 2])              # in the batch with c = 1
    seen = np.array([1, 3, 4, 6])         # c > 1 after the step, not first written
    b = kept[0]["softmax.b"]
    expected = b[seen].mean() if fresh_bias == "mean" else 0.0
    np.testing.assert_allclose(moved[0]["softmax.b"][first], expected, rtol=1e-14)
    rest = np.setdiff1d(np.arange(7), first)
    np.testing.assert_array_equal(moved[0]["softmax.b"][rest], b[rest])


def test_bias_free_softmax_holds_b_at_zero():
    """Property (docs/MATH.md §5.7): fresh_bias="none" keeps every b_i at 0 through training."""
    params, state = None, {}
    for seed in range(3):
        params, state, _, _ = step({"fresh_bias": "none"}, "adam", seed, COUNTS, state, params)
        assert not params["softmax.b"].any()


@pytest.mark.parametrize("reference", [False, True])
def test_centre_window_subtracts_the_running_mean(reference):
    """Property (docs/MATH.md §5.7): with centre_window K and batches of N = 8, ρ = N/K = 0.1 and
    h̄ after batches with means m_1, m_2 is m_1, then (1 − ρ) m_1 + ρ m_2; a first write sets
    θ[i] = ĥ_i − h̄ with that h̄; a window below the batch (ρ = 1) and K = 0 (the default) centre
    on each batch's own mean (§5.2)."""
    rng = np.random.default_rng(5)
    h1, h2 = np.abs(rng.standard_normal((2, 8, 4)))
    y1, y2 = np.array([0, 1] * 4), np.array([2, 3] * 4)
    rule = HebbianSoftmax(4, gamma=0.0, T=100.0, write_scale="centred", centre_window=80.0)
    batch = HebbianSoftmax(4, gamma=0.0, T=100.0, write_scale="centred")
    short = HebbianSoftmax(4, gamma=0.0, T=100.0, write_scale="centred", centre_window=4.0)
    theta, theta_batch, theta_short = np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 4))
    for h, y in ((h1, y1), (h2, y2)):
        rule.update(theta, h, y, reference=reference)
        batch.update(theta_batch, h, y, reference=reference)
        short.update(theta_short, h, y, reference=reference)
    h_bar = 0.9 * h1.mean(axis=0) + 0.1 * h2.mean(axis=0)
    np.testing.assert_allclose(rule.h_bar, h_bar, rtol=1e-15)
    np.testing.assert_allclose(theta[2], h2[y2 == 2].mean(axis=0) - h_bar, rtol=1e-12)
    np.testing.assert_allclose(theta[0], h1[y1 == 0].mean(axis=0) - h1.mean(axis=0), rtol=1e-12)
    assert batch.h_bar is None
    for centred in (theta_batch, theta_short):
        np.testing.assert_allclose(centred[2], h2[y2 == 2].mean(axis=0) - h2.mean(axis=0),
                                   rtol=1e-12)


@pytest.mark.parametrize("field, value, error", [
    ("moments", "zero", ValueError), ("fresh_bias", "reset", ValueError),
    ("write_gain", -1.0, ValueError), ("calibrate", 1, TypeError),
    ("centre_window", -1.0, ValueError), ("prior_count", -0.5, ValueError)])
def test_bad_lever_values_are_refused(field, value, error):
    with pytest.raises(error, match=field):
        HebbianConfig(**{field: value})
    with pytest.raises(error, match=field):
        HebbianSoftmax(3, **{field: value})

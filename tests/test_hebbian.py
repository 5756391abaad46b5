"""Properties of the Hebbian Softmax rule (docs/MATH.md §5), one hypothesis test per docs/MATH.md §8 P1–P8.

Every property test runs for float32 and float64 and against both implementations (the fast
path and the per-class reference loop), since docs/MATH.md §8 asks the properties of the rule, not of
one implementation. Drawn cases include duplicated labels, a single class, V = 1, N = 0,
gamma in {0, 1} and T in {0, 1, inf}, mixed with ordinary drawn values.

Where a property compares floating-point results that went through different arithmetic, the
test states its tolerance in units of the dtype's machine epsilon ε and the scale S of the
numbers involved; everything else is compared bit for bit.
"""
import math
import re

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hebbref.hebbian import (
    HebbianConfig,
    HebbianSoftmax,
    hebbian_lambda,
    hebbian_update,
    hebbian_update_reference,
    init_counts,
)
from hebbref.nn.softmax import (
    softmax_cross_entropy,
    softmax_layer_backward,
    softmax_layer_forward,
)

DTYPES = [np.float32, np.float64]
IMPLEMENTATIONS = [hebbian_update, hebbian_update_reference]
PROPERTY = settings(max_examples=40, deadline=None)

GAMMAS = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
TS = st.one_of(st.sampled_from([0, 1, math.inf]), st.integers(0, 40), st.floats(0.0, 40.0))
LAM_RULES = st.sampled_from(["paper", "exact_mean"])
# "centred_row_norm" rescales h_t − h̄, which can cancel down to rounding noise and then be
# blown up to ‖θ'‖: tolerance-based properties take it only on well-conditioned batches
# (test_centred_row_norm_on_well_conditioned_batches); bit-exact ones take every write_scale.
ALL_WRITE_SCALES = st.sampled_from(["none", "row_norm", "centred", "centred_row_norm"])
WRITE_SCALES = st.sampled_from(["none", "row_norm", "centred"])


def draw_rule(data, T=None, write_scales=WRITE_SCALES):
    """gamma, T (drawn unless given), lam_rule and write_scale for one update."""
    return dict(gamma=data.draw(GAMMAS), T=data.draw(TS) if T is None else T,
                lam_rule=data.draw(LAM_RULES), write_scale=data.draw(write_scales))


def eps(dtype):
    return float(np.finfo(dtype).eps)


def tiny(dtype):
    return float(np.finfo(dtype).tiny)


def values(dtype, low=-10.0, high=10.0):
    """Finite floats representable in dtype, with ±0.0 drawn often: a row left "unchanged" must
    keep −0.0 too (no subnormals: the tolerances below are relative)."""
    return st.one_of(st.sampled_from([-0.0, 0.0]), st.floats(
        low, high, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False))


def dyadic(dtype):
    """Multiples of 1/8 in [−128, 128]: sums of up to 2^10 of them are exact in float32, so a
    class mean ĥ_i does not depend on summation order and can be checked for exact equality."""
    return st.integers(-1024, 1024).map(lambda k: k / 8.0)


@st.composite
def labels(draw, V, N):
    """(N,) int64 labels in [0, V): any, all one class, or drawn from at most two classes
    (duplicates guaranteed once N > 2)."""
    kind = draw(st.sampled_from(["any", "single", "duplicated"]))
    if kind == "single":
        return np.full(N, draw(st.integers(0, V - 1)), dtype=np.int64)
    pool = list(range(V)) if kind == "any" else draw(
        st.lists(st.integers(0, V - 1), min_size=1, max_size=2))
    return np.array(draw(st.lists(st.sampled_from(pool), min_size=N, max_size=N)), dtype=np.int64)


@st.composite
def batches(draw, dtype, *, h_elements=None, max_V=6, max_N=16):
    """theta (V, H) = θ', counts (V,) >= 1, h (N, H), y (N,)."""
    V = draw(st.one_of(st.just(1), st.integers(1, max_V)))
    H = draw(st.integers(1, 4))
    N = draw(st.one_of(st.just(0), st.integers(0, max_N)))
    y = draw(labels(V, N))
    h = draw(hnp.arrays(dtype, (N, H), elements=values(dtype) if h_elements is None else h_elements))
    theta = draw(hnp.arrays(dtype, (V, H), elements=values(dtype)))
    counts = draw(hnp.arrays(np.int64, V, elements=st.one_of(st.just(1), st.integers(1, 60))))
    return theta, counts, h, y


def run(update, theta, counts, h, y, **rule):
    """Apply an implementation to copies; return (theta after, counts after)."""
    theta, counts = theta.copy(), counts.copy()
    assert update(theta, counts, h, y, **rule) is None
    return theta, counts


def bits(a):
    """The raw bits of a float array, so that −0.0 != +0.0 and comparisons are bit-identical."""
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_bit_identical(a, b, what):
    assert np.array_equal(bits(a), bits(b)), f"{what} are not bit-identical:\n{a}\n{b}"


def norm(x, axis=None, keepdims=False):
    """Euclidean norm in float64 without underflow: m · ‖x / m‖, m the largest |x|."""
    x = np.asarray(x, dtype=np.float64)
    m = np.abs(x).max(axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim)
    safe = np.where(m > 0, m, 1.0)
    out = m * np.sqrt(((x / safe) ** 2).sum(axis=axis, keepdims=True))
    return out if keepdims else (out.reshape(()) if axis is None else out.squeeze(axis))


def written(h, y, i, theta_old=None, write_scale="none"):
    """The activations h̃_t of class i that the rule averages, in float64, straight from
    docs/MATH.md §5: h_t itself, h_t − h̄ ("centred", h̄ the batch mean), and either rescaled to
    ‖θ'[i]‖ (0 where it is 0) under the "row_norm" variants."""
    h_i = h[y == i].astype(np.float64)
    if write_scale.startswith("centred"):
        h_i = h_i - h.astype(np.float64).mean(axis=0)
    if not write_scale.endswith("row_norm"):
        return h_i
    norms = norm(h_i, axis=1, keepdims=True)
    row_norm = norm(theta_old)
    return np.where(norms > 0, h_i / np.where(norms > 0, norms, 1.0) * row_norm, 0.0)


def class_mean(h, y, i, theta_old=None, write_scale="none"):
    """ĥ_i in float64, computed directly from the definition (of the rescaled h̃ if asked)."""
    return written(h, y, i, theta_old, write_scale).mean(axis=0)


def lam_of(counts, i, n_i, rule):
    """λ_i of class i under a drawn rule (write_scale does not enter λ, docs/MATH.md §5)."""
    return hebbian_lambda(counts[[i]], np.array([n_i]), gamma=rule["gamma"], T=rule["T"],
                          lam_rule=rule["lam_rule"])[0]


def class_scale(theta, h, y, i, rule, axis=None):
    """S: the largest |θ'[i]|, |h_t| or |h̃_t| of class i (per coordinate with axis=0)."""
    h_i = np.abs(h[y == i]).max(axis=0)
    h_tilde = np.abs(written(h, y, i, theta[i], rule["write_scale"])).max(axis=0)
    scale = np.maximum(np.abs(theta[i]), np.maximum(h_i, h_tilde))
    return scale if axis == 0 else float(scale.max())


# ----------------------------------------------------------------------------------------------
# docs/MATH.md §8 properties

@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p1_T_zero_is_an_off_switch(dtype, update, data):
    """P1 (docs/MATH.md §8): with T = 0, θ = θ' bit-identically (−0.0 included) and every count
    still advances by n_i."""
    theta, counts, h, y = data.draw(batches(dtype))
    rule = draw_rule(data, T=0, write_scales=ALL_WRITE_SCALES)
    theta_after, counts_after = run(update, theta, counts, h, y, **rule)
    assert_bit_identical(theta_after, theta, "theta with T = 0 and theta'")
    np.testing.assert_array_equal(counts_after, counts + np.bincount(y, minlength=len(counts)))


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p2_first_sighting_binds_the_class_mean_exactly(dtype, update, data):
    """P2 (docs/MATH.md §8): a class seen for the first time (c_i = 1) gets θ[i] = ĥ_i exactly,
    whatever θ'[i] was, since λ_i = max(1, γ) = 1 under both lam_rules. This needs the rule to
    be on for it (c_i = 1 < T); with T <= 1 the class is already handed back and θ[i] = θ'[i].
    h is dyadic so that ĥ_i, the correctly rounded mean, is order-independent."""
    theta, counts, h, y = data.draw(batches(dtype, h_elements=dyadic(dtype)))
    T = data.draw(TS)
    rule = dict(gamma=data.draw(GAMMAS), T=T, lam_rule=data.draw(LAM_RULES))
    theta_after, _ = run(update, theta, counts, h, y, **rule)
    for i in np.unique(y):
        if counts[i] != 1:
            continue
        if T > 1:
            exact_sum = h[y == i].sum(axis=0)  # exact: dyadic values, in any order
            h_hat = exact_sum / dtype((y == i).sum())  # one correctly rounded division
            np.testing.assert_array_equal(theta_after[i], h_hat, err_msg=f"class {i}")
        else:
            assert_bit_identical(theta_after[i], theta[i], f"row {i} with T <= 1")


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p2_row_norm_binds_the_mean_of_the_rescaled_activations(dtype, update, data):
    """P2 (docs/MATH.md §8) under write_scale="row_norm": a class seen for the first time (c_i = 1,
    rule on) gets θ[i] = ĥ_i = mean of h̃_t = h_t ‖θ'[i]‖ / ‖h_t‖ (0 for h_t = 0), whatever
    θ'[i] was. Tolerance (H + n_i + 8) ε S, S = ‖θ'[i]‖: the roundings of ‖h_t‖, ‖θ'[i]‖, the
    division, the product and the sum, each relative to a number of size at most S."""
    theta, counts, h, y = data.draw(batches(dtype))
    rule = dict(gamma=data.draw(GAMMAS), T=math.inf, lam_rule=data.draw(LAM_RULES),
                write_scale="row_norm")
    theta_after, _ = run(update, theta, counts, h, y, **rule)
    for i in np.unique(y):
        if counts[i] != 1:
            continue
        n_i, H = int((y == i).sum()), h.shape[1]
        h_hat = class_mean(h, y, i, theta[i], "row_norm")
        scale = float(norm(theta[i]))
        tol = (H + n_i + 8) * eps(dtype) * scale + 16 * tiny(dtype)
        np.testing.assert_allclose(theta_after[i], h_hat, rtol=0, atol=tol,
                                   err_msg=f"class {i}")
        if np.all(np.abs(h[y == i]).max(axis=1) > 0) and n_i == 1:
            # one sighting, h_t != 0: the written row keeps the norm gradient descent gave it
            assert math.isclose(float(norm(theta_after[i])), scale,
                                rel_tol=0, abs_tol=tol * math.sqrt(H))


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_centred_row_norm_on_well_conditioned_batches(dtype, update, data):
    """P2 and P4 (docs/MATH.md §8) under write_scale="centred_row_norm", on batches where every
    h_t − h̄ keeps at least a tenth of the batch's scale (so rescaling it to ‖θ'[i]‖ amplifies
    rounding at most ~10 √H times): θ[i] lies on the segment from θ'[i] to ĥ_i = mean of
    (h_t − h̄) ‖θ'[i]‖ / ‖h_t − h̄‖, and equals ĥ_i when c_i = 1. Tolerance
    40 √H (N + n_i + H + 4) ε S."""
    theta, counts, h, y = data.draw(batches(dtype))
    assume(len(y) > 1 and np.abs(h).max() > 0)
    centred = h.astype(np.float64) - h.astype(np.float64).mean(axis=0)
    assume(norm(centred, axis=1).min() >= np.abs(h).max() / 10)
    rule = draw_rule(data, write_scales=st.just("centred_row_norm"))
    theta_after, _ = run(update, theta, counts, h, y, **rule)
    H = h.shape[1]
    for i in np.unique(y):
        n_i = int((y == i).sum())
        h_hat = class_mean(h, y, i, theta[i], "centred_row_norm")
        old, new = theta[i].astype(np.float64), theta_after[i]
        tol = (40 * math.sqrt(H) * (len(y) + n_i + H + 4) * eps(dtype)
               * class_scale(theta, h, y, i, rule) + 16 * tiny(dtype))
        lam = lam_of(counts, i, n_i, rule)
        np.testing.assert_allclose(new - old, lam * (h_hat - old), rtol=0, atol=tol,
                                   err_msg=f"class {i}")


def _feed_batches(update, theta, data, dtype, steps, draw_labels, *, lam_rule):
    """Run `steps` rule updates with γ = 0, T = ∞ (learning rate 0: θ changes only by the rule)
    on drawn batches; returns {class: [every activation labelled with it]}."""
    V, H = theta.shape
    counts = init_counts(V)
    seen = {i: [] for i in range(V)}
    for _ in range(steps):
        y = draw_labels()
        h = data.draw(hnp.arrays(dtype, (len(y), H), elements=values(dtype)))
        update(theta, counts, h, y, gamma=0.0, T=math.inf, lam_rule=lam_rule)
        for t, i in enumerate(y):
            seen[i].append(h[t])
    return seen


def _check_running_mean(theta_after, theta_before, seen, dtype, steps):
    """θ[i] ≈ mean of everything labelled i for seen classes, θ[i] untouched for the others."""
    for i in range(theta_after.shape[0]):
        if not seen[i]:
            assert_bit_identical(theta_after[i], theta_before[i], f"never-seen row {i}")
            continue
        rows = np.array(seen[i], dtype=np.float64)
        mean = rows.mean(axis=0)
        scale = np.abs(rows).max()
        tol = 8 * (steps + len(rows)) * eps(dtype) * scale + 16 * tiny(dtype)
        err = np.abs(theta_after[i] - mean).max()
        assert err <= tol, f"class {i}: |theta - running mean| = {err:.3g} > {tol:.3g}"


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p3_memorisation_is_the_running_mean(dtype, update, data):
    """P3 (docs/MATH.md §8), lam_rule="paper": with learning rate 0 (θ' = θ), γ = 0, T = ∞ and each
    class at most once per batch, after any sequence of batches θ[i] ≈ the mean of all
    activations ever labelled i. Tolerance: each batch adds a few roundings of size ε·S
    (S = largest |h| of the class), so |θ[i] − mean| <= 8 (batches + sightings) ε S."""
    V = data.draw(st.one_of(st.just(1), st.integers(1, 6)))
    H = data.draw(st.integers(1, 4))
    steps = data.draw(st.integers(1, 6))
    theta = data.draw(hnp.arrays(dtype, (V, H), elements=values(dtype)))
    def once_each():  # every class at most once, in a drawn order (possibly empty)
        y = np.array(data.draw(st.permutations(range(V))), dtype=np.int64)
        return y[: data.draw(st.integers(0, V))]

    theta_before = theta.copy()
    seen = _feed_batches(update, theta, data, dtype, steps, once_each, lam_rule="paper")
    _check_running_mean(theta, theta_before, seen, dtype, steps)


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p3_exact_mean_is_the_running_mean_for_any_batches(dtype, update, data):
    """P3 (docs/MATH.md §8), lam_rule="exact_mean": with learning rate 0, γ = 0, T = ∞, θ[i] ≈ the
    mean of all activations ever labelled i after any sequence of batches, duplicated labels
    included. Tolerance as in the paper-rule test, with the summation inside ĥ_i counted:
    8 (batches + sightings) ε S."""
    V = data.draw(st.one_of(st.just(1), st.integers(1, 5)))
    H = data.draw(st.integers(1, 4))
    steps = data.draw(st.integers(1, 5))
    theta = data.draw(hnp.arrays(dtype, (V, H), elements=values(dtype)))
    any_labels = lambda: data.draw(labels(V, data.draw(st.integers(0, 10))))
    theta_before = theta.copy()
    seen = _feed_batches(update, theta, data, dtype, steps, any_labels, lam_rule="exact_mean")
    _check_running_mean(theta, theta_before, seen, dtype, steps)


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p3_row_norm_is_the_running_mean_of_the_rescaled_activations(dtype, update, data):
    """P3 (docs/MATH.md §8) under write_scale="row_norm": with learning rate 0, γ = 0, T = ∞ and
    lam_rule="exact_mean", after any sequence of batches θ[i] ≈ the mean of every h̃_t ever
    written into row i, each h̃_t rescaled to ‖θ[i]‖ as it stood before its batch (computed
    here in float64 from the definition). Tolerance 8 (H + batches + sightings) ε S, S the
    largest |h̃_t| or |θ[i]| along the way: each batch adds a few roundings of size ε·S."""
    V = data.draw(st.one_of(st.just(1), st.integers(1, 5)))
    H = data.draw(st.integers(1, 4))
    steps = data.draw(st.integers(1, 5))
    theta = data.draw(hnp.arrays(dtype, (V, H), elements=values(dtype, 1.0, 10.0)))
    theta_before, counts = theta.copy(), init_counts(V)
    seen = {i: [] for i in range(V)}
    for _ in range(steps):
        y = data.draw(labels(V, data.draw(st.integers(0, 10))))
        h = data.draw(hnp.arrays(dtype, (len(y), H), elements=values(dtype, 1.0, 10.0)))
        for i in np.unique(y):
            seen[i].extend(written(h, y, i, theta[i], "row_norm"))
        update(theta, counts, h, y, gamma=0.0, T=math.inf, lam_rule="exact_mean",
               write_scale="row_norm")
    _check_running_mean(theta, theta_before, seen, dtype, steps + H)


@given(
    c=hnp.arrays(np.int64, st.integers(1, 30), elements=st.integers(1, 10_000)),
    n=st.integers(1, 50), gamma=GAMMAS, T=TS, lam_rule=LAM_RULES,
)
@PROPERTY
def test_p4_lambda_schedule(c, n, gamma, T, lam_rule):
    """P4 (docs/MATH.md §8), the schedule: λ_i ∈ [0, 1]; λ_i is non-increasing in c_i; λ_i = γ exactly
    once the count-based rate (1/c_i, or n_i/(c_i − 1 + n_i) for "exact_mean") is <= γ and
    c_i < T; λ_i is that rate while it is above γ and c_i < T; λ_i = 0 once c_i >= T."""
    c = np.sort(c)
    n_i = np.full_like(c, n)
    lam = hebbian_lambda(c, n_i, gamma=gamma, T=T, lam_rule=lam_rule)
    assert lam.shape == c.shape and lam.dtype == np.float64
    assert np.all((lam >= 0) & (lam <= 1))
    assert np.all(np.diff(lam) <= 0), f"lambda increases with the count: {c} -> {lam}"
    for c_i, lam_i in zip(c.tolist(), lam.tolist()):
        rate = 1 / c_i if lam_rule == "paper" else n / (c_i - 1 + n)
        if c_i >= T:
            assert lam_i == 0.0
        elif rate <= gamma:
            assert lam_i == gamma
        else:
            assert lam_i == rate


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p4_new_row_lies_on_the_segment(dtype, update, data):
    """P4 (docs/MATH.md §8): θ[i] lies on the segment from θ'[i] to ĥ_i: within their coordinate-wise
    bounds, and θ[i] − θ'[i] = λ_i (ĥ_i − θ'[i]) with λ_i ∈ [0, 1]; under the other write_scales
    ĥ_i is the mean of the transformed h̃_t. Tolerance 4 (N + n_i + 4) ε S, S = largest |θ'[i]|,
    |h_t| or |h̃_t| of the class: the roundings of the batch mean h̄, the rescaling, ĥ_i's sum
    and the mix. With c_i = 1 (λ_i = 1) this is P2 for every write_scale."""
    theta, counts, h, y = data.draw(batches(dtype))
    rule = draw_rule(data)
    theta_after, _ = run(update, theta, counts, h, y, **rule)
    for i in np.unique(y):
        n_i = int((y == i).sum())
        h_hat = class_mean(h, y, i, theta[i], rule["write_scale"])
        old, new = theta[i].astype(np.float64), theta_after[i]
        tol = 4 * (len(y) + n_i + 4) * eps(dtype) * class_scale(theta, h, y, i, rule) + 16 * tiny(dtype)
        assert np.all(new >= np.minimum(old, h_hat) - tol), f"row {i} below the segment"
        assert np.all(new <= np.maximum(old, h_hat) + tol), f"row {i} above the segment"
        lam = lam_of(counts, i, n_i, rule)
        assert 0.0 <= lam <= 1.0
        np.testing.assert_allclose(new - old, lam * (h_hat - old), rtol=0, atol=tol)


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p5_locality(dtype, update, data):
    """P5 (docs/MATH.md §8): rows of absent classes are bit-identical to θ'; a present row changes
    whenever λ_i > 0 and ĥ_i ≠ θ'[i]; counts rise by n_i each, so their total by exactly N.
    In floating point "ĥ_i ≠ θ'[i]" must mean a difference the dtype can resolve: the test
    demands a change when some coordinate has |λ_i (ĥ_ij − θ'_ij)| > 4 (N + n_i + 4) ε S_ij,
    which exceeds every rounding in the update (S_ij = largest |θ'_ij|, |h_tj| or |h̃_tj|)."""
    theta, counts, h, y = data.draw(batches(dtype))
    rule = draw_rule(data)
    theta_after, counts_after = run(update, theta, counts, h, y, **rule)
    present = np.zeros(len(counts), dtype=bool)
    present[y] = True
    assert_bit_identical(theta_after[~present], theta[~present], "absent rows and theta'")
    assert counts_after.sum() - counts.sum() == len(y)
    np.testing.assert_array_equal(counts_after - counts, np.bincount(y, minlength=len(counts)))
    for i in np.flatnonzero(present):
        n_i = int((y == i).sum())
        lam = lam_of(counts, i, n_i, rule)
        old = theta[i].astype(np.float64)
        scale = class_scale(theta, h, y, i, rule, axis=0)
        h_hat = class_mean(h, y, i, theta[i], rule["write_scale"])
        resolvable = np.abs(lam * (h_hat - old)) > (
            4 * (len(y) + n_i + 4) * eps(dtype) * scale + 16 * tiny(dtype))
        if lam > 0 and resolvable.any():
            assert not np.array_equal(theta_after[i], theta[i]), f"present row {i} not written"


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p6_batch_order_only_changes_rounding(dtype, update, data):
    """P6 (docs/MATH.md §8): permuting (h, y) jointly changes θ only by the summation order inside
    ĥ_i and the batch mean h̄: |Δθ[i]| <= 4 (N + n_i) ε S (S = largest |θ'[i]|, |h_t| or |h̃_t|
    of the class; each h̃_t is transformed on its own); counts and the rows of absent or
    handed-back classes do not change at all."""
    theta, counts, h, y = data.draw(batches(dtype))
    rule = draw_rule(data)
    perm = np.array(data.draw(st.permutations(range(len(y)))), dtype=np.int64)
    theta_a, counts_a = run(update, theta, counts, h, y, **rule)
    theta_b, counts_b = run(update, theta, counts, h[perm], y[perm], **rule)
    np.testing.assert_array_equal(counts_a, counts_b)
    for i in range(len(counts)):
        members = y == i
        if not members.any():
            assert_bit_identical(theta_a[i], theta_b[i], f"absent row {i}")
            continue
        tol = (4 * (len(y) + members.sum()) * eps(dtype) * class_scale(theta, h, y, i, rule)
               + 16 * tiny(dtype))
        np.testing.assert_allclose(theta_a[i], theta_b[i], rtol=0, atol=tol,
                                   err_msg=f"row {i} depends on batch order")


@st.composite
def large_batches(draw, dtype):
    """Bigger seeded batches (V up to 300, N up to 400), for P7 beyond hypothesis' small draws."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    V, H, N = draw(st.integers(1, 300)), draw(st.integers(1, 16)), draw(st.integers(0, 400))
    y = rng.integers(0, draw(st.integers(1, V)), N)  # a drawn label range: many duplicates
    h = (rng.standard_normal((N, H)) * draw(st.sampled_from([1e-3, 1.0, 1e3]))).astype(dtype)
    theta = rng.standard_normal((V, H)).astype(dtype)
    counts = rng.integers(1, 60, V).astype(np.int64)
    return theta, counts, h, y


P7_TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p7_fast_equals_reference(dtype, data):
    """P7 (docs/MATH.md §8): the fast path equals the per-class reference loop to 1e-12 relative error
    in float64 (1e-5 in float32, ≈ 80 ε), under both write_scales, relative to the row's scale
    S = largest |θ'[i]|, |h_t| or |h̃_t| of the class (the two may sum ĥ_i in different orders, and a mix λĥ + (1 − λ)θ' can
    cancel, so the error is measured against the inputs' size, not the result's). Counts and the
    rows of absent or handed-back classes are identical bit for bit."""
    theta, counts, h, y = data.draw(st.one_of(batches(dtype), large_batches(dtype)))
    rule = draw_rule(data, write_scales=ALL_WRITE_SCALES)
    theta_fast, counts_fast = run(hebbian_update, theta, counts, h, y, **rule)
    theta_ref, counts_ref = run(hebbian_update_reference, theta, counts, h, y, **rule)
    np.testing.assert_array_equal(counts_fast, counts_ref)
    for i in range(len(counts)):
        n_i = int((y == i).sum())
        if n_i == 0 or lam_of(counts, i, n_i, rule) == 0:
            assert_bit_identical(theta_fast[i], theta_ref[i], f"unwritten row {i}")
            continue
        scale = class_scale(theta, h, y, i, rule)
        error = np.abs(theta_fast[i].astype(np.float64) - theta_ref[i]).max()
        assert error <= P7_TOLERANCE[dtype] * scale, (
            f"row {i}: fast and reference differ by {error:.3g} at scale {scale:.3g}")


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@PROPERTY
@given(data=st.data())
def test_p8_handed_back_classes_follow_the_optimiser_alone(dtype, update, data):
    """P8 (docs/MATH.md §8): for a class present with c_i >= T, the whole step (a plain SGD step
    θ' = θ − lr ∂L/∂θ on the softmax cross-entropy, then the rule) equals the SGD step alone,
    bit for bit; so does every absent row."""
    theta, counts, h, y = data.draw(batches(dtype))
    rule = draw_rule(data, write_scales=ALL_WRITE_SCALES)
    lr = data.draw(st.one_of(st.just(0.0), st.floats(0.0, 2.0)))
    b = data.draw(hnp.arrays(dtype, len(counts), elements=values(dtype)))
    z, cache = softmax_layer_forward(h, {"theta": theta, "b": b})
    _, dz = softmax_cross_entropy(z, y)
    _, grads = softmax_layer_backward(dz, cache)
    theta_sgd = theta - dtype(lr) * grads["theta"]  # the optimiser step alone: θ'
    theta_whole, _ = run(update, theta_sgd, counts, h, y, **rule)  # θ' then the rule
    handed_back = ~np.isin(np.arange(len(counts)), y) | (counts >= rule["T"])
    assert_bit_identical(theta_whole[handed_back], theta_sgd[handed_back],
                         "handed-back or absent rows after the whole step and after SGD alone")


# ----------------------------------------------------------------------------------------------
# The write reaches θ (docs/MATH.md §5: one public implementation updated a boolean-mask copy)

def _masked_copy_update(theta, counts, h, y, *, gamma, T, lam_rule="paper"):
    """The bug class docs/MATH.md §5 warns about: theta[mask] is a copy, so the write is lost."""
    present = np.zeros(len(counts), dtype=bool)
    present[y] = True
    rows = theta[present]  # a copy, not a view
    hebbian_update(rows, counts[present].copy(), h, np.searchsorted(np.flatnonzero(present), y),
                   gamma=gamma, T=T, lam_rule=lam_rule)
    counts[present] += np.bincount(y, minlength=len(counts))[present]


def _update_reaches_theta(update):
    """True when the rows of the classes present are written into the caller's array."""
    rng = np.random.default_rng(3)
    theta = rng.standard_normal((6, 4))
    before = theta.copy()
    h = rng.standard_normal((5, 4)) + 5.0  # far from every row of theta
    y = np.array([0, 2, 2, 5, 0])
    update(theta, init_counts(6), h, y, gamma=0.1, T=math.inf)
    absent = [1, 3, 4]
    assert_bit_identical(theta[absent], before[absent], "absent rows")
    # c_i = 1 ⇒ λ_i = 1 ⇒ θ[i] = ĥ_i (P2); computed here straight from the definition.
    return all(np.allclose(theta[i], h[y == i].mean(axis=0), rtol=1e-12) for i in (0, 2, 5))


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
def test_update_reaches_theta(update):
    """Regression (docs/MATH.md §5, §8 P5): present rows of the caller's own theta change, absent rows
    stay bit-identical, and the function returns None. The boolean-mask-copy bug fails it."""
    assert _update_reaches_theta(update)
    assert not _update_reaches_theta(_masked_copy_update), "the check cannot see the copy bug"


def test_layer_update_reaches_the_model_parameters():
    """HebbianSoftmax.update writes into params["softmax.theta"] itself, not into a copy."""
    rng = np.random.default_rng(4)
    params = {"softmax.theta": rng.standard_normal((3, 2)), "softmax.b": np.zeros(3)}
    theta = params["softmax.theta"]
    hebbian = HebbianSoftmax(3)
    h, y = np.array([[7.0, -7.0]]), np.array([1])
    hebbian.update(params["softmax.theta"], h, y)
    assert params["softmax.theta"] is theta
    np.testing.assert_array_equal(theta[1], h[0])
    np.testing.assert_array_equal(hebbian.counts, [1, 2, 1])


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
def test_arrays_only_updatable_through_a_copy_are_rejected(update):
    """The chosen behaviour: a theta or counts that could only be updated through a copy
    (non-contiguous, read-only, other dtype than h) is refused with an error naming it, and the
    caller's array is left untouched. A C-contiguous view is fine: the write reaches its base."""
    rng = np.random.default_rng(5)
    base = rng.standard_normal((6, 8))
    before = base.copy()
    h, y = rng.standard_normal((3, 4)), np.array([0, 1, 1])
    rule = dict(gamma=0.5, T=math.inf)
    with pytest.raises(ValueError, match=r"^theta .*C-contiguous"):
        update(base[::2, ::2], init_counts(3), h, y, **rule)
    with pytest.raises(ValueError, match=r"^theta .*C-contiguous"):
        update(np.asfortranarray(base[:4, :3]), init_counts(4), h[:, :3].copy(), y, **rule)
    read_only = base[:2, :4].copy()
    read_only.setflags(write=False)
    with pytest.raises(ValueError, match=r"^theta must be writeable"):
        update(read_only, init_counts(2), h, y, **rule)
    with pytest.raises(TypeError, match=r"\btheta\b"):
        update(base[:2, :4].astype(np.float32), init_counts(2), h, y, **rule)
    with pytest.raises(ValueError, match=r"^counts .*C-contiguous"):
        update(base[:2, :4].copy(), np.ones(4, dtype=np.int64)[::2], h, y, **rule)
    assert_bit_identical(base, before, "the base array after rejected calls")

    view = base[2:4, :]  # rows 2-3: a C-contiguous view into base
    update(view, init_counts(2), rng.standard_normal((3, 8)), y, **rule)
    assert not np.array_equal(base[2:4], before[2:4]), "the write did not reach the base array"
    assert_bit_identical(base[[0, 1, 4, 5]], before[[0, 1, 4, 5]], "rows outside the view")


# ----------------------------------------------------------------------------------------------
# Validation at the boundary

def _noncontiguous(a):
    big = np.repeat(a, 2, axis=0)
    return big[::2]


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _with_nonfinite(h, value):
    h = h.copy()
    h.flat[0] = value
    return h


# (argument named in the error, change to a valid call)
BAD_INPUTS = [
    ("gamma", lambda a: {**a, "gamma": -0.01}),
    ("gamma", lambda a: {**a, "gamma": 1.01}),
    ("gamma", lambda a: {**a, "gamma": math.nan}),
    ("gamma", lambda a: {**a, "gamma": math.inf}),
    ("gamma", lambda a: {**a, "gamma": "0.5"}),
    ("gamma", lambda a: {**a, "gamma": True}),
    ("T", lambda a: {**a, "T": -1}),
    ("T", lambda a: {**a, "T": -math.inf}),
    ("T", lambda a: {**a, "T": math.nan}),
    ("T", lambda a: {**a, "T": None}),
    ("lam_rule", lambda a: {**a, "lam_rule": "mean"}),
    ("lam_rule", lambda a: {**a, "lam_rule": None}),
    ("write_scale", lambda a: {**a, "write_scale": "rownorm"}),
    ("write_scale", lambda a: {**a, "write_scale": None}),
    ("y", lambda a: {**a, "y": a["y"] + len(a["counts"])}),
    ("y", lambda a: {**a, "y": a["y"] - len(a["counts"])}),
    ("y", lambda a: {**a, "y": a["y"].astype(np.float64)}),
    ("y", lambda a: {**a, "y": a["y"].astype(bool)}),
    ("y", lambda a: {**a, "y": a["y"][:-1]}),
    ("y", lambda a: {**a, "y": a["y"][:, None]}),
    ("y", lambda a: {**a, "y": a["y"].tolist()}),
    ("theta", lambda a: {**a, "theta": a["theta"][0]}),
    ("theta", lambda a: {**a, "theta": a["theta"].astype(np.int64)}),
    ("theta", lambda a: {**a, "theta": a["theta"].astype(np.float16)}),
    ("theta", lambda a: {**a, "theta": a["theta"].astype(
        np.float32 if a["theta"].dtype == np.float64 else np.float64)}),
    ("theta", lambda a: {**a, "theta": _noncontiguous(a["theta"])}),
    ("theta", lambda a: {**a, "theta": _read_only(a["theta"])}),
    ("theta", lambda a: {**a, "theta": a["theta"].tolist()}),
    ("h", lambda a: {**a, "h": a["h"][:, :-1]}),
    ("h", lambda a: {**a, "h": a["h"][0]}),
    ("h", lambda a: {**a, "h": _with_nonfinite(a["h"], math.nan)}),
    ("h", lambda a: {**a, "h": _with_nonfinite(a["h"], -math.inf)}),
    ("h", lambda a: {**a, "h": a["h"].tolist()}),
    ("counts", lambda a: {**a, "counts": a["counts"][:-1]}),
    ("counts", lambda a: {**a, "counts": a["counts"].astype(np.int32)}),
    ("counts", lambda a: {**a, "counts": a["counts"].astype(np.float64)}),
    ("counts", lambda a: {**a, "counts": a["counts"] - a["counts"].max()}),
    ("counts", lambda a: {**a, "counts": _noncontiguous(a["counts"])}),
    ("counts", lambda a: {**a, "counts": _read_only(a["counts"])}),
]


@pytest.mark.parametrize("update", IMPLEMENTATIONS)
@settings(max_examples=80, deadline=None)
@given(data=st.data(), bad=st.sampled_from(BAD_INPUTS))
def test_bad_inputs_are_rejected_naming_the_argument(update, data, bad):
    """Every invalid argument (docs/MATH.md §5 ranges: γ ∈ [0, 1], T >= 0 and not NaN; labels
    integer and in range; shapes theta (V, H), h (N, H), y (N,), counts (V,); h finite; one
    float dtype for theta and h; counts int64 and >= 1; a known lam_rule; arrays that can be
    updated in place) raises ValueError or TypeError whose message names the argument, and
    nothing passed in is written."""
    dtype = data.draw(st.sampled_from(DTYPES))
    V, H, N = data.draw(st.integers(2, 4)), data.draw(st.integers(2, 3)), data.draw(st.integers(1, 6))
    args = dict(
        theta=data.draw(hnp.arrays(dtype, (V, H), elements=values(dtype))),
        counts=data.draw(hnp.arrays(np.int64, V, elements=st.integers(1, 60))),
        h=data.draw(hnp.arrays(dtype, (N, H), elements=values(dtype))),
        y=data.draw(hnp.arrays(np.int64, N, elements=st.integers(0, V - 1))),
        **draw_rule(data),
    )
    name, corrupt = bad
    args = corrupt(args)
    passed = {k: v for k, v in args.items() if isinstance(v, np.ndarray)}
    snapshot = {k: v.tobytes() for k, v in passed.items()}
    with pytest.raises((ValueError, TypeError)) as error:
        update(args.pop("theta"), args.pop("counts"), args.pop("h"), args.pop("y"), **args)
    assert re.search(rf"\b{name}\b", str(error.value)), f"{error.value!r} does not name {name}"
    for k, v in passed.items():
        assert v.tobytes() == snapshot[k], f"a rejected call wrote into {k}"


def test_lambda_and_layer_validate_their_arguments():
    """hebbian_lambda and HebbianSoftmax reject out-of-range inputs, naming the argument."""
    ones = np.ones(3, dtype=np.int64)
    with pytest.raises(ValueError, match=r"^counts_i\b"):
        hebbian_lambda(ones - 1, ones, gamma=0.1, T=10)
    with pytest.raises(ValueError, match=r"^n_i\b"):
        hebbian_lambda(ones, ones[:2], gamma=0.1, T=10)
    with pytest.raises(ValueError, match=r"^gamma\b"):
        hebbian_lambda(ones, ones, gamma=2.0, T=10)
    with pytest.raises(ValueError, match=r"^gamma\b"):
        HebbianSoftmax(3, gamma=-1.0)
    with pytest.raises(ValueError, match=r"^T\b"):
        HebbianSoftmax(3, T=math.nan)
    with pytest.raises(ValueError, match=r"^lam_rule\b"):
        HebbianSoftmax(3, lam_rule="Paper")
    with pytest.raises(ValueError, match=r"^counts\b"):
        HebbianSoftmax(3, counts=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"^V\b"):
        init_counts(-1)


def test_layer_state_and_config():
    """HebbianSoftmax starts every count at 1 (docs/MATH.md §5); from_config carries every field of a
    HebbianConfig into the layer; T = 0 leaves θ untouched while counts still advance (P1)."""
    layer = HebbianSoftmax(4)
    assert layer.counts.dtype == np.int64 and np.array_equal(layer.counts, np.ones(4))
    config = HebbianConfig(gamma=0.25, T=0, lam_rule="exact_mean", write_scale="row_norm")
    off = HebbianSoftmax.from_config(config, 4)
    assert (off.gamma, off.T, off.lam_rule, off.write_scale) == (0.25, 0, "exact_mean", "row_norm")
    theta = np.arange(8.0).reshape(4, 2)
    before = theta.copy()
    off.update(theta, np.ones((3, 2)), np.array([0, 3, 3]))
    assert_bit_identical(theta, before, "theta under T = 0")
    np.testing.assert_array_equal(off.counts, [2, 1, 1, 3])
    resumed = HebbianSoftmax.from_config(config, 4, counts=off.counts)
    assert resumed.counts is off.counts
    with pytest.raises(ValueError, match=r"^write_scale\b"):
        HebbianConfig(write_scale="norm")
    with pytest.raises(TypeError, match=r"^config\b"):
        HebbianSoftmax.from_config({"gamma": 0.1}, 4)


def test_layer_defaults_are_the_config_defaults():
    """The library's defaults are stated once, in HebbianConfig: a HebbianSoftmax built without
    options has exactly its settings."""
    layer, config = HebbianSoftmax(3), HebbianConfig()
    assert (layer.gamma, layer.T, layer.lam_rule, layer.write_scale) == \
        (config.gamma, config.T, config.lam_rule, config.write_scale)


@pytest.mark.parametrize("write_scale", ["none", "centred"])
def test_layer_update_reference_runs_the_reference_loop(write_scale):
    """update(..., reference=True) is hebbian_update_reference on the layer's state and
    settings, bit for bit; the default is hebbian_update (docs/MATH.md §5.5)."""
    rng = np.random.default_rng(0)
    theta, h, y = rng.standard_normal((5, 3)), rng.standard_normal((9, 3)), rng.integers(0, 5, 9)
    for reference, update in ((True, hebbian_update_reference), (False, hebbian_update)):
        layer = HebbianSoftmax(5, gamma=0.2, T=50, write_scale=write_scale)
        expected_theta, expected_counts = theta.copy(), layer.counts.copy()
        update(expected_theta, expected_counts, h, y, gamma=0.2, T=50, write_scale=write_scale)
        got = theta.copy()
        layer.update(got, h, y, reference=reference)
        assert_bit_identical(got, expected_theta, f"theta, reference={reference}")
        np.testing.assert_array_equal(layer.counts, expected_counts)


# ----------------------------------------------------------------------------------------------
# End to end: a one-shot class in a tiny classifier

def _train_tiny_classifier(hebbian):
    """Fixed random features h = tanh(x W) for 5 classes; a softmax layer trained by plain SGD.
    Classes 0-3 fill 12 batches; class 4 appears exactly once, in the last batch. Returns the
    logit of class 4 for its own input after that step, and the layer's parameters."""
    V, D, H, batch, lr = 5, 12, 16, 8, 0.5
    rng = np.random.default_rng(0)  # the same data, order and initial weights for both runs
    W = rng.standard_normal((D, H)) / np.sqrt(D)
    prototypes = rng.standard_normal((V, D))
    params = {"theta": 0.01 * rng.standard_normal((V, H)), "b": np.zeros(V)}

    def features(y):
        return np.tanh((prototypes[y] + 0.3 * rng.standard_normal((len(y), D))) @ W)

    steps = [rng.integers(0, 4, batch) for _ in range(12)]
    steps.append(np.concatenate([rng.integers(0, 4, batch - 1), [4]]))
    for y in steps:
        h = features(y)
        z, cache = softmax_layer_forward(h, params)
        _, dz = softmax_cross_entropy(z, y)
        _, grads = softmax_layer_backward(dz, cache)
        for k in params:
            params[k] -= lr * grads[k]  # plain SGD, then the rule (docs/MATH.md §5 steps 1-2)
        if hebbian is not None:
            hebbian.update(params["theta"], h, y)
    h_new = h[-1]
    return h_new @ params["theta"][4] + params["b"][4], params


def test_one_shot_class_binds_faster_with_hebbian_than_plain_softmax():
    """End to end (docs/MATH.md §5, §9): a class seen exactly once has, right after that step, a higher
    logit for its own input with the Hebbian rule (θ[4] = its activation, P2) than with plain
    softmax, whose single gradient step moves θ[4] by only lr·(1 − p)/N along the activation."""
    hebbian = HebbianSoftmax(5)
    logit_hebbian, params_hebbian = _train_tiny_classifier(hebbian)
    logit_plain, params_plain = _train_tiny_classifier(None)
    assert hebbian.counts[4] == 2
    assert logit_hebbian > logit_plain, (logit_hebbian, logit_plain)
    assert not np.array_equal(params_hebbian["theta"][4], params_plain["theta"][4])

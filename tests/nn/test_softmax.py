"""Softmax layer and cross-entropy (hebbref/nn/softmax.py, docs/MATH.md §3): gradients against finite
differences and against torch, the fast cross-entropy and the fused layer-with-loss against
their plain twins, and the layer's initialisation."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck, threads
from hebbref.models.classifier import classifier_init
from hebbref.nn.softmax import (linear_cross_entropy, nll_per_target, nll_per_target_reference,
                                softmax_cross_entropy,
                                softmax_cross_entropy_reference, softmax_init,
                                softmax_layer_backward, softmax_layer_forward)

from torch_gold import assert_backward_matches, assert_matches, leaf


def traced_peak(fn):
    """Peak bytes of the arrays allocated while fn() runs (NumPy reports its buffers to
    tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

seeds = st.integers(0, 2**32 - 1)
# The twins compute p as exp(z − m) / Σ (fast) and as exp(z − m − log Σ) (plain): the same
# quantity rounded differently, a few units in the last place apart.
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


@settings(max_examples=12, deadline=None)
@given(seed=seeds, N=st.integers(1, 4), H=st.integers(1, 4), V=st.integers(1, 6))
def test_softmax_gradients(seed, N, H, V):
    rows = gradcheck.check_softmax(np.random.default_rng(seed), N, H, V)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)


def run_fast(z, y, blocks):
    """The fast cross-entropy on a copy of z, with every row block worth a thread and `blocks`
    threads."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads, "MIN_BLOCK", 1)
        patch.setattr(threads, "blas_threads", lambda: blocks)
        return softmax_cross_entropy(z.copy(), y, overwrite_z=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 40), V=st.integers(1, 30), blocks=st.integers(2, 5), scale=st.sampled_from(
    [1.0, 5.0, 1e3]), seed=seeds)
def test_fast_equals_plain_twin_on_any_number_of_threads(dtype, N, V, blocks, scale, seed):
    """Fast == plain (docs/MATH.md §3): the in-place, row-blocked cross-entropy gives the plain twin's
    loss and dz (within TOLERANCE, see there), on one thread and on several; and since each row
    is computed by the same operations whatever the split, several threads equal one bit for
    bit."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((N, V)) * scale).astype(dtype)
    y = rng.integers(0, V, N)
    loss_one, dz_one = run_fast(z, y, 1)
    loss_many, dz_many = run_fast(z, y, blocks)
    assert loss_many == loss_one
    np.testing.assert_array_equal(dz_many, dz_one)
    loss, dz = softmax_cross_entropy_reference(z, y)
    tol = TOLERANCE[dtype]
    assert loss_one == pytest.approx(loss, rel=tol, abs=tol)
    np.testing.assert_allclose(dz_one, dz, rtol=tol, atol=tol / N)
    assert dz.dtype == dz_one.dtype == dtype


def test_plain_twin_is_the_formula_by_hand():
    """One row, two classes: p = (1/(1 + e), e/(1 + e)) for z = (0, 1), label 0."""
    loss, dz = softmax_cross_entropy_reference(np.array([[0.0, 1.0]]), np.array([0]))
    e = np.e
    assert loss == pytest.approx(np.log(1 + e), rel=1e-15)
    np.testing.assert_allclose(dz, [[1 / (1 + e) - 1, e / (1 + e)]], rtol=1e-15)


def test_overwrite_z_builds_dz_in_place_and_plain_leaves_z_alone():
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal((5, 7)), rng.integers(0, 7, 5)
    original = z.copy()
    _, dz = softmax_cross_entropy_reference(z, y)
    _, dz_copy = softmax_cross_entropy(z, y)
    np.testing.assert_array_equal(z, original)
    _, dz_inplace = softmax_cross_entropy(z, y, overwrite_z=True)
    assert dz_inplace is z and dz_copy is not z
    np.testing.assert_array_equal(dz_inplace, dz_copy)
    np.testing.assert_allclose(dz_copy, dz, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fn", [softmax_cross_entropy, softmax_cross_entropy_reference])
def test_empty_batch_has_zero_loss(fn):
    loss, dz = fn(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    assert loss == 0.0 and dz.shape == (0, 4) and dz.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_init_bounds_shapes_and_dtype(dtype):
    """θ ~ U(−1/√H, 1/√H) of shape (V, H), b = 0 of shape (V,), both in dtype."""
    params = softmax_init(16, 50, np.random.default_rng(0), dtype=dtype)
    assert set(params) == {"theta", "b"}
    assert params["theta"].shape == (50, 16) and params["b"].shape == (50,)
    assert params["theta"].dtype == params["b"].dtype == dtype
    assert np.abs(params["theta"]).max() <= 0.25 and np.abs(params["theta"]).max() > 0.2
    assert not params["b"].any()


def test_models_take_the_softmax_layer_from_softmax_init():
    """classifier_init draws the MLP first, then the softmax layer from the same generator."""
    rng = np.random.default_rng(3)
    params = classifier_init(4, [5], 6, rng, dtype=np.float32)
    replay = np.random.default_rng(3)
    replay.standard_normal((4, 5))                     # the MLP's one weight matrix
    expected = softmax_init(5, 6, replay, dtype=np.float32)
    np.testing.assert_array_equal(params["softmax.theta"], expected["theta"])
    np.testing.assert_array_equal(params["softmax.b"], expected["b"])


@pytest.mark.parametrize("cross_entropy", [softmax_cross_entropy_reference,
                                           softmax_cross_entropy])
@pytest.mark.parametrize("N, V", [(1, 1), (1, 5), (4, 1), (4, 3), (7, 10)])
def test_softmax_cross_entropy_matches_torch(torch, cross_entropy, N, V):
    """Mean cross-entropy and dz = (p − onehot(y)) / N (docs/MATH.md §3)."""
    F = torch.nn.functional
    rng = np.random.default_rng(10 * N + V)
    z = 3.0 * rng.standard_normal((N, V))
    y = rng.integers(0, V, N)
    loss, dz = cross_entropy(z, y)

    tz = leaf(z)
    gold = F.cross_entropy(tz, torch.tensor(y), reduction="mean")
    gold.backward()
    assert_matches("loss", loss, gold)
    assert_matches("dz", dz, tz.grad)


@pytest.mark.parametrize("cross_entropy", [softmax_cross_entropy_reference,
                                           softmax_cross_entropy])
def test_softmax_cross_entropy_extreme_logits_match_torch(torch, cross_entropy):
    """Logits of ±1000 (exp overflows without the max shift): finite, and equal to torch's
    loss (≈ 2000 where the label's logit is −1000 and another is +1000) and dz (docs/MATH.md §3)."""
    F = torch.nn.functional
    z = np.array([
        [1000.0, -1000.0, 0.0, 1.0],
        [1000.0, -1000.0, 0.0, 1.0],
        [-1000.0, -1000.0, -1000.0, -1000.0],
        [1000.0, 1000.0, -1000.0, 999.0],
        [-1000.0, 1000.0, 0.5, -0.5],
        [1000.0, 1000.0, 1000.0, 1000.0],
    ])
    y = np.array([0, 1, 2, 3, 0, 3])
    loss, dz = cross_entropy(z, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dz)), f"loss {loss}, dz {dz}"

    tz = leaf(z)
    gold = F.cross_entropy(tz, torch.tensor(y), reduction="mean")
    gold.backward()
    assert_matches("loss (extreme logits)", loss, gold)
    assert_matches("dz (extreme logits)", dz, tz.grad)


@pytest.mark.parametrize("N, H, V", [(1, 1, 1), (1, 3, 4), (5, 1, 2), (6, 4, 7)])
def test_softmax_layer_matches_torch(torch, N, H, V):
    """z = h θᵀ + b with θ (V, H) (torch's Linear weight layout), and dh, dθ, db
    (docs/MATH.md §3)."""
    F = torch.nn.functional
    rng = np.random.default_rng(100 * N + 10 * H + V)
    params = {"theta": rng.standard_normal((V, H)), "b": rng.standard_normal(V)}
    h = rng.standard_normal((N, H))
    upstream = rng.standard_normal((N, V))
    z, cache = softmax_layer_forward(h, params)
    dh, grads = softmax_layer_backward(upstream, cache)

    gold = {"h": leaf(h), "theta": leaf(params["theta"]), "b": leaf(params["b"])}
    gold_z = F.linear(gold["h"], gold["theta"], gold["b"])
    assert_backward_matches(upstream, z, gold_z, {"h": dh, **grads}, gold)


def plain_layer_and_loss(h, params, y):
    """The plain path the fused layer must equal: softmax_layer_forward →
    softmax_cross_entropy_reference → softmax_layer_backward."""
    z, cache = softmax_layer_forward(h, params)
    loss, dz = softmax_cross_entropy_reference(z, y)
    dh, grads = softmax_layer_backward(dz, cache)
    return loss, dh, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(N=st.integers(0, 30), H=st.integers(1, 5), V=st.integers(1, 12),
       block_rows=st.one_of(st.none(), st.integers(1, 31)), seed=seeds)
def test_fused_layer_equals_plain_path_for_any_block(dtype, N, H, V, block_rows, seed):
    """linear_cross_entropy == the plain path (docs/MATH.md §3) for every block size, within TOLERANCE:
    the cross-entropy rounds as softmax_cross_entropy does, and dθ, db are summed block by block
    (a different order of the same additions)."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((N, H)).astype(dtype)
    params = {"theta": rng.standard_normal((V, H)).astype(dtype),
              "b": rng.standard_normal(V).astype(dtype)}
    y = rng.integers(0, V, N)
    loss, dh, grads = linear_cross_entropy(h, params, y, block_rows=block_rows)
    want_loss, want_dh, want_grads = plain_layer_and_loss(h, params, y)
    tol = TOLERANCE[dtype]
    assert loss == pytest.approx(want_loss, rel=tol, abs=tol)
    for name, got, want in (("dh", dh, want_dh), ("dtheta", grads["theta"], want_grads["theta"]),
                            ("db", grads["b"], want_grads["b"])):
        assert got.dtype == dtype and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("N, V", [(1, 1), (4, 3), (7, 10)])
def test_fused_layer_matches_torch(torch, N, V):
    """Loss and the gradients of h, θ, b against torch's linear → cross_entropy (docs/MATH.md §3),
    in blocks of 2 rows."""
    F = torch.nn.functional
    rng = np.random.default_rng(100 * N + V)
    h, theta, b = rng.standard_normal((N, 3)), rng.standard_normal((V, 3)), rng.standard_normal(V)
    y = rng.integers(0, V, N)
    loss, dh, grads = linear_cross_entropy(h, {"theta": theta, "b": b}, y, block_rows=2)
    th, ttheta, tb = leaf(h), leaf(theta), leaf(b)
    gold = F.cross_entropy(F.linear(th, ttheta, tb), torch.tensor(y))
    gold.backward()
    assert_matches("loss", loss, gold)
    for name, got, tensor in (("dh", dh, th), ("dtheta", grads["theta"], ttheta),
                              ("db", grads["b"], tb)):
        assert_matches(name, got, tensor.grad)


def test_default_blocks_are_never_thinner_than_min_block_rows(monkeypatch):
    """Without block_rows, a block holds BLOCK_ELEMENTS logits but at least MIN_BLOCK_ROWS rows
    (thin blocks re-read θ too often, docs/MATH.md §3.3); the rows are cut into blocks of
    equal height: here 10 rows at 2 rows by the element budget, 4 by the minimum -> 4, 4, 2."""
    from hebbref.nn import softmax

    monkeypatch.setattr(softmax, "BLOCK_ELEMENTS", 100)
    monkeypatch.setattr(softmax, "MIN_BLOCK_ROWS", 4)
    heights, fused_block = [], softmax._fused_block
    monkeypatch.setattr(softmax, "_fused_block",
                        lambda h, *args, **kw: heights.append(h.shape[0]) or
                        fused_block(h, *args, **kw))
    rng = np.random.default_rng(0)
    params = {"theta": rng.standard_normal((50, 3)), "b": np.zeros(50)}
    linear_cross_entropy(rng.standard_normal((10, 3)), params, rng.integers(0, 50, 10))
    assert heights == [4, 4, 2]


def test_fused_layer_never_holds_the_logits():
    """The point of the fused layer: its peak allocation is one block of logits plus the
    outputs, far below the (N, V) logits the plain path allocates (tracemalloc sees NumPy's
    buffers)."""
    rng = np.random.default_rng(0)
    N, H, V = 512, 8, 2000
    h = rng.standard_normal((N, H)).astype(np.float32)
    params = {"theta": rng.standard_normal((V, H)).astype(np.float32),
              "b": np.zeros(V, np.float32)}
    y = rng.integers(0, V, N)
    logits_bytes = N * V * 4
    fused = traced_peak(lambda: linear_cross_entropy(h, params, y, block_rows=16))
    plain = traced_peak(lambda: plain_layer_and_loss(h, params, y))
    outputs_bytes = (N * H + V * H + V) * 4
    assert plain > logits_bytes
    assert fused < outputs_bytes + 3 * 16 * V * 4 + 64 * 1024, (fused, logits_bytes)


def test_fused_layer_validates_at_its_boundary():
    params = {"theta": np.zeros((3, 2)), "b": np.zeros(3)}
    with pytest.raises(ValueError, match="y must lie in"):
        linear_cross_entropy(np.zeros((2, 2)), params, np.array([0, 3]))
    with pytest.raises(ValueError, match="h must have shape"):
        linear_cross_entropy(np.zeros((2, 5)), params, np.array([0, 1]))
    with pytest.raises(TypeError, match="must share a dtype"):
        linear_cross_entropy(np.zeros((2, 2), np.float32), params, np.array([0, 1]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(N=st.integers(0, 40), V=st.integers(1, 30), blocks=st.integers(1, 5),
       scale=st.sampled_from([1.0, 1e3]), seed=seeds)
def test_fast_nll_equals_plain_twin_bit_for_bit(dtype, N, V, blocks, scale, seed):
    """nll_per_target == nll_per_target_reference bit for bit on any number of row blocks (the
    same max, exp, row sum and log on every row), and leaves z unchanged."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((N, V)) * scale).astype(dtype)
    y = rng.integers(0, V, N)
    original = z.copy()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads, "MIN_BLOCK", 1)
        patch.setattr(threads, "blas_threads", lambda: blocks)
        fast = nll_per_target(z, y)
    want = nll_per_target_reference(z, y)
    assert fast.dtype == want.dtype == dtype and fast.shape == (N,)
    np.testing.assert_array_equal(fast, want)
    np.testing.assert_array_equal(z, original)

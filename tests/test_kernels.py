"""The numba row kernels against their NumPy twin and a plain loop (each kernel sits beside its
plain twin; docs/MATH.md §2: the embedding's sparse gradient and the sparse-row optimisers are
built on them)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import optim
from hebbref.kernels import (adam_step, lstm_gate_gradients, matmul_accumulate,
                             matmul_accumulate_numpy, scatter_add_rows, scatter_add_rows_numpy,
                             sgd_step)
from hebbref.nn.lstm import lstm_step_backward
from hebbref.optim import adam_step_numpy, sgd_step_numpy

DTYPES = [np.float32, np.float64]


@st.composite
def scatter_problems(draw, dtype):
    """A target (V, E), ids (K,) drawn from a few values (so most are repeats) and rows (K, E)."""
    V = draw(st.integers(1, 6))
    E = draw(st.integers(0, 4))
    K = draw(st.integers(0, 40))
    ids = np.array(draw(st.lists(st.integers(0, V - 1), min_size=K, max_size=K)), dtype=np.int64)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Magnitudes spread over many decades, so the sum depends on the order of additions.
    scale = 10.0 ** rng.integers(-8, 9, size=(K, E))
    rows = (rng.standard_normal((K, E)) * scale).astype(dtype)
    target = rng.standard_normal((V, E)).astype(dtype)
    return target, ids, rows


def test_add_at_and_kernel_add_in_index_order():
    """np.add.at and the kernel both add rows in the order of k (checked, not assumed).

    From target 0 the rows 1, 1e16, −1e16 (float64) give ((0 + 1) + 1e16) − 1e16 = 0 in index
    order, while any order that cancels 1e16 − 1e16 before adding the 1 (reverse order, or
    1 + (1e16 − 1e16)) gives 1. So exactly 0 means sequential index order, which is why exact
    equality is the right test below.
    """
    for dtype, big in ((np.float64, 1e16), (np.float32, 1e8)):
        rows = np.array([[1.0], [big], [-big]], dtype=dtype)
        ids = np.zeros(3, dtype=np.int64)
        for scatter in (scatter_add_rows_numpy, scatter_add_rows):
            target = np.zeros((1, 1), dtype=dtype)
            scatter(target, ids, rows)
            assert target[0, 0] == 0.0, (scatter.__name__, dtype, target)
            reverse = np.zeros((1, 1), dtype=dtype)
            scatter(reverse, ids, rows[::-1].copy())
            assert reverse[0, 0] == 1.0, (scatter.__name__, dtype, reverse)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_scatter_add_rows_numba_equals_numpy(dtype, data):
    """target[ids[k]] += rows[k] for all k, repeats summed: numba kernel == np.add.at exactly.

    Both add in index order (test above), and IEEE addition in one dtype is deterministic, so
    the results must be bit-identical in float32 and float64 alike.
    """
    target, ids, rows = data.draw(scatter_problems(dtype))
    expected = target.copy()
    scatter_add_rows_numpy(expected, ids, rows)
    got = target.copy()
    scatter_add_rows(got, ids, rows)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    # And both equal a plain Python loop over k.
    loop = target.copy()
    for k in range(ids.shape[0]):
        loop[ids[k]] += rows[k]
    np.testing.assert_array_equal(got, loop)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add_rows_empty_ids_leaves_target(dtype):
    target = np.arange(12, dtype=dtype).reshape(4, 3)
    before = target.copy()
    for scatter in (scatter_add_rows, scatter_add_rows_numpy):
        scatter(target, np.zeros(0, dtype=np.int64), np.zeros((0, 3), dtype=dtype))
        np.testing.assert_array_equal(target, before)


def test_scatter_add_rows_accepts_int32_ids():
    target = np.zeros((3, 2))
    scatter_add_rows(target, np.array([2, 0, 2], dtype=np.int32), np.ones((3, 2)))
    np.testing.assert_array_equal(target, [[1, 1], [0, 0], [2, 2]])


@st.composite
def adam_problems(draw, dtype):
    """g, m, v of one drawn shape (1-D or 2-D, possibly empty) and Adam's coefficients."""
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=2)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** rng.integers(-6, 4, size=shape)   # gradients over many decades
    g = (rng.standard_normal(shape) * scale).astype(dtype)
    m = (rng.standard_normal(shape) * scale).astype(dtype)
    v = (rng.random(shape) * scale**2).astype(dtype)
    step = draw(st.integers(1, 10_000))
    beta1 = draw(st.sampled_from([0.0, 0.5, 0.9]))
    beta2 = draw(st.sampled_from([0.0, 0.99, 0.999]))
    coefficients = dict(beta1=beta1, beta2=beta2, eps=draw(st.sampled_from([1e-8, 1e-3])),
                        step_size=1e-3 / (1.0 - beta1**step),
                        sqrt_bias_correction2=float(np.sqrt(1.0 - beta2**step)))
    return g, m, v, coefficients


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_adam_step_numba_equals_numpy(dtype, data):
    """The fused Adam kernel == its NumPy twin bit for bit (p, m and v), float32 and float64
    (docs/MATH.md §2, docs/MATH.md §4.3).

    Both round every coefficient to the dtype and apply the same IEEE operations in the same
    order (no fused multiply-add), so exact equality is the right test.
    """
    g, m, v, coefficients = data.draw(adam_problems(dtype))
    p = (np.random.default_rng(g.size).standard_normal(g.shape) * 0.1).astype(dtype)
    p_twin, m_twin, v_twin = p.copy(), m.copy(), v.copy()
    adam_step_numpy(p_twin, g, m_twin, v_twin, **coefficients)
    adam_step(p, g, m, v, **coefficients)
    for ours, theirs in ((p, p_twin), (m, m_twin), (v, v_twin)):
        assert ours.dtype == dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), binade=st.integers(-3, 3))
def test_adam_step_flushes_only_subnormal_moments(dtype, seed, binade):
    """docs/MATH.md §4.3 (docs/MATH.md §2's Adam, flush to zero): the new m and v equal the written
    update wherever its result is a normal number, and 0 where it is subnormal (|x| < tiny), in
    the kernel and its twin alike; p moves from the unflushed step by at most
    step_size · tiny / eps (plus one rounding of p). Moments are drawn around tiny·2^binade, so
    the update lands on both sides of tiny."""
    rng = np.random.default_rng(seed)
    tiny = np.finfo(dtype).tiny
    n = 64
    g = (rng.standard_normal(n) * tiny * 2.0 ** rng.integers(-4, 4, n)).astype(dtype)
    g[rng.random(n) < 0.5] = 0
    m = (rng.standard_normal(n) * tiny * 2.0**binade).astype(dtype)
    v = np.abs(rng.standard_normal(n) * tiny * 2.0**binade).astype(dtype)
    p = rng.standard_normal(n).astype(dtype)
    c = dict(beta1=0.9, beta2=0.999, eps=1e-8, step_size=1e-3, sqrt_bias_correction2=0.5)
    d = dtype
    m_raw = d(c["beta1"]) * m + d(1 - c["beta1"]) * g
    v_raw = d(c["beta2"]) * v + d(1 - c["beta2"]) * (g * g)
    p_raw = p - d(c["step_size"]) * (m_raw / (np.sqrt(v_raw) / d(c["sqrt_bias_correction2"])
                                              + d(c["eps"])))
    for step in (adam_step, adam_step_numpy):
        p_new, m_new, v_new = p.copy(), m.copy(), v.copy()
        step(p_new, g, m_new, v_new, **c)
        np.testing.assert_array_equal(m_new, np.where(np.abs(m_raw) < tiny, 0, m_raw))
        np.testing.assert_array_equal(v_new, np.where(v_raw < tiny, 0, v_raw))
        bound = c["step_size"] * tiny / c["eps"] + np.spacing(np.abs(p))
        assert np.all(np.abs(p_new - p_raw) <= bound)


def test_adam_step_numpy_matches_the_written_formula():
    """The twin computes the Adam equations of hebbref.optim.adam (float64, one hand example)."""
    g, m, v = np.array([0.5, -2.0]), np.array([0.1, 0.2]), np.array([0.01, 0.04])
    p = np.array([1.0, -3.0])
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 3
    m_new = beta1 * m + (1 - beta1) * g
    v_new = beta2 * v + (1 - beta2) * g**2
    m_hat, v_hat = m_new / (1 - beta1**step), v_new / (1 - beta2**step)
    expected = p - 1e-3 * m_hat / (np.sqrt(v_hat) + eps)
    adam_step_numpy(p, g, m, v, beta1=beta1, beta2=beta2, eps=eps,
                    step_size=1e-3 / (1 - beta1**step),
                    sqrt_bias_correction2=np.sqrt(1 - beta2**step))
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_allclose(m, m_new, rtol=1e-15)
    np.testing.assert_allclose(v, v_new, rtol=1e-15)


def test_adam_step_refuses_strided_state():
    """Non-contiguous p, m, v cannot be walked flat by the kernel (a flat copy would take the
    update): it raises, naming the array."""
    g = np.ones((4, 3))
    p, m, v = np.zeros((4, 6))[:, ::2], np.zeros((4, 3)), np.zeros((4, 3))
    with pytest.raises(ValueError, match="p must be C-contiguous"):
        adam_step(p, g, m, v, beta1=0.9, beta2=0.999, eps=1e-8, step_size=1e-2,
                  sqrt_bias_correction2=np.sqrt(1e-3))


def test_adam_optimiser_steps_a_strided_parameter_with_the_twin():
    """optim.adam runs the plain step on a non-contiguous parameter, and it updates in place."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal((4, 3))
    base = np.zeros((4, 6))
    optim.adam({"w": base[:, ::2]}, {"w": g}, state := {}, lr=1e-2)
    np.testing.assert_allclose(state["m/w"], 0.1 * g, rtol=1e-15)
    assert np.all(np.sign(base[:, ::2]) == -np.sign(g)) and not base[:, 1::2].any()


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None)
@given(shape=st.sampled_from([(1,), (7,), (3, 5), (2, 3, 4)]), seed=st.integers(0, 2**32 - 1),
       lr=st.sampled_from([0.0, 1e-3, 0.37, 1.0, 20.0]))
def test_sgd_step_numba_equals_numpy_bit_for_bit(dtype, shape, seed, lr):
    """The one-pass SGD kernel == its twin p −= lr·g bit for bit (hebbref.optim.sgd, docs/MATH.md §4):
    both round lr to the dtype, then round lr·g and the subtraction (no fused multiply-add).
    Values span many binades so that a fused multiply-add would show."""
    rng = np.random.default_rng(seed)
    p = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(dtype)
    g = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(dtype)
    twin = p.copy()
    sgd_step_numpy(twin, g, lr)
    sgd_step(p, g, lr)
    assert p.dtype == dtype
    np.testing.assert_array_equal(p, twin)


def test_sgd_optimiser_steps_a_strided_parameter_with_the_twin():
    """A non-contiguous p cannot be walked flat by the kernel (it raises); optim.sgd runs the
    plain step instead, which updates it in place."""
    base = np.ones((4, 6))
    p, g = base[:, ::2], np.full((4, 3), 2.0)
    with pytest.raises(ValueError, match="p must be C-contiguous"):
        sgd_step(p, g, 0.25)
    optim.sgd({"p": p}, {"p": g}, {}, lr=0.25)
    np.testing.assert_array_equal(base[:, ::2], 0.5)
    np.testing.assert_array_equal(base[:, 1::2], 1.0)


def lstm_gate_gradients_numpy(da, dh, dc, gates, c_prev, tanh_c):
    """The kernel's operations in NumPy, in the kernel's order, in place (docs/MATH.md §2.7):
    the kernel must equal it bit for bit. Arguments as hebbref.kernels.lstm_gate_gradients."""
    H = dh.shape[1]
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    da_i, da_f, da_g, da_o = da[:, :H], da[:, H:2 * H], da[:, 2 * H:3 * H], da[:, 3 * H:]
    # dc += dh ⊙ o ⊙ (1 − tanh²(c_t)), built in da_g's slot, which is written last
    np.multiply(tanh_c, tanh_c, out=da_g)
    np.subtract(1, da_g, out=da_g)
    da_g *= o
    da_g *= dh
    dc += da_g
    for out, gate, partner, upstream in ((da_i, i, g, dc), (da_f, f, c_prev, dc),
                                         (da_o, o, tanh_c, dh)):
        np.subtract(1, gate, out=out)       # σ' = σ(1 − σ)
        out *= gate
        out *= partner
        out *= upstream
    np.multiply(g, g, out=da_g)             # tanh' = 1 − tanh²
    np.subtract(1, da_g, out=da_g)
    da_g *= i
    da_g *= dc
    dc *= f


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 5), H=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_lstm_gate_gradients_kernel_equals_numpy_twin_bit_for_bit(dtype, N, H, seed):
    """One step of the LSTM backward's element-wise work (docs/MATH.md §2.7): the numba kernel
    and its NumPy twin write the same da and dc_{t−1}, bit for bit; and both equal the plain
    step function lstm_step_backward (the equations as written) to rounding."""
    rng = np.random.default_rng(seed)
    gates = rng.uniform(0, 1, (N, 4 * H)).astype(dtype)
    gates[:, 2 * H:3 * H] = rng.uniform(-1, 1, (N, H))           # g = tanh(·)
    dh, dc, c_prev = (rng.standard_normal((N, H)).astype(dtype) for _ in range(3))
    tanh_c = np.tanh(rng.standard_normal((N, H))).astype(dtype)
    outputs = {}
    for name, fn in (("numba", lstm_gate_gradients), ("numpy", lstm_gate_gradients_numpy)):
        da, dc_out = np.full((N, 4 * H), np.nan, dtype), dc.copy()
        fn(da, dh, dc_out, gates, c_prev, tanh_c)
        outputs[name] = (da, dc_out)
    np.testing.assert_array_equal(outputs["numba"][0], outputs["numpy"][0])
    np.testing.assert_array_equal(outputs["numba"][1], outputs["numpy"][1])
    step_cache = (gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:],
                  c_prev, tanh_c)
    da_plain, dc_plain = lstm_step_backward(dh, dc, step_cache)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(outputs["numba"][0], da_plain, rtol=tol, atol=tol)
    np.testing.assert_allclose(outputs["numba"][1], dc_plain, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transpose", ["a", "b"])
@pytest.mark.parametrize("K, M, N", [(0, 3, 2), (1, 1, 1), (3, 4, 5), (17, 9, 6)])
def test_matmul_accumulate_adds_the_product_in_place(dtype, transpose, K, M, N):
    """out += aᵀ b (the fused softmax layer's dθ += dzᵀ h) and out += a bᵀ (its z = b + h θᵀ):
    into out's own buffer, equal to the NumPy twin to rounding and to the product written out in
    float64, on C-contiguous inputs (NumPy's BLAS) and on a Fortran-ordered a (the twin's
    fallback)."""
    rng = np.random.default_rng(K * 100 + M)
    shapes = {"a": ((K, M), (K, N)), "b": ((M, K), (N, K))}[transpose]
    a, b = (rng.standard_normal(shape).astype(dtype) for shape in shapes)
    start = rng.standard_normal((M, N)).astype(dtype)
    want = start.copy()
    matmul_accumulate_numpy(want, a, b, transpose=transpose)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    exact = start + (a64.T @ b64 if transpose == "a" else a64 @ b64.T)
    np.testing.assert_allclose(want, exact, rtol=1e-5, atol=1e-5)
    for a_in in (a, np.asfortranarray(a)):
        out = start.copy()
        buffer = out.ctypes.data
        matmul_accumulate(out, a_in, b, transpose=transpose)
        assert out.ctypes.data == buffer and out.dtype == dtype
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


def test_matmul_accumulate_names_a_bad_transpose():
    with pytest.raises(ValueError, match="transpose"):
        matmul_accumulate(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), transpose="ab")

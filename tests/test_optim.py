"""Optimisers and gradient clipping (docs/MATH.md §4): hand-derived steps, sparse = dense on touched
rows, clipping, boundary errors, a checkpoint round trip, and parity with torch.optim."""
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref.nn.embedding import SparseRows
from hebbref.optim import OPTIMIZERS, adam, clip_grad_norm, rmsprop, sgd

TORCH_REASON = "torch is an optional extra (pip install -e '.[torch]')"

# Hyperparameters that differ from the defaults, so a dropped keyword shows up.
HYPER = {
    "sgd": {"lr": 0.1, "momentum": 0.9},
    "adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
    "rmsprop": {"lr": 0.01, "alpha": 0.9, "eps": 1e-6},
}
BUFFER_PREFIXES = {"sgd": ("momentum",), "adam": ("m", "v"), "rmsprop": ("v",)}


def rel_err(got, want):
    """‖got − want‖ / ‖want‖ (norm-wise relative error)."""
    return float(np.linalg.norm(np.asarray(got) - np.asarray(want)) / np.linalg.norm(want))


# --------------------------------------------------------------------------------------------
# (1) One step, derived by hand
# --------------------------------------------------------------------------------------------

def test_registry():
    assert OPTIMIZERS == {"sgd": sgd, "adam": adam, "rmsprop": rmsprop}


def test_sgd_plain_step_by_hand():
    """p ← p − lr g, in place; a parameter without a gradient is untouched."""
    w = np.array([1.0, -2.0, 0.5])
    other = np.array([3.0])
    params, state = {"w": w, "other": other}, {}
    sgd(params, {"w": np.array([0.5, -1.0, 0.0])}, state, lr=0.1)
    assert params["w"] is w and params["other"] is other
    np.testing.assert_allclose(w, [0.95, -1.9, 0.5], rtol=1e-15)
    np.testing.assert_array_equal(other, [3.0])
    assert state == {"step/w": 1}


def test_sgd_momentum_two_steps_by_hand():
    """buf₁ = g₁, p₁ = p₀ − lr buf₁; buf₂ = μ buf₁ + g₂, p₂ = p₁ − lr buf₂ (torch.optim.SGD)."""
    w = np.zeros(2)
    params, state = {"w": w}, {}
    sgd(params, {"w": np.array([1.0, -2.0])}, state, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(w, [-0.1, 0.2], rtol=1e-15)
    np.testing.assert_array_equal(state["momentum/w"], [1.0, -2.0])
    sgd(params, {"w": np.array([0.5, 0.5])}, state, lr=0.1, momentum=0.9)
    # buf₂ = 0.9·(1, −2) + (0.5, 0.5) = (1.4, −1.3); p₂ = (−0.1, 0.2) − 0.1·buf₂
    np.testing.assert_allclose(state["momentum/w"], [1.4, -1.3], rtol=1e-15)
    np.testing.assert_allclose(w, [-0.24, 0.33], rtol=1e-14)
    assert state["step/w"] == 2


def test_adam_two_steps_by_hand():
    """Step 1: m̂ = g, v̂ = g², so p₁ = p₀ − lr g/(|g| + eps). Step 2 from the moment formulas."""
    lr, eps = 0.01, 1e-8  # beta1 = 0.9, beta2 = 0.999: adam's defaults
    p0 = np.array([1.0, -2.0, 3.0])
    g1 = np.array([0.5, -4.0, 0.0])
    g2 = np.array([-1.0, 2.0, 3.0])
    w = p0.copy()
    params, state = {"w": w}, {}
    adam(params, {"w": g1}, state, lr=lr)
    p1 = p0 - lr * g1 / (np.abs(g1) + eps)
    np.testing.assert_allclose(w, p1, rtol=1e-14)
    np.testing.assert_allclose(state["m/w"], 0.1 * g1, rtol=1e-14)
    np.testing.assert_allclose(state["v/w"], 0.001 * g1**2, rtol=1e-12)

    adam(params, {"w": g2}, state, lr=lr)
    m2 = 0.9 * 0.1 * g1 + 0.1 * g2
    v2 = 0.999 * 0.001 * g1**2 + 0.001 * g2**2
    m_hat = m2 / (1 - 0.9**2)
    v_hat = v2 / (1 - 0.999**2)
    np.testing.assert_allclose(w, p1 - lr * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-13)
    assert state["step/w"] == 2


def test_rmsprop_step_by_hand():
    """v = (1 − α) g² on the first step, so p₁ = p₀ − lr g/(sqrt(1 − α)|g| + eps)."""
    p0 = np.array([1.0, -2.0, 3.0])
    g = np.array([0.5, -4.0, 0.0])
    w = p0.copy()
    params, state = {"w": w}, {}
    rmsprop(params, {"w": g}, state, lr=0.01)
    np.testing.assert_allclose(w, p0 - 0.01 * g / (0.1 * np.abs(g) + 1e-8), rtol=1e-14)
    np.testing.assert_allclose(state["v/w"], 0.01 * g**2, rtol=1e-14)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("sparse", [False, True])
def test_float32_flows_through(name, sparse):
    """float32 params give float32 params and state, close to the float64 result (no up-cast)."""
    rng = np.random.default_rng(0)
    p64 = rng.standard_normal((6, 3))
    g64 = rng.standard_normal((6, 3))
    ids = np.array([0, 2, 5])
    results = {}
    for dtype in (np.float32, np.float64):
        params, state = {"E": p64.astype(dtype)}, {}
        g = g64.astype(dtype)
        grad = SparseRows(ids, g[ids]) if sparse else g
        for _ in range(2):
            OPTIMIZERS[name](params, {"E": grad}, state, **HYPER[name])
        assert params["E"].dtype == dtype
        for prefix in BUFFER_PREFIXES[name]:
            assert state[f"{prefix}/E"].dtype == dtype
        results[dtype] = params["E"]
    np.testing.assert_allclose(results[np.float32], results[np.float64], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# (2) Sparse rows = dense on the touched rows; untouched rows bit-identical
# --------------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(OPTIMIZERS)),
    momentum=st.sampled_from([0.0, 0.9]),
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=st.tuples(st.integers(1, 8), st.integers(1, 4)),
    warmup=st.integers(0, 2),
    data=st.data(),
)
def test_sparse_step_equals_dense_on_touched_rows(name, momentum, dtype, shape, warmup, data):
    """A SparseRows step changes only rows ids, and there equals the dense step (docs/MATH.md §4).

    The update is elementwise, so a dense step whose gradient is zero outside ids gives the
    touched rows the same values; both paths evaluate the same formula on the same numbers, so
    the match is exact. After warm-up steps the state is non-zero, and the untouched rows of the
    parameter and of every state buffer must stay bit-identical (lazy update). With fresh state
    (warmup 0) the dense step leaves zero-gradient rows where they were, so the whole arrays
    match.
    """
    V, E = shape
    ids = np.array(data.draw(st.lists(st.integers(0, V - 1), unique=True)), dtype=np.int64)
    ids.sort()
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    kwargs = dict(HYPER[name])
    if name == "sgd":
        kwargs["momentum"] = momentum
    optimiser = OPTIMIZERS[name]

    params = {"E": rng.standard_normal(shape).astype(dtype)}
    state = {}
    for _ in range(warmup):
        optimiser(params, {"E": rng.standard_normal(shape).astype(dtype)}, state, **kwargs)

    rows = rng.standard_normal((ids.size, E)).astype(dtype)
    dense_grad = np.zeros(shape, dtype=dtype)
    dense_grad[ids] = rows

    before = {"E": params["E"].copy()}
    before_state = {k: np.copy(v) for k, v in state.items()}
    dense_params = {"E": params["E"].copy()}
    dense_state = {k: np.copy(v) for k, v in state.items()}

    optimiser(params, {"E": SparseRows(ids, rows)}, state, **kwargs)
    optimiser(dense_params, {"E": dense_grad}, dense_state, **kwargs)

    untouched = np.setdiff1d(np.arange(V), ids)
    assert set(state) == set(dense_state)
    assert int(state["step/E"]) == warmup + 1
    np.testing.assert_array_equal(params["E"][ids], dense_params["E"][ids])
    np.testing.assert_array_equal(params["E"][untouched], before["E"][untouched])
    for key, value in state.items():
        if key.startswith("step/"):
            continue
        assert value.dtype == dtype
        np.testing.assert_array_equal(value[ids], dense_state[key][ids], err_msg=key)
        if key in before_state:
            np.testing.assert_array_equal(value[untouched], before_state[key][untouched],
                                          err_msg=key)
        else:
            assert not value[untouched].any(), key
    if warmup == 0:
        np.testing.assert_array_equal(params["E"], dense_params["E"])
    if ids.size and kwargs["lr"] > 0:
        assert not np.array_equal(params["E"][ids], before["E"][ids])


def test_sgd_sparse_without_momentum_is_plain_subtraction():
    """For SGD without momentum a sparse step is exactly E[ids] − lr · rows, E elsewhere."""
    rng = np.random.default_rng(3)
    E = rng.standard_normal((7, 2))
    expected = E.copy()
    ids = np.array([1, 4, 6])
    rows = rng.standard_normal((3, 2))
    expected[ids] = expected[ids] - 0.3 * rows
    state = {}
    sgd({"E": E}, {"E": SparseRows(ids, rows)}, state, lr=0.3)
    np.testing.assert_array_equal(E, expected)
    assert state == {"step/E": 1}


def test_empty_sparse_grad_changes_nothing_but_the_step():
    for name in OPTIMIZERS:
        E = np.ones((4, 2))
        state = {}
        OPTIMIZERS[name]({"E": E}, {"E": SparseRows(np.zeros(0, np.int64), np.zeros((0, 2)))},
                         state, **HYPER[name])
        np.testing.assert_array_equal(E, np.ones((4, 2)))
        assert state["step/E"] == 1
        for prefix in BUFFER_PREFIXES[name]:
            assert not state[f"{prefix}/E"].any()


# --------------------------------------------------------------------------------------------
# Checkpoint round trip: the state survives .npz bit-exactly
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_round_trips_through_npz(name):
    """2 steps, save params+state to .npz, load, 2 more steps == 4 uninterrupted steps, bitwise."""
    rng = np.random.default_rng(11)
    init = {"lstm.W": rng.standard_normal((4, 3)).astype(np.float32),
            "emb.E": rng.standard_normal((6, 3)).astype(np.float32)}
    grads = []
    for _ in range(4):
        ids = np.sort(rng.choice(6, size=3, replace=False))
        grads.append({"lstm.W": rng.standard_normal((4, 3)).astype(np.float32),
                      "emb.E": SparseRows(ids, rng.standard_normal((3, 3)).astype(np.float32))})

    straight = {k: v.copy() for k, v in init.items()}
    straight_state = {}
    for g in grads:
        OPTIMIZERS[name](straight, g, straight_state, **HYPER[name])

    params = {k: v.copy() for k, v in init.items()}
    state = {}
    for g in grads[:2]:
        OPTIMIZERS[name](params, g, state, **HYPER[name])
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer) as saved:
        restored = {k: saved[k] for k in saved.files}
    assert set(restored) == set(state)
    for g in grads[2:]:
        OPTIMIZERS[name](params, g, restored, **HYPER[name])

    for key in init:
        np.testing.assert_array_equal(params[key], straight[key], err_msg=key)
    for key in straight_state:
        np.testing.assert_array_equal(restored[key], straight_state[key], err_msg=key)


# --------------------------------------------------------------------------------------------
# (3) Global gradient-norm clipping
# --------------------------------------------------------------------------------------------

def _all_values(grads):
    return np.concatenate([(g.rows if isinstance(g, SparseRows) else g).ravel()
                           for g in grads.values()])


def _make_grads(rng, dtype=np.float64, sparse_scale=1.0):
    return {
        "W": rng.standard_normal((3, 4)).astype(dtype),
        "b": rng.standard_normal(3).astype(dtype),
        "E": SparseRows(np.array([0, 5, 9]),
                        (sparse_scale * rng.standard_normal((3, 2))).astype(dtype)),
    }


def test_clip_scales_to_max_norm():
    """total > max_norm ⇒ every gradient is scaled by max_norm/(total + 1e-6) (torch's rule)."""
    grads = _make_grads(np.random.default_rng(0))
    original = _all_values(grads)
    total = clip_grad_norm(grads, 0.5)
    assert isinstance(total, float)
    np.testing.assert_allclose(total, np.sqrt(np.sum(original**2)), rtol=1e-14)
    assert total > 0.5
    after = _all_values(grads)
    np.testing.assert_allclose(np.linalg.norm(after), 0.5, rtol=1e-5)
    np.testing.assert_allclose(after, original * (0.5 / (total + 1e-6)), rtol=1e-14)


def test_clip_leaves_small_gradients_alone():
    grads = _make_grads(np.random.default_rng(1))
    original = _all_values(grads)
    total = clip_grad_norm(grads, 100.0)
    np.testing.assert_allclose(total, np.linalg.norm(original), rtol=1e-14)
    np.testing.assert_array_equal(_all_values(grads), original)


def test_clip_counts_sparse_rows():
    """The dense part alone is under max_norm; the sparse rows push the total over it."""
    grads = _make_grads(np.random.default_rng(2), sparse_scale=100.0)
    dense_norm = np.linalg.norm(np.concatenate([grads["W"].ravel(), grads["b"]]))
    max_norm = 2.0 * dense_norm
    total = clip_grad_norm(grads, max_norm)
    assert total > max_norm
    np.testing.assert_allclose(np.linalg.norm(_all_values(grads)), max_norm, rtol=1e-5)
    assert np.linalg.norm(grads["E"].rows) < max_norm


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    max_norm=st.floats(1e-3, 1e3),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_clip_property(seed, max_norm, dtype):
    """After clipping, ‖g‖ ≈ min(total, max_norm) and each gradient keeps its direction and dtype
    (docs/MATH.md §4.1: global gradient-norm clipping)."""
    grads = _make_grads(np.random.default_rng(seed), dtype=dtype)
    original = _all_values(grads).astype(np.float64)
    total = clip_grad_norm(grads, max_norm)
    after = _all_values(grads)
    assert after.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(total, np.linalg.norm(original), rtol=tol)
    expected = min(total, max_norm * total / (total + 1e-6))
    np.testing.assert_allclose(np.linalg.norm(after.astype(np.float64)), expected, rtol=tol)
    np.testing.assert_allclose(after, original * (np.linalg.norm(after) / total), rtol=tol,
                               atol=1e-30)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_clip_rejects_bad_max_norm(bad):
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm({"W": np.ones(2)}, bad)


def test_clip_rejects_non_float_grad():
    with pytest.raises(TypeError, match=r"grads\['W'\]"):
        clip_grad_norm({"W": np.ones(2, dtype=np.int64)}, 1.0)


# --------------------------------------------------------------------------------------------
# (4) Boundary errors name the argument and write nothing
# --------------------------------------------------------------------------------------------

def _good_inputs():
    params = {"a": np.ones(3), "w": np.ones((3, 2)), "E": np.ones((5, 2))}
    grads = {"a": np.full(3, 0.5), "w": np.full((3, 2), 0.5)}
    return params, grads


# Each case: (optimisers it applies to, how to break the call, exception, text in the message).
BAD_CASES = {
    "negative lr": (None, lambda p, g, kw, x: kw.update(lr=-x), ValueError, "lr"),
    "NaN lr": (None, lambda p, g, kw, x: kw.update(lr=float("nan")), ValueError, "lr"),
    "infinite lr": (None, lambda p, g, kw, x: kw.update(lr=float("inf")), ValueError, "lr"),
    "string lr": (None, lambda p, g, kw, x: kw.update(lr="0.1"), TypeError, "lr"),
    "wrong-shaped grad": (None, lambda p, g, kw, x: g.update(w=np.ones((2, 3))), ValueError,
                          "grads['w']"),
    "unknown key": (None, lambda p, g, kw, x: g.update(nope=np.ones(3)), ValueError, "'nope'"),
    "float32 grad for float64 param": (
        None, lambda p, g, kw, x: g.update(w=np.ones((3, 2), np.float32)), TypeError,
        "grads['w']"),
    "integer grad": (None, lambda p, g, kw, x: g.update(w=np.ones((3, 2), np.int64)), TypeError,
                     "grads['w']"),
    "list grad": (None, lambda p, g, kw, x: g.update(w=[[0.0] * 2] * 3), TypeError, "grads['w']"),
    "integer param": (None, lambda p, g, kw, x: p.update(w=np.ones((3, 2), np.int64)), TypeError,
                      "params['w']"),
    "unsorted sparse ids": (
        None, lambda p, g, kw, x: g.update(E=SparseRows(np.array([3, 1]), np.ones((2, 2)))),
        ValueError, "grads['E'].ids"),
    "repeated sparse ids": (
        None, lambda p, g, kw, x: g.update(E=SparseRows(np.array([1, 1]), np.ones((2, 2)))),
        ValueError, "grads['E'].ids"),
    "sparse id out of range": (
        None, lambda p, g, kw, x: g.update(E=SparseRows(np.array([1, 5]), np.ones((2, 2)))),
        ValueError, "grads['E'].ids"),
    "sparse rows of the wrong width": (
        None, lambda p, g, kw, x: g.update(E=SparseRows(np.array([1, 2]), np.ones((2, 3)))),
        ValueError, "grads['E'].rows"),
    "float32 sparse rows": (
        None, lambda p, g, kw, x: g.update(
            E=SparseRows(np.array([1, 2]), np.ones((2, 2), np.float32))),
        TypeError, "grads['E'].rows"),
    "negative momentum": ({"sgd"}, lambda p, g, kw, x: kw.update(momentum=-x), ValueError,
                          "momentum"),
    "momentum 1": ({"sgd"}, lambda p, g, kw, x: kw.update(momentum=1.0), ValueError, "momentum"),
    "beta1 1": ({"adam"}, lambda p, g, kw, x: kw.update(beta1=1.0), ValueError, "beta1"),
    "negative beta2": ({"adam"}, lambda p, g, kw, x: kw.update(beta2=-x), ValueError, "beta2"),
    "alpha above 1": ({"rmsprop"}, lambda p, g, kw, x: kw.update(alpha=1.0 + x), ValueError,
                      "alpha"),
    "eps 0": ({"adam", "rmsprop"}, lambda p, g, kw, x: kw.update(eps=0.0), ValueError, "eps"),
    "negative eps": ({"adam", "rmsprop"}, lambda p, g, kw, x: kw.update(eps=-x), ValueError,
                     "eps"),
}


@settings(max_examples=80, deadline=None)
@given(
    name=st.sampled_from(sorted(OPTIMIZERS)),
    case=st.sampled_from(sorted(BAD_CASES)),
    x=st.floats(1e-6, 1e6),
    warm=st.booleans(),
)
def test_bad_input_raises_naming_the_argument(name, case, x, warm):
    """Every bad argument raises ValueError/TypeError whose message names it, before anything is
    written: the good gradient for "a" (listed first) must not have been applied (validation before any write).
    """
    applies_to, breaker, exception, fragment = BAD_CASES[case]
    if applies_to is not None and name not in applies_to:
        name = sorted(applies_to)[0]
    params, grads = _good_inputs()
    kwargs = dict(HYPER[name])
    state = {}
    if warm:
        OPTIMIZERS[name](params, grads, state, **kwargs)
    breaker(params, grads, kwargs, x)
    params_before = {k: np.copy(v) for k, v in params.items()}
    state_before = {k: np.copy(v) for k, v in state.items()}

    with pytest.raises(exception) as info:
        OPTIMIZERS[name](params, grads, state, **kwargs)
    assert fragment in str(info.value), (case, str(info.value))
    for key, value in params_before.items():
        np.testing.assert_array_equal(params[key], value, err_msg=key)
    assert set(state) == set(state_before)
    for key, value in state_before.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)


def test_state_buffer_of_the_wrong_shape_is_rejected():
    params, grads = _good_inputs()
    state = {"m/w": np.zeros((2, 3))}
    with pytest.raises(ValueError, match=r"state\['m/w'\]"):
        adam(params, grads, state, lr=0.1)


def test_non_dict_arguments_are_rejected():
    params, grads = _good_inputs()
    for args, argument in (((list(params.values()), grads, {}), "params"),
                           ((params, list(grads.values()), {}), "grads"),
                           ((params, grads, None), "state")):
        with pytest.raises(TypeError, match=argument):
            sgd(*args, lr=0.1)


# --------------------------------------------------------------------------------------------
# (5) Parity with torch.optim in float64
# --------------------------------------------------------------------------------------------

def _torch_optimiser(torch, name, tensors, hyper):
    if name == "sgd":
        return torch.optim.SGD(tensors, lr=hyper["lr"], momentum=hyper["momentum"])
    if name == "adam":
        return torch.optim.Adam(tensors, lr=hyper["lr"], betas=(hyper["beta1"], hyper["beta2"]),
                                eps=hyper["eps"])
    return torch.optim.RMSprop(tensors, lr=hyper["lr"], alpha=hyper["alpha"], eps=hyper["eps"])


def _torch_state_key(name, prefix):
    """torch.optim's name for the buffer we store under "<prefix>/<param>"."""
    if prefix == "v":
        return "exp_avg_sq" if name == "adam" else "square_avg"
    return {"momentum": "momentum_buffer", "m": "exp_avg"}[prefix]


PARITY_CONFIGS = {
    "sgd": [{"lr": 0.1, "momentum": 0.9}],
    "adam": [{"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, HYPER["adam"]],
    "rmsprop": [{"lr": 1e-2, "alpha": 0.99, "eps": 1e-8}, HYPER["rmsprop"]],
}


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize(
    "name,config",
    [(name, config) for name in sorted(PARITY_CONFIGS) for config in PARITY_CONFIGS[name]],
)
def test_torch_parity_dense(name, config, steps):
    """sgd/adam/rmsprop == torch.optim.SGD/Adam/RMSprop in float64 after 1 and 3 steps: params
    and state within 1e-10 relative error (docs/MATH.md §4)."""
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(steps)
    params = {"W": rng.standard_normal((5, 3)), "b": rng.standard_normal(4)}
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
               for k, v in params.items()}
    torch_opt = _torch_optimiser(torch, name, list(tensors.values()), config)
    state = {}
    for _ in range(steps):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        for key, tensor in tensors.items():
            tensor.grad = torch.tensor(grads[key])
        torch_opt.step()
        OPTIMIZERS[name](params, grads, state, **config)

    for key, tensor in tensors.items():
        want = tensor.detach().numpy()
        assert rel_err(params[key], want) <= 1e-10, (key, rel_err(params[key], want))
        for prefix in BUFFER_PREFIXES[name]:
            torch_buffer = torch_opt.state[tensor][_torch_state_key(name, prefix)].numpy()
            ours = state[f"{prefix}/{key}"]
            assert rel_err(ours, torch_buffer) <= 1e-10, (key, prefix, rel_err(ours, torch_buffer))
        assert state[f"step/{key}"] == steps


def test_torch_parity_adam_when_a_param_skips_a_step():
    """A parameter without a gradient in a call keeps its state and step count (torch keeps the
    step per parameter), so its bias correction matches torch.optim.Adam afterwards."""
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(5)
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(4)}
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    torch_opt = torch.optim.Adam(list(tensors.values()), lr=0.01)
    state = {}
    for keys in (("W", "b"), ("W",), ("W", "b")):
        grads = {k: rng.standard_normal(params[k].shape) for k in keys}
        for key, tensor in tensors.items():
            tensor.grad = torch.tensor(grads[key]) if key in grads else None
        torch_opt.step()
        adam(params, grads, state, lr=0.01)
    assert state["step/W"] == 3 and state["step/b"] == 2
    for key, tensor in tensors.items():
        assert rel_err(params[key], tensor.detach().numpy()) <= 1e-10, key


def test_torch_parity_sparse_adam():
    """Sparse adam == torch.optim.SparseAdam over 3 steps touching different rows (params and
    moments within 1e-10 relative error), in float64.

    SparseAdam adds eps to sqrt(v) and puts sqrt(1 − β₂ᵗ) in the step size; ours adds eps to
    sqrt(v̂) as dense Adam does (see hebbref.optim.adam). The two are the same formula when
    SparseAdam's eps at step t is eps·sqrt(1 − β₂ᵗ), so torch's eps is set to that each step.
    """
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    lr, beta1, beta2, eps = 0.01, 0.8, 0.95, 1e-6
    rng = np.random.default_rng(7)
    V, E = 10, 3
    E_ours = rng.standard_normal((V, E))
    E_torch = torch.tensor(E_ours.copy(), requires_grad=True)
    torch_opt = torch.optim.SparseAdam([E_torch], lr=lr, betas=(beta1, beta2), eps=eps)
    state = {}
    for t, ids in enumerate(([1, 4, 7], [0, 4, 9], [2, 3, 4, 5, 7]), start=1):
        ids = np.array(ids)
        rows = rng.standard_normal((ids.size, E))
        E_torch.grad = torch.sparse_coo_tensor(torch.tensor(ids)[None, :], torch.tensor(rows),
                                               (V, E), check_invariants=True)
        torch_opt.param_groups[0]["eps"] = eps * math.sqrt(1.0 - beta2**t)
        torch_opt.step()
        adam({"E": E_ours}, {"E": SparseRows(ids, rows)}, state,
             lr=lr, beta1=beta1, beta2=beta2, eps=eps)

    torch_state = torch_opt.state[E_torch]
    assert rel_err(E_ours, E_torch.detach().numpy()) <= 1e-10
    assert rel_err(state["m/E"], torch_state["exp_avg"].numpy()) <= 1e-10
    assert rel_err(state["v/E"], torch_state["exp_avg_sq"].numpy()) <= 1e-10
    assert state["step/E"] == torch_state["step"] == 3
    never_touched = [6, 8]
    assert not state["m/E"][never_touched].any()

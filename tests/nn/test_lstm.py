"""LSTM sequence forward/backward (hebbref/nn/lstm.py) against central finite differences in
float64, at shapes that include sequence length 1 and hidden size 1, and against torch.nn.LSTM;
the fast pair (lstm_forward, lstm_backward) against its plain step-by-step twin."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck
from hebbref.nn.lstm import (lstm_backward, lstm_backward_reference, lstm_forward,
                             lstm_forward_reference)

from torch_gold import assert_lstm_grads_match, assert_matches, copy_lstm_weights, leaf

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=small, N=small, D=small, H=small)
def test_lstm_gradients(seed, T, N, D, H):
    rows = gradcheck.check_lstm(np.random.default_rng(seed), T, N, D, H)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)


@pytest.mark.parametrize("forward, backward", [(lstm_forward, lstm_backward),
                                               (lstm_forward_reference, lstm_backward_reference)])
@pytest.mark.parametrize("T, N, D, H", [
    (1, 1, 1, 1),
    (1, 3, 2, 4),
    (4, 1, 3, 1),
    (5, 2, 1, 3),
    (6, 3, 4, 5),
])
def test_lstm_sequence_matches_torch(torch, forward, backward, T, N, D, H):
    """hs, the final (h, c), and dx, dh0, dc0, dWx, dWh, db for L = Σ G ⊙ hs (docs/MATH.md §2)."""
    rng = np.random.default_rng(1000 * T + 100 * N + 10 * D + H)
    params = {"Wx": 0.7 * rng.standard_normal((D, 4 * H)),
              "Wh": 0.7 * rng.standard_normal((H, 4 * H)),
              "b": 0.5 * rng.standard_normal(4 * H)}
    x = rng.standard_normal((T, N, D))
    h0 = 0.5 * rng.standard_normal((N, H))
    c0 = rng.standard_normal((N, H))
    upstream = rng.standard_normal((T, N, H))

    hs, cache = forward(x, h0, c0, params)
    dx, dh0, dc0, grads = backward(upstream, cache)

    lstm = torch.nn.LSTM(D, H, dtype=torch.float64)
    copy_lstm_weights(lstm, 0, params["Wx"], params["Wh"], params["b"])
    tx, th0, tc0 = leaf(x), leaf(h0), leaf(c0)
    out, (hT, cT) = lstm(tx, (th0[None], tc0[None]))
    (out * torch.tensor(upstream)).sum().backward()

    assert_matches("hs", hs, out)
    assert_matches("final h", cache["hT"], hT[0])
    assert_matches("final c", cache["cT"], cT[0])
    assert_matches("dx", dx, tx.grad)
    assert_matches("dh0", dh0, th0.grad)
    assert_matches("dc0", dc0, tc0.grad)
    assert_lstm_grads_match("", grads, lstm, 0)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(0, 6), N=small, D=small, H=small,
       scale=st.sampled_from([0.5, 3.0, 30.0]))
def test_fast_lstm_equals_plain_twin(dtype, tol, seed, T, N, D, H, scale):
    """lstm_forward/lstm_backward == the step-by-step lstm_forward_reference/
    lstm_backward_reference on every output, within `tol`: the fast path computes σ(a) as
    ½·tanh(a/2) + ½ (the same function, rounded differently: a few units in the last place)
    and multiplies the gate gradients in another order. Large `scale` saturates the gates."""
    rng = np.random.default_rng(seed)
    params = {"Wx": scale * rng.standard_normal((D, 4 * H)),
              "Wh": scale * rng.standard_normal((H, 4 * H)),
              "b": scale * rng.standard_normal(4 * H)}
    params = {k: v.astype(dtype) for k, v in params.items()}
    x, h0, c0, upstream = (rng.standard_normal(shape).astype(dtype)
                           for shape in ((T, N, D), (N, H), (N, H), (T, N, H)))
    hs, cache = lstm_forward(x, h0, c0, params)
    hs_ref, cache_ref = lstm_forward_reference(x, h0, c0, params)
    fast = dict(zip(("dx", "dh0", "dc0", "grads"), lstm_backward(upstream, cache)))
    plain = dict(zip(("dx", "dh0", "dc0", "grads"),
                     lstm_backward_reference(upstream, cache_ref)))
    pairs = {"hs": (hs, hs_ref), "hT": (cache["hT"], cache_ref["hT"]),
             "cT": (cache["cT"], cache_ref["cT"]),
             **{k: (fast[k], plain[k]) for k in ("dx", "dh0", "dc0")},
             **{f"d{k}": (fast["grads"][k], plain["grads"][k]) for k in ("Wx", "Wh", "b")}}
    for name, (got, want) in pairs.items():
        assert got.dtype == dtype, name
        size = max(1.0, float(np.abs(want).max(initial=0.0)))
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * size, err_msg=name)


def test_fast_lstm_leaves_its_inputs_alone():
    """The fast path writes only into arrays it allocated: x, h0, c0 and params unchanged."""
    rng = np.random.default_rng(5)
    params = {"Wx": rng.standard_normal((3, 8)), "Wh": rng.standard_normal((2, 8)),
              "b": rng.standard_normal(8)}
    x, h0, c0 = rng.standard_normal((4, 2, 3)), rng.standard_normal((2, 2)), np.ones((2, 2))
    saved = [a.copy() for a in (x, h0, c0, *params.values())]
    hs, cache = lstm_forward(x, h0, c0, params)
    lstm_backward(np.ones_like(hs), cache)
    for before, after in zip(saved, (x, h0, c0, *params.values())):
        np.testing.assert_array_equal(before, after)

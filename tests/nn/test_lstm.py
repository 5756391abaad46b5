"""LSTM sequence forward/backward (hebbref/nn/lstm.py) against central finite differences in
float64, at shapes that include sequence length 1 and hidden size 1, and against torch.nn.LSTM."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck
from hebbref.nn.lstm import lstm_backward, lstm_forward

from torch_gold import assert_lstm_grads_match, assert_matches, copy_lstm_weights, leaf

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=small, N=small, D=small, H=small)
def test_lstm_gradients(seed, T, N, D, H):
    rows = gradcheck.check_lstm(np.random.default_rng(seed), T, N, D, H)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)


@pytest.mark.parametrize("T, N, D, H", [
    (1, 1, 1, 1),
    (1, 3, 2, 4),
    (4, 1, 3, 1),
    (5, 2, 1, 3),
    (6, 3, 4, 5),
])
def test_lstm_sequence_matches_torch(torch, T, N, D, H):
    """hs, the final (h, c), and dx, dh0, dc0, dWx, dWh, db for L = Σ G ⊙ hs (METHOD §4)."""
    rng = np.random.default_rng(1000 * T + 100 * N + 10 * D + H)
    params = {"Wx": 0.7 * rng.standard_normal((D, 4 * H)),
              "Wh": 0.7 * rng.standard_normal((H, 4 * H)),
              "b": 0.5 * rng.standard_normal(4 * H)}
    x = rng.standard_normal((T, N, D))
    h0 = 0.5 * rng.standard_normal((N, H))
    c0 = rng.standard_normal((N, H))
    upstream = rng.standard_normal((T, N, H))

    hs, cache = lstm_forward(x, h0, c0, params)
    dx, dh0, dc0, grads = lstm_backward(upstream, cache)

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

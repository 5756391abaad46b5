"""The LSTM language model as a whole (hebbref/models/lm.py): the loss gradient of every
parameter against central finite differences in float64, through several BPTT segments that
carry the detached state (docs/MATH.md §3, §10), and one segment against torch embedding → nn.LSTM →
linear → cross-entropy."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck
from hebbref.models.lm import lm_backward, lm_forward, lm_init, lm_initial_state, lm_loss
from hebbref.nn import softmax
from hebbref.nn.softmax import softmax_cross_entropy_reference

from torch_gold import (assert_lstm_grads_match, assert_matches, copy_lstm_weights, densify, leaf,
                        randomised)

small = st.integers(1, 4)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 3), N=st.integers(1, 3),
       V=st.integers(1, 6), E=small, H=st.integers(1, 3), num_layers=st.integers(1, 2))
def test_lm_gradients_through_carried_bptt_segments(seed, T, N, V, E, H, num_layers):
    rows = gradcheck.check_lm(np.random.default_rng(seed), 3, T, N, V, E, H, num_layers)
    assert {layer for layer, _, _ in rows} == {f"model: lm segment {s}/3" for s in (1, 2, 3)}
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("T, N, V, E, H", [(1, 1, 3, 1, 1), (4, 3, 7, 5, 4), (3, 2, 5, 2, 3),
                                           (1, 4, 6, 3, 2), (5, 1, 4, 2, 1)])
def test_lm_loss_matches_torch(torch, num_layers, T, N, V, E, H):
    """Whole language model, one truncated-BPTT segment from a non-zero initial state, dropout 0
    (docs/MATH.md §2, §10): loss, h entering the softmax, the carried final state, and the gradient of
    every parameter (embedding densified) against torch embedding → nn.LSTM → linear → CE."""
    F = torch.nn.functional
    rng = np.random.default_rng(10000 * num_layers + 1000 * T + 100 * N + 10 * V + H)
    params = randomised(lm_init(V, E, H, rng, num_layers=num_layers, dtype=np.float64), rng)
    x = rng.integers(0, V, (T, N))
    y = rng.integers(0, V, (T, N))
    state = [(0.5 * rng.standard_normal((N, H)), rng.standard_normal((N, H)))
             for _ in range(num_layers)]
    loss, grads, h, new_state = lm_loss(params, x, y, state, dropout=0.0)

    lstm = torch.nn.LSTM(E, H, num_layers=num_layers, dtype=torch.float64)
    for layer in range(num_layers):
        copy_lstm_weights(lstm, layer, *(params[f"lstm{layer + 1}.{k}"] for k in ("Wx", "Wh", "b")))
    ttable = leaf(params["embed.E"])
    ttheta, tb = leaf(params["softmax.theta"]), leaf(params["softmax.b"])
    h0 = torch.tensor(np.stack([h0 for h0, _ in state]))
    c0 = torch.tensor(np.stack([c0 for _, c0 in state]))
    out, (hT, cT) = lstm(F.embedding(torch.tensor(x), ttable), (h0, c0))
    th = out.reshape(T * N, H)
    gold = F.cross_entropy(F.linear(th, ttheta, tb), torch.tensor(y.reshape(-1)))
    gold.backward()

    assert_matches("loss", loss, gold)
    assert_matches("h", h, th)
    assert len(new_state) == num_layers
    for layer, (h_last, c_last) in enumerate(new_state):
        assert_matches(f"final h, layer {layer + 1}", h_last, hT[layer])
        assert_matches(f"final c, layer {layer + 1}", c_last, cT[layer])
    assert set(grads) == set(params), f"grad keys {sorted(grads)} != param keys {sorted(params)}"
    assert_matches("d[embed.E] (densified)", densify(grads["embed.E"], V), ttable.grad)
    assert_matches("d[softmax.theta]", grads["softmax.theta"], ttheta.grad)
    assert_matches("d[softmax.b]", grads["softmax.b"], tb.grad)
    for layer in range(num_layers):
        layer_grads = {k: grads[f"lstm{layer + 1}.{k}"] for k in ("Wx", "Wh", "b")}
        assert_lstm_grads_match(f"lstm{layer + 1}: ", layer_grads, lstm, layer)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_lm_loss_equals_the_plain_path(dtype, tol, monkeypatch):
    """lm_loss (fused softmax layer and loss, in blocks of 5 rows here) == lm_forward →
    softmax_cross_entropy_reference → lm_backward, the plain path over the (T·N, V) logits, on
    the loss and every gradient, with dropout (the same generator state on both sides)."""
    monkeypatch.setattr(softmax, "BLOCK_ELEMENTS", 5 * 11)
    monkeypatch.setattr(softmax, "MIN_BLOCK_ROWS", 1)
    rng = np.random.default_rng(7)
    params = {k: v.astype(dtype) for k, v in
              randomised(lm_init(11, 4, 3, rng, num_layers=2, dtype=dtype), rng).items()}
    x, y = rng.integers(0, 11, (4, 6)), rng.integers(0, 11, (4, 6))
    state = lm_initial_state(params, 6)
    loss, grads, h, _ = lm_loss(params, x, y, state, dropout=0.3,
                                rng=np.random.default_rng(1))
    z, h_plain, _, cache = lm_forward(params, x, state, dropout=0.3,
                                      rng=np.random.default_rng(1))
    plain_loss, dz = softmax_cross_entropy_reference(z, y.reshape(-1))
    plain = lm_backward(dz, cache)
    np.testing.assert_array_equal(h, h_plain)
    assert loss == pytest.approx(plain_loss, rel=tol)
    for key in params:
        got, want = grads[key], plain[key]
        if key == "embed.E":
            got, want = densify(got, 11), densify(want, 11)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=key)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_lm_loss_reference_equals_the_fast_path(dtype, tol):
    """lm_loss(reference=True) (plain LSTM loops, plain cross-entropy over the logits, np.add.at
    embedding backward) == the fast lm_loss on the loss, h, the carried state and every gradient,
    with two layers and dropout (the same generator state on both sides); the two LSTMs differ
    in rounding only (σ through tanh), hence the tolerance."""
    rng = np.random.default_rng(8)
    params = {k: v.astype(dtype) for k, v in
              randomised(lm_init(11, 4, 3, rng, num_layers=2, dtype=dtype), rng).items()}
    x, y = rng.integers(0, 11, (5, 3)), rng.integers(0, 11, (5, 3))
    state = [(0.5 * rng.standard_normal((3, 3)).astype(dtype),
              rng.standard_normal((3, 3)).astype(dtype)) for _ in range(2)]
    fast = lm_loss(params, x, y, state, dropout=0.3, rng=np.random.default_rng(2))
    plain = lm_loss(params, x, y, state, dropout=0.3, rng=np.random.default_rng(2),
                    reference=True)
    assert plain[0] == pytest.approx(fast[0], rel=tol)
    np.testing.assert_allclose(plain[2], fast[2], rtol=tol, atol=tol, err_msg="h")
    for (h_plain, c_plain), (h_fast, c_fast) in zip(plain[3], fast[3]):
        np.testing.assert_allclose(h_plain, h_fast, rtol=tol, atol=tol, err_msg="carried h")
        np.testing.assert_allclose(c_plain, c_fast, rtol=tol, atol=tol, err_msg="carried c")
    assert plain[1].keys() == fast[1].keys()
    np.testing.assert_array_equal(plain[1]["embed.E"].ids, fast[1]["embed.E"].ids)
    for key in params:
        got, want = plain[1][key], fast[1][key]
        if key == "embed.E":
            got, want = got.rows, want.rows
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=key)

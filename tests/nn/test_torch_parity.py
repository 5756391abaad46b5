"""Parity of hebbref's hand-written layers and whole models with PyTorch autograd, in float64.

PyTorch is an independent implementation: its forward passes and its autograd gradients are the
gold values here, and every output and every gradient must agree to a normwise relative error
max|ours − torch| / max|torch| ≤ 1e-10 (METHOD §1 for the softmax layer and loss, METHOD §4 for
the layers and models). Shapes include batch 1, sequence length 1 and hidden size 1.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is an optional extra (pip install -e '.[torch]'); CI installs it")

import torch.nn.functional as F  # noqa: E402

from hebbref.models.classifier import classifier_init, classifier_loss  # noqa: E402
from hebbref.models.lm import lm_init, lm_loss  # noqa: E402
from hebbref.nn.embedding import SparseRows, embedding_backward, embedding_forward  # noqa: E402
from hebbref.nn.linear import linear_backward, linear_forward  # noqa: E402
from hebbref.nn.lstm import lstm_backward, lstm_forward  # noqa: E402
from hebbref.nn.mlp import mlp_backward, mlp_forward, mlp_init  # noqa: E402
from hebbref.nn.softmax import (  # noqa: E402
    softmax_cross_entropy,
    softmax_layer_backward,
    softmax_layer_forward,
)

TOL = 1e-10
TINY = np.finfo(np.float64).tiny
ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear"]
TORCH_ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": lambda a: a,
}


def relative_error(ours, gold):
    """Normwise relative error max|ours − gold| / max(max|gold|, tiny)."""
    ours = np.asarray(ours, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.float64)
    if ours.size == 0:
        return 0.0
    return float(np.max(np.abs(ours - gold)) / max(float(np.max(np.abs(gold))), TINY))


def assert_matches(name, ours, gold):
    """ours (NumPy) against gold (a torch tensor or an array): same shape, error ≤ TOL."""
    if isinstance(gold, torch.Tensor):
        gold = gold.detach().numpy()
    ours = np.asarray(ours)
    assert ours.shape == gold.shape, f"{name}: shape {ours.shape}, torch has {gold.shape}"
    err = relative_error(ours, gold)
    assert err <= TOL, f"{name}: normwise relative error {err:.3e} > {TOL:.0e}"


def leaf(array):
    """A float64 torch leaf tensor holding a copy of array, with requires_grad."""
    return torch.tensor(np.array(array, dtype=np.float64), requires_grad=True)


def densify(sparse, num_rows):
    """The dense (V, E) array of a SparseRows, after checking its ids are unique and sorted."""
    assert isinstance(sparse, SparseRows), f"expected SparseRows, got {type(sparse).__name__}"
    assert np.all(np.diff(sparse.ids) > 0), f"SparseRows ids not unique and sorted: {sparse.ids}"
    dense = np.zeros((num_rows, sparse.rows.shape[1]), dtype=sparse.rows.dtype)
    dense[sparse.ids] = sparse.rows
    return dense


def randomised(params, rng, scale=0.5):
    """Same keys and shapes, every entry N(0, scale²): non-zero biases exercise every term."""
    return {k: scale * rng.standard_normal(v.shape) for k, v in params.items()}


def copy_lstm_weights(torch_lstm, layer, Wx, Wh, b):
    """hebbref (Wx (D, 4H), Wh (H, 4H), b (4H,)) into torch's layer `layer`, gate order i, f, g, o
    in both. torch adds two biases; all of b goes into bias_ih and bias_hh is zero."""
    with torch.no_grad():
        getattr(torch_lstm, f"weight_ih_l{layer}").copy_(torch.tensor(Wx.T))
        getattr(torch_lstm, f"weight_hh_l{layer}").copy_(torch.tensor(Wh.T))
        getattr(torch_lstm, f"bias_ih_l{layer}").copy_(torch.tensor(b))
        getattr(torch_lstm, f"bias_hh_l{layer}").zero_()


def assert_lstm_grads_match(prefix, grads, torch_lstm, layer):
    """hebbref's {"Wx", "Wh", "b"} gradients against torch's; both torch biases get db."""
    gold = {name: getattr(torch_lstm, f"{name}_l{layer}").grad
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    assert_matches(f"{prefix}dWx", grads["Wx"], gold["weight_ih"].T)
    assert_matches(f"{prefix}dWh", grads["Wh"], gold["weight_hh"].T)
    assert_matches(f"{prefix}db (torch bias_ih)", grads["b"], gold["bias_ih"])
    assert_matches(f"{prefix}db (torch bias_hh)", grads["b"], gold["bias_hh"])


# --- LSTM -------------------------------------------------------------------------------------

@pytest.mark.parametrize("T, N, D, H", [
    (1, 1, 1, 1),
    (1, 3, 2, 4),
    (4, 1, 3, 1),
    (5, 2, 1, 3),
    (6, 3, 4, 5),
])
def test_lstm_sequence_matches_torch(T, N, D, H):
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


# --- softmax cross-entropy and the softmax layer -------------------------------------------------

@pytest.mark.parametrize("N, V", [(1, 1), (1, 5), (4, 1), (4, 3), (7, 10)])
def test_softmax_cross_entropy_matches_torch(N, V):
    """Mean cross-entropy and dz = (p − onehot(y)) / N (METHOD §1)."""
    rng = np.random.default_rng(10 * N + V)
    z = 3.0 * rng.standard_normal((N, V))
    y = rng.integers(0, V, N)
    loss, dz = softmax_cross_entropy(z, y)

    tz = leaf(z)
    gold = F.cross_entropy(tz, torch.tensor(y), reduction="mean")
    gold.backward()
    assert_matches("loss", loss, gold)
    assert_matches("dz", dz, tz.grad)


def test_softmax_cross_entropy_extreme_logits_match_torch():
    """Logits of ±1000 (exp overflows without the max shift): finite, and equal to torch's
    loss (≈ 2000 where the label's logit is −1000 and another is +1000) and dz (METHOD §1)."""
    z = np.array([
        [1000.0, -1000.0, 0.0, 1.0],
        [1000.0, -1000.0, 0.0, 1.0],
        [-1000.0, -1000.0, -1000.0, -1000.0],
        [1000.0, 1000.0, -1000.0, 999.0],
        [-1000.0, 1000.0, 0.5, -0.5],
        [1000.0, 1000.0, 1000.0, 1000.0],
    ])
    y = np.array([0, 1, 2, 3, 0, 3])
    loss, dz = softmax_cross_entropy(z, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dz)), f"loss {loss}, dz {dz}"

    tz = leaf(z)
    gold = F.cross_entropy(tz, torch.tensor(y), reduction="mean")
    gold.backward()
    assert_matches("loss (extreme logits)", loss, gold)
    assert_matches("dz (extreme logits)", dz, tz.grad)


@pytest.mark.parametrize("N, H, V", [(1, 1, 1), (1, 3, 4), (5, 1, 2), (6, 4, 7)])
def test_softmax_layer_matches_torch(N, H, V):
    """z = h θᵀ + b with θ (V, H) (torch's Linear weight layout), and dh, dθ, db (METHOD §1)."""
    rng = np.random.default_rng(100 * N + 10 * H + V)
    params = {"theta": rng.standard_normal((V, H)), "b": rng.standard_normal(V)}
    h = rng.standard_normal((N, H))
    upstream = rng.standard_normal((N, V))
    z, cache = softmax_layer_forward(h, params)
    dh, grads = softmax_layer_backward(upstream, cache)

    th, ttheta, tb = leaf(h), leaf(params["theta"]), leaf(params["b"])
    tz = F.linear(th, ttheta, tb)
    (tz * torch.tensor(upstream)).sum().backward()
    assert_matches("z", z, tz)
    assert_matches("dh", dh, th.grad)
    assert_matches("dtheta", grads["theta"], ttheta.grad)
    assert_matches("db", grads["b"], tb.grad)


# --- dense layer, embedding, MLP -------------------------------------------------------------------

@pytest.mark.parametrize("N, D, M", [(1, 1, 1), (1, 4, 3), (5, 2, 1), (6, 3, 4)])
def test_linear_matches_torch(N, D, M):
    """out = x W + b with W (D, M), i.e. torch's F.linear with weight Wᵀ; dx, dW, db (METHOD §4)."""
    rng = np.random.default_rng(100 * N + 10 * D + M)
    params = {"W": rng.standard_normal((D, M)), "b": rng.standard_normal(M)}
    x = rng.standard_normal((N, D))
    upstream = rng.standard_normal((N, M))
    out, cache = linear_forward(x, params)
    dx, grads = linear_backward(upstream, cache)

    tx, tW, tb = leaf(x), leaf(params["W"]), leaf(params["b"])
    tout = F.linear(tx, tW.T, tb)
    (tout * torch.tensor(upstream)).sum().backward()
    assert_matches("out", out, tout)
    assert_matches("dx", dx, tx.grad)
    assert_matches("dW", grads["W"], tW.grad)
    assert_matches("db", grads["b"], tb.grad)


@pytest.mark.parametrize("ids_shape, V, E", [((1,), 1, 1), ((1, 1), 4, 3), ((5, 3), 4, 2),
                                             ((2, 6), 50, 5), ((12,), 3, 1)])
def test_embedding_matches_torch(ids_shape, V, E):
    """out = E[ids], and the sparse gradient, densified, equals torch's dense dE: repeated ids
    sum their rows, untouched rows are zero and absent from the SparseRows (METHOD §4)."""
    rng = np.random.default_rng(V * E + len(ids_shape))
    table = rng.standard_normal((V, E))
    ids = rng.integers(0, V, ids_shape)
    ids.reshape(-1)[-1] = ids.reshape(-1)[0]  # at least one repeat whenever there are two ids
    upstream = rng.standard_normal((*ids_shape, E))
    out, cache = embedding_forward(ids, {"E": table})
    grads = embedding_backward(upstream, cache)

    ttable = leaf(table)
    tout = F.embedding(torch.tensor(ids), ttable)
    (tout * torch.tensor(upstream)).sum().backward()
    assert_matches("out", out, tout)
    np.testing.assert_array_equal(grads["E"].ids, np.unique(ids),
                                  err_msg="SparseRows ids must be exactly the touched ids")
    assert_matches("dE (densified)", densify(grads["E"], V), ttable.grad)


def torch_mlp(tx, tparams, num_layers, activation):
    a = tx
    for l in range(1, num_layers + 1):
        a = TORCH_ACTIVATIONS[activation](a @ tparams[f"W{l}"] + tparams[f"b{l}"])
    return a


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("N, sizes", [(1, (1, 1)), (4, (3, 5, 2)), (2, (4, 1, 3, 2))])
def test_mlp_matches_torch(activation, N, sizes):
    """h = act(... act(x W1 + b1) ...), dx and every dW_l, db_l (METHOD §4)."""
    rng = np.random.default_rng(N + 10 * len(sizes) + ACTIVATIONS.index(activation))
    params = randomised(mlp_init(list(sizes), rng), rng, scale=1.0)
    x = rng.standard_normal((N, sizes[0]))
    upstream = rng.standard_normal((N, sizes[-1]))
    h, cache = mlp_forward(x, params, activation)
    dx, grads = mlp_backward(upstream, cache)

    tx = leaf(x)
    tparams = {k: leaf(v) for k, v in params.items()}
    th = torch_mlp(tx, tparams, len(sizes) - 1, activation)
    (th * torch.tensor(upstream)).sum().backward()
    assert_matches("h", h, th)
    assert_matches("dx", dx, tx.grad)
    assert set(grads) == set(params), f"grad keys {sorted(grads)} != param keys {sorted(params)}"
    for key in params:
        assert_matches(f"d{key}", grads[key], tparams[key].grad)


# --- whole models ----------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("N, D, hidden, V", [(1, 1, (1,), 2), (5, 4, (6, 3), 4), (8, 3, (2,), 9)])
def test_classifier_loss_matches_torch(activation, N, D, hidden, V):
    """Whole MLP classifier (METHOD §1, §5): loss, h entering the softmax, and the gradient of
    every "mlp.*" and "softmax.*" parameter against torch autograd through an equivalent model."""
    rng = np.random.default_rng(N + 10 * D + 100 * V + ACTIVATIONS.index(activation))
    params = randomised(classifier_init(D, list(hidden), V, rng), rng, scale=1.0)
    x = rng.standard_normal((N, D))
    y = rng.integers(0, V, N)
    loss, grads, h = classifier_loss(params, x, y, activation=activation)

    tparams = {k: leaf(v) for k, v in params.items()}
    mlp_params = {k[len("mlp."):]: v for k, v in tparams.items() if k.startswith("mlp.")}
    th = torch_mlp(torch.tensor(x), mlp_params, len(hidden), activation)
    tz = F.linear(th, tparams["softmax.theta"], tparams["softmax.b"])
    gold = F.cross_entropy(tz, torch.tensor(y))
    gold.backward()

    assert_matches("loss", loss, gold)
    assert_matches("h", h, th)
    assert set(grads) == set(params), f"grad keys {sorted(grads)} != param keys {sorted(params)}"
    for key in params:
        assert_matches(f"d[{key}]", grads[key], tparams[key].grad)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("T, N, V, E, H", [(1, 1, 3, 1, 1), (4, 3, 7, 5, 4), (3, 2, 5, 2, 3),
                                           (1, 4, 6, 3, 2), (5, 1, 4, 2, 1)])
def test_lm_loss_matches_torch(num_layers, T, N, V, E, H):
    """Whole language model, one truncated-BPTT segment from a non-zero initial state, dropout 0
    (METHOD §4, §6): loss, h entering the softmax, the carried final state, and the gradient of
    every parameter (embedding densified) against torch embedding → nn.LSTM → linear → CE."""
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

"""PyTorch as the gold implementation for the parity tests (tests/nn, tests/models).

PyTorch is independent of hebbref: its forward passes and its autograd gradients are the gold
values, and every output and every gradient must agree in float64 to a normwise relative error
max|ours − torch| / max|torch| ≤ TOL = 1e-10. The tests take torch through the `torch` fixture
(tests/conftest.py), which skips them when the optional extra is not installed.
"""
import numpy as np

try:
    import torch
except ImportError:   # only the tests that request the `torch` fixture use this module's torch
    torch = None

from hebbref.nn.embedding import SparseRows

TOL = 1e-10
ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear"]
TINY = np.finfo(np.float64).tiny


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


def assert_backward_matches(upstream, out, gold_out, grads, gold_leaves):
    """Backpropagate Σ upstream ⊙ gold_out through torch, then compare our output with gold_out
    and our gradients {name: array} with the .grad of the torch leaves {name: leaf tensor}."""
    (gold_out * torch.tensor(upstream)).sum().backward()
    assert_matches("out", out, gold_out)
    for name, gold_leaf in gold_leaves.items():
        assert_matches(f"d{name}", grads[name], gold_leaf.grad)


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


def torch_mlp(tx, tparams, num_layers, activation):
    """The MLP of hebbref.nn.mlp in torch: a_l = act(a_{l−1} W_l + b_l), every layer."""
    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
           "linear": lambda a: a}[activation]
    a = tx
    for l in range(1, num_layers + 1):
        a = act(a @ tparams[f"W{l}"] + tparams[f"b{l}"])
    return a

"""The MLP classifier as a whole (hebbref/models/classifier.py): the loss gradient of every
parameter against central finite differences in float64 (docs/MATH.md §3, §9), and loss, h and
gradients against torch autograd through an equivalent model."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck
from hebbref.models.classifier import classifier_init, classifier_loss

from torch_gold import ACTIVATIONS, assert_matches, leaf, randomised, torch_mlp

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=small, D=small,
       hidden=st.lists(small, min_size=1, max_size=3), V=st.integers(1, 5),
       activation=st.sampled_from(["relu", "tanh", "linear"]))
def test_classifier_gradients(seed, N, D, hidden, V, activation):
    rng = np.random.default_rng(seed)
    rows = gradcheck.check_classifier(rng, N, D, tuple(hidden), V, activation)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("N, D, hidden, V", [(1, 1, (1,), 2), (5, 4, (6, 3), 4), (8, 3, (2,), 9)])
def test_classifier_loss_matches_torch(torch, activation, N, D, hidden, V):
    """Whole MLP classifier (docs/MATH.md §3, §9): loss, h entering the softmax, and the gradient of
    every "mlp.*" and "softmax.*" parameter against torch autograd through an equivalent model."""
    F = torch.nn.functional
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


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_classifier_loss_reference_equals_the_fast_path(dtype, tol):
    """classifier_loss(reference=True) (softmax_cross_entropy_reference) == the fast
    cross-entropy on the loss, h and every gradient; the two differ in rounding only
    (exp(z − log Σ) against exp(z)/Σ), hence the tolerance."""
    rng = np.random.default_rng(3)
    params = classifier_init(6, [5, 4], 7, rng, dtype=dtype)
    x, y = rng.standard_normal((9, 6)).astype(dtype), rng.integers(0, 7, 9)
    fast_loss, fast_grads, fast_h = classifier_loss(params, x, y)
    loss, grads, h = classifier_loss(params, x, y, reference=True)
    assert loss == pytest.approx(fast_loss, rel=tol)
    np.testing.assert_array_equal(h, fast_h)
    assert grads.keys() == fast_grads.keys()
    for key, value in fast_grads.items():
        assert grads[key].dtype == dtype
        np.testing.assert_allclose(grads[key], value, rtol=tol, atol=tol, err_msg=key)

"""One training step (hebbref/train.py) in docs/MATH.md §5 order: clip → optimiser → Hebbian rule on θ′.

The step is rebuilt here from its parts (clip_grad_norm, the optimiser, hebbian_update) and must
equal train_step bit for bit; and the rule must really reach the parameters: counts advance, θ
leaves the optimiser-only θ′ on the classes of the batch, the bias and every other parameter are
left to the optimiser (docs/MATH.md §5)."""
import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref.hebbian import HebbianSoftmax, hebbian_update, hebbian_update_reference
from hebbref.models.classifier import classifier_init, classifier_loss
from hebbref.optim import OPTIMIZERS, clip_grad_norm
from hebbref.train import train_step

RULE = {"gamma": 0.1, "T": 50.0}


def batch(seed, N=6, D=5, hidden=(4,), V=7, dtype=np.float64):
    """Parameters, gradients, h and y of one classifier forward/backward pass."""
    rng = np.random.default_rng(seed)
    params = classifier_init(D, list(hidden), V, rng, dtype=dtype)
    x = rng.standard_normal((N, D)).astype(dtype)
    y = rng.integers(0, V, N)
    _, grads, h = classifier_loss(params, x, y, activation="tanh")
    return params, grads, h, y


def counts_with_history(V, seed):
    """Counts as after some training: some classes new (1), some part-way, some handed back."""
    return np.random.default_rng(seed).choice([1, 2, 5, 49, 50, 80], V).astype(np.int64)


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("clip", [None, 1e-3, 1e3])
def test_step_is_clip_then_optimiser_then_rule(optimizer, clip, reference):
    """train_step == clip_grad_norm, then the optimiser, then hebbian_update on θ′, bit for bit,
    and it returns the norm before clipping; with reference=True, the optimiser's plain step
    and hebbian_update_reference."""
    params, grads, h, y = batch(0)
    counts = counts_with_history(7, 1)
    expected, expected_grads, expected_state = (copy.deepcopy(params), copy.deepcopy(grads), {})
    expected_counts = counts.copy()
    norm = clip_grad_norm(expected_grads, clip) if clip else None
    OPTIMIZERS[optimizer](expected, expected_grads, expected_state, lr=0.1, reference=reference)
    update = hebbian_update_reference if reference else hebbian_update
    update(expected["softmax.theta"], expected_counts, h, y, **RULE)

    hebbian_softmax = HebbianSoftmax(7, counts=counts.copy(), **RULE)
    state = {}
    returned = train_step(params, grads, state, h, y, optimizer=optimizer, lr=0.1, clip=clip,
                          hebbian_softmax=hebbian_softmax, reference=reference)
    assert returned == norm
    for name in expected:
        np.testing.assert_array_equal(params[name], expected[name], err_msg=name)
    np.testing.assert_array_equal(hebbian_softmax.counts, expected_counts)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 12), V=st.integers(1, 6),
       optimizer=st.sampled_from(sorted(OPTIMIZERS)), dtype=st.sampled_from([np.float32,
                                                                             np.float64]))
def test_the_rule_is_applied_and_touches_only_theta(seed, N, V, optimizer, dtype):
    """Against the same step without the rule: counts advance by n_i; θ differs on exactly the
    classes of the batch that are below T; the bias and every other parameter are bit-identical
    (the bias is trained by the gradient only, docs/MATH.md §5)."""
    params, grads, h, y = batch(seed, N=N, V=V, dtype=dtype)
    counts = counts_with_history(V, seed)
    baseline = copy.deepcopy(params)
    train_step(baseline, copy.deepcopy(grads), {}, h, y, optimizer=optimizer, lr=0.05, clip=1.0)
    hebbian_softmax = HebbianSoftmax(V, counts=counts.copy(), **RULE)
    train_step(params, grads, {}, h, y, optimizer=optimizer, lr=0.05, clip=1.0,
               hebbian_softmax=hebbian_softmax)

    np.testing.assert_array_equal(hebbian_softmax.counts, counts + np.bincount(y, minlength=V))
    written = np.zeros(V, bool)
    written[y] = counts[y] < RULE["T"]
    changed = np.any(params["softmax.theta"] != baseline["softmax.theta"], axis=1)
    assert not changed[~written].any(), "the rule wrote a class it should have left alone"
    # A written row equals θ′ only if ĥ_i happens to equal θ′[i]: h is a tanh of random data.
    assert changed[written].all(), "a class of the batch was not written"
    for name in params:
        if name != "softmax.theta":
            np.testing.assert_array_equal(params[name], baseline[name], err_msg=name)


def test_plain_softmax_step_is_the_optimiser_step():
    """hebbian_softmax=None: θ is exactly the optimiser's θ′."""
    params, grads, h, y = batch(3)
    expected = copy.deepcopy(params)
    OPTIMIZERS["sgd"](expected, copy.deepcopy(grads), {}, lr=0.1)
    assert train_step(params, grads, {}, h, y, optimizer="sgd", lr=0.1) is None
    for name in expected:
        np.testing.assert_array_equal(params[name], expected[name], err_msg=name)


def test_rule_sees_the_optimiser_output_not_the_old_theta():
    """A class seen for the first time (c = 1, λ = 1) gets θ[i] = ĥ_i whatever θ′ is (P2); a class
    at count 2 with γ = 0.1 gets ½ ĥ_i + ½ θ′[i], with θ′ = θ − lr·g, not the θ before the step."""
    params, grads, h, y = batch(4, N=2, V=3)
    y = np.array([0, 1])
    counts = np.array([1, 2, 1], np.int64)
    theta_prime = params["softmax.theta"] - 0.1 * grads["softmax.theta"]
    hebbian_softmax = HebbianSoftmax(3, counts=counts, gamma=0.1, T=math.inf)
    train_step(params, grads, {}, h, y, optimizer="sgd", lr=0.1, hebbian_softmax=hebbian_softmax)
    np.testing.assert_allclose(params["softmax.theta"][0], h[0], rtol=1e-15)
    np.testing.assert_allclose(params["softmax.theta"][1], 0.5 * h[1] + 0.5 * theta_prime[1],
                               rtol=1e-12)
    np.testing.assert_array_equal(params["softmax.theta"][2], theta_prime[2])


def test_unknown_optimizer_is_rejected_before_anything_changes():
    params, grads, h, y = batch(5)
    before = copy.deepcopy(params)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train_step(params, grads, {}, h, y, optimizer="adagrad", lr=0.1)
    for name in before:
        np.testing.assert_array_equal(params[name], before[name])

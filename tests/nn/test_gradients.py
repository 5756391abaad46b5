"""Every layer and both whole models against central finite differences in float64 (METHOD §4),
at hypothesis-drawn shapes that include batch 1, sequence length 1 and hidden size 1."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck

TOL = 1e-6
small = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)
SETTINGS = settings(max_examples=12, deadline=None)


def assert_all_close(rows):
    bad = [(layer, name, f"{err:.2e}") for layer, name, err in rows if not err <= TOL]
    assert not bad, f"max relative error above {TOL}: {bad}"


@SETTINGS
@given(seed=seeds, N=small, D=small, M=small)
def test_linear(seed, N, D, M):
    assert_all_close(gradcheck.check_linear(np.random.default_rng(seed), N, D, M))


@SETTINGS
@given(seed=seeds, N=small, D=small)
def test_activations(seed, N, D):
    assert_all_close(gradcheck.check_activations(np.random.default_rng(seed), N, D))


@SETTINGS
@given(seed=seeds, N=small, D=small, p=st.sampled_from([0.0, 0.2, 0.5]))
def test_dropout(seed, N, D, p):
    assert_all_close(gradcheck.check_dropout(np.random.default_rng(seed), N, D, p))


@SETTINGS
@given(seed=seeds, T=small, N=small, V=st.integers(1, 6), E=small)
def test_embedding(seed, T, N, V, E):
    assert_all_close(gradcheck.check_embedding(np.random.default_rng(seed), T, N, V, E))


@SETTINGS
@given(seed=seeds, T=small, N=small, D=small, H=small)
def test_lstm(seed, T, N, D, H):
    assert_all_close(gradcheck.check_lstm(np.random.default_rng(seed), T, N, D, H))


@SETTINGS
@given(seed=seeds, N=small, H=small, V=st.integers(1, 6))
def test_softmax(seed, N, H, V):
    assert_all_close(gradcheck.check_softmax(np.random.default_rng(seed), N, H, V))


@SETTINGS
@given(seed=seeds, N=small, sizes=st.lists(small, min_size=2, max_size=4),
       activation=st.sampled_from(["relu", "tanh", "sigmoid", "linear"]))
def test_mlp(seed, N, sizes, activation):
    assert_all_close(gradcheck.check_mlp(np.random.default_rng(seed), N, tuple(sizes), activation))


@SETTINGS
@given(seed=seeds, N=small, D=small, hidden=st.lists(small, min_size=1, max_size=3),
       V=st.integers(1, 5), activation=st.sampled_from(["relu", "tanh", "linear"]))
def test_classifier_model(seed, N, D, hidden, V, activation):
    assert_all_close(gradcheck.check_classifier(np.random.default_rng(seed), N, D, tuple(hidden),
                                                V, activation))


@settings(max_examples=8, deadline=None)
@given(seed=seeds, T=st.integers(1, 3), N=st.integers(1, 3), V=st.integers(1, 6), E=small,
       H=st.integers(1, 3), num_layers=st.integers(1, 2))
def test_lm_model_through_carried_bptt_segments(seed, T, N, V, E, H, num_layers):
    rows = gradcheck.check_lm(np.random.default_rng(seed), 3, T, N, V, E, H, num_layers)
    assert {layer for layer, _, _ in rows} == {f"model: lm segment {s}/3" for s in (1, 2, 3)}
    assert_all_close(rows)


def test_gradcheck_detects_a_wrong_backward():
    """The checker itself can fail: a backward pass off by 1 % is reported far above 1e-6."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    f = lambda: float((np.sin(x)).sum())
    numeric = gradcheck.numerical_gradient(f, x)
    assert gradcheck.relative_error(np.cos(x), numeric) < 1e-9
    assert gradcheck.relative_error(1.01 * np.cos(x), numeric) > 1e-3


def test_gradcheck_command_prints_table_and_exits_zero(capsys):
    assert gradcheck.main(seed=1) == 0
    out = capsys.readouterr().out
    for needle in ("lstm", "model: mlp classifier", "model: lm segment 2/2", "embedding"):
        assert needle in out

"""The gradient checker itself (hebbref/gradcheck.py): it can fail, and `hebbref gradcheck` prints
its table. The per-layer checks live beside each layer's tests (tests/nn, tests/models)."""
import numpy as np

from hebbref import gradcheck


def test_gradcheck_detects_a_wrong_backward():
    """The checker itself can fail: a backward pass off by 1 % is reported far above 1e-6."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    f = lambda: float((np.sin(x)).sum())
    numeric = gradcheck.numerical_gradient(f, x)
    assert gradcheck.relative_error(np.cos(x), numeric) < 1e-9
    assert gradcheck.relative_error(1.01 * np.cos(x), numeric) > 1e-3


def test_failures_lists_the_rows_above_threshold_and_nan():
    rows = [("a", "W", 1e-9), ("b", "W", 2e-6), ("c", "b", float("nan"))]
    assert [layer for layer, _, _ in gradcheck.failures(rows)] == ["b", "c"]


def test_gradcheck_command_prints_table_and_exits_zero(capsys):
    assert gradcheck.main(seed=1) == 0
    out = capsys.readouterr().out
    for needle in ("lstm", "model: mlp classifier", "model: lm segment 2/2", "embedding"):
        assert needle in out

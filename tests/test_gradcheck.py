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


def test_gradcheck_table_is_aligned_and_every_row_is_named_once():
    """Each (layer, parameter) pair names one check, and the error column starts at the same
    character on every row, long parameter names (softmax.theta) and long layer names included."""
    rows = gradcheck.run_all(seed=0)
    pairs = [(layer, name) for layer, name, _ in rows]
    repeated = sorted({pair for pair in pairs if pairs.count(pair) > 1})
    assert not repeated, f"rows named more than once: {repeated}"
    lines = gradcheck.format_table(rows).splitlines()
    body = lines[2:-1]
    assert len(body) == len(rows)
    ends = {line.index("e-") + 4 for line in body}     # just past each "d.ddde-XX" error figure
    assert len(ends) == 1, "error column misaligned:\n" + "\n".join(lines)
    assert lines[0].index("max rel. error") + len("max rel. error") == ends.pop()


def test_format_table_widens_its_columns_to_the_longest_entry():
    rows = [("a", "softmax.theta.long_name", 1e-9), ("a much longer layer name", "W", 2e-6)]
    body = gradcheck.format_table(rows).splitlines()[2:4]
    assert body[0].index("1.000e-09") == body[1].index("2.000e-06")
    assert body[1].endswith("NO")

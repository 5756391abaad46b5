"""`hebbref explain` (hebbref/explain.py): every number it prints is docs/MATH.md §3 and §5, recomputed here.

The test recomputes the whole walkthrough independently from the example's inputs (θ₀, b₀ and
the three batches): softmax probabilities and the gradient (p − onehot(y))/N of docs/MATH.md §3, the
plain SGD step, then a per-class loop written from docs/MATH.md §5. It then checks that the printed
text shows exactly the records' numbers, formatted with 3 decimals.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from hebbref import explain

RTOL = 1e-12  # float64 arithmetic in a different order

NUMBER = re.compile(r"-?\d+\.\d+|-?\d+")


def fmt(x):
    return f"{x:.3f}"


def expected_lambda(c, gamma, T):
    """docs/MATH.md §5, lam_rule="paper": max(1/c, γ) if c < T, else 0."""
    return max(1.0 / c, gamma) if c < T else 0.0


def simulate():
    """The walkthrough recomputed from its inputs with plain NumPy and Python loops.

    Returns {(batch, class): dict of the expected numbers}."""
    V, N = explain.V, explain.BATCHES[0][1].shape[0]
    theta = np.array(explain.THETA0, dtype=np.float64)
    b = np.array(explain.B0, dtype=np.float64)
    counts = [1] * V                                    # docs/MATH.md §5: counts start at 1
    expected = {}
    for batch, (h, y) in enumerate(explain.BATCHES, start=1):
        z = h @ theta.T + b
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(p[np.arange(N), y]))
        dz = (p - np.eye(V)[y]) / N                     # docs/MATH.md §3
        grad_theta = dz.T @ h
        theta_prime = theta - explain.LR * grad_theta
        b_prime = b - explain.LR * dz.sum(axis=0)
        theta_new = theta_prime.copy()
        for i in range(V):
            rows = [h[t] for t in range(N) if y[t] == i]
            n = len(rows)
            record = {"n": n, "count_before": counts[i], "theta_before": theta[i].copy(),
                      "grad_theta": grad_theta[i], "theta_prime": theta_prime[i],
                      "b_prime": b_prime[i], "loss": loss}
            if n:
                h_hat = sum(rows) / n
                lam = expected_lambda(counts[i], explain.GAMMA, explain.T)
                theta_new[i] = lam * h_hat + (1 - lam) * theta_prime[i]
                record.update(h_hat=h_hat, lam=lam)
                counts[i] += n
            record.update(theta_new=theta_new[i], count_after=counts[i])
            expected[batch, i] = record
        theta, b = theta_new, b_prime
    return expected


@pytest.fixture(scope="module")
def records():
    return explain.walkthrough()


@pytest.fixture(scope="module")
def printed():
    return explain.format_walkthrough(explain.walkthrough())


def test_the_example_is_hand_sized():
    """V = 4, H = 3, batches of 5 with a repeated class and one absent class, entries in 0.5 steps."""
    assert (explain.V, explain.H) == (4, 3)
    assert explain.THETA0.shape == (4, 3) and explain.B0.shape == (4,)
    for h, y in explain.BATCHES:
        assert h.shape == (5, 3) and y.shape == (5,)
        n = np.bincount(y, minlength=4)
        assert n.max() >= 2, f"no repeated class in y = {y}"
        assert (n == 0).sum() == 1, f"expected exactly one absent class in y = {y}"
        assert np.all(h * 2 == np.round(h * 2)), "h entries must be multiples of 0.5"


def test_one_record_per_batch_per_class(records):
    keys = [(r["batch"], r["class"]) for r in records]
    assert keys == [(k, i) for k in range(1, len(explain.BATCHES) + 1) for i in range(explain.V)]


def test_lambda_is_the_method_formula(records):
    """λ_i = max(1/c_i, γ) if c_i < T else 0, with c_i the count before the batch (docs/MATH.md §5)."""
    counts = [1] * explain.V
    for r in records:
        assert r["count_before"] == counts[r["class"]], r
        if r["present"]:
            assert r["lam"] == pytest.approx(
                expected_lambda(counts[r["class"]], explain.GAMMA, explain.T), rel=RTOL, abs=0)
            assert r["inv_count"] == pytest.approx(1.0 / counts[r["class"]], rel=RTOL)
        else:
            assert r["lam"] is None
        counts[r["class"]] += r["n"]


def test_h_hat_is_the_mean_of_the_class_rows(records):
    for r in records:
        h, y = explain.BATCHES[r["batch"] - 1]
        rows = [h[t] for t in range(len(y)) if y[t] == r["class"]]
        assert r["n"] == len(rows)
        if rows:
            np.testing.assert_allclose(r["h_hat"], sum(rows) / len(rows), rtol=RTOL)
        else:
            assert r["h_hat"] is None and not r["present"]


def test_theta_new_mixes_h_hat_into_theta_prime(records):
    """θ[i] = λ ĥ_i + (1 − λ) θ'[i] for present classes; absent rows and λ = 0 rows are θ'[i]
    bit for bit (docs/MATH.md §5 step 3, §8 P5, P8)."""
    for r in records:
        h, y = explain.BATCHES[r["batch"] - 1]
        if r["present"] and r["lam"] > 0:
            h_hat = h[y == r["class"]].sum(axis=0) / r["n"]
            np.testing.assert_allclose(
                r["theta_new"], r["lam"] * h_hat + (1 - r["lam"]) * r["theta_prime"], rtol=RTOL)
        else:
            np.testing.assert_array_equal(r["theta_new"], r["theta_prime"])


def test_every_record_matches_an_independent_recomputation(records):
    """θ', b', loss (docs/MATH.md §3 gradient, SGD step), λ, ĥ, θ new and counts, chained over batches."""
    expected = simulate()
    for r in records:
        e = expected[r["batch"], r["class"]]
        where = f"batch {r['batch']}, class {r['class']}"
        assert r["n"] == e["n"] and r["present"] == (e["n"] > 0), where
        assert (r["count_before"], r["count_after"]) == (e["count_before"], e["count_after"]), where
        for key in ("theta_before", "grad_theta", "theta_prime", "theta_new"):
            np.testing.assert_allclose(r[key], e[key], rtol=1e-10, atol=1e-14, err_msg=f"{where}: {key}")
        assert r["b_prime"] == pytest.approx(e["b_prime"], rel=1e-10, abs=1e-14), where
        assert r["loss"] == pytest.approx(e["loss"], rel=1e-12), where
        if e["n"]:
            assert r["lam"] == pytest.approx(e["lam"], rel=RTOL, abs=0), where
            np.testing.assert_allclose(r["h_hat"], e["h_hat"], rtol=RTOL, err_msg=where)


def test_counts_advance_by_n_and_absent_counts_stay(records):
    for r in records:
        assert r["count_after"] == r["count_before"] + r["n"], r
    for batch in range(1, len(explain.BATCHES)):
        before = {r["class"]: r["count_after"] for r in records if r["batch"] == batch}
        after = {r["class"]: r["count_before"] for r in records if r["batch"] == batch + 1}
        assert before == after


def test_the_walkthrough_shows_first_sight_floor_and_hand_back(records):
    present = [r for r in records if r["present"]]
    gamma, T = explain.GAMMA, explain.T
    first_sight = [r for r in present if r["count_before"] == 1]
    assert first_sight and all(r["lam"] == 1.0 for r in first_sight)
    for r in first_sight:  # docs/MATH.md §8 P2: θ[i] = ĥ_i exactly
        np.testing.assert_array_equal(r["theta_new"], r["h_hat"])
    floor = [r for r in present if r["lam"] == gamma and 1.0 / r["count_before"] < gamma]
    assert floor, "no class where λ has fallen to γ (with 1/c < γ)"
    handed_back = [r for r in present if r["lam"] == 0.0]
    assert handed_back and all(r["count_before"] >= T for r in handed_back)
    # The hand-back comes after the floor, as a class's count grows.
    assert min(r["batch"] for r in handed_back) > min(r["batch"] for r in floor)
    assert any(not r["present"] for r in records)


# ------------------------------------------------------------------------------------------------
# The printed text

def _sections(text):
    """{batch: text of that batch's section} (from "Batch k of" to the next blank-line block)."""
    parts = re.split(r"^Batch (\d+) of \d+", text, flags=re.M)
    sections = {int(parts[k]): parts[k + 1] for k in range(1, len(parts), 2)}
    for k in sections:
        sections[k] = sections[k].split("λ_i by batch")[0]
    return sections


def _table_rows(section, header_marker):
    """The rows after the header line containing header_marker, up to the first line that does
    not start with a class index."""
    lines = section.splitlines()
    start = next(k for k, line in enumerate(lines) if header_marker in line) + 1
    rows = {}
    for line in lines[start:]:
        tokens = line.split()
        if not tokens or not tokens[0].isdigit():
            break
        rows[int(tokens[0])] = line
    return rows


def _numbers(line):
    return NUMBER.findall(line)


def test_the_printed_tables_show_every_record_number(records, printed):
    sections = _sections(printed)
    assert sorted(sections) == list(range(1, len(explain.BATCHES) + 1))
    for r in records:
        section, i = sections[r["batch"]], r["class"]
        where = f"batch {r['batch']}, class {i}"
        sgd_row = _table_rows(section, "θ[i] before")[i]
        assert _numbers(sgd_row) == [str(i), *map(fmt, r["theta_before"]),
                                     *map(fmt, r["grad_theta"]), *map(fmt, r["theta_prime"])], where
        rule_row = _table_rows(section, "c_i new")[i]
        if r["present"]:
            want = [str(i), str(r["n"]), str(r["count_before"]), fmt(r["lam"]),
                    *map(fmt, r["h_hat"]), *map(fmt, r["theta_new"]), str(r["count_after"])]
        else:
            assert "absent" in rule_row, where
            want = [str(i), "0", str(r["count_before"]), *map(fmt, r["theta_new"]),
                    str(r["count_after"])]
        assert _numbers(rule_row) == want, where
        if r["present"]:
            note = next(line for line in section.splitlines()
                        if line.strip().startswith(f"→ class {i}:"))
            assert f"1/c_i = {fmt(r['inv_count'])}" in note, where
        assert f"loss = {fmt(r['loss'])}" in section, where
    for batch, section in sections.items():
        b_line = next(line for line in section.splitlines() if line.strip().startswith("b' ="))
        assert _numbers(b_line)[:explain.V] == [fmt(r["b_prime"]) for r in records
                                                 if r["batch"] == batch]


def test_the_printed_inputs_are_the_batches(printed):
    sections = _sections(printed)
    for batch, (h, y) in enumerate(explain.BATCHES, start=1):
        rows = _table_rows(sections[batch], "h_t")
        for t in range(len(y)):
            assert _numbers(rows[t]) == [str(t), str(y[t]), *map(fmt, h[t])]


def test_the_printed_summary_shows_lambda_per_batch(records, printed):
    summary = printed.split("λ_i by batch")[1].splitlines()
    rows = [line.split() for line in summary if line.split() and line.split()[0].isdigit()]
    assert len(rows) == len(explain.BATCHES)
    for tokens in rows:
        batch = int(tokens[0])
        want = [fmt(r["lam"]) if r["present"] else "-" for r in records if r["batch"] == batch]
        assert tokens[1:] == want
    assert fmt(explain.GAMMA) in printed and f"T = {explain.T}" in printed


def test_main_prints_the_walkthrough(capsys, printed):
    assert explain.main([]) == 0
    assert capsys.readouterr().out == printed + "\n"


def test_python_dash_m_runs(printed):
    result = subprocess.run([sys.executable, "-m", "hebbref.explain"], capture_output=True,
                            text=True, encoding="utf-8", timeout=120,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == printed + "\n"

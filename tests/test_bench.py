"""Smoke tests of `hebbref bench --quick`: the JSON has every field with sane values, the plot is
written, a missing torch gives "torch not installed" rows instead of a crash. No timed
assertions (the machine's speed is not under test); the FLOP formula and the Zipf ids are
checked against independent counts.
"""
import contextlib
import dataclasses
import importlib.util
import io
import json
import math
import os

import numpy as np
import pytest

from hebbref import bench

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, so only --quiet can silence the progress lines."""

    def isatty(self):
        return True


def _run_main(argv):
    out, err = io.StringIO(), _Terminal()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = bench.main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    json_path, png_path = folder / "bench.json", folder / "scaling.png"
    status, stdout, stderr = _run_main(["--quick", "--quiet", "--json", str(json_path),
                                        "--plot", str(png_path)])
    return {"status": status, "stdout": stdout, "stderr": stderr,
            "json": json.loads(json_path.read_text()), "png": png_path}


def test_quiet_silences_progress_on_a_terminal(quick, monkeypatch):
    assert quick["stderr"] == ""
    err = _Terminal()
    monkeypatch.setattr(bench, "_show_progress", True)
    with contextlib.redirect_stderr(err):
        bench._progress("BLAS peak")
    assert "measuring BLAS peak" in err.getvalue()


def _positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def _check_timed(row, repeats):
    assert _positive(row["median_s"]), row
    assert len(row["runs_s"]) == repeats and all(_positive(t) for t in row["runs_s"]), row
    assert min(row["runs_s"]) <= row["median_s"] <= max(row["runs_s"])
    assert row["calls_per_run"] >= 1


def test_quick_exits_zero_and_writes_png(quick):
    assert quick["status"] == 0
    assert quick["png"].read_bytes()[:8] == PNG_MAGIC


def test_stdout_shows_every_section_and_ratio(quick):
    for text in ("BLAS peak", "LM training step", "hebbref/torch", "of f32 peak", "MLP step",
                 "numba/np.add.at", "numba/torch", "fast/reference", "% of the LM step",
                 "peak memory", "Scaling", "Targets"):
        assert text in quick["stdout"], text


def test_json_machine_and_settings(quick):
    data = quick["json"]
    assert data["format"] == "hebbref-bench" and data["quick"] is True
    m = data["machine"]
    assert isinstance(m["cpu_model"], str) and m["cpu_model"]
    assert m["logical_cpus"] >= 1 and 1 <= m["cpus_available"] <= m["logical_cpus"]
    assert m["numpy"] == np.__version__
    assert isinstance(m["numba"], str) and m["numba"] and isinstance(m["torch"], str)
    assert m["blas_threads"] >= 1
    assert data["settings"] == json.loads(json.dumps(dataclasses.asdict(bench.QUICK)))
    assert data["numba"]["first_call_s"] >= 0 and data["numba"]["how"]
    assert _positive(data["total_seconds"])


def test_json_measurements_are_positive_and_consistent(quick):
    data, sizes = quick["json"], bench.QUICK
    repeats = sizes.repeats
    blas = data["blas"]
    for dtype in ("float32", "float64"):
        _check_timed(blas[dtype], repeats)
        flops = 2 * sizes.blas_n**3
        assert blas[dtype]["gflops"] == pytest.approx(flops / blas[dtype]["median_s"] / 1e9)

    rows = data["lm"]["by_vocab"]
    assert [r["V"] for r in rows] == list(sizes.lm_vocabs)
    for r in rows:
        _check_timed(r["hebbref"], repeats)
        assert r["tokens_per_step"] == sizes.lm_batch * sizes.lm_bptt
        assert r["hebbref"]["tokens_per_s"] == pytest.approx(
            r["tokens_per_step"] / r["hebbref"]["median_s"])
        assert r["flops_per_step"] == bench.lm_step_flops(r["tokens_per_step"], sizes.lm_hidden,
                                                          sizes.lm_hidden, r["V"])
        assert r["blas_peak_fraction"] == pytest.approx(
            r["flops_per_step"] / r["hebbref"]["median_s"] / 1e9 / blas["float32"]["gflops"])
        _check_timed(r["matrix_products"], repeats)
        assert r["products_share_of_step"] == pytest.approx(
            r["matrix_products"]["median_s"] / r["hebbref"]["median_s"])
        if "median_s" in r["torch"]:
            assert r["speedup_ceiling_vs_torch"] == pytest.approx(
                r["torch"]["median_s"] / r["matrix_products"]["median_s"])
        else:
            assert r["torch"] == {"status": bench.TORCH_MISSING}
            assert r["speedup_ceiling_vs_torch"] is None

    for key in ("threads_numpy", "threads_one"):
        _check_timed(data["mlp"][key]["hebbref"], repeats)
    assert data["mlp"]["threads_one"]["threads"] == 1

    scatter = data["scatter"]
    for name in ("numba", "np.add.at"):
        _check_timed(scatter[name], repeats)
    assert scatter["speedup_vs_add_at"] == pytest.approx(
        scatter["np.add.at"]["median_s"] / scatter["numba"]["median_s"])
    assert 1 <= scatter["distinct_ids"] <= scatter["rows"]

    hebbian = data["hebbian"]
    _check_timed(hebbian["fast"], repeats)
    _check_timed(hebbian["reference"], repeats)
    assert hebbian["lm_step_s"] == rows[0]["hebbref"]["median_s"]
    assert hebbian["percent_of_lm_step"] == pytest.approx(
        100 * hebbian["fast"]["median_s"] / hebbian["lm_step_s"])
    assert _positive(hebbian["fast_speedup_over_reference"])
    memory = hebbian["memory"]
    assert memory["lm_step_peak_bytes_with_hebbian"] > 0
    assert memory["lm_step_peak_bytes_without_hebbian"] > 0
    assert memory["hebbian_update_peak_bytes"] > 0
    assert memory["counts_bytes"] == 8 * hebbian["V"]

    for axis, values, key in (("vocab", sizes.scaling_vocabs, "V"),
                              ("hidden", sizes.scaling_hiddens, "H")):
        points = data["scaling"][axis]["points"]
        assert [p[key] for p in points] == list(values)
        assert all(_positive(p["hebbref_s_per_token"]) for p in points)
        assert math.isfinite(data["scaling"][axis]["log_log_slope"]["hebbref"])

    assert [t["key"] for t in data["targets"]] == [key for key, *_ in bench.TARGETS]
    for t in data["targets"]:
        if t["measured"] is not None:
            assert math.isfinite(t["measured"]) and t["measured"] > 0
            assert t["met"] == (t["measured"] >= t["threshold"] if t["kind"] == "min"
                                else t["measured"] <= t["threshold"])


def test_json_torch_rows_have_finite_ratios(quick):
    pytest.importorskip("torch", reason="torch is an optional extra (pip install -e '.[torch]')")
    data, repeats = quick["json"], bench.QUICK.repeats
    for r in data["lm"]["by_vocab"]:
        _check_timed(r["torch"], repeats)
        assert r["speedup_vs_torch"] == pytest.approx(
            r["torch"]["median_s"] / r["hebbref"]["median_s"])
    for key in ("threads_numpy", "threads_one"):
        _check_timed(data["mlp"][key]["torch"], repeats)
        assert _positive(data["mlp"][key]["speedup_vs_torch"])
    _check_timed(data["scatter"]["torch index_add_"], repeats)
    assert _positive(data["scatter"]["speedup_vs_torch"])
    for curve in data["scaling"].values():
        assert all(_positive(p["speedup_vs_torch"]) for p in curve["points"])
    assert all(t["met"] is not None for t in data["targets"])


def test_without_torch_rows_say_so(tmp_path, monkeypatch):
    """With torch unimportable the benchmark still runs; torch rows carry the status string."""
    monkeypatch.setattr(bench, "_import_torch", lambda: None)
    tiny = dataclasses.replace(bench.QUICK, repeats=1, lm_vocabs=(50, 80),
                               scaling_vocabs=(20, 40), scaling_hiddens=(4, 8))
    monkeypatch.setattr(bench, "QUICK", tiny)
    json_path, png_path = tmp_path / "b.json", tmp_path / "p.png"
    status, stdout, stderr = _run_main(["--quick", "--json", str(json_path),
                                        "--plot", str(png_path)])
    assert status == 0 and png_path.read_bytes()[:8] == PNG_MAGIC
    assert "measuring BLAS peak" in stderr  # not --quiet, and stderr is a terminal
    assert bench.TORCH_MISSING in stdout
    data = json.loads(json_path.read_text())
    assert data["machine"]["torch"] == bench.TORCH_MISSING
    for r in data["lm"]["by_vocab"]:
        assert r["torch"] == {"status": bench.TORCH_MISSING} and r["speedup_vs_torch"] is None
        assert r["speedup_ceiling_vs_torch"] is None
    assert data["scatter"]["torch index_add_"] == {"status": bench.TORCH_MISSING}
    assert data["mlp"]["threads_one"]["speedup_vs_torch"] is None
    targets = {t["key"]: t for t in data["targets"]}
    assert targets["lm_speedup_small_vocab"]["met"] is None
    assert targets["scatter_speedup_add_at"]["met"] is not None
    assert "n/a (no torch)" in _validation_bench().markdown(data)


@pytest.mark.parametrize("T, B, E, H, V", [(35, 32, 256, 256, 10000), (5, 4, 3, 7, 11),
                                           (1, 1, 1, 1, 1)])
def test_lm_step_flops_counts_every_matmul(T, B, E, H, V):
    """lm_step_flops equals the sum of 2·m·k·n over the matrix products that
    hebbref/nn/lstm.py and hebbref/nn/softmax.py compute, listed here one by one."""
    N = T * B
    products = [
        (N, E, 4 * H),                 # lstm_forward: x Wx
        *[(B, H, 4 * H)] * T,          # lstm_step_forward: h_{t−1} Wh
        (N, H, V),                     # softmax_layer_forward: h θᵀ
        (N, V, H),                     # softmax_layer_backward: dz θ
        (V, N, H),                     # softmax_layer_backward: dzᵀ h
        *[(B, 4 * H, H)] * T,          # lstm_backward: das[t] Whᵀ
        (E, N, 4 * H),                 # lstm_backward: xᵀ da
        (H, N, 4 * H),                 # lstm_backward: h_prevᵀ da
        (N, 4 * H, E),                 # lstm_backward: da Wxᵀ
    ]
    assert bench.lm_step_flops(N, E, H, V) == sum(2 * m * k * n for m, k, n in products)
    # ... and the products the bench times as the step's matmul-only floor are the same ones.
    listed = [(m, k, n) for m, k, n, count in bench.lm_step_products(N, B, E, H, V)
              for _ in range(count)]
    assert sorted(listed) == sorted(products)


def test_zipf_ids_follow_the_rank_frequency_law():
    """P(k) ∝ 1/(k+1): id 0 is about twice as frequent as id 1 and three times id 2."""
    ids = bench.zipf_ids(np.random.default_rng(0), 50, 200_000)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 50
    counts = np.bincount(ids, minlength=50)
    assert counts[0] / counts[1] == pytest.approx(2.0, rel=0.05)
    assert counts[0] / counts[2] == pytest.approx(3.0, rel=0.05)


def test_measure_interleaves_and_reverses_order():
    """Warm-up calls come first; then each round calls every contender, reversed on odd rounds."""
    calls = []
    sizes = dataclasses.replace(bench.QUICK, repeats=4, warmup=2, min_seconds=0.0)
    result = bench._measure({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, sizes)
    assert calls == ["a", "a", "b", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert all(len(r["runs_s"]) == 4 and r["calls_per_run"] == 1 for r in result.values())


def _validation_bench():
    """validation/bench.py, imported by path (validation/ is a folder of scripts, not a package)."""
    path = os.path.join(os.path.dirname(__file__), os.pardir, "validation", "bench.py")
    spec = importlib.util.spec_from_file_location("validation_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validation_readme_table_has_every_target(quick):
    """The README table built from a bench JSON has a row per target, marked missed iff missed."""
    data = quick["json"]
    table = _validation_bench().markdown(data)
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 1 + 2 * len(data["lm"]["by_vocab"]) + 5  # header, BLAS, LM ×2, rest
    assert table.count("(missed)") == sum(1 for t in data["targets"] if t["met"] is False)

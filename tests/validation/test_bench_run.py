"""Smoke tests of `validation/bench.py --quick` (validation/speed/): the JSON has every field
with sane values, the plot is written, a missing torch gives "torch not installed" rows instead of a crash.
No timed assertions (the machine's speed is not under test).
"""
import contextlib
import dataclasses
import json
import math
import statistics

import numpy as np
import pytest

from speed import machine, timing, workloads
from speed.workloads import lm_step_flops, lstm_flops
from validation_scripts import PNG_MAGIC, Terminal, load_script, run_bench


def validation_bench():
    return load_script("bench")


def test_every_option_shows_its_default():
    """`validation/bench.py --help` gives each option a help text that states the default."""
    parser = validation_bench().build_parser()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert "default" in parser._get_formatter()._expand_help(action), action.dest


def test_quiet_silences_progress_on_a_terminal(quick, monkeypatch):
    assert quick["stderr"] == ""
    err = Terminal()
    monkeypatch.setattr(timing, "show_progress", True)
    with contextlib.redirect_stderr(err):
        timing.progress("BLAS peak")
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
                 "peak memory", "LSTM alone", "Evaluation", "Scaling"):
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
    assert data["settings"] == json.loads(json.dumps(dataclasses.asdict(workloads.QUICK)))
    assert data["numba"]["first_call_s"] >= 0 and data["numba"]["how"]
    assert _positive(data["total_seconds"])


def test_json_measurements_are_positive_and_consistent(quick):
    data, sizes = quick["json"], workloads.QUICK
    repeats = sizes.repeats
    blas = data["blas"]
    for dtype in ("float32", "float64"):
        _check_timed(blas[dtype], repeats)
        assert blas[dtype]["gflops"] == pytest.approx(
            2 * sizes.blas_n**3 / blas[dtype]["median_s"] / 1e9)

    rows = data["lm"]["by_vocab"]
    assert [r["V"] for r in rows] == list(sizes.lm_vocabs)
    for r in rows:
        _check_timed(r["hebbref"], repeats)
        assert r["tokens_per_step"] == sizes.lm_batch * sizes.lm_bptt
        assert r["hebbref"]["tokens_per_s"] == pytest.approx(
            r["tokens_per_step"] / r["hebbref"]["median_s"])
        assert r["flops_per_step"] == lm_step_flops(r["tokens_per_step"], sizes.lm_hidden,
                                                          sizes.lm_hidden, r["V"])
        assert r["blas_peak_fraction"] == pytest.approx(_paired_share(
            r["flops_per_step"], r["hebbref"]["runs_s"], sizes, r["peak_matmul"]))
        _check_timed(r["matrix_products"], repeats)
        assert r["products_peak_fraction"] == pytest.approx(_paired_share(
            r["flops_per_step"], r["matrix_products"]["runs_s"], sizes, r["peak_matmul"]))
        assert r["products_share_of_step"] == pytest.approx(
            r["matrix_products"]["median_s"] / r["hebbref"]["median_s"])
        _check_ceiling_products_and_passes(r, sizes)
        if "median_s" in r["torch"]:
            assert r["speedup_ceiling_vs_torch"] == pytest.approx(
                r["torch"]["median_s"] / r["matrix_products"]["median_s"])
        else:
            assert r["torch"] == {"status": machine.TORCH_MISSING}
            assert r["speedup_ceiling_vs_torch"] is None

    _check_lstm_eval_and_memory(data, sizes)
    for key in ("threads_numpy", "threads_one"):
        _check_timed(data["mlp"][key]["hebbref"], repeats)
    assert data["mlp"]["threads_one"]["threads"] == 1

    scatter = data["scatter"]
    for name in ("numba", "np.add.at"):
        _check_timed(scatter[name], repeats)
    assert scatter["speedup_vs_add_at"] == pytest.approx(
        scatter["np.add.at"]["median_s"] / scatter["numba"]["median_s"])
    assert 1 <= scatter["distinct_ids"] <= scatter["rows"]

    _check_hebbian(data["hebbian"], rows[0], repeats)

    for axis, values, key in (("vocab", sizes.scaling_vocabs, "V"),
                              ("hidden", sizes.scaling_hiddens, "H")):
        points = data["scaling"][axis]["points"]
        assert [p[key] for p in points] == list(values)
        assert all(_positive(p["hebbref_s_per_token"]) and _positive(p["products_s_per_token"])
                   for p in points)
        assert math.isfinite(data["scaling"][axis]["log_log_slope"]["hebbref"])


def test_large_vocab_rows(quick):
    """Section 7: one row per large vocabulary, time per token from the paired rounds, the
    logits' and θ's sizes, and hebbref's tracemalloc peak above θ's gradient (it is allocated
    inside the step)."""
    sizes, section = workloads.QUICK, quick["json"]["large_vocab"]
    assert [p["V"] for p in section["points"]] == list(sizes.large_vocabs)
    for p in section["points"]:
        _check_timed(p["hebbref"], sizes.large_repeats)
        assert p["hebbref_s_per_token"] == pytest.approx(p["hebbref"]["median_s"] / sizes.lm_tokens)
        assert p["logits_bytes"] == 4 * sizes.lm_tokens * p["V"]
        assert p["theta_bytes"] == 4 * sizes.lm_hidden * p["V"]
        assert p["hebbref_peak_bytes"] > p["theta_bytes"]
        assert p["hebbref_resident_peak_bytes"] is None or p["hebbref_resident_peak_bytes"] >= 0
    assert "7. LM step at large vocabularies" in quick["stdout"]


def test_resident_peak_sees_memory_that_tracemalloc_does_not():
    """timing.resident_peak: a 64 MiB buffer touched and freed inside fn (allocated by mmap, as
    torch's large tensors are, so tracemalloc does not see it) raises the peak by at least
    64 MiB; a function that allocates nothing raises it by far less."""
    import mmap

    def touch():
        buffer = mmap.mmap(-1, 64 * 2**20)
        buffer.write(b"x" * (64 * 2**20))
        buffer.close()

    assert timing.resident_peak(touch) >= 64 * 2**20
    assert timing.resident_peak(lambda: None) < 16 * 2**20


def _check_ceiling_products_and_passes(r, sizes):
    """The bound with everything but the products and the softmax's element-wise passes free,
    rebuilt from the JSON: both medians added, against torch and the peak of the same rounds."""
    c = r["ceiling_products_and_passes"]
    assert _positive(r["phases"]["softmax_elementwise_s"])
    seconds = r["matrix_products"]["median_s"] + r["phases"]["softmax_elementwise_s"]
    assert c["seconds"] == pytest.approx(seconds)
    assert c["peak_fraction"] == pytest.approx(
        r["flops_per_step"] / seconds / (2 * sizes.blas_n**3 / r["peak_matmul"]["median_s"]))
    if "median_s" in r["torch"]:
        assert c["speedup_vs_torch"] == pytest.approx(r["torch"]["median_s"] / seconds)


def _paired_share(flops, runs_s, sizes, peak):
    """The share of the peak from the JSON alone: the median over rounds of the step's GFLOP/s
    over the float32 peak matmul's GFLOP/s in the same round."""
    _check_timed(peak, sizes.repeats)
    assert peak["gflops"] == pytest.approx(2 * sizes.blas_n**3 / peak["median_s"] / 1e9)
    return statistics.median(flops / t / (2 * sizes.blas_n**3 / p)
                             for t, p in zip(runs_s, peak["runs_s"]))


def _check_hebbian(hebbian, first_lm_row, repeats):
    _check_timed(hebbian["fast"], repeats)
    _check_timed(hebbian["reference"], repeats)
    assert hebbian["lm_step_s"] == first_lm_row["hebbref"]["median_s"]
    assert hebbian["percent_of_lm_step"] == pytest.approx(
        100 * hebbian["fast"]["median_s"] / hebbian["lm_step_s"])
    assert _positive(hebbian["fast_speedup_over_reference"])
    memory = hebbian["memory"]
    assert memory["lm_step_peak_bytes_with_hebbian"] > 0
    assert memory["lm_step_peak_bytes_without_hebbian"] > 0
    assert memory["hebbian_update_peak_bytes"] > 0
    assert memory["counts_bytes"] == 8 * hebbian["V"]


def _check_lstm_eval_and_memory(data, sizes):
    """Sections 2b, 2c, and the LM step's peak memory beside the size of its logits."""
    repeats, N = sizes.repeats, sizes.lm_tokens
    for r in data["lm"]["by_vocab"]:
        assert r["logits_bytes"] == 4 * N * r["V"] and r["peak_bytes"] > 0
    lstm = data["lstm"]
    _check_timed(lstm["hebbref"], repeats)
    assert lstm["flops"] == lstm_flops(N, sizes.lm_hidden, sizes.lm_hidden)
    assert lstm["blas_peak_fraction"] == pytest.approx(_paired_share(
        lstm["flops"], lstm["hebbref"]["runs_s"], sizes, lstm["peak_matmul"]))
    ev = data["eval"]
    # evaluate() scores every column's targets: B columns of (length − 1) targets
    length = sizes.lm_batch * (sizes.lm_bptt * sizes.lm_eval_segments + 1) // sizes.lm_batch
    assert ev["tokens_per_call"] == sizes.lm_batch * (length - 1)
    for name in ("hebbref", "hebbref_cache"):
        _check_timed(ev[name], repeats)
        assert ev[name]["tokens_per_s"] == pytest.approx(
            ev["tokens_per_call"] / ev[name]["median_s"])


def test_json_torch_rows_have_finite_ratios(quick):
    pytest.importorskip("torch", reason="torch is an optional extra (pip install -e '.[torch]')")
    data, repeats = quick["json"], workloads.QUICK.repeats
    for r in data["lm"]["by_vocab"]:
        _check_timed(r["torch"], repeats)
        assert r["speedup_vs_torch"] == pytest.approx(
            r["torch"]["median_s"] / r["hebbref"]["median_s"])
        ratios = np.array(r["torch"]["runs_s"]) / np.array(r["hebbref"]["runs_s"])
        low, high = r["speedup_interval"]
        assert low <= np.exp(np.mean(np.log(ratios))) <= high
    for key in ("threads_numpy", "threads_one"):
        _check_timed(data["mlp"][key]["torch"], repeats)
        assert _positive(data["mlp"][key]["speedup_vs_torch"])
    _check_timed(data["scatter"]["torch index_add_"], repeats)
    assert _positive(data["scatter"]["speedup_vs_torch"])
    for section in (data["lstm"], data["eval"]):
        _check_timed(section["torch"], repeats)
        assert _positive(section["speedup_vs_torch"])
    for curve in data["scaling"].values():
        assert all(_positive(p["speedup_vs_torch"]) for p in curve["points"])
    assert all(t["met"] is not None for t in validation_bench().evaluate_targets(data))


def test_without_torch_rows_say_so(tmp_path, monkeypatch):
    """With torch unimportable the benchmark still runs; torch rows carry the status string."""
    monkeypatch.setattr(machine, "import_torch", lambda: None)
    tiny = dataclasses.replace(workloads.QUICK, repeats=1, lm_vocabs=(50, 80),
                               scaling_vocabs=(20, 40), scaling_hiddens=(4, 8))
    monkeypatch.setattr(workloads, "QUICK", tiny)
    json_path, png_path = tmp_path / "b.json", tmp_path / "p.png"
    status, stdout, stderr = run_bench(["--quick", "--json", str(json_path),
                                        "--plot", str(png_path)])
    assert status == 0 and png_path.read_bytes()[:8] == PNG_MAGIC
    assert "measuring BLAS peak" in stderr  # not --quiet, and stderr is a terminal
    assert machine.TORCH_MISSING in stdout and "torch torch" not in stdout
    assert "1 threads" not in stdout     # --quick runs on one thread, said in the singular
    assert "1 thread, the run's BLAS threads:" in stdout
    assert "1 thread, as the curriculum runs:" in stdout
    data = json.loads(json_path.read_text())
    assert data["machine"]["torch"] == machine.TORCH_MISSING
    for r in data["lm"]["by_vocab"]:
        assert r["torch"] == {"status": machine.TORCH_MISSING} and r["speedup_vs_torch"] is None
        assert r["speedup_ceiling_vs_torch"] is None
    assert data["scatter"]["torch index_add_"] == {"status": machine.TORCH_MISSING}
    assert data["mlp"]["threads_one"]["speedup_vs_torch"] is None
    assert data["lstm"]["speedup_vs_torch"] is None and data["eval"]["speedup_vs_torch"] is None
    assert "targets" not in data and "not checked at --quick sizes" in stdout
    targets = {t["key"]: t for t in validation_bench().evaluate_targets(data)}
    assert targets["lm_speedup_small_vocab"]["met"] is None
    assert targets["scatter_speedup_add_at"]["met"] is not None
    assert "n/a (no torch)" in validation_bench().markdown(data)



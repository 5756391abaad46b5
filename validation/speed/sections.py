"""The sections of the bench (validation/bench.py) and `run`, which measures them all into one
results dict."""
import math
import os
import statistics
import time
from dataclasses import asdict

import numpy as np
from threadpoolctl import threadpool_limits

from hebbref.hebbian import hebbian_update, hebbian_update_reference
from hebbref.kernels import scatter_add_rows, scatter_add_rows_numpy

from . import machine
from .contenders import (hebbref_eval, hebbref_lm_phases, hebbref_lm_step, hebbref_lstm_pass,
                         hebbref_mlp_step, lm_matrix_products, softmax_elementwise, torch_eval,
                         torch_lm_step, torch_lstm_pass, torch_mlp_step)
from .timing import measure, paired_interval, progress, ratio, traced_peak
from .vocab import bench_large_vocab
from .workloads import EVAL_CACHE, LM_CLIP, LM_LR, MLP_LR, lm_step_flops, lstm_flops, zipf_ids


def _time_lm_step(torch, V, H, sizes, *, parts=False):
    """Time hebbref's LM step, its matrix products alone (the bound on it) and torch's step, if
    present; with parts, also the softmax layer's products and the LSTM's apart. Returns
    (timings, hebbref's step function, whose optimiser state now exists)."""
    contenders = {"hebbref": hebbref_lm_step(V, H, sizes),
                  "products": lm_matrix_products(V, H, sizes)}
    if parts:
        contenders.update(softmax_products=lm_matrix_products(V, H, sizes, part="softmax"),
                          lstm_products=lm_matrix_products(V, H, sizes, part="lstm"),
                          softmax_elementwise=softmax_elementwise(V, H, sizes),
                          peak=_peak_matmul(sizes))
    if torch:
        contenders["torch"] = torch_lm_step(torch, V, H, sizes)
    return measure(contenders, sizes), contenders["hebbref"]


def _peak_matmul(sizes):
    """The float32 n×n by n×n matmul of section 1 (n = sizes.blas_n), as a contender: timed in
    the same rounds as a step, it gives that step's share of the peak round by round."""
    a, b = np.random.default_rng(0).standard_normal((2, sizes.blas_n, sizes.blas_n))
    a, b, c = a.astype(np.float32), b.astype(np.float32), np.empty_like(a, dtype=np.float32)
    return lambda: np.matmul(a, b, out=c)


def _peak_share(flops, runs_s, sizes, peak_runs_s):
    """Median over rounds of (flops / a run's time) / (2n³ / the peak matmul's time in the same
    round): a slow spell of a shared machine slows both, so it cancels, as in paired_interval."""
    peak_flops = 2 * sizes.blas_n**3
    return float(np.median(flops * np.asarray(peak_runs_s) / (peak_flops * np.asarray(runs_s))))


def _peak_row(timed, sizes):
    """The peak matmul's timing as timed beside a step, with its GFLOP/s."""
    return {**timed["peak"], "gflops": 2 * sizes.blas_n**3 / timed["peak"]["median_s"] / 1e9}


def bench_blas(sizes):
    """Section 1: GFLOP/s of an n×n by n×n matmul (2n³ FLOPs) in float32 and float64. The
    shares of the peak in sections 2 and 2b use the float32 matmul timed again beside them."""
    n = sizes.blas_n
    rng = np.random.default_rng(0)
    operands = {}
    for dtype in (np.float32, np.float64):
        a, b = rng.standard_normal((2, n, n)).astype(dtype)
        operands[np.dtype(dtype).name] = (a, b, np.empty((n, n), dtype))
    timed = measure({name: (lambda a=a, b=b, c=c: np.matmul(a, b, out=c))
                      for name, (a, b, c) in operands.items()}, sizes)
    result = {"n": n}
    for name, t in timed.items():
        result[name] = {**t, "gflops": 2 * n**3 / t["median_s"] / 1e9}
    return result


def _contender_row(timed, name, tokens=None):
    if name not in timed:
        return {"status": machine.TORCH_MISSING}
    row = dict(timed[name])
    if tokens:
        row["tokens_per_s"] = tokens / row["median_s"]
    return row


def bench_lm(sizes, torch):
    """Section 2: LM training step, hebbref vs torch, at each vocabulary of sizes.lm_vocabs."""
    H, N = sizes.lm_hidden, sizes.lm_tokens
    rows = []
    for V in sizes.lm_vocabs:
        progress(f"LM step V = {V}")
        timed, hebbref_step = _time_lm_step(torch, V, H, sizes, parts=True)
        flops = lm_step_flops(N, H, H, V)
        progress(f"LM step V = {V}, peak memory (tracemalloc)")
        peak = traced_peak(hebbref_step)
        hebbref, torch_row = _contender_row(timed, "hebbref", N), _contender_row(timed, "torch", N)
        hebbref["gflops"] = flops / hebbref["median_s"] / 1e9
        rows.append({
            "V": V, "tokens_per_step": N, "flops_per_step": flops,
            "hebbref": hebbref, "torch": torch_row,
            "speedup_vs_torch": ratio(torch_row.get("median_s"), hebbref["median_s"]),
            "speedup_interval": paired_interval(torch_row.get("runs_s"), hebbref["runs_s"]),
            "peak_matmul": _peak_row(timed, sizes),
            "blas_peak_fraction": _peak_share(flops, hebbref["runs_s"], sizes,
                                              timed["peak"]["runs_s"]),
            # The ceiling: torch against the products alone, as if nothing else took time.
            "matrix_products": timed["products"],
            "products_share_of_step": timed["products"]["median_s"] / hebbref["median_s"],
            # The products alone, as a share of the peak: the bound on the step's share.
            "products_peak_fraction": _peak_share(flops, timed["products"]["runs_s"], sizes,
                                                  timed["peak"]["runs_s"]),
            "speedup_ceiling_vs_torch": ratio(torch_row.get("median_s"),
                                               timed["products"]["median_s"]),
            # tracemalloc peak of one step (after the timed ones: optimiser state exists);
            # beside it the size the (N, V) logits would have.
            "peak_bytes": peak, "logits_bytes": N * V * np.dtype(np.float32).itemsize,
            "phases": _lm_phases(V, H, sizes, timed),
        })
        rows[-1]["ceiling_products_and_passes"] = _ceiling_products_and_passes(rows[-1])
    return {"batch": sizes.lm_batch, "bptt": sizes.lm_bptt, "embed": H, "hidden": H,
            "optimizer": f"sgd lr={LM_LR}", "clip": LM_CLIP,
            "hebbref_includes_hebbian_rule": True,
            "flops_formula": "6·N·H·V + 24·N·H·(E + H), N = batch·bptt (see lm_step_flops)",
            "by_vocab": rows}


def _lm_phases(V, H, sizes, timed):
    """Where hebbref's step spends its time: each phase of LM_PHASES timed inside sizes.repeats
    real steps (median seconds), and the products alone of the two phase groups that hold them
    (the softmax layer's three; the LSTM's, forward and backward), timed in `timed`."""
    progress(f"LM step V = {V}, phase by phase")
    times, _ = hebbref_lm_phases(V, H, sizes, sizes.repeats)
    return {"median_s": {phase: statistics.median(t) for phase, t in times.items()},
            "softmax_products_s": timed["softmax_products"]["median_s"],
            "lstm_products_s": timed["lstm_products"]["median_s"],
            "softmax_elementwise_s": timed["softmax_elementwise"]["median_s"]}


def _ceiling_products_and_passes(row):
    """The step's bound if it did nothing but its matrix products and the softmax layer's
    element-wise passes (contenders.softmax_elementwise), both timed in the same rounds as the
    step: their seconds, torch over them, and their share of the peak matmul of those rounds."""
    seconds = row["matrix_products"]["median_s"] + row["phases"]["softmax_elementwise_s"]
    return {"seconds": seconds,
            "speedup_vs_torch": ratio(row["torch"].get("median_s"), seconds),
            "peak_fraction": row["flops_per_step"] / seconds / 1e9 / row["peak_matmul"]["gflops"]}


def bench_lstm(sizes, torch):
    """Section 2b: the LSTM alone (forward and backward over one BPTT segment, no vocabulary),
    hebbref vs torch, and hebbref's share of the float32 BLAS peak on its products."""
    progress("LSTM alone")
    contenders = {"hebbref": hebbref_lstm_pass(sizes), "peak": _peak_matmul(sizes)}
    if torch:
        contenders["torch"] = torch_lstm_pass(torch, sizes)
    timed = measure(contenders, sizes)
    flops = lstm_flops(sizes.lm_tokens, sizes.lm_hidden, sizes.lm_hidden)
    hebbref, torch_row = _contender_row(timed, "hebbref"), _contender_row(timed, "torch")
    hebbref["gflops"] = flops / hebbref["median_s"] / 1e9
    return {"T": sizes.lm_bptt, "N": sizes.lm_batch, "E": sizes.lm_hidden, "H": sizes.lm_hidden,
            "flops": flops, "flops_formula": "24·N·H·(E + H), N = batch·bptt",
            "hebbref": hebbref, "torch": torch_row,
            "speedup_vs_torch": ratio(torch_row.get("median_s"), hebbref["median_s"]),
            "speedup_interval": paired_interval(torch_row.get("runs_s"), hebbref["runs_s"]),
            "peak_matmul": _peak_row(timed, sizes),
            "blas_peak_fraction": _peak_share(flops, hebbref["runs_s"], sizes,
                                              timed["peak"]["runs_s"])}


def bench_eval(sizes, torch):
    """Section 2c: evaluation throughput at V = lm_vocabs[0]: experiments.lm.evaluate and
    cache.evaluate_with_cache (EVAL_CACHE) against torch's evaluation of the same model."""
    progress("evaluation")
    V, H = sizes.lm_vocabs[0], sizes.lm_hidden
    tokens = len(hebbref_eval(V, H, sizes)()[0])
    contenders = {"hebbref": hebbref_eval(V, H, sizes),
                  "hebbref_cache": hebbref_eval(V, H, sizes, cache=EVAL_CACHE)}
    if torch:
        contenders["torch"] = torch_eval(torch, V, H, sizes)
    timed = measure(contenders, sizes)
    rows = {name: _contender_row(timed, name, tokens)
            for name in ("hebbref", "hebbref_cache", "torch")}
    return {"V": V, "H": H, "batch": sizes.lm_batch, "bptt": sizes.lm_bptt,
            "tokens_per_call": tokens, "cache": EVAL_CACHE, **rows,
            "speedup_vs_torch": ratio(rows["torch"].get("median_s"),
                                      rows["hebbref"]["median_s"]),
            "cache_speedup_vs_torch_without": ratio(rows["torch"].get("median_s"),
                                                    rows["hebbref_cache"]["median_s"])}


def bench_mlp(sizes, torch, threads):
    """Section 3: MLP step with Adam, hebbref (with the Hebbian rule) vs torch, at numpy's
    thread count and at one thread."""
    result = {"sizes": list(sizes.mlp_sizes), "batch": sizes.mlp_batch,
              "optimizer": f"adam lr={MLP_LR}", "hebbref_includes_hebbian_rule": True}
    saved = torch.get_num_threads() if torch else None
    for key, count in (("threads_numpy", threads), ("threads_one", 1)):
        progress(f"MLP step, {count} thread(s)")
        if torch:
            torch.set_num_threads(count)
        with threadpool_limits(limits=count, user_api="blas"):
            contenders = {"hebbref": hebbref_mlp_step(sizes)}
            if torch:
                contenders["torch"] = torch_mlp_step(torch, sizes)
            timed = measure(contenders, sizes)
        hebbref, torch_row = _contender_row(timed, "hebbref"), _contender_row(timed, "torch")
        result[key] = {"threads": count, "hebbref": hebbref, "torch": torch_row,
                       "speedup_vs_torch": ratio(torch_row.get("median_s"), hebbref["median_s"]),
                       "speedup_interval": paired_interval(torch_row.get("runs_s"),
                                                           hebbref["runs_s"])}
    if torch:
        torch.set_num_threads(saved)
    return result


def bench_scatter(sizes, torch):
    """Section 4: target[ids[k]] += rows[k] with Zipf ids (the embedding backward's work)."""
    progress("scatter-add")
    V, K, E = sizes.lm_vocabs[-1], sizes.lm_tokens, sizes.lm_hidden
    rng = np.random.default_rng(0)
    ids = zipf_ids(rng, V, K)
    rows = rng.standard_normal((K, E)).astype(np.float32) * np.float32(1e-3)
    targets = {name: np.zeros((V, E), np.float32) for name in ("numba", "np.add.at")}
    contenders = {
        "numba": lambda: scatter_add_rows(targets["numba"], ids, rows),
        "np.add.at": lambda: scatter_add_rows_numpy(targets["np.add.at"], ids, rows),
    }
    if torch:
        target_t, ids_t, rows_t = torch.zeros((V, E)), torch.from_numpy(ids), torch.from_numpy(rows)
        contenders["torch index_add_"] = lambda: target_t.index_add_(0, ids_t, rows_t)
    timed = measure(contenders, sizes)
    numba_s = timed["numba"]["median_s"]
    torch_row = _contender_row(timed, "torch index_add_")
    return {"target_rows": V, "rows": K, "width": E, "distinct_ids": int(np.unique(ids).size),
            "numba": timed["numba"], "np.add.at": timed["np.add.at"], "torch index_add_": torch_row,
            "speedup_vs_add_at": ratio(timed["np.add.at"]["median_s"], numba_s),
            "speedup_vs_torch": ratio(torch_row.get("median_s"), numba_s)}


def bench_hebbian(sizes, lm_step_s):
    """Section 5: cost of hebbian_update at the LM's sizes, as a share of the LM step; fast vs
    reference; memory of an LM step with and without the Hebbian softmax."""
    progress("Hebbian rule")
    V, H, N = sizes.lm_vocabs[0], sizes.lm_hidden, sizes.lm_tokens
    rng = np.random.default_rng(0)
    h = rng.standard_normal((N, H)).astype(np.float32)
    y = zipf_ids(rng, V, N)
    theta = rng.standard_normal((V, H)).astype(np.float32)
    # T = ∞ and γ > 0: every class present in the batch is written on every call (the most
    # work the rule can do), however many calls the timing makes.
    rule = {"gamma": 0.01, "T": math.inf}
    states = {name: (theta.copy(), np.ones(V, np.int64)) for name in ("fast", "reference")}
    timed = measure({
        "fast": lambda: hebbian_update(*states["fast"], h, y, **rule),
        "reference": lambda: hebbian_update_reference(*states["reference"], h, y, **rule),
    }, sizes)
    fast_s = timed["fast"]["median_s"]
    counts = np.ones(V, np.int64)
    return {
        "V": V, "H": H, "N": N, "distinct_labels": int(np.unique(y).size), **rule,
        "T": "inf",
        "fast": timed["fast"], "reference": timed["reference"],
        "fast_speedup_over_reference": ratio(timed["reference"]["median_s"], fast_s),
        "lm_step_s": lm_step_s,
        "percent_of_lm_step": 100.0 * fast_s / lm_step_s,
        "memory": _hebbian_memory(sizes, lambda: hebbian_update(theta, counts, h, y, **rule)),
    }


def _hebbian_memory(sizes, update):
    """Peak bytes of an LM step with and without the Hebbian softmax, and of `update` alone."""
    progress("memory (tracemalloc)")
    V, H = sizes.lm_vocabs[0], sizes.lm_hidden
    peaks = {}
    for name, hebbian in (("with_hebbian", True), ("without_hebbian", False)):
        step = hebbref_lm_step(V, H, sizes, hebbian=hebbian)
        step()  # optimiser state and the carried LSTM state exist before tracing starts
        peaks[name] = traced_peak(step)
    return {
        "method": "tracemalloc peak of the arrays allocated during one LM step (NumPy "
                  "reports its buffers to tracemalloc); the persistent extra state, the "
                  "counts, is V·8 bytes (int64), computed analytically",
        "lm_step_peak_bytes_with_hebbian": peaks["with_hebbian"],
        "lm_step_peak_bytes_without_hebbian": peaks["without_hebbian"],
        "extra_peak_bytes": peaks["with_hebbian"] - peaks["without_hebbian"],
        "hebbian_update_peak_bytes": traced_peak(update),
        "counts_bytes": V * 8,
    }


def bench_scaling(sizes, torch):
    """Section 6: LM step seconds per token over vocabulary sizes and over hidden sizes; over
    vocabulary sizes also the step phase by phase (_lm_phases)."""
    curves = {}
    for axis, points in (("vocab", [(V, sizes.scaling_hidden) for V in sizes.scaling_vocabs]),
                         ("hidden", [(sizes.scaling_vocab, H) for H in sizes.scaling_hiddens])):
        rows = []
        for V, H in points:
            progress(f"scaling V = {V}, H = {H}")
            timed, _ = _time_lm_step(torch, V, H, sizes, parts=axis == "vocab")
            row = {"V": V, "H": H}
            # "products": the step's matrix products alone, the bound on hebbref's step.
            for name in ("hebbref", "torch", "products"):
                row[f"{name}_s_per_token"] = (timed[name]["median_s"] / sizes.lm_tokens
                                              if name in timed else None)
            row["speedup_vs_torch"] = ratio(row["torch_s_per_token"], row["hebbref_s_per_token"])
            row["speedup_interval"] = paired_interval(timed.get("torch", {}).get("runs_s"),
                                                      timed["hebbref"]["runs_s"])
            if axis == "vocab":
                row["phases"] = _lm_phases(V, H, sizes, timed)
            rows.append(row)
        x = [row["V" if axis == "vocab" else "H"] for row in rows]
        slopes = {}
        for name in ("hebbref", "torch"):
            y = [row[f"{name}_s_per_token"] for row in rows]
            slopes[name] = (float(np.polyfit(np.log(x), np.log(y), 1)[0])
                            if None not in y else None)
        curves[axis] = {"fixed": ({"H": sizes.scaling_hidden} if axis == "vocab"
                                  else {"V": sizes.scaling_vocab}),
                        "points": rows, "log_log_slope": slopes}
    return curves


def run(sizes, *, quick=False, large_vocab_only=False):
    """Run every section (or only section 7); returns the results dict that main() prints and
    writes as JSON."""
    started = time.perf_counter()
    torch = machine.import_torch()
    saved_torch_threads = torch.get_num_threads() if torch else None
    try:
        return _run_sections(sizes, torch, quick, started, large_vocab_only)
    finally:
        if torch:
            torch.set_num_threads(saved_torch_threads)


def _run_sections(sizes, torch, quick, started, large_vocab_only):
    info = machine.machine_info(torch)
    threads = info["blas_threads"]
    if torch:
        torch.set_num_threads(threads)
        info["torch_threads"] = torch.get_num_threads()
    results = {"format": "hebbref-bench", "version": 1, "quick": quick, "machine": info,
               "settings": asdict(sizes), "numba": machine.numba_first_call()}
    if large_vocab_only:
        return _finish(results, bench_large_vocab(sizes, torch), started)
    progress("BLAS peak")
    results["blas"] = bench_blas(sizes)
    results["lm"] = bench_lm(sizes, torch)
    results["lstm"] = bench_lstm(sizes, torch)
    results["eval"] = bench_eval(sizes, torch)
    results["mlp"] = bench_mlp(sizes, torch, threads)
    results["scatter"] = bench_scatter(sizes, torch)
    results["hebbian"] = bench_hebbian(sizes, results["lm"]["by_vocab"][0]["hebbref"]["median_s"])
    results["scaling"] = bench_scaling(sizes, torch)
    return _finish(results, bench_large_vocab(sizes, torch), started)


def _finish(results, large_vocab, started):
    results["large_vocab"] = large_vocab
    results["machine"]["load_average_end"] = list(os.getloadavg())
    results["total_seconds"] = time.perf_counter() - started
    return results


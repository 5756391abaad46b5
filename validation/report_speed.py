"""The speed figures of README.md and validation/README.md, rendered from results/bench.json,
lstm_onednn.json, ab_softmax.json and mlp_subnormals.json (blocks of validation/report.py)."""
import numpy as np

from common import load, speed_verdict, target_verdict, unclean


def interval(low, high, spec=".3f"):
    return f"[{low:{spec}}, {high:{spec}}]"


def pct(fraction, spec=".1f"):
    return f"{100 * fraction:{spec}} %"


def speed(ratio, bounds, spec=".2f"):
    return f"{ratio:{spec}}× {interval(*bounds, spec)} ({speed_verdict(*bounds)})"


def mib(nbytes):
    return f"{nbytes / 2**20:.1f} MiB"


def targets():
    return {t["key"]: t for t in load("bench.json")["targets"]}


def step_speed(row):
    return speed(row["speedup_vs_torch"], row["speedup_interval"])


def speed_prose():
    """README.md: the LM step at every V, the bounds of the missed targets, MLP, memory."""
    b, onednn, goal = load("bench.json"), load("lstm_onednn.json")["ms"], targets()
    m, by_vocab, mlp = b["machine"], {p["V"]: p for p in b["lm"]["by_vocab"]}, b["mlp"]
    points = sorted([*b["lm"]["by_vocab"], *b["scaling"]["vocab"]["points"]],
                    key=lambda p: p["V"])
    steps = "; ".join(f"V = {p['V']:,}: {step_speed(p)}" for p in points)
    small, large = by_vocab[10000], by_vocab[33278]
    passes = large["ceiling_products_and_passes"]
    sub = load("mlp_subnormals.json")["runs"]
    late = lambda run, key: np.median([r[key] for r in sub[run] if r["steps"] >= 900])
    flush, no_flush = "adam_step with flush", "adam_step without flush"
    dirty, share_goal = unclean().get("bench.json"), goal["lm_blas_fraction_large_vocab"]
    return (
        f"{m['logical_cpus']}-CPU {m['cpu_model']}, {m['blas_library']} {m['blas_version']} "
        f"({m['blas_architecture']} kernel), against PyTorch {m['torch']} with "
        f"{m['torch_blas']} in the same process; hebbref/torch speed as the ratio of the "
        "medians, in brackets a 95 % interval of the per-round ratios (faster or slower only "
        f"when it excludes 1). The LM training step: {steps}. At small V the LSTM decides it: "
        f"torch's oneDNN fused LSTM pass ({onednn['torch LSTM, oneDNN on']:.1f} ms) takes about "
        f"as long as NumPy's LSTM products alone ({onednn['products alone, NumPy']:.1f} ms; "
        "`results/lstm_onednn.json`). The missed targets have timed bounds: the products alone "
        f"cap V = 10,000 at {small['speedup_ceiling_vs_torch']:.2f}× (target "
        f"{goal['lm_speedup_small_vocab']['threshold']:g}×), and the products plus the softmax "
        f"layer's element-wise passes alone cap V = 33,278 at {pct(passes['peak_fraction'])} "
        f"of the float32 peak (target {pct(share_goal['threshold'], '.0f')})"
        f" and {passes['speedup_vs_torch']:.2f}× (target "
        f"{goal['lm_speedup_large_vocab']['threshold']:g}×) (`validation/README.md`, Speed). "
        f"Peak memory of a step at V = 33,278: {mib(large['peak_bytes'])} (the (N, V) logits "
        f"alone would be {mib(large['logits_bytes'])}). MLP step {step_speed(mlp['threads_numpy'])}"
        f" on {mlp['threads_numpy']['threads']} threads, {step_speed(mlp['threads_one'])} on one. "
        "Adam flushes subnormal moments to zero, so a long run whose gradients vanish keeps its "
        f"speed (median of steps 900–1,200: {late(flush, 'hebbref_ms'):.1f} ms a step with the "
        f"flush, {late(no_flush, 'hebbref_ms'):.1f} ms without; torch "
        f"{late(flush, 'torch_ms'):.1f} ms; `results/mlp_subnormals.json`). Numba scatter-add "
        f"{b['scatter']['speedup_vs_add_at']:.0f}× `np.add.at`, the Hebbian rule "
        f"{b['hebbian']['percent_of_lm_step']:.1f} % of an LM step."
        + (f" `bench.json` was written from a working tree with uncommitted changes "
           f"(`{dirty}`), so these figures await a rerun from a clean commit." if dirty else ""))


def bench_verdicts():
    """validation/README.md: each target against its interval, and the LSTM timed alone."""
    b, onednn, goal = load("bench.json"), load("lstm_onednn.json")["ms"], targets()
    first, last, mlp = b["lm"]["by_vocab"][0], b["lm"]["by_vocab"][-1], b["mlp"]
    with_interval = [(f"LM step at V = {first['V']:,}", first, "lm_speedup_small_vocab"),
                     (f"LM step at V = {last['V']:,}", last, "lm_speedup_large_vocab"),
                     ("MLP step on 2 threads", mlp["threads_numpy"], "mlp_speedup"),
                     ("MLP step on 1 thread", mlp["threads_one"], "mlp_speedup_one_thread")]
    lines = [f"- {label}: {step_speed(r)}, target ≥ {goal[key]['threshold']:g}×: "
             f"{target_verdict(*r['speedup_interval'], goal[key]['threshold'])}."
             for label, r, key in with_interval]
    single = [t for key, t in goal.items() if key not in {k for _, _, k in with_interval}]
    lines.append("- Single measurements, no interval (a target is met or missed by the value "
                 "alone, to be confirmed by a rerun): " + "; ".join(
                     f"{t['description']}: {t['measured']:.3g} against "
                     f"{'≥' if t['kind'] == 'min' else '≤'} {t['threshold']:g}, "
                     f"{'met' if t['met'] else 'missed'}" for t in single) + ".")
    lines.append(f"- The LSTM alone (`results/lstm_onednn.json`, T = 35, N = 32, H = 256): "
                 f"hebbref's pass {onednn['hebbref LSTM']:.1f} ms, torch's "
                 f"{onednn['torch LSTM, oneDNN on']:.1f} ms with oneDNN's fused RNN kernel and "
                 f"{onednn['torch LSTM, oneDNN off']:.1f} ms without it; the matrix products "
                 f"alone {onednn['products alone, NumPy']:.1f} ms in NumPy/OpenBLAS and "
                 f"{onednn['products alone, torch']:.1f} ms in torch/MKL.")
    return "\n".join(lines)


def ab_runs():
    """validation/README.md: the saved A/B runs (time ratio: geometric mean of the per-round
    ratios against the first contender, below 1 is faster)."""
    lines = []
    for command, rows in load("ab_softmax.json")["runs"].items():
        base = rows[0]
        for row in rows[1:]:
            low, high = row["interval"]
            moved = (row["time_ratio"] < 1) != (row["median_ms"] < base["median_ms"])
            verdict = ("inconclusive: the medians moved the other way" if moved else
                       "faster" if high < 1 else "slower" if low > 1 else "inconclusive")
            lines.append(f"- `{command}`: {row['contender']} against {base['contender']}: "
                         f"{row['time_ratio']:.3f} {interval(low, high)} of its time, {verdict}; "
                         f"medians {base['median_ms']:.3g} → {row['median_ms']:.3g} ms.")
    return "\n".join(lines)


def subnormals():
    """validation/README.md: the MLP step with and without Adam's subnormal flush."""
    runs = load("mlp_subnormals.json")["runs"]

    def span(run, key, first, last):
        values = [r[key] for r in runs[run] if first <= r["steps"] <= last]
        return f"{min(values):.1f}–{max(values):.1f}"

    off, on = "adam_step without flush", "adam_step with flush"
    share = next(r["hebbref_adam_m_subnormal"] for r in runs[off] if r["steps"] == 1000)
    return (f"Without the flush hebbref's step took {span(off, 'hebbref_ms', 200, 700)} ms (steps "
            f"200–700) and then {span(off, 'hebbref_ms', 900, 1200)} ms (900–1,200), with "
            f"{pct(share, '.0f')} of Adam's m subnormal at step 1,000; torch's went from "
            f"{span(off, 'torch_ms', 200, 700)} to {span(off, 'torch_ms', 900, 1200)} ms. With the "
            f"flush hebbref's step stays at {span(on, 'hebbref_ms', 200, 1200)} ms.")


def large_vocab():
    """validation/README.md: the LM step at WikiText-103's vocabulary (bench.json "large_vocab")."""
    run = load("bench.json")["large_vocab"]
    p, m = run["points"][0], run["machine"]
    rounds = [h / t for h, t in zip(p["torch"]["runs_s"], p["hebbref"]["runs_s"])]
    load_avg = f"{m['load_average_start'][0]:.1f} at start, {m['load_average_end'][0]:.1f} at end"
    return (
        f"V = {p['V']:,}, H = {p['H']}, N = {p['N']:,} tokens, float32, {m['blas_threads']} BLAS "
        f"threads, {run['repeats']} paired rounds, on a {m['logical_cpus']}-CPU {m['cpu_model']} "
        f"({m['blas_library']} {m['blas_architecture']} kernel) with a load average of "
        f"{load_avg}. Time: hebbref {step_speed(p)} of torch's speed (per round "
        f"{', '.join(f'{r:.2f}' for r in rounds)}), a median step of "
        f"{p['hebbref']['median_s']:.1f} s against {p['torch']['median_s']:.1f} s. Peak memory of "
        f"a step: hebbref {mib(p['hebbref_peak_bytes'])} (tracemalloc; "
        f"{mib(p['hebbref_resident_peak_bytes'])} of resident growth), of which ∂L/∂θ "
        f"{mib(p['theta_bytes'])}; torch {mib(p['torch_resident_peak_bytes'])} of resident "
        f"growth, {p['torch_resident_peak_bytes'] / p['logits_bytes']:.1f} times the (N, V) "
        f"logits' {mib(p['logits_bytes'])}. Run record: commit "
        f"{run['record']['git_commit'][:12]}, {run['record']['time_utc']}.")

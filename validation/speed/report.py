"""The text the bench prints: every measurement and every ratio, section by section."""
from .machine import TORCH_MISSING


def format_report(results):
    """The stdout table: the machine, then sections 1–7, then the total time."""
    lines = _header(results)
    for key, section in (("blas", _blas), ("lm", _lm), ("lstm", _lstm), ("eval", _eval),
                         ("mlp", _mlp), ("scatter", _scatter), ("hebbian", _hebbian),
                         ("scaling", _scaling), ("large_vocab", _large_vocab)):
        if key in results:          # validation/bench.py --large-vocab-only: section 7 alone
            lines += [""] + section(results)
    lines.append(f"total {results['total_seconds']:.1f} s")
    return "\n".join(lines)


def _times(x):
    return "n/a" if x is None else f"{x:.2f}×"


def interval_text(row):
    """' [low, high]', the 95 % t interval of a row's paired ratio over rounds ('' if none)."""
    interval = row.get("speedup_interval")
    return "" if interval is None else f" [{interval[0]:.2f}, {interval[1]:.2f}]"


def _threads(n):
    return f"{n} thread" + ("s" if n != 1 else "")


def _seconds(row):
    """A contender's median time per call, or "not installed" (torch missing), or "n/a"."""
    if "median_s" not in row:
        return "not installed" if row.get("status") == TORCH_MISSING else "n/a"
    t = row["median_s"]
    text = f"{t * 1e3:.3f} ms" if t < 1 else f"{t:.3f} s"
    return text + (f" ±{row['spread'] * 50:.0f}%" if row["spread"] > 0.2 else "")


def _header(results):
    m, s = results["machine"], results["settings"]
    return [
        f"validation/bench.py{' --quick' if results['quick'] else ''}: {m['cpu_model']}, "
        f"{m['cpus_available']} of {m['logical_cpus']} CPUs; numpy {m['numpy']} on "
        f"{m['blas_library']} {m['blas_version']} ({_threads(m['blas_threads'])}); numba "
        f"{m['numba']}; "
        + (m["torch"] if m["torch"] == TORCH_MISSING else f"torch {m['torch']}")
        + (f" ({_threads(m['torch_threads'])}, BLAS {m['torch_blas']})"
           if "torch_threads" in m else ""),
        f"load average at start {m['load_average_start'][0]:.2f}, at end "
        f"{m['load_average_end'][0]:.2f}; median of {s['repeats']} interleaved runs after "
        f"{s['warmup']} warm-up call(s); '±x%' marks runs whose half-range exceeds 10%",
        f"numba scatter kernel first call: {results['numba']['first_call_s']:.3f} s "
        f"({results['numba']['how']}), excluded from all timings",
    ]


def _blas(results):
    b = results["blas"]
    return [f"1. BLAS peak, {b['n']}³ matmul: float32 {b['float32']['gflops']:.1f} GFLOP/s, "
            f"float64 {b['float64']['gflops']:.1f} GFLOP/s (shares of the peak below: against "
            f"the float32 matmul timed again in the same rounds, round by round)"]


def _lm(results):
    lm = results["lm"]
    lines = [f"2. LM training step (batch {lm['batch']}, BPTT {lm['bptt']}, "
             f"E = H = {lm['hidden']}, float32, {lm['optimizer']}, clip {lm['clip']}; "
             "hebbref includes the Hebbian rule)",
             f"   {'V':>7}  {'hebbref step':>16}  {'torch step':>16}  {'hebbref tok/s':>13}  "
             f"{'torch tok/s':>11}  {'hebbref/torch':>13}  {'GFLOP/s':>7}  {'of f32 peak':>11}"]
    for r in lm["by_vocab"]:
        torch_tps = r["torch"].get("tokens_per_s")
        lines.append(f"   {r['V']:>7}  {_seconds(r['hebbref']):>16}  {_seconds(r['torch']):>16}  "
                     f"{r['hebbref']['tokens_per_s']:>13.0f}  "
                     f"{'n/a' if torch_tps is None else f'{torch_tps:.0f}':>11}  "
                     f"{_times(r['speedup_vs_torch']):>13}  {r['hebbref']['gflops']:>7.1f}  "
                     f"{100 * r['blas_peak_fraction']:>10.1f}%")
    lines.append(f"   FLOPs per step = {lm['flops_formula']}")
    for r in lm["by_vocab"]:
        if r.get("speedup_interval"):
            lines.append(f"   V = {r['V']}: hebbref/torch round by round, 95% t interval"
                         f"{interval_text(r)} (both ran in every round)")
        lines.append(f"   V = {r['V']}: the step's matrix products alone take "
                     f"{_seconds(r['matrix_products'])} ({100 * r['products_share_of_step']:.0f}% "
                     f"of the hebbref step); torch/products = "
                     f"{_times(r['speedup_ceiling_vs_torch'])}, the ceiling with free "
                     f"element-wise work; the products alone run at "
                     f"{100 * r['products_peak_fraction']:.1f}% of the float32 peak")
        lines.append(f"   V = {r['V']}: peak memory of one step (tracemalloc) "
                     f"{r['peak_bytes'] / 2**20:.1f} MiB; the (N, V) logits alone would be "
                     f"{r['logits_bytes'] / 2**20:.1f} MiB")
        if "phases" in r:
            lines.append(f"   V = {r['V']}: {phase_summary(r['phases'])}")
        if "ceiling_products_and_passes" in r:
            c = r["ceiling_products_and_passes"]
            lines.append(f"   V = {r['V']}: the products and the softmax's element-wise passes "
                         f"alone take {1e3 * c['seconds']:.1f} ms: "
                         f"torch/them = {_times(c['speedup_vs_torch'])}, "
                         f"{100 * c['peak_fraction']:.1f}% of the float32 peak, the ceilings with "
                         f"everything else free")
    return lines


def phase_summary(phases):
    """One line: each phase of the step in ms (median inside real steps), then the products
    alone of the softmax layer and of the LSTM, and what is left of the two phase groups."""
    ms = {name: 1e3 * s for name, s in phases["median_s"].items()}
    softmax = ms["softmax layer + loss (fused)"]
    lstm = ms["forward (embedding, LSTM)"] + ms["backward (LSTM, embedding)"]
    softmax_products, lstm_products = (1e3 * phases["softmax_products_s"],
                                       1e3 * phases["lstm_products_s"])
    parts = ", ".join(f"{name} {value:.1f}" for name, value in ms.items())
    floor = f"; its element-wise passes alone {1e3 * phases['softmax_elementwise_s']:.1f}"
    return (f"phases (ms, median over steps): {parts}; sum {sum(ms.values()):.1f}. "
            f"Products alone: softmax {softmax_products:.1f} (rest of its phase "
            f"{softmax - softmax_products:.1f}{floor}), LSTM {lstm_products:.1f} (rest of "
            f"forward + backward {lstm - lstm_products:.1f})")


def _lstm(results):
    r = results["lstm"]
    return [f"2b. LSTM alone (forward + backward, T = {r['T']}, N = {r['N']}, E = H = {r['H']}, "
            f"float32): hebbref {_seconds(r['hebbref'])}, torch {_seconds(r['torch'])}, "
            f"hebbref/torch {_times(r['speedup_vs_torch'])}{interval_text(r)}",
            f"   {r['hebbref']['gflops']:.1f} GFLOP/s = {100 * r['blas_peak_fraction']:.1f}% of "
            f"the float32 peak, round by round against the peak matmul "
            f"({r['peak_matmul']['gflops']:.1f} GFLOP/s) ({r['flops_formula']})"]


def _eval(results):
    r = results["eval"]
    tps = {k: r[k].get("tokens_per_s") for k in ("hebbref", "hebbref_cache", "torch")}
    text = {k: "n/a" if v is None else f"{v:,.0f}" for k, v in tps.items()}
    return [f"2c. Evaluation, V = {r['V']} ({r['tokens_per_call']} targets per call, batch "
            f"{r['batch']}, BPTT {r['bptt']}): tokens/s hebbref {text['hebbref']}, with the "
            f"neural cache (window {r['cache']['window']}) {text['hebbref_cache']}, torch "
            f"{text['torch']}",
            f"   hebbref/torch {_times(r['speedup_vs_torch'])}; hebbref with cache/torch without "
            f"{_times(r['cache_speedup_vs_torch_without'])}"]


def _mlp(results):
    mlp = results["mlp"]
    lines = [f"3. MLP step {' → '.join(map(str, mlp['sizes']))}, batch {mlp['batch']}, "
             f"{mlp['optimizer']} (hebbref includes the Hebbian rule)"]
    for key, label in (("threads_numpy", "{}, the run's BLAS threads"),
                       ("threads_one", "1 thread, as the curriculum runs")):
        r = mlp[key]
        lines.append(f"   {label.format(_threads(r['threads']))}: hebbref "
                     f"{_seconds(r['hebbref'])}, torch "
                     f"{_seconds(r['torch'])}, hebbref/torch {_times(r['speedup_vs_torch'])}"
                     f"{interval_text(r)}")
    return lines


def _scatter(results):
    sc = results["scatter"]
    return [f"4. Scatter-add {sc['rows']} Zipf rows ({sc['distinct_ids']} distinct) of "
            f"{sc['width']} into {sc['target_rows']}, float32",
            f"   numba {_seconds(sc['numba'])}, np.add.at {_seconds(sc['np.add.at'])}, torch "
            f"index_add_ {_seconds(sc['torch index_add_'])}",
            f"   numba/np.add.at {_times(sc['speedup_vs_add_at'])}, numba/torch "
            f"{_times(sc['speedup_vs_torch'])}"]


def _hebbian(results):
    hb = results["hebbian"]
    mem = hb["memory"]
    return [f"5. Hebbian rule (V = {hb['V']}, H = {hb['H']}, N = {hb['N']}, "
            f"{hb['distinct_labels']} distinct Zipf labels, γ = {hb['gamma']}, T = ∞)",
            f"   hebbian_update {_seconds(hb['fast'])} = {hb['percent_of_lm_step']:.2f}% of the "
            f"LM step ({hb['lm_step_s'] * 1e3:.1f} ms); reference loop "
            f"{_seconds(hb['reference'])}; fast/reference "
            f"{_times(hb['fast_speedup_over_reference'])}",
            f"   LM step peak memory (tracemalloc): with Hebbian "
            f"{mem['lm_step_peak_bytes_with_hebbian'] / 2**20:.2f} MiB, without "
            f"{mem['lm_step_peak_bytes_without_hebbian'] / 2**20:.2f} MiB (difference "
            f"{mem['extra_peak_bytes'] / 2**20:+.3f} MiB); the update alone peaks at "
            f"{mem['hebbian_update_peak_bytes'] / 2**20:.3f} MiB; counts hold "
            f"{mem['counts_bytes'] / 2**10:.1f} KiB"]


def _scaling(results):
    lines = ["6. Scaling: LM step time per token (µs)"]
    for axis, curve in results["scaling"].items():
        fixed = ", ".join(f"{k} = {v}" for k, v in curve["fixed"].items())
        lines.append(f"   over {axis} ({fixed}); log-log slope hebbref "
                     f"{curve['log_log_slope']['hebbref']:.2f}, torch "
                     + ("n/a" if curve["log_log_slope"]["torch"] is None
                        else f"{curve['log_log_slope']['torch']:.2f}"))
        for p in curve["points"]:
            torch_us = ("n/a" if p["torch_s_per_token"] is None
                        else f"{p['torch_s_per_token'] * 1e6:.2f}")
            lines.append(f"     V = {p['V']:>6}, H = {p['H']:>4}: hebbref "
                         f"{p['hebbref_s_per_token'] * 1e6:8.2f}, torch {torch_us:>8}, "
                         f"hebbref/torch {_times(p['speedup_vs_torch'])}{interval_text(p)}; "
                         f"matrix products "
                         f"alone {p['products_s_per_token'] * 1e6:.2f}")
            if "phases" in p:
                lines.append(f"       {phase_summary(p['phases'])}")
    return lines


def _mib(n):
    return "n/a" if n is None else f"{n / 2**20:,.1f} MiB"


def _large_vocab(results):
    section = results["large_vocab"]
    lines = [f"7. LM step at large vocabularies (median of {section['repeats']} paired rounds; "
             f"memory: the largest of the timed steps)"]
    for p in section["points"]:
        torch_us = ("n/a" if p["torch_s_per_token"] is None
                    else f"{p['torch_s_per_token'] * 1e6:.2f}")
        lines += [f"   V = {p['V']:>7}, H = {p['H']}, N = {p['N']}: µs per token hebbref "
                  f"{p['hebbref_s_per_token'] * 1e6:.2f}, torch {torch_us}, hebbref/torch "
                  f"{_times(p['speedup_vs_torch'])}{interval_text(p)}",
                  f"     peak memory: hebbref {_mib(p['hebbref_peak_bytes'])} (tracemalloc), "
                  f"resident growth hebbref {_mib(p['hebbref_resident_peak_bytes'])}, torch "
                  f"{_mib(p['torch_resident_peak_bytes'])}; the (N, V) logits alone would be "
                  f"{_mib(p['logits_bytes'])}, θ {_mib(p['theta_bytes'])}"]
    return lines

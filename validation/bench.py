"""Speed: hebbref's training steps, kernels and Hebbian rule beside PyTorch CPU and the BLAS peak
(the measurements: validation/speed/), checked against the project's targets
(validation/bench_targets.json).

    python validation/bench.py [--quick] [--json OUT] [--plot OUT] [--threads K] [--quiet]
    python validation/bench.py --save          (full size into results/, README table)
    python validation/bench.py --report-only   (README table from results/bench.json)
    python validation/bench.py --large-vocab-only --save   (section 7 alone into results/)

The full run takes about 10 minutes on an idle 2-CPU machine. Run it on an idle machine: every
ratio is measured in the same process, but another busy process still widens the spreads.
--save writes results/bench.json (with the targets) and results/bench_scaling.png and
regenerates the table in validation/README.md. Section 7 (the LM step up to WikiText-103's
267,735 words, a few minutes) can be measured alone: --large-vocab-only --save replaces that
section of results/bench.json, with its own run record, and keeps the others.
"""
import argparse
import contextlib
import json
import os
import sys

from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, RESULTS, update_readme_section, write_json  # noqa: E402
from speed import report, sections, timing, workloads  # noqa: E402
from speed.plot import plot_scaling  # noqa: E402
from speed.report import interval_text, phase_summary  # noqa: E402

from hebbref.files import atomic_write  # noqa: E402
from hebbref.record import run_record  # noqa: E402

JSON = os.path.join(RESULTS, "bench.json")
PLOT = os.path.join(RESULTS, "bench_scaling.png")
TARGETS = os.path.join(HERE, "bench_targets.json")
DEFAULT_PLOT = os.path.join("runs", "bench", "bench_scaling.png")


def measured(results):
    """The value each target is checked against, by target key (None where torch was missing)."""
    lm = results["lm"]["by_vocab"]
    every = [r["speedup_vs_torch"] for r in lm + results["scaling"]["vocab"]["points"]]
    return {
        "lm_speedup_every_vocab": None if None in every else min(every),
        "lm_speedup_small_vocab": lm[0]["speedup_vs_torch"],
        "lm_speedup_large_vocab": lm[-1]["speedup_vs_torch"],
        "lm_blas_fraction_large_vocab": lm[-1]["blas_peak_fraction"],
        "lm_peak_mib_large_vocab": lm[-1]["peak_bytes"] / 2**20,
        "lstm_blas_fraction": results["lstm"]["blas_peak_fraction"],
        "mlp_speedup": results["mlp"]["threads_numpy"]["speedup_vs_torch"],
        "mlp_speedup_one_thread": results["mlp"]["threads_one"]["speedup_vs_torch"],
        "scatter_speedup_add_at": results["scatter"]["speedup_vs_add_at"],
        "hebbian_percent_of_lm_step": results["hebbian"]["percent_of_lm_step"],
    }


def evaluate_targets(results):
    """One row per target of bench_targets.json: key, description (with the vocabulary sizes
    filled in), threshold, kind ("min": measured must be >= threshold, "max": <=), measured,
    met (None when not measured)."""
    with open(TARGETS, encoding="utf-8") as f:
        targets = json.load(f)
    values = measured(results)
    lm = results["lm"]["by_vocab"]
    vocabs = sorted({r["V"] for r in lm + results["scaling"]["vocab"]["points"]})
    names = {"V0": lm[0]["V"], "V1": lm[-1]["V"], "VS": ", ".join(f"{v:,}" for v in vocabs)}
    rows = []
    for t in targets:
        value = values[t["key"]]
        if value is None:
            met = None
        else:
            met = value >= t["threshold"] if t["kind"] == "min" else value <= t["threshold"]
        rows.append({**t, "description": t["description"].format(**names), "measured": value,
                     "met": met})
    return rows


def target_lines(rows):
    """The targets as text: description, measured value, threshold, verdict."""
    lines = ["Targets"]
    for t in rows:
        verdict = ("n/a (torch not installed)" if t["met"] is None
                   else "met" if t["met"] else "MISSED")
        value = "n/a" if t["measured"] is None else f"{t['measured']:.3g}"
        sign = "≥" if t["kind"] == "min" else "≤"
        lines.append(f"   {t['description']:<58} {value:>8}  (target {sign} {t['threshold']:g})  "
                     f"{verdict}")
    return lines


def _ms(row):
    return f"{row['median_s'] * 1e3:,.1f} ms"


def _x(ratio):
    return "n/a (no torch)" if ratio is None else f"{ratio:.2f}×"


def _interval(row):
    """' [low, high] paired over rounds' when the row has the interval, else ''."""
    text = interval_text(row)
    return text and f"{text} paired over rounds"


def _target(targets, key):
    t = targets[key]
    sign = "≥" if t["kind"] == "min" else "≤"
    verdict = {True: "", False: " (missed)", None: " (not measured: no torch)"}[t["met"]]
    return f"{sign} {t['threshold']:g}{verdict}"


def markdown(results):
    """The README section: machine, then one row per measurement with its target."""
    m = results["machine"]
    targets = {t["key"]: t for t in evaluate_targets(results)}
    load = m["load_average_start"][0]
    lines = [
        f"Machine: {m['cpu_model']}, {m['cpus_available']} CPUs, {m['blas_library']} "
        f"{m['blas_version']} ({m.get('blas_architecture', 'n/a')} kernel, "
        f"{m['blas_threads']} threads), numpy {m['numpy']}, numba "
        f"{m['numba']}, torch {m['torch']} ({m.get('torch_blas', 'n/a')}, "
        f"{m.get('torch_threads', 'n/a')} threads). Load average {load:.2f} at start, "
        f"{m.get('load_average_end', [float('nan')])[0]:.2f} at end. Median of "
        f"{results['settings']['repeats']} interleaved runs; {results['total_seconds']:.0f} s "
        "in all.",
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        f"| BLAS peak float32 / float64 ({results['blas']['n']}³ matmul) | "
        f"{results['blas']['float32']['gflops']:.1f} "
        f"/ {results['blas']['float64']['gflops']:.1f} GFLOP/s | — |",
    ]
    return "\n".join(lines + _lm_rows(results, targets) + _other_rows(results, targets)
                     + _large_vocab_rows(results))


def _large_vocab_rows(results):
    """Two rows per vocabulary of section 7: time per token, and memory of one step."""
    rows = []
    for p in results.get("large_vocab", {}).get("points", []):
        torch_s = p["torch_s_per_token"]
        mib = ["n/a" if n is None else f"{n / 2**20:,.0f}" for n in (
            p["hebbref_peak_bytes"], p["hebbref_resident_peak_bytes"],
            p["torch_resident_peak_bytes"])]
        rows += [f"| LM step, V = {p['V']:,} (section 7): hebbref / torch µs per token | "
                 f"{p['hebbref_s_per_token'] * 1e6:,.1f} / "
                 f"{'n/a' if torch_s is None else f'{torch_s * 1e6:,.1f}'} = "
                 f"{_x(p['speedup_vs_torch'])}{_interval(p)} | — |",
                 f"| LM step, V = {p['V']:,} (section 7): peak memory of a step, hebbref "
                 f"tracemalloc / hebbref resident / torch resident; the (N, V) logits would be "
                 f"{p['logits_bytes'] / 2**20:,.0f} MiB | {' / '.join(mib)} "
                 f"MiB | — |"]
    return rows


def with_large_vocab(measured_now, record):
    """results/bench.json with its section 7 replaced by the one just measured (with that run's
    own machine, load and run record, taken before it began), the other sections as
    committed."""
    with open(JSON, encoding="utf-8") as f:
        committed = json.load(f)
    section = {**measured_now["large_vocab"],
               "note": "measured apart from the other sections (--large-vocab-only), maybe on "
                       "another machine and load (see machine): compare its rows with each "
                       "other, not with the sections above. Its hebbref/torch ratios come from "
                       "paired rounds of one run, so a busy machine slows both sides of a round "
                       "alike; its absolute times are only as good as the load allowed. Memory "
                       "does not depend on load.",
               "machine": measured_now["machine"],
               "total_seconds": measured_now["total_seconds"], "record": record}
    merged = {}
    for key, value in committed.items():
        if key != "large_vocab":
            merged[key] = value
        if key == "scaling":
            merged["large_vocab"] = section
    return merged


def _lm_rows(results, targets):
    """The table's rows on the LM step, the LSTM alone and evaluation."""
    lm, lstm, ev = results["lm"]["by_vocab"], results["lstm"], results["eval"]
    keys = {0: "lm_speedup_small_vocab", len(lm) - 1: "lm_speedup_large_vocab"}
    lines = []
    for i, r in enumerate(lm):
        lines.append(
            f"| LM step, V = {r['V']:,}: hebbref / torch tokens/s | "
            f"{r['hebbref']['tokens_per_s']:,.0f} / {r['torch'].get('tokens_per_s', 0):,.0f} = "
            f"{_x(r['speedup_vs_torch'])}{_interval(r)} | "
            f"{_target(targets, keys[i]) if i in keys else '—'} |")
    every = targets["lm_speedup_every_vocab"]
    lines.append(f"| LM step, lowest hebbref/torch over V = "
                 f"{every['description'].split('(')[-1].rstrip(')')} "
                 f"| {_x(every['measured'])} | {_target(targets, 'lm_speedup_every_vocab')} |")
    for r in lm:
        lines.append(
            f"| LM step, V = {r['V']:,}: matrix products alone (ceiling torch/products) | "
            f"{_ms(r['matrix_products'])} of {_ms(r['hebbref'])} "
            f"({100 * r['products_share_of_step']:.0f} %); ceiling "
            f"{_x(r['speedup_ceiling_vs_torch'])}; products alone at "
            f"{100 * r['products_peak_fraction']:.1f} % of peak | — |")
    lines += [f"| LM step, V = {r['V']:,}: where the time goes | {phase_summary(r['phases'])} | — |"
              for r in lm if "phases" in r]
    lines += [f"| LM step, V = {r['V']:,}: products + the softmax's element-wise passes alone "
              f"(ceilings with everything else free) | {1e3 * c['seconds']:.1f} ms: "
              f"{_x(c['speedup_vs_torch'])} torch, {100 * c['peak_fraction']:.1f} % of peak | — |"
              for r in lm for c in [r.get("ceiling_products_and_passes")] if c]
    big = lm[-1]
    torch_eval = ev["torch"].get("tokens_per_s")
    return lines + [
        f"| LM step, V = {big['V']:,}: share of float32 peak | "
        f"{100 * big['blas_peak_fraction']:.1f} % ({big['hebbref']['gflops']:.1f} GFLOP/s; the "
        f"peak matmul in the same rounds {big['peak_matmul']['gflops']:.1f}) | "
        f"{_target(targets, 'lm_blas_fraction_large_vocab')} × peak |",
        f"| LM step, V = {big['V']:,}: peak memory (tracemalloc); the (N, V) logits would be "
        f"{big['logits_bytes'] / 2**20:.1f} MiB | {big['peak_bytes'] / 2**20:.1f} MiB | "
        f"{_target(targets, 'lm_peak_mib_large_vocab')} MiB |",
        f"| LSTM alone, forward + backward (T = {lstm['T']}, N = {lstm['N']}, H = {lstm['H']}): "
        f"share of float32 peak; hebbref/torch | {100 * lstm['blas_peak_fraction']:.1f} % "
        f"({lstm['hebbref']['gflops']:.1f} GFLOP/s; peak matmul "
        f"{lstm['peak_matmul']['gflops']:.1f}); {_x(lstm['speedup_vs_torch'])}{_interval(lstm)} | "
        f"{_target(targets, 'lstm_blas_fraction')} × peak |",
        f"| Evaluation, V = {ev['V']:,}: tokens/s hebbref / with neural cache (window "
        f"{ev['cache']['window']}) / torch | {ev['hebbref']['tokens_per_s']:,.0f} / "
        f"{ev['hebbref_cache']['tokens_per_s']:,.0f} / "
        f"{'n/a' if torch_eval is None else f'{torch_eval:,.0f}'} = "
        f"{_x(ev['speedup_vs_torch'])} / {_x(ev['cache_speedup_vs_torch_without'])} | — |",
    ]


def _other_rows(results, targets):
    """The table's rows on the MLP, the scatter-add and the Hebbian rule."""
    mlp, sc, hb = results["mlp"], results["scatter"], results["hebbian"]
    mem = hb["memory"]
    return [
        f"| MLP step, {mlp['threads_numpy']['threads']} threads / 1 thread: hebbref vs torch | "
        f"{_x(mlp['threads_numpy']['speedup_vs_torch'])}{_interval(mlp['threads_numpy'])} / "
        f"{_x(mlp['threads_one']['speedup_vs_torch'])}{_interval(mlp['threads_one'])} | "
        f"{_target(targets, 'mlp_speedup')} / "
        f"{_target(targets, 'mlp_speedup_one_thread')} |",
        f"| scatter-add: numba vs np.add.at / torch index_add_ | "
        f"{sc['speedup_vs_add_at']:.1f}× / {_x(sc['speedup_vs_torch'])} | "
        f"{_target(targets, 'scatter_speedup_add_at')} |",
        f"| Hebbian rule, % of the LM step (V = {hb['V']:,}) | {hb['percent_of_lm_step']:.2f} % "
        f"(fast path {hb['fast_speedup_over_reference']:.1f}× the reference loop) | "
        f"{_target(targets, 'hebbian_percent_of_lm_step')} % |",
        f"| LM step peak memory with / without Hebbian, V = {hb['V']:,} (tracemalloc) | "
        f"{mem['lm_step_peak_bytes_with_hebbian'] / 2**20:.2f} / "
        f"{mem['lm_step_peak_bytes_without_hebbian'] / 2**20:.2f} MiB (counts "
        f"{mem['counts_bytes'] / 2**10:.1f} KiB) | +1 int per class |",
    ]


def build_parser():
    """The bench's options; every help text shows its default."""
    parser = argparse.ArgumentParser(
        prog="validation/bench.py",
        description="Time hebbref's training steps, sparse kernels and Hebbian rule beside "
                    "torch and the machine's BLAS peak; print a table and the targets, write "
                    "JSON and a plot.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, 2 repeats: a smoke test, well under 20 s (default: off)")
    parser.add_argument("--json", metavar="OUT", default=None,
                        help="write every measurement to this JSON file (default: none)")
    parser.add_argument("--plot", metavar="OUT", default=DEFAULT_PLOT,
                        help=f"scaling plot, PNG (default: {DEFAULT_PLOT})")
    parser.add_argument("--threads", metavar="K", type=int, default=None,
                        help="BLAS threads for numpy, and so for torch (default: numpy's own "
                             "count; 1 with --quick)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on stderr (default: shown when stderr is a "
                             "terminal)")
    parser.add_argument("--save", action="store_true",
                        help="write results/bench.json and results/bench_scaling.png and the "
                             "README table (default: off)")
    parser.add_argument("--large-vocab-only", action="store_true",
                        help="measure only section 7, the LM step at large vocabularies; with "
                             "--save it replaces that section of results/bench.json "
                             "(default: off)")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the README table from results/bench.json, no timing "
                             "(default: off)")
    return parser


def run(args, parser):
    """Measure every section (workloads.QUICK or FULL) on the BLAS threads args asks for."""
    timing.show_progress = sys.stderr.isatty() and not args.quiet
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    # --quick is a smoke test and runs on one thread: small matmuls split over threads stall
    # for a scheduler time slice whenever another process holds one of the cores.
    threads = args.threads if args.threads is not None else (1 if args.quick else None)
    with (threadpool_limits(limits=threads, user_api="blas") if threads
          else contextlib.nullcontext()):
        return sections.run(workloads.QUICK if args.quick else workloads.FULL, quick=args.quick,
                            large_vocab_only=args.large_vocab_only)


def main(argv=None):
    """Returns the exit status (0)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.save and args.quick:
        parser.error("--save keeps a full-size run: drop --quick")
    if args.report_only and (args.quick or args.save or args.large_vocab_only):
        parser.error("--report-only measures nothing: drop --quick, --save, --large-vocab-only")
    if args.report_only:
        with open(JSON, encoding="utf-8") as f:
            results = json.load(f)
    else:
        record = run_record()         # the code as it was when the measurement began
        results = run(args, parser)
        print(report.format_report(results))
    if args.large_vocab_only:
        return _save_large_vocab(args, results, record)
    if results["quick"]:
        print("Targets: not checked at --quick sizes (they are set for the full size)")
    else:
        total_seconds = results.pop("total_seconds")     # stays the last key
        results.update(targets=evaluate_targets(results), total_seconds=total_seconds)
        print("\n".join(target_lines(results["targets"])))
    if args.json:
        _write(args.json, results)
    if args.save:
        write_json("bench.json", {**results, "record": record})
    if not args.report_only:
        plot_scaling(results, PLOT if args.save else args.plot)
    if args.save or args.report_only:
        update_readme_section("bench", markdown(results))
    return 0


def _write(path, results):
    text = json.dumps(results, indent=1, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode()))


def _save_large_vocab(args, results, record):
    """--large-vocab-only: write the section to --json; with --save, into results/bench.json
    beside the committed sections, and the README table."""
    if args.json:
        _write(args.json, results)
    if args.save:
        merged = with_large_vocab(results, record)
        write_json("bench.json", merged)
        update_readme_section("bench", markdown(merged))
    return 0


if __name__ == "__main__":
    sys.exit(main())

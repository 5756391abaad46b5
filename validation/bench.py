"""Speed (issue: hebbref against PyTorch CPU and the BLAS limit): run `hebbref bench` at full
size, keep its JSON and scaling plot, and regenerate the table in validation/README.md.

    python validation/bench.py [--report-only]

About 3 minutes on an idle 2-CPU machine. Run it on an idle machine: every ratio is measured in the
same process, but another busy process still widens the spreads. --report-only rebuilds the
README table from the committed results/bench.json without measuring.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, update_readme_section  # noqa: E402

from hebbref import bench  # noqa: E402

JSON = os.path.join(RESULTS, "bench.json")
PLOT = os.path.join(RESULTS, "bench_scaling.png")


def _ms(row):
    return f"{row['median_s'] * 1e3:,.1f} ms"


def _x(ratio):
    return "n/a (no torch)" if ratio is None else f"{ratio:.2f}×"


def _target(targets, key):
    t = targets[key]
    sign = "≥" if t["kind"] == "min" else "≤"
    verdict = {True: "", False: " (missed)", None: " (not measured: no torch)"}[t["met"]]
    return f"{sign} {t['threshold']:g}{verdict}"


def markdown(results):
    """The README section: machine, then one row per measurement with its target."""
    m, lm, mlp = results["machine"], results["lm"]["by_vocab"], results["mlp"]
    sc, hb = results["scatter"], results["hebbian"]
    mem = hb["memory"]
    targets = {t["key"]: t for t in results["targets"]}
    load = m["load_average_start"][0]
    lines = [
        f"Machine: {m['cpu_model']}, {m['cpus_available']} CPUs, {m['blas_library']} "
        f"{m['blas_version']} ({m['blas_threads']} threads), numpy {m['numpy']}, numba "
        f"{m['numba']}, torch {m['torch']} ({m.get('torch_blas', 'n/a')}, "
        f"{m.get('torch_threads', 'n/a')} threads). Load average {load:.2f} at start. Median of "
        f"{results['settings']['repeats']} interleaved runs; {results['total_seconds']:.0f} s "
        "in all.",
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        f"| BLAS peak float32 / float64 ({results['blas']['n']}³ matmul) | "
        f"{results['blas']['float32']['gflops']:.1f} "
        f"/ {results['blas']['float64']['gflops']:.1f} GFLOP/s | — |",
    ]
    keys = {0: "lm_speedup_small_vocab", 1: "lm_speedup_large_vocab"}
    for i, r in enumerate(lm):
        lines.append(
            f"| LM step, V = {r['V']:,}: hebbref / torch tokens/s | "
            f"{r['hebbref']['tokens_per_s']:,.0f} / {r['torch'].get('tokens_per_s', 0):,.0f} = "
            f"{_x(r['speedup_vs_torch'])} | {_target(targets, keys[i]) if i in keys else '—'} |")
    for r in lm:
        lines.append(
            f"| LM step, V = {r['V']:,}: matrix products alone (ceiling torch/products) | "
            f"{_ms(r['matrix_products'])} of {_ms(r['hebbref'])} "
            f"({100 * r['products_share_of_step']:.0f} %); ceiling "
            f"{_x(r['speedup_ceiling_vs_torch'])} | — |")
    big = lm[-1]
    lines += [
        f"| LM step, V = {big['V']:,}: share of float32 peak | "
        f"{100 * big['blas_peak_fraction']:.1f} % ({big['hebbref']['gflops']:.1f} GFLOP/s) | "
        f"{_target(targets, 'lm_blas_fraction_large_vocab')} × peak |",
        f"| MLP step, {mlp['threads_numpy']['threads']} threads / 1 thread: hebbref vs torch | "
        f"{_x(mlp['threads_numpy']['speedup_vs_torch'])} / "
        f"{_x(mlp['threads_one']['speedup_vs_torch'])} | {_target(targets, 'mlp_speedup')} / "
        f"{_target(targets, 'mlp_speedup_one_thread')} |",
        f"| scatter-add: numba vs np.add.at / torch index_add_ | "
        f"{sc['speedup_vs_add_at']:.1f}× / {_x(sc['speedup_vs_torch'])} | "
        f"{_target(targets, 'scatter_speedup_add_at')} |",
        f"| Hebbian rule, % of the LM step (V = {hb['V']:,}) | {hb['percent_of_lm_step']:.2f} % "
        f"(fast path {hb['fast_speedup_over_reference']:.1f}× the reference loop) | "
        f"{_target(targets, 'hebbian_percent_of_lm_step')} % |",
        f"| LM step peak memory with / without Hebbian (tracemalloc) | "
        f"{mem['lm_step_peak_bytes_with_hebbian'] / 2**20:.2f} / "
        f"{mem['lm_step_peak_bytes_without_hebbian'] / 2**20:.2f} MiB (counts "
        f"{mem['counts_bytes'] / 2**10:.1f} KiB) | +1 int per class |",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the README table from results/bench.json, no timing")
    args = parser.parse_args(argv)
    if not args.report_only:
        bench.main(["--json", JSON, "--plot", PLOT])
    with open(JSON, encoding="utf-8") as f:
        update_readme_section("bench", markdown(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reproduction 2 at CPU size (METHOD §6): LSTM language model on BBC News, baseline vs Hebbian
softmax, perplexity by training-frequency bucket.

    python validation/lm_buckets.py [--seeds 0 1] [--quick]

1. Sweep (γ, T) for the Hebbian model on seed 0, choosing by *validation* perplexity only.
2. Train the baseline and the chosen Hebbian model on every seed (same seed = same initial
   weights and data order) and report test perplexity overall and per bucket.
Checkpoints of every run go to runs/validation_lm/ (not committed; the cache evaluation reads
them). About 40 minutes on 2 cores (--jobs 2: two runs side by side, one BLAS thread each). Writes validation/results/lm.json, lm_learning_curves.png, lm_buckets.png and the table in
validation/README.md.
"""
import argparse
import dataclasses
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, RESULTS, update_readme_section, write_json  # noqa: E402

from hebbref.experiments.lm import LMConfig, run  # noqa: E402
from hebbref.plots import plot_lm_buckets, plot_lm_curves  # noqa: E402
from hebbref.sweep import run_sweep  # noqa: E402

BASE = LMConfig(embed_size=128, hidden=128, batch_size=32, bptt=35, epochs=1, optimizer="sgd",
                lr=20.0, clip=0.25, curve_every=100, curve_tokens=20000)
SWEEP = [dict(gamma=0.01, T=100.0), dict(gamma=0.01, T=1000.0), dict(gamma=0.1, T=1000.0)]
RUNS = os.path.join(os.path.dirname(HERE), "runs", "validation_lm")  # checkpoints, not committed


def strip(result):
    return {k: v for k, v in result.items() if not k.startswith("_")}


def train_one(config):
    return strip(run(config, progress=False))


def run_all(configs, jobs):
    """Run configs `jobs` at a time (one BLAS thread each); results in the order of configs."""
    return run_sweep(train_one, configs, jobs=jobs)


def bucket_table(runs, split):
    names = [b["name"] for b in runs["baseline"][0][split]["buckets"]] + ["overall"]
    tokens = [b["tokens"] for b in runs["baseline"][0][split]["buckets"]] + \
             [runs["baseline"][0][split]["overall"]["tokens"]]
    rows = ["| bucket | tokens | baseline | Hebbian | change |", "|---|---|---|---|---|"]
    for i, (name, count) in enumerate(zip(names, tokens)):
        cells = {}
        for model, seeds in runs.items():
            ppl = [(s[split]["buckets"] + [s[split]["overall"]])[i]["perplexity"] for s in seeds]
            cells[model] = np.array([np.nan if p is None else p for p in ppl])
        change = 100 * (np.exp(np.mean(np.log(cells["hebbian"]))) /
                        np.exp(np.mean(np.log(cells["baseline"]))) - 1)
        fmt = lambda a: f"{np.mean(a):.1f} ± {np.std(a):.1f}"
        rows.append(f"| {name} | {count} | {fmt(cells['baseline'])} | {fmt(cells['hebbian'])} | "
                    f"{change:+.1f}% |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel, one core each")
    args = parser.parse_args(argv)
    base = BASE if not args.quick else dataclasses.replace(
        BASE, hidden=16, embed_size=16, max_steps=30, eval_tokens=3000, curve_every=10,
        curve_tokens=2000)
    start = time.time()
    seed0, others = args.seeds[0], args.seeds[1:]
    sweep_configs = [dataclasses.replace(base, seed=seed0, hebbian=True, **setting,
                                         out=os.path.join(RUNS, f"hebbian_g{setting['gamma']:g}"
                                                                f"_T{setting['T']:g}_s{seed0}"))
                     for setting in SWEEP]
    baseline_configs = [dataclasses.replace(base, seed=seed, hebbian=False,
                                            out=os.path.join(RUNS, f"baseline_s{seed}"))
                        for seed in args.seeds]
    print(f"{len(sweep_configs)} sweep runs and {len(baseline_configs)} baselines, "
          f"{args.jobs} at a time", flush=True)
    done = run_all(sweep_configs + baseline_configs, args.jobs)
    sweep = [{**setting, "valid_perplexity": r["valid"]["overall"]["perplexity"], "result": r}
             for setting, r in zip(SWEEP, done[:len(SWEEP)])]
    chosen = min(sweep, key=lambda s: s["valid_perplexity"])
    gamma, T = chosen["gamma"], chosen["T"]
    print(f"chosen on validation: gamma={gamma} T={T}", flush=True)
    hebbian_configs = [dataclasses.replace(base, seed=seed, hebbian=True, gamma=gamma, T=T,
                                           out=os.path.join(RUNS, f"hebbian_g{gamma:g}_T{T:g}_s{seed}"))
                       for seed in others]
    runs = {"baseline": done[len(SWEEP):],
            "hebbian": [chosen["result"]] + run_all(hebbian_configs, args.jobs)}
    results = {"config": dataclasses.asdict(base), "seeds": args.seeds, "chosen": {"gamma": gamma, "T": T},
               "sweep": [{k: v for k, v in s.items() if k != "result"} for s in sweep],
               "runs": runs, "seconds": time.time() - start}
    suffix = "_quick" if args.quick else ""
    write_json(f"lm{suffix}.json", results)
    title = (f"BBC News, LSTM {base.hidden}, {base.epochs} epoch, seeds {args.seeds}, "
             f"Hebbian γ={gamma:g} T={T:g}")
    plot_lm_curves(runs, os.path.join(RESULTS, f"lm_learning_curves{suffix}.png"), title=title)
    plot_lm_buckets(runs, os.path.join(RESULTS, f"lm_buckets{suffix}.png"), title=title)
    sweep_rows = ["| γ | T | validation perplexity (seed {}) |".format(args.seeds[0]), "|---|---|---|"]
    sweep_rows += [f"| {s['gamma']:g} | {s['T']:g} | {s['valid_perplexity']:.2f} |" for s in sweep]
    tokens_per_s = {m: np.mean([r["tokens_per_second"] for r in rs]) for m, rs in runs.items()}
    text = (f"Configuration: {title}; {base.optimizer.upper()} lr {base.lr:g}, clip {base.clip:g}, batch "
            f"{base.batch_size} × BPTT {base.bptt}, float32. Throughput: baseline "
            f"{tokens_per_s['baseline']:.0f} tokens/s, Hebbian {tokens_per_s['hebbian']:.0f} tokens/s.\n\n"
            "Hyperparameter sweep (validation only):\n\n" + "\n".join(sweep_rows) +
            "\n\nTest perplexity by training-frequency bucket (mean ± std over seeds; change = "
            "Hebbian vs baseline, geometric mean over seeds):\n\n" + bucket_table(runs, "test") +
            "\n\nValidation:\n\n" + bucket_table(runs, "valid"))
    if not args.quick:
        update_readme_section("lm", text)
    print(text)
    print(f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

"""Neural cache on top of the validation language models (docs/MATH.md §6.4): the paper's four rows
— baseline, Hebbian, baseline + cache, Hebbian + cache — overall and per frequency bucket.

    python validation/lm_cache.py        (after validation/lm_buckets.py; about 5 minutes)

Reads the final checkpoints that lm_buckets.py left in runs/validation_lm/, chooses the cache's
(W, θ_c, λ_c) for each model on the validation split only, evaluates the test split at those
values, adds the rows to validation/results/lm.json and writes lm_buckets_cache.png and the
table in validation/README.md.
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, perplexities, ratio_cell, update_readme_section, write_json  # noqa: E402
from lm_buckets import RUNS  # noqa: E402

from hebbref.data.text import load_corpus  # noqa: E402
from hebbref.experiments.lm import evaluate_cache, load_state  # noqa: E402
from hebbref.plots import plot_lm_buckets  # noqa: E402
from hebbref.sweep import run_sweep  # noqa: E402


def cache_rows(path):
    config, state = load_state(path)
    corpus = load_corpus(config.corpus, min_count=config.min_count, seed=config.seed)
    return evaluate_cache(config, corpus, state.params)


def table(runs, split):
    """Mean ± std over seeds per model and bucket, then the Hebbian/baseline ratio with and
    without the cache: geometric mean over seeds [95 % t-interval on the log ratios]."""
    names = [b["name"] for b in runs["baseline"][0][split]["buckets"]] + ["overall"]
    pairs = (("hebbian", "baseline"), ("hebbian + cache", "baseline + cache"))
    rows = ["| bucket | " + " | ".join(runs) + " | " + " | ".join(f"{a} / {b}" for a, b in pairs)
            + " |", "|---|" + "---|" * (len(runs) + len(pairs))]
    for i, name in enumerate(names):
        ppl = {model: perplexities(seeds, split, i) for model, seeds in runs.items()}
        cells = [f"{np.mean(p):.1f} ± {np.std(p):.1f}" for p in ppl.values()]
        cells += [ratio_cell(ppl[a] / ppl[b]) for a, b in pairs]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def markdown(results):
    """The README section: the cache values chosen per model and seed, then the test table."""
    cached = results["cache_runs"]
    chosen = "; ".join(f"{m} seed {s}: W={c['chosen']['window']}, θ_c={c['chosen']['theta_c']:g}, "
                       f"λ_c={c['chosen']['lambda_c']:g}"
                       for m, seeds in cached.items() for s, c in zip(results["seeds"], seeds))
    return ("Cache values chosen on validation per model and seed (grid W ∈ {100, 500, 2000}, "
            f"θ_c ∈ {{0.1, 0.3, 1}}, λ_c ∈ {{0.05, 0.1, 0.2, 0.3}}): {chosen}.\n\n"
            "Test perplexity (mean ± std over seeds; ratios: geometric mean over seeds "
            "[95 % Student's t interval on the log ratios]):\n\n"
            + table({**results["runs"], **cached}, "test"))


def plots(results):
    """lm_buckets_cache.png from results (no evaluation)."""
    plot_lm_buckets({**results["runs"], **results["cache_runs"]},
                    os.path.join(RESULTS, "lm_buckets_cache.png"),
                    title="BBC News: baseline, Hebbian, each with and without a neural cache")


def main():
    start = time.time()
    path = os.path.join(RESULTS, "lm.json")
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    # The run folders by name, so the study can move (its JSON holds absolute paths).
    names = {model: [os.path.basename(r["config"]["out"]) for r in runs]
             for model, runs in results["runs"].items()}
    paths = [os.path.join(RUNS, run, "checkpoint.npz") for model in names for run in names[model]]
    done = iter(run_sweep(cache_rows, paths, jobs=2))
    cached = {f"{model} + cache": [next(done) for _ in names[model]] for model in names}
    results["cache_runs"] = cached
    results["cache_seconds"] = time.time() - start
    write_json("lm.json", results)
    plots(results)
    text = markdown(results)
    update_readme_section("lm-cache", text)
    print(text)
    print(f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

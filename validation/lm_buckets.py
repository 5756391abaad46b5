"""Reproduction 2 at CPU size (docs/MATH.md §10): LSTM language model on BBC News, baseline vs Hebbian
softmax, perplexity by training-frequency bucket.

    python validation/lm_buckets.py [--seeds 0 1 2] [--cells torch-sgd torch-adam ...] [--quick]

1. Screen on seed 0, by *validation* perplexity only: initialisation (hebbref's or torch-style)
   × optimiser (SGD or Adam), a baseline and a Hebbian model in each cell. The cell whose
   Hebbian model has the lowest validation perplexity is chosen; its baseline (same
   initialisation and optimiser) is the comparison.
2. Tune the chosen cell's rule on seed 0 against the goal of docs/MATH.md §10 (gains on rare words, no
   loss on frequent ones), scored by the *worst* Hebbian/baseline validation perplexity ratio
   over the frequency buckets and overall (lower is better; below 1 means better everywhere):
   first one option at a time (T in TUNE_T; each write variant; the exact-mean λ rule), then
   the best write variant at every T. The FINALISTS best points are trained on seed 1 as well
   and the one with the best worst ratio of the geometric mean over seeds 0 and 1 is chosen.
3. Train the chosen cell's baseline and Hebbian model on every further seed (same seed = same
   split, initial weights and data order).
4. Report test perplexity overall and per bucket with two 95 % intervals of the
   Hebbian/baseline perplexity ratio: over the seeds' ratios (stats.seed_ratio_interval,
   Student's t: the training noise) and over targets pooled across seeds
   (stats.bucket_difference_interval: the evaluation text only).
Finished runs are reused from their folder under runs/validation_lm/ (not committed; the cache
and MbPA evaluations read the checkpoints), so an interrupted study resumes where it stopped.
Writes validation/results/lm.json, lm_learning_curves.png, lm_buckets.png and the table in
validation/README.md.
"""
import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (HERE, RESULTS, perplexities, ratio_cell,  # noqa: E402
                    update_readme_section, write_json)
from stats import bucket_difference_interval  # noqa: E402

from hebbref.data.text import load_corpus  # noqa: E402
from hebbref.experiments.lm import LMConfig, evaluate, run  # noqa: E402
from hebbref.experiments.lm_checkpoint import ADDED_LATER, load_state  # noqa: E402
from hebbref.hebbian import HebbianConfig  # noqa: E402
from hebbref.metrics import bucket_of_targets, frequency_buckets  # noqa: E402
from hebbref.plots import plot_lm_buckets, plot_lm_curves  # noqa: E402
from hebbref.sweep import run_sweep  # noqa: E402
from lm_torch import mechanism  # noqa: E402

# The write and lr of this study's time, pinned: plain (its tuning tries the variants) at full
# size, a constant lr.
BASE = LMConfig(embed_size=128, hidden=128, batch_size=32, bptt=35, epochs=1,
                curve_every=100, curve_tokens=20000, write_scale="none", write_gain=1.0,
                prior_count=0.0, lr_schedule="constant")
INITS = {"hebbref": dict(embed_init="uniform", softmax_bias_init="zero", lstm_bias_init="forget_one"),
         "torch": dict(embed_init="normal", softmax_bias_init="uniform", lstm_bias_init="torch")}
# Each optimiser with its clip and Hebbian (γ, T): SGD's from the earlier BBC sweep, Adam's from
# the independent PyTorch comparison (validation/README.md).
OPTIMISERS = {"sgd": dict(optimizer="sgd", lr=20.0, clip=0.25),
              "adam": dict(optimizer="adam", lr=2e-3, clip=2.5)}
HEBBIAN = {"sgd": dict(gamma=0.01, T=100.0), "adam": dict(gamma=0.01, T=500.0)}
TUNE_T = (20.0, 50.0, 100.0, 500.0)   # the chosen cell's Hebbian model at each T
WRITE_SCALES = ("centred", "row_norm", "centred_row_norm")   # docs/MATH.md §5 options besides "none"
FINALISTS = 2   # best tuning points of seed 0 also trained on seed 1 before the choice
CELLS = ["torch-sgd", "torch-adam", "hebbref-adam", "hebbref-sgd"]
MECHANISM_TOKENS = 30000   # validation tokens over which ‖h‖ is averaged (as in lm_torch.py)
RUNS = os.path.join(os.path.dirname(HERE), "runs", "validation_lm")  # checkpoints, not committed


def cell_config(base, cell, seed, hebbian=None):
    """The run of one screen cell ("init-optimiser"): the baseline, or with hebbian=dict(gamma,
    T) the Hebbian model."""
    init, optimiser = cell.split("-")
    name = "baseline"
    if hebbian:
        name = "hebbian_g{gamma:g}_T{T:g}".format(**hebbian)
        name += "".join(f"_{hebbian[k]}" for k in ("write_scale", "lam_rule")
                        if hebbian.get(k, "none" if k == "write_scale" else "paper")
                        not in ("none", "paper"))
    name = f"{cell}_{name}"
    return dataclasses.replace(base, seed=seed, hebbian=hebbian is not None, **INITS[init],
                               **OPTIMISERS[optimiser], **(hebbian or {}),
                               out=os.path.join(base.out, f"{name}_s{seed}"))


RULE_FIELDS = [f.name for f in dataclasses.fields(HebbianConfig)]


def train_one(config):
    """run(config) without the state, or the finished results already in config.out (a run
    whose folder moved with runs/ still counts)."""
    path = os.path.join(config.out, "results.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        # An option added after the run was saved counts as the value the run used: its
        # default then (write_gain came later; the runs before it wrote at full size), or what
        # a checkpoint of that time loads as (lm_checkpoint.ADDED_LATER).
        defaults = {**dataclasses.asdict(LMConfig()), "write_gain": 1.0, **ADDED_LATER}
        wanted = dataclasses.asdict(config.validate())
        # A baseline does not read the rule's fields, so a change of their defaults keeps it.
        ignored = {"out"} | (set(RULE_FIELDS) if not config.hebbian else set())
        if saved.get("status") == "done" and all(saved["config"].get(k, defaults[k]) == v
                                                 for k, v in wanted.items() if k not in ignored):
            return saved
    return {k: v for k, v in run(config, progress=False).items() if not k.startswith("_")}


def final_params(result):
    return load_state(os.path.join(result["config"]["out"], "checkpoint.npz"))[1].params


def test_targets(result):
    """Per-target test NLL of a finished run (from its checkpoint), its targets and their rows
    (bucket index, len(buckets) for <unk>)."""
    config = LMConfig(**{**result["config"], "out": None})
    corpus = load_corpus(config.corpus, min_count=config.min_count, seed=config.seed)
    tokens = corpus.test if config.eval_tokens is None else corpus.test[:config.eval_tokens + 1]
    nll, targets = evaluate(final_params(result), tokens, batch_size=config.eval_batch_size,
                            bptt=config.bptt)
    rows = bucket_of_targets(targets, corpus.train_counts, corpus.word_to_id["<unk>"],
                             frequency_buckets(config.buckets))
    return nll, targets, rows


def intervals(runs):
    """95 % intervals of Hebbian − baseline mean test NLL per bucket and overall, per-target
    differences of each seed's pair pooled over seeds."""
    pooled = {"baseline": [], "hebbian": [], "rows": []}
    for baseline, hebbian in zip(runs["baseline"], runs["hebbian"]):
        nll_b, targets_b, rows_b = test_targets(baseline)
        nll_h, targets_h, _ = test_targets(hebbian)
        if not np.array_equal(targets_b, targets_h):
            raise ValueError("baseline and Hebbian runs of one seed scored different targets")
        pooled["baseline"].append(nll_b)
        pooled["hebbian"].append(nll_h)
        pooled["rows"].append(rows_b)
    names = [b.name for b in frequency_buckets(runs["baseline"][0]["config"]["buckets"])]
    pooled = {k: np.concatenate(v) for k, v in pooled.items()}
    return bucket_difference_interval(pooled["hebbian"], pooled["baseline"], pooled["rows"], names,
                                      rng=np.random.default_rng(0))


def mechanism_of(base, seed):
    """run -> what the rule did to its rows (‖h‖, ‖θ_i‖, alignment per bucket; validation/README.md),
    on the first MECHANISM_TOKENS validation tokens of the seed's split."""
    corpus = load_corpus(base.corpus, min_count=base.min_count, seed=seed)
    return lambda run: mechanism(final_params(run), corpus, corpus.valid[:MECHANISM_TOKENS + 1])


def screen(base, cells, seed, jobs):
    """Baseline and Hebbian model of every cell on one seed; the cell chosen on validation."""
    configs = [cell_config(base, cell, seed, hebbian) for cell in cells
               for hebbian in (None, HEBBIAN[cell.split("-")[1]])]
    done = run_sweep(train_one, configs, jobs=jobs)
    table = [{"cell": cell, **{f"{model}_valid": r["valid"]["overall"]["perplexity"]
                               for model, r in zip(("baseline", "hebbian"), done[2 * i:2 * i + 2])}}
             for i, cell in enumerate(cells)]
    measure = mechanism_of(base, seed)
    for i, row in enumerate(table):
        row["mechanism"] = {model: measure(r)
                            for model, r in zip(("baseline", "hebbian"), done[2 * i:2 * i + 2])}
    chosen = min(range(len(cells)), key=lambda i: table[i]["hebbian_valid"])
    return table, cells[chosen], {"baseline": [done[2 * chosen]], "hebbian": [done[2 * chosen + 1]]}


def worst_ratio(hebbian, baselines, split="valid"):
    """The goal's score of a Hebbian setting: over the frequency buckets (not <unk>) and overall,
    the largest geometric mean over seeds of the Hebbian/baseline perplexity ratio.
    hebbian, baselines: finished runs, one per seed, in the same seed order."""
    logs = []
    for h, b in zip(hebbian, baselines, strict=True):
        rows = zip(h[split]["buckets"] + [h[split]["overall"]],
                   b[split]["buckets"] + [b[split]["overall"]])
        logs.append([np.log(x["perplexity"] / y["perplexity"]) for x, y in rows
                     if x["name"] != "<unk>" and x["perplexity"] and y["perplexity"]])
    return float(np.exp(np.max(np.mean(logs, axis=0))))


def tuning_points(default, best_write=None):
    """Stage 1 (best_write None): the default point, then one option changed at a time. Stage 2:
    the best write variant of stage 1 at every T of TUNE_T."""
    if best_write is not None:
        return [dict(default, write_scale=best_write, T=T) for T in TUNE_T
                if T != default["T"]] if best_write != "none" else []
    return ([default] + [dict(default, T=T) for T in TUNE_T if T != default["T"]]
            + [dict(default, write_scale=w) for w in WRITE_SCALES]
            + [dict(default, lam_rule="exact_mean")])


def tune(base, cell, seeds, first, baselines, jobs):
    """Tune the chosen cell's rule (module docstring, step 2). first: the cell's Hebbian screen
    run on seeds[0]; baselines: the cell's baseline runs on seeds[0] and seeds[1].
    Returns (table, chosen point, its runs on seeds[0] and seeds[1])."""
    default = dict(HEBBIAN[cell.split("-")[1]], write_scale="none", lam_rule="paper")

    def train(points, seed):
        return run_sweep(train_one, [cell_config(base, cell, seed, p) for p in points], jobs=jobs)

    stage1 = tuning_points(default)
    done = [first] + train(stage1[1:], seeds[0])
    scores = [worst_ratio([r], baselines[:1]) for r in done]
    writes = [i for i, p in enumerate(stage1) if p["T"] == default["T"] and p["lam_rule"] == "paper"]
    stage2 = tuning_points(default, stage1[min(writes, key=scores.__getitem__)]["write_scale"])
    done += train(stage2, seeds[0])
    points = stage1 + stage2
    scores += [worst_ratio([r], baselines[:1]) for r in done[len(stage1):]]
    measure = mechanism_of(base, seeds[0])
    table = [{**p, "seed": seeds[0], "valid": r["valid"]["overall"]["perplexity"],
              "worst_ratio": score, "mechanism": measure(r)}
             for p, r, score in zip(points, done, scores)]
    finalists = sorted(range(len(points)), key=scores.__getitem__)[:FINALISTS]
    second = train([points[i] for i in finalists], seeds[1])
    two_seed = [worst_ratio([done[i], r], baselines[:2]) for i, r in zip(finalists, second)]
    for i, r, score in zip(finalists, second, two_seed):
        table.append({**points[i], "seed": seeds[1], "valid": r["valid"]["overall"]["perplexity"],
                      "worst_ratio_two_seeds": score})
    best = min(range(len(finalists)), key=two_seed.__getitem__)
    return table, points[finalists[best]], [done[finalists[best]], second[best]]


def bucket_table(runs, split, interval=None):
    """Mean ± std over seeds per bucket; with `interval`, the Hebbian/baseline perplexity ratio
    and its 95 % interval (test only)."""
    first = runs["baseline"][0][split]
    names = [b["name"] for b in first["buckets"]] + ["overall"]
    tokens = [b["tokens"] for b in first["buckets"]] + [first["overall"]["tokens"]]
    head = f"| bucket | tokens (seed {runs['baseline'][0]['config']['seed']}) | baseline | Hebbian |"
    rows = [head + (" ratio per seed | ratio over seeds [95 % t-interval] | ratio over targets "
                    "[95 % bootstrap] |" if interval else ""),
            "|---|---|---|---|" + ("---|---|---|" if interval else "")]
    for i, (name, count) in enumerate(zip(names, tokens)):
        ppl = {model: perplexities(runs[model], split, i) for model in ("baseline", "hebbian")}
        cells = [f"{np.mean(p):,.1f} ± {np.std(p):,.1f}" for p in ppl.values()]
        line = f"| {name} | {count:,} | {cells[0]} | {cells[1]} |"
        if interval:
            ratios = ppl["hebbian"] / ppl["baseline"]
            line += " " + ", ".join(f"{r:.3f}" for r in ratios) + " |"
            line += f" {ratio_cell(ratios)} |"
            row = interval[i]
            line += (" — |" if row["ratio"] is None else
                     f" {row['ratio']:.3f} [{row['ratio_low']:.3f}, {row['ratio_high']:.3f}] |")
        rows.append(line)
    return "\n".join(rows)


def report(base, args, screen_table, tuning, cell, runs, interval):
    """The README section: configuration, screen, test table with intervals, validation table."""
    init, optimiser = cell.split("-")
    hebbian = runs["hebbian"][0]["config"]
    screen_rows = ["| initialisation-optimiser | model | validation perplexity | ‖h‖ | ‖θ_i‖ "
                   ">1K / <10 | alignment >1K / <10 |", "|---|---|---|---|---|---|"]
    for s in screen_table:
        for model in ("baseline", "hebbian"):
            m = s["mechanism"][model]
            screen_rows.append(
                f"| {s['cell']} | {model} | {s[model + '_valid']:.1f} | {m['h_norm']:.2f} | "
                f"{m['theta_norm']['>1K']:.2f} / {m['theta_norm']['<10']:.2f} | "
                f"{m['alignment']['>1K']:.2f} / {m['alignment']['<10']:.2f} |")
    tuning_rows = ["| seed | T | write | λ rule | validation perplexity | worst ratio (seed 0) | "
                   "worst ratio (seeds 0, 1) | alignment >1K / 10–100 / <10 |",
                   "|---|---|---|---|---|---|---|---|"]
    for t in tuning:
        align = t["mechanism"]["alignment"] if "mechanism" in t else None
        tuning_rows.append(f"| {t['seed']} | {t['T']:g} | {t['write_scale']} | {t['lam_rule']} | "
                           f"{t['valid']:.1f} | {t.get('worst_ratio', float('nan')):.3f} | "
                           f"{t.get('worst_ratio_two_seeds', float('nan')):.3f} | "
                           + (" / ".join(f"{align[b]:.2f}" for b in (">1K", "10–100", "<10"))
                              if align else "—") + " |")
    tokens_per_s = {m: np.mean([r["tokens_per_second"] for r in rs]) for m, rs in runs.items()}
    return (f"Configuration: BBC News, LSTM E = H = {base.hidden}, {base.epochs} epoch, batch "
            f"{base.batch_size} × BPTT {base.bptt}, evaluation batch {base.eval_batch_size}, "
            f"float32, seeds {args.seeds}. Chosen: {init} initialisation, {optimiser.upper()} lr "
            f"{hebbian['lr']:g} clip {hebbian['clip']:g}, Hebbian γ = {hebbian['gamma']:g}, "
            f"T = {hebbian['T']:g}, write {hebbian['write_scale']}, λ rule {hebbian['lam_rule']}. "
            f"Throughput: baseline {tokens_per_s['baseline']:.0f} tokens/s, "
            f"Hebbian {tokens_per_s['hebbian']:.0f} tokens/s (two runs sharing 2 busy cores).\n\n"
            f"Screen (validation perplexity, seed {args.seeds[0]}; γ = 0.01 and T = 100 with SGD, "
            "T = 500 with Adam):\n\n" + "\n".join(screen_rows) +
            f"\n\nTuning the chosen cell's rule (γ = {hebbian['gamma']:g}; worst ratio = the "
            "largest Hebbian/baseline validation perplexity ratio over the buckets and overall, "
            "geometric mean over the seeds named; nan = not computed):\n\n"
            + "\n".join(tuning_rows) +
            "\n\nTest perplexity by training-frequency bucket (mean ± std over seeds; ratio per "
            "seed = Hebbian / baseline perplexity of each seed; ratio over seeds = their geometric "
            "mean with a Student's t interval on the log ratios (training noise); ratio over "
            "targets = exp(mean NLL difference Hebbian − baseline) over the targets of all seeds "
            "with a percentile-bootstrap interval (evaluation text only)):\n\n" + bucket_table(runs, "test", interval) +
            "\n\nValidation:\n\n" + bucket_table(runs, "valid"))


def plots(results, suffix=""):
    """The learning curves and the perplexity-by-bucket plot, from results (no training)."""
    base, runs = results["config"], results["runs"]
    title = (f"BBC News, LSTM {base['hidden']}, {base['epochs']} epoch, seeds {results['seeds']}, "
             f"{results['chosen']}")
    plot_lm_curves(runs, os.path.join(RESULTS, f"lm_learning_curves{suffix}.png"), title=title)
    plot_lm_buckets(runs, os.path.join(RESULTS, f"lm_buckets{suffix}.png"), title=title)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="the first two choose the setting (at least two)")
    parser.add_argument("--cells", nargs="+", default=CELLS, choices=CELLS)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel, one core each")
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error("--seeds needs at least two seeds (the choice uses the first two)")
    base = dataclasses.replace(BASE, out=RUNS)
    if args.quick:
        base = dataclasses.replace(base, hidden=16, embed_size=16, max_steps=30, eval_tokens=3000,
                                   curve_every=10, curve_tokens=2000, out=RUNS + "_quick")
    start = time.time()
    print(f"screen: {len(args.cells)} cells × 2 models on seed {args.seeds[0]}", flush=True)
    screen_table, cell, runs = screen(base, args.cells, args.seeds[0], args.jobs)
    runs["baseline"] += run_sweep(train_one, [cell_config(base, cell, args.seeds[1])], jobs=1)
    tuning, hebbian, runs["hebbian"] = tune(base, cell, args.seeds, runs["hebbian"][0],
                                            runs["baseline"], args.jobs)
    print(f"chosen on validation: {cell}, {hebbian}", flush=True)
    others = run_sweep(train_one, [cell_config(base, cell, seed, setting)
                                   for seed in args.seeds[2:] for setting in (None, hebbian)],
                       jobs=args.jobs)
    runs["baseline"] += others[0::2]
    runs["hebbian"] += others[1::2]
    interval = intervals(runs)
    seconds = time.time() - start
    results = {"config": dataclasses.asdict(base), "seeds": args.seeds,
               "screen": screen_table, "tuning": tuning, "chosen": cell,
               "chosen_config": runs["hebbian"][0]["config"], "test_ratio_interval": interval,
               "runs": runs, "seconds": seconds}
    suffix = "_quick" if args.quick else ""
    write_json(f"lm{suffix}.json", results)
    plots(results, suffix)
    text = report(base, args, screen_table, tuning, cell, runs, interval)
    if not args.quick:
        update_readme_section("lm", text)
    print(text)
    print(f"{seconds:.0f} s")


if __name__ == "__main__":
    main()

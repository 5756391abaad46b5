"""Reproduction 1 at full size (docs/MATH.md §9): baseline vs Hebbian softmax on class-incremental
curricula of KanjiVG characters and of scikit-learn's handwritten digits.

    python validation/curriculum.py [--jobs 2] [--quick] [--report-only]

Two stages, kept apart so no setting is chosen on test (docs/MATH.md §9):
1. Lever study on the *validation* drawers (5–9 of kanji's 20, 40–79 of the digits' ~180),
   seeds 10 and 11: write_scale × optimiser × (γ, T) × features, every Hebbian setting against
   the baseline with the same optimiser and features. The default (`choose`): among the
   settings that meet the no-cost criterion on validation (`meets_criterion`), the best
   `score`; if none does, the best score overall.
2. Final table on the *test* drawers (0–4, 0–39), seeds 0–4: the chosen default, the paper's
   rule (γ = 0.1, T = 100, no rescaling) and their baseline, with each exposure bucket's
   Hebbian − baseline difference and its 95 % bootstrap interval over seeds and test images.

Writes validation/results/curriculum.json, curriculum_{kanji,digits}_by_exposure.png,
curriculum_why.png and the tables in validation/README.md. About 10 CPU-minutes.
"""
import argparse
import dataclasses
import itertools
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (DIFFERENCE_MARGIN, RESULTS, target_verdict,  # noqa: E402
                    update_readme_section, write_json)
from curriculum_why import plot_why  # noqa: E402

from hebbref.experiments.curriculum import CurriculumConfig, run  # noqa: E402
from hebbref.metrics import EXPOSURE_BUCKETS, paired_difference_of_runs  # noqa: E402
from hebbref.plots import plot_accuracy_by_exposure  # noqa: E402
from hebbref.sweep import run_sweep  # noqa: E402

# write_gain=1.0 and centre_window=0.0, the full write centred on each batch's own mean: this
# study chooses the rule's other settings, and curriculum_levers.py and curriculum_centring.py
# choose the levers on top of them (pinned, so the defaults they chose do not change this study)
DATASETS = {
    "kanji": CurriculumConfig(dataset="kanji", classes=100, initial_classes=10, add_every=40,
                              add_count=5, steps=1500, batch_size=16, eval_every=5,
                              write_gain=1.0, centre_window=0.0),
    # the digit curriculum: one new class every 60 steps, batch 4, every step evaluated
    "digits": CurriculumConfig(dataset="digits", classes=10, size=8, initial_classes=2,
                               add_every=60, add_count=1, steps=600, batch_size=4,
                               hidden_sizes=(256, 128), eval_every=1, eval_drawers=40,
                               write_gain=1.0, centre_window=0.0),
}
LR = {"adam": 1e-3, "rmsprop": 3e-4, "sgd": 0.1}   # conventional values, not tuned
RULES = [dict(gamma=g, T=T, write_scale=w) for w in ("none", "row_norm", "centred",
                                                      "centred_row_norm")
         for g, T in ((0.1, 100.0), (0.01, 500.0), (0.0, 10.0))]
MODELS = [dict(optimizer=o, lr=LR[o], activation=a) for o in ("adam", "rmsprop", "sgd")
          for a in ("relu", "tanh")]
SCREEN_SEEDS, TEST_SEEDS = (10, 11), (0, 1, 2, 3, 4)
BUCKETS = [name for name, _, _ in EXPOSURE_BUCKETS][1:]
PAPER_RULE = dict(gamma=0.1, T=100.0, write_scale="none")


def _baseline(config):
    return run(config, progress=False, models=("baseline",))


def _hebbian(config):
    return run(config, progress=False, models=("hebbian",))


def _compact(result):
    """A run's result without the per-image arrays (kept only where intervals need them)."""
    return {k: ({kk: vv for kk, vv in v.items() if kk != "per_image"} if isinstance(v, dict)
                else v) for k, v in result.items()}


def why(model_result):
    """Mean over evaluations of the fresh/well-seen row norms and of the fresh-win share."""
    out = {}
    for key in ("fresh_norm", "seen_norm", "fresh_wins"):
        values = [p[key] for p in model_result["over_time"] if p[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


def screen(quick, jobs):
    """Stage 1 on validation drawers: every (dataset, seed, model) baseline and every Hebbian
    rule. Returns rows {dataset, seed, **model, **rule, accuracy by bucket, why}."""
    jobs_list = []
    for (name, base), seed, model in itertools.product(DATASETS.items(), SCREEN_SEEDS, MODELS):
        config = dataclasses.replace(base, split="validation", seed=seed, **model)
        if quick:
            config = dataclasses.replace(config, steps=config.steps // 5)
        jobs_list.append((name, seed, model, None, config))
        for rule in (RULES if not quick else RULES[:2]):
            jobs_list.append((name, seed, model, rule, dataclasses.replace(config, **rule)))
    baselines = [j for j in jobs_list if j[3] is None]
    hebbians = [j for j in jobs_list if j[3] is not None]
    done_b = run_sweep(_baseline, [j[4] for j in baselines], jobs=jobs)
    done_h = run_sweep(_hebbian, [j[4] for j in hebbians], jobs=jobs)
    rows = []
    for (name, seed, model, rule, _), result in itertools.chain(
            zip(baselines, (r["baseline"] for r in done_b)),
            zip(hebbians, (r["hebbian"] for r in done_h))):
        rows.append({"dataset": name, "seed": seed, **model, "rule": rule,
                     "accuracy": {b: result["by_exposure"][b]["accuracy"] for b in BUCKETS},
                     "final": result["over_time"][-1]["accuracy"], "why": why(result)})
    return rows


def lever_table(rows):
    """Per (dataset, optimiser, features, rule): Hebbian − baseline per bucket, mean over the
    screen seeds; plus the score used to choose the default."""
    key = lambda r: (r["dataset"], r["optimizer"], r["activation"])
    base = {}
    for r in rows:
        if r["rule"] is None:
            base.setdefault(key(r), []).append(r)
    table = {}
    for r in rows:
        if r["rule"] is None:
            continue
        b = next(x for x in base[key(r)] if x["seed"] == r["seed"])
        diff = {k: (None if r["accuracy"][k] is None or b["accuracy"][k] is None
                    else r["accuracy"][k] - b["accuracy"][k]) for k in BUCKETS}
        setting = (r["optimizer"], r["activation"], r["rule"]["gamma"], r["rule"]["T"],
                   r["rule"]["write_scale"])
        table.setdefault(setting, {}).setdefault(r["dataset"], []).append(
            {"diff": diff, "baseline": b["accuracy"], "why": r["why"], "base_why": b["why"]})
    return table


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def score(per_dataset):
    """Early gain (mean difference at 1 and 2 exposures) minus three times any loss at 21–50
    or >50 exposures, averaged over the datasets: the no-cost criterion (docs/MATH.md §9) as one number."""
    scores = []
    for seeds in per_dataset.values():
        d = {k: _mean([s["diff"][k] for s in seeds]) for k in BUCKETS}
        early = _mean([d["1"], d["2"]]) or 0.0
        late = min(0.0, d["21-50"] or 0.0, d[">50"] or 0.0)
        scores.append(early + 3 * late)
    return float(np.mean(scores))


def meets_criterion(per_dataset, tolerance=0.01):
    """The no-cost criterion (docs/MATH.md §9) on validation means: ahead by >= 0.15 at 1 and 2 exposures and no
    more than `tolerance` behind at 21–50 and >50, on every dataset."""
    for seeds in per_dataset.values():
        d = {k: _mean([s["diff"][k] for s in seeds]) for k in BUCKETS}
        if any(d[b] is None or d[b] < 0.15 for b in ("1", "2")):
            return False
        if any(d[b] is None or d[b] < -tolerance for b in ("21-50", ">50")):
            return False
    return True


def choose(table):
    """The default: among settings meeting the criterion on validation, the largest score;
    if none does, the largest score overall (the best trade-off)."""
    passing = [setting for setting in table if meets_criterion(table[setting])]
    return max(passing or table, key=lambda setting: score(table[setting]))


def lever_markdown(table):
    lines = ["| optimiser | features | γ | T | write_scale | score | dataset | "
             + " | ".join(BUCKETS) + " | fresh-win share H / B |",
             "|---|---|---|---|---|---|---|" + "---|" * (len(BUCKETS) + 1)]
    for setting, per_dataset in sorted(table.items(), key=lambda kv: -score(kv[1])):
        mark = " ✓" if meets_criterion(per_dataset) else ""
        for name, seeds in per_dataset.items():
            cells = [_mean([s["diff"][k] for s in seeds]) for k in BUCKETS]
            wins = [_mean([s[w]["fresh_wins"] for s in seeds]) for w in ("why", "base_why")]
            lines.append("| {} | {} | {:g} | {:g} | {}{} | {:+.3f} | {} | ".format(
                *setting, mark, score(per_dataset), name)
                + " | ".join("n/a" if c is None else f"{c:+.2f}" for c in cells)
                + " | " + " / ".join("n/a" if w is None else f"{w:.3f}" for w in wins) + " |")
    return "\n".join(lines)


def final(chosen, quick, jobs):
    """Stage 2 on test drawers: baseline, chosen default and the paper's rule, TEST_SEEDS."""
    rules = {"chosen": chosen["rule"], "paper rule": {**PAPER_RULE}}
    configs, labels = [], []
    for name, base in DATASETS.items():
        for seed in TEST_SEEDS:
            config = dataclasses.replace(base, split="test", seed=seed, **chosen["model"])
            if quick:
                config = dataclasses.replace(config, steps=config.steps // 5)
            for label, rule in rules.items():
                configs.append(dataclasses.replace(config, **rule))
                labels.append((name, seed, label))
    done = run_sweep(run, configs, jobs=jobs)
    out = {}
    for (name, seed, label), result in zip(labels, done):
        out.setdefault(name, {}).setdefault(label, []).append(result)
    return out


def summarise_final(final_runs):
    """Per dataset and rule: accuracy per bucket (mean over seeds), the paired difference
    with its interval, and the why-measurements; per-image arrays are dropped afterwards."""
    summary = {}
    for name, per_rule in final_runs.items():
        for label, seeds in per_rule.items():
            summary.setdefault(name, {})[label] = {
                "difference": paired_difference_of_runs([s["baseline"] for s in seeds],
                                                        [s["hebbian"] for s in seeds]),
                "seed_t": seed_t_interval(seeds),
                "accuracy": {m: {b: _mean([s[m]["by_exposure"][b]["accuracy"] for s in seeds])
                                 for b in ["0", *BUCKETS]} for m in ("baseline", "hebbian")},
                "final": {m: _mean([s[m]["over_time"][-1]["accuracy"] for s in seeds])
                          for m in ("baseline", "hebbian")},
                "why": {m: why_over_seeds(seeds, m) for m in ("baseline", "hebbian")}}
    return summary


def seed_t_interval(seeds):
    """A second, seed-level check: per bucket, the mean over seeds of each seed's Hebbian −
    baseline accuracy with its 95 % t interval (scipy.stats.ttest_1samp); None where a seed
    has the bucket empty or there is one seed."""
    from scipy import stats

    out = {}
    for b in ["0", *BUCKETS]:
        acc = [[s[m]["by_exposure"][b]["accuracy"] for m in ("hebbian", "baseline")]
               for s in seeds]
        if len(acc) < 2 or any(a is None for pair in acc for a in pair):
            out[b] = None
            continue
        d = np.array([h - base for h, base in acc])
        ci = stats.ttest_1samp(d, 0.0).confidence_interval() if np.ptp(d) > 0 else None
        out[b] = [float(d.mean()), float(ci.low) if ci else float(d[0]),
                  float(ci.high) if ci else float(d[0])]
    return out


def why_over_seeds(seeds, model):
    values = [why(s[model]) for s in seeds]
    return {k: _mean([v[k] for v in values]) for k in values[0]}


def why_markdown(summary):
    lines = ["| dataset | model | mean ‖θ[i]‖ fresh rows | well-seen rows | well-seen images "
             "won by a fresh class |", "|---|---|---|---|---|"]
    fmt = lambda v, spec: "n/a" if v is None else format(v, spec)
    for name, per_rule in summary.items():
        rows = [("baseline", per_rule["chosen"]["why"]["baseline"])]
        rows += [(label, per_rule[label]["why"]["hebbian"]) for label in ("chosen", "paper rule")]
        for label, w in rows:
            lines.append(f"| {name} | {label} | {fmt(w['fresh_norm'], '.2f')} | "
                         f"{fmt(w['seen_norm'], '.2f')} | {fmt(w['fresh_wins'], '.3f')} |")
    return "\n".join(lines)


def pooled_accuracy(seeds, model, bucket):
    """Σ correct / Σ evaluations over the seeds: the estimator of paired_difference_ci, so
    pooled Hebbian − pooled baseline is its difference."""
    cells = [s[model]["by_exposure"][bucket] for s in seeds]
    total = sum(c["total"] for c in cells)
    return sum(c["correct"] for c in cells) / total if total else None


def final_markdown(results, name, label):
    """One row per exposure bucket; the pooled columns (over every (seed, test image)
    evaluation) and the per-seed columns (mean of the seeds) each add up on their own."""
    s, seeds = results["summary"][name][label], results["final_runs"][name][label]
    lines = ["| exposures | pooled baseline | pooled Hebbian | pooled Hebbian − baseline [95 % "
             "bootstrap] | per-seed mean baseline | per-seed mean Hebbian | per-seed mean "
             "difference [95 % t over seeds] | test images (evaluations) |",
             "|---|---|---|---|---|---|---|---|"]
    number = lambda a: "n/a" if a is None else f"{a:.3f}"
    for b in BUCKETS:
        d, t = s["difference"][b], s["seed_t"][b]
        pooled = [number(pooled_accuracy(seeds, m, b)) for m in ("baseline", "hebbian")]
        per_seed = [number(s["accuracy"][m][b]) for m in ("baseline", "hebbian")]
        diff = ("n/a" if d["difference"] is None else
                f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]")
        seed_level = "n/a" if t is None else f"{t[0]:+.3f} [{t[1]:+.3f}, {t[2]:+.3f}]"
        lines.append(f"| {b} | {pooled[0]} | {pooled[1]} | {diff} | {per_seed[0]} | "
                     f"{per_seed[1]} | {seed_level} | {d['images']} ({d['evaluations']}) |")
    f = s["final"]
    lines.append(f"| final overall (per-seed mean) | | | | {f['baseline']:.3f} | "
                 f"{f['hebbian']:.3f} | | |")
    return "\n".join(lines)


def criterion(difference):
    """The no-cost criterion in the claim rules' words: each bucket's 95 % bootstrap interval
    against its target (common.target_verdict), >= 0.15 at 1 and 2 exposures and >= -0.01 at
    21–50 and >50."""
    def verdict(buckets, target):
        words = {"inconclusive" if difference[b]["low"] is None else   # an empty bucket
                 target_verdict(difference[b]["low"], difference[b]["high"], target)
                 for b in buckets}
        return "met" if words == {"met"} else "missed" if "missed" in words else "inconclusive"
    return (f"ahead by ≥ 0.15 at 1 and 2 exposures: {verdict(('1', '2'), 0.15)}; no more than "
            f"{DIFFERENCE_MARGIN:g} behind at 21–50 and >50: "
            f"{verdict(('21-50', '>50'), -DIFFERENCE_MARGIN)} (each bucket's 95 % bootstrap "
            "interval against the target)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs side by side, one BLAS thread each (joblib; -1: all cores)")
    parser.add_argument("--reuse-screen", action="store_true",
                        help="take stage 1 from results/curriculum.json; run stage 2 only")
    parser.add_argument("--report-only", action="store_true",
                        help="redo plots and tables from results/curriculum.json")
    args = parser.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    if args.report_only:
        with open(os.path.join(RESULTS, f"curriculum{suffix}.json"), encoding="utf-8") as f:
            results = json.load(f)
        # the seed-level intervals need only the compact per-seed results kept in the JSON
        results["summary"] = {
            name: {label: {**cell, "seed_t": seed_t_interval(results["final_runs"][name][label])}
                   for label, cell in per.items()} for name, per in results["summary"].items()}
        report(results, suffix)
        return
    start = time.time()
    if args.reuse_screen:  # the time reported then covers stage 2 only
        with open(os.path.join(RESULTS, f"curriculum{suffix}.json"), encoding="utf-8") as f:
            rows = json.load(f)["screen"]
    else:
        rows = screen(args.quick, args.jobs)
    table = lever_table(rows)
    best = choose(table)
    chosen = {"model": {"optimizer": best[0], "lr": LR[best[0]], "activation": best[1]},
              "rule": {"gamma": best[2], "T": best[3], "write_scale": best[4]}}
    final_runs = final(chosen, args.quick, args.jobs)
    results = {"datasets": {k: dataclasses.asdict(v) for k, v in DATASETS.items()},
               "screen_seeds": SCREEN_SEEDS, "test_seeds": TEST_SEEDS, "screen": rows,
               "chosen": chosen, "summary": summarise_final(final_runs),
               "final_runs": {n: {label: [_compact(s) for s in seeds]
                                  for label, seeds in per.items()}
                              for n, per in final_runs.items()},
               "seconds": time.time() - start}
    report(results, suffix)


def report(results, suffix=""):
    """Write the JSON, the plots and (full runs only) the README section from results."""
    write_json(f"curriculum{suffix}.json", results)
    table, chosen, summary = lever_table(results["screen"]), results["chosen"], results["summary"]
    plots(results, suffix)
    text = report_text(results, table, chosen, summary)
    if not suffix:
        update_readme_section("curriculum", text)
    print(text)


def plots(results, suffix=""):
    """The by-exposure plot of each dataset and the why plot, from results (no training)."""
    for name, per_rule in results["final_runs"].items():
        runs = {"baseline": [s["baseline"] for s in per_rule["chosen"]],
                "hebbian": [s["hebbian"] for s in per_rule["chosen"]]}
        plot_accuracy_by_exposure(runs, os.path.join(RESULTS, f"curriculum_{name}_by_exposure"
                                                     f"{suffix}.png"),
                                  title=f"{name}, chosen default, test drawers, "
                                        f"{len(results['test_seeds'])} seeds")
    plot_why({name: {"baseline": [s["baseline"] for s in per["chosen"]],
                     "chosen": [s["hebbian"] for s in per["chosen"]],
                     "paper rule": [s["hebbian"] for s in per["paper rule"]]}
              for name, per in results["final_runs"].items()},
             os.path.join(RESULTS, f"curriculum_why{suffix}.png"))


def report_text(results, table, chosen, summary):
    m, r = chosen["model"], chosen["rule"]
    parts = [f"Chosen on validation drawers (seeds {list(results['screen_seeds'])}): "
             f"{m['optimizer']} (lr {m['lr']:g}), {m['activation']} features, γ = {r['gamma']:g}, "
             f"T = {r['T']:g}, write_scale = {r['write_scale']}. Final stage: "
             f"{results['seconds']:.0f} s."]
    for name in summary:
        for label in ("chosen", "paper rule"):
            rule = r if label == "chosen" else PAPER_RULE
            parts.append(f"**{name}, {label}** (γ = {rule['gamma']:g}, T = {rule['T']:g}, "
                         f"write_scale = {rule['write_scale']}; test drawers, seeds "
                         f"{list(results['test_seeds'])}; pooled columns: every evaluation of "
                         "every seed, paired bootstrap over (seed, test image); per-seed "
                         "columns: mean of the seeds, Student's t over seeds):\n\n"
                         + final_markdown(results, name, label)
                         + f"\n\nCriterion: {criterion(summary[name][label]['difference'])}.")
    parts.append("Why a written row costs accuracy (test drawers, mean of the seeds over every "
                 "evaluation; fresh = seen 1–5 times, well-seen = more than 20):\n\n"
                 + why_markdown(summary)
                 + "\n\n![why](results/curriculum_why.png)")
    parts.append("Lever study (validation drawers; Hebbian − baseline accuracy per exposure "
                 "bucket, mean of the screen seeds; ✓: meets the criterion on validation, ≥ 0.15 "
                 "at 1 and 2 exposures and ≥ −0.01 at 21–50 and >50 on both datasets; score: "
                 "mean gain at 1–2 exposures plus 3 × any loss at 21–50 or >50; fresh-win share: images of classes seen "
                 "> 20 times classified as a class seen 1–5 times, Hebbian / baseline):\n\n"
                 + lever_markdown(table))
    return "\n\n".join(parts)


if __name__ == "__main__":
    main()

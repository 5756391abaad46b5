"""Reproduction 1 at full size (METHOD §5): baseline vs Hebbian softmax on the class-incremental
kanji curriculum over several seeds, plus a study of the levers METHOD §5 names (the features'
non-linearity, γ and T) on one seed.

    python validation/curriculum.py [--seeds 0 1 2] [--quick]

Writes validation/results/curriculum.json, curriculum_by_exposure.png (mean ± std over seeds),
curriculum_over_time.png, and the tables in validation/README.md. About 5 minutes on 2 cores
(--jobs 2).
"""
import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, update_readme_section, write_json  # noqa: E402

from hebbref.experiments.curriculum import CurriculumConfig, describe, run  # noqa: E402
from hebbref.plots import plot_accuracy_by_exposure, plot_accuracy_over_time  # noqa: E402
from hebbref.sweep import run_sweep  # noqa: E402

MAIN = CurriculumConfig(classes=200, initial_classes=10, add_every=20, add_count=5, steps=3000,
                        eval_every=25, activation="relu", gamma=0.1, T=100.0)
LEVERS = [dict(activation=a, gamma=g, T=T) for a in ("relu", "tanh", "linear")
          for g, T in ((0.1, 100.0), (0.0, 10.0), (0.3, 1000.0), (0.1, float("inf")))]


def summary(seeds, model):
    """Per exposure bucket: mean and std across seeds of the accuracy, and the images counted."""
    buckets = seeds[0][model]["by_exposure"]
    out = {}
    for b in buckets:
        acc = [s[model]["by_exposure"][b]["accuracy"] for s in seeds]
        acc = [np.nan if a is None else a for a in acc]
        out[b] = {"mean": float(np.nanmean(acc)) if not np.all(np.isnan(acc)) else None,
                  "std": float(np.nanstd(acc)) if not np.all(np.isnan(acc)) else None,
                  "images": sum(s[model]["by_exposure"][b]["total"] for s in seeds)}
    final = [s[model]["over_time"][-1]["accuracy"] for s in seeds]
    out["final overall"] = {"mean": float(np.mean(final)), "std": float(np.std(final)),
                            "images": None}
    return out


def fmt(cell):
    if cell["mean"] is None:
        return "n/a"
    return f"{cell['mean']:.3f} ± {cell['std']:.3f}"


def main_table(summaries, n_seeds):
    rows = ["| exposures | baseline | Hebbian | test images (all seeds) |", "|---|---|---|---|"]
    for b, base in summaries["baseline"].items():
        hebb = summaries["hebbian"][b]
        images = "" if base["images"] is None else base["images"]
        rows.append(f"| {b} | {fmt(base)} | {fmt(hebb)} | {images} |")
    return "\n".join(rows)


def lever_table(levers):
    buckets = ["1", "2", "3-5", "6-10", "11-20", "21-50", ">50"]
    rows = ["| features | γ | T | model | " + " | ".join(buckets) + " | final |",
            "|---|---|---|---|" + "---|" * (len(buckets) + 1)]
    for lever in levers:
        T = float(lever["T"])  # strict JSON (hebbref.record) stores ∞ as the string "inf"
        for model in ("baseline", "hebbian"):
            if model == "baseline" and (lever["gamma"], T) != (LEVERS[0]["gamma"], LEVERS[0]["T"]):
                continue  # the baseline does not depend on γ and T: one row per non-linearity
            r = lever["result"][model]
            cells = [("n/a" if r["by_exposure"][b]["accuracy"] is None
                      else f"{r['by_exposure'][b]['accuracy']:.2f}") for b in buckets]
            rows.append(f"| {lever['activation']} | {lever['gamma']:g} | {T:g} | {model} | "
                        + " | ".join(cells) + f" | {r['over_time'][-1]['accuracy']:.2f} |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    parser.add_argument("--jobs", type=int, default=2,
                        help="runs side by side, one BLAS thread each (joblib; -1: all cores)")
    parser.add_argument("--report-only", action="store_true",
                        help="redo plots and tables from results/curriculum.json without training")
    args = parser.parse_args(argv)
    if args.report_only:
        with open(os.path.join(RESULTS, "curriculum.json"), encoding="utf-8") as f:
            report(json.load(f))
        return
    main_config = MAIN if not args.quick else dataclasses.replace(MAIN, classes=20, steps=200)
    start = time.time()
    lever_settings = LEVERS if not args.quick else LEVERS[:2]
    configs = ([dataclasses.replace(main_config, seed=seed) for seed in args.seeds]
               + [dataclasses.replace(main_config, seed=args.seeds[0], **lever)
                  for lever in lever_settings])
    print(f"{len(configs)} runs ({len(args.seeds)} seeds + {len(lever_settings)} levers), "
          f"{args.jobs} at a time", flush=True)
    done = run_sweep(run, configs, jobs=args.jobs)
    seeds = done[:len(args.seeds)]
    levers = [{**lever, "result": {m: r[m] for m in ("baseline", "hebbian")}}
              for lever, r in zip(lever_settings, done[len(args.seeds):])]
    summaries = {m: summary(seeds, m) for m in ("baseline", "hebbian")}
    results = {"config": dataclasses.asdict(main_config), "seeds": args.seeds,
               "summary": summaries, "per_seed": seeds, "levers": levers,
               "seconds": time.time() - start}
    report(results, suffix="_quick" if args.quick else "")


def report(results, suffix=""):
    """Write the JSON, the two plots and (full runs only) the README section from results."""
    write_json(f"curriculum{suffix}.json", results)
    config = CurriculumConfig(**{**results["config"],
                                 "hidden_sizes": tuple(results["config"]["hidden_sizes"])})
    seeds, levers, summaries = results["per_seed"], results["levers"], results["summary"]
    runs = {m: [s[m] for s in seeds] for m in ("baseline", "hebbian")}
    title = f"{describe(config)}, {len(seeds)} seeds"
    plot_accuracy_by_exposure(runs, os.path.join(RESULTS, f"curriculum_by_exposure{suffix}.png"),
                              title=title)
    plot_accuracy_over_time(runs, os.path.join(RESULTS, f"curriculum_over_time{suffix}.png"),
                            title=title)
    text = (f"Configuration: {title}; {config.steps} steps of batch {config.batch_size}, "
            f"{config.initial_classes} classes at first, {config.add_count} more every "
            f"{config.add_every} steps (Adam, lr {config.lr:g}); {results['seconds']:.0f} s in "
            f"all.\n\nAccuracy by exposure, mean ± std over seeds {results['seeds']} (each test "
            "image counted once per evaluation, every 25 steps):\n\n"
            + main_table(summaries, len(seeds))
            + f"\n\nLevers (seed {results['seeds'][0]}; accuracy per exposure bucket; the "
            "baseline does not depend on γ and T):\n\n" + lever_table(levers))
    if not suffix:
        update_readme_section("curriculum", text)
    print(text)


if __name__ == "__main__":
    main()

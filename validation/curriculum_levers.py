"""The curriculum's late cost: levers screened on validation, the choice reported on fresh
KanjiVG classes no earlier choice has seen (docs/MATH.md §5.7).

    python validation/curriculum_levers.py [--jobs 2] [--quick] [--report-only]

The rule, fixed before any run of this script:
1. Screen on the *validation* drawers (kanji 5–9, digits 40–79), seeds 10 and 11 (for kanji
   these seeds also choose the 100 classes, as in validation/curriculum.py). Every lever of
   LEVERS is applied alone on top of the current default of `hebbref curriculum` and compared
   with the baseline of the same seed; then the pairs of the three best single levers (by
   `curriculum.score`). The choice (`curriculum.choose`): among settings meeting the no-cost
   criterion on validation means, the best score; if none does, the best score overall.
2. Report on the *test* drawers (kanji 0–4, digits 0–39), seeds 0–4 for the digits (their split
   is kept) and, for KanjiVG, FRESH_SEEDS with classes disjoint from every class any earlier
   choice or report has used: for fresh seed s, the first 100 kanji in the order
   `kanji._choose_kanji` shuffles with seed s that are not among the 100 classes of any seed in
   USED_SEEDS (0–4: the earlier test table and `hebbref demo`; 10–12: validation). The script
   asserts the disjointness and records the class lists in the JSON. Reported: the baseline,
   the current default and the chosen setting, each bucket's paired difference with its 95 %
   bootstrap interval, the fresh-win share, and the done criterion of `curriculum.criterion`.
   Then `hebbref demo`'s configuration (seed 0, test drawers) with and without the choice.

Writes validation/results/curriculum_levers.json (after each stage) and the README section
"The late cost: levers".
"""
import argparse
import dataclasses
import hashlib
import inspect
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, update_readme_section, write_json  # noqa: E402
from curriculum import (BUCKETS, DATASETS, _mean, choose, criterion, meets_criterion,  # noqa: E402
                        score, why)
from hebbref.metrics import paired_difference_of_runs  # noqa: E402

from hebbref.data import kanji  # noqa: E402
from hebbref.experiments.curriculum import demo_config, run  # noqa: E402
from hebbref.files import atomic_write  # noqa: E402
from hebbref.sweep import run_sweep  # noqa: E402

SCREEN_SEEDS, DIGIT_TEST_SEEDS, FRESH_SEEDS = (10, 11), (0, 1, 2, 3, 4), (20, 21, 22, 23, 24)
USED_SEEDS = (0, 1, 2, 3, 4, 10, 11, 12)
# Every lever at its paper value: the "default" rows below are the setting validation/
# curriculum.py chose (its DATASETS pin write_gain=1.0 too), the base each lever is tried on.
BEFORE = {"write_gain": 1.0, "calibrate": False, "moments": "keep", "fresh_bias": "keep",
          "centre_window": 0.0}
LEVERS = {  # each applied alone on top of the current default of `hebbref curriculum`
    "default": {},
    "moments reset_first": {"moments": "reset_first"},
    "moments reset": {"moments": "reset"},
    "bias mean": {"fresh_bias": "mean"},
    "bias zero": {"fresh_bias": "zero"},
    "bias-free": {"fresh_bias": "none"},
    "gain 0.75": {"write_gain": 0.75},
    "gain 0.5": {"write_gain": 0.5},
    "gain 0.25": {"write_gain": 0.25},
    "calibrated": {"calibrate": True},
    "λ exact_mean": {"lam_rule": "exact_mean"},
    "γ 0.03": {"gamma": 0.03},
    "T 100": {"T": 100.0},
    "T 2000": {"T": 2000.0},
}


# ----------------------------------------------------------------------------------------------
# The fresh KanjiVG classes

def fresh_code_points(seed, used, num_classes=100):
    """The first num_classes kanji, in the order kanji._choose_kanji shuffles with `seed`,
    that are not in `used` (a set of code points); ascending."""
    candidates = kanji.available_kanji()
    order = np.random.default_rng([seed, 0]).permutation(len(candidates))
    chosen = [candidates[i] for i in order if candidates[i] not in used][:num_classes]
    return sorted(chosen)


def used_code_points(num_classes=100):
    return {c for s in USED_SEEDS for c in kanji._choose_kanji(num_classes, s, None)}


def fresh_dataset(seed, used, num_classes=100):
    """Render the fresh classes of `seed` with render_kanji_dataset's default style into an
    .npz under kanji.cache_dir() (reused when present); returns (spec, code points)."""
    points = fresh_code_points(seed, used, num_classes)
    defaults = {k: p.default for k, p in inspect.signature(kanji.render_kanji_dataset)
                .parameters.items() if k not in ("num_classes", "drawers", "size", "seed",
                                                 "max_strokes", "cache")}
    key = json.dumps({"points": points, "seed": seed, "style": defaults,
                      "renderer": kanji.RENDERER_VERSION, "kanjivg": kanji.kanjivg_version()},
                     sort_keys=True)
    path = kanji.cache_dir() / f"kanji-fresh-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if not path.exists():
        data = kanji._render_dataset(points, 20, 28, seed, defaults)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, X=data.X, y=data.y, drawer=data.drawer))
    return f"npz:{path}", points


# ----------------------------------------------------------------------------------------------
# Runs

def _baseline(config):
    return run(config, progress=False, models=("baseline",))["baseline"]


def _hebbian(config):
    return run(config, progress=False, models=("hebbian",))["hebbian"]


def run_cells(cells, jobs):
    """cells: {(dataset, seed, label): config}; label None is the baseline. Returns the same
    keys mapped to each model's result."""
    keys = list(cells)
    results = run_sweep(_run_cell, [(k[2], cells[k]) for k in keys], jobs=jobs)
    return dict(zip(keys, results))


def _run_cell(job):
    label, config = job
    return _baseline(config) if label is None else _hebbian(config)


def compare(results, dataset, label, seeds):
    """Hebbian (label) − baseline over seeds: the paired interval per bucket, mean accuracies,
    fresh-win shares, and per-seed diffs in the form curriculum.score expects."""
    pairs = [(results[(dataset, s, None)], results[(dataset, s, label)]) for s in seeds]
    diff = lambda b, h, k: (None if None in (h["by_exposure"][k]["accuracy"],
                                             b["by_exposure"][k]["accuracy"]) else
                            h["by_exposure"][k]["accuracy"] - b["by_exposure"][k]["accuracy"])
    return {"difference": paired_difference_of_runs(*zip(*pairs)),
            "accuracy": {m: {k: _mean([p[i]["by_exposure"][k]["accuracy"] for p in pairs])
                             for k in BUCKETS} for i, m in enumerate(("baseline", "hebbian"))},
            "fresh_wins": {m: _mean([why(p[i])["fresh_wins"] for p in pairs])
                           for i, m in enumerate(("baseline", "hebbian"))},
            "peak_fresh_wins": _mean([max([q["fresh_wins"] or 0 for q in h["over_time"]])
                                      for _, h in pairs]),
            "seeds": [{"diff": {k: diff(b, h, k) for k in BUCKETS}} for b, h in pairs]}


def _seeds(per_dataset):
    """{dataset: per-seed diffs}, the form curriculum.score and meets_criterion take."""
    return {name: cell["seeds"] for name, cell in per_dataset.items()}


def stage(plan, settings, quick, jobs):
    """plan: {dataset: [(seed, base config)]}; the baseline and every setting on each cell
    (quick: steps / 5). Returns {label: {dataset: compare(...)}}."""
    cells = {}
    for name, configs in plan.items():
        for seed, config in configs:
            if quick:
                config = dataclasses.replace(config, steps=config.steps // 5)
            cells[(name, seed, None)] = config
            for label, levers in settings.items():
                cells[(name, seed, label)] = dataclasses.replace(config, **levers)
    results = run_cells(cells, jobs)
    return {label: {name: compare(results, name, label, [s for s, _ in configs])
                    for name, configs in plan.items()} for label in settings}


def screen(settings, quick, jobs):
    return stage({name: [(s, dataclasses.replace(base, split="validation", seed=s))
                         for s in SCREEN_SEEDS] for name, base in DATASETS.items()},
                 settings, quick, jobs)


DEMO_LEVERS = {"default": {}, "gain 0.25": {"write_gain": 0.25}, "gain 0.1": {"write_gain": 0.1},
               "gain 0.25 + bias-free": {"write_gain": 0.25, "fresh_bias": "none"},
               "gain 0.25 + γ 0.03": {"write_gain": 0.25, "gamma": 0.03},
               "gain 0.25 + T 100": {"write_gain": 0.25, "T": 100.0}}


def demo_screen(quick, jobs):
    """`hebbref demo`'s configuration (a class every 12 steps) on validation drawers, seeds
    SCREEN_SEEDS: why its late cost outlasts the choice (run after the final stage; it
    changes no choice)."""
    return stage({"demo": [(s, demo_config(seed=s, split="validation", **BEFORE))
                           for s in SCREEN_SEEDS]}, DEMO_LEVERS, quick, jobs)


def final(chosen_levers, quick, jobs, used):
    """Baseline, current default and the choice on fresh kanji classes and the digits' test
    drawers; then the demo's configuration with and without the choice."""
    plan, fresh = {}, {}
    for name, base in DATASETS.items():
        plan[name] = []
        for seed in (FRESH_SEEDS if name == "kanji" else DIGIT_TEST_SEEDS):
            config = dataclasses.replace(base, split="test", seed=seed)
            if name == "kanji":
                spec, points = fresh_dataset(seed, used)
                assert not used & set(points), "fresh classes overlap the used ones"
                fresh[seed] = "".join(chr(c) for c in points)
                config = dataclasses.replace(config, dataset=spec)
            plan[name].append((seed, config))
    plan["demo"] = [(0, demo_config(seed=0, **BEFORE))]
    out = stage(plan, {"default": {}, "chosen": chosen_levers}, quick, jobs)
    return {name: {label: out[label][name] for label in out} for name in plan}, fresh


# ----------------------------------------------------------------------------------------------
# Report

def _cell(d):
    if d["difference"] is None:
        return "n/a"
    return f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


def lever_markdown(table):
    lines = ["| lever | score | dataset | fresh-win share H / B (peak H) | 1 | 2 | 21–50 [95 % CI] "
             "| >50 [95 % CI] |", "|---|---|---|---|---|---|---|---|"]
    for label, per in sorted(table.items(), key=lambda kv: -score(_seeds(kv[1]))):
        mark = " ✓" if meets_criterion(_seeds(per)) else ""
        for name, c in per.items():
            d = c["difference"]
            wins = c["fresh_wins"]
            lines.append(f"| {label}{mark} | {score(_seeds(per)):+.3f} | {name} | "
                         f"{wins['hebbian'] or 0:.4f} / {wins['baseline'] or 0:.4f} "
                         f"({c['peak_fresh_wins']:.3f}) | {d['1']['difference']:+.2f} | "
                         f"{d['2']['difference']:+.2f} | {_cell(d['21-50'])} | {_cell(d['>50'])} |")
    return "\n".join(lines)


def final_markdown(out):
    lines = ["| data | setting | fresh-win share H / B | 1 | 2 | 21–50 [95 % CI] | >50 [95 % CI] | "
             "criterion |", "|---|---|---|---|---|---|---|---|"]
    for name, per in out.items():
        for label, c in per.items():
            d, wins = c["difference"], c["fresh_wins"]
            lines.append(f"| {name} | {label} | {wins['hebbian'] or 0:.4f} / "
                         f"{wins['baseline'] or 0:.4f} | {_cell(d['1'])} | {_cell(d['2'])} | "
                         f"{_cell(d['21-50'])} | {_cell(d['>50'])} | {criterion(d)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="steps / 5, to check the script")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (joblib)")
    parser.add_argument("--reuse-screen", action="store_true",
                        help="take the screen from results/curriculum_levers.json")
    parser.add_argument("--demo-screen", action="store_true",
                        help="add the demo-regime screen to the saved results and stop")
    parser.add_argument("--screen-only", action="store_true", help="stop after the screen")
    args = parser.parse_args(argv)
    name = f"curriculum_levers{'_quick' if args.quick else ''}.json"
    start = time.time()
    if args.demo_screen:
        with open(os.path.join(RESULTS, name), encoding="utf-8") as f:
            saved = json.load(f)
        saved["demo_screen"] = demo_screen(args.quick, args.jobs)
        write_json(name, saved)
        print(lever_markdown(saved["demo_screen"]))
        return
    used = used_code_points()
    if args.reuse_screen:
        with open(os.path.join(RESULTS, name), encoding="utf-8") as f:
            saved = json.load(f)
        table, combos = saved["screen"], saved["combinations"]
    else:
        table = screen(LEVERS, args.quick, args.jobs)
        best = [label for label in sorted(table, key=lambda k: -score(_seeds(table[k])))
                if label != "default"][:3]
        combos = {f"{a} + {b}": {**LEVERS[a], **LEVERS[b]} for i, a in enumerate(best)
                  for b in best[i + 1:] if not set(LEVERS[a]) & set(LEVERS[b])}
        table.update(screen(combos, args.quick, args.jobs))
        write_json(name, {"screen_seeds": SCREEN_SEEDS, "levers": LEVERS,
                          "combinations": combos, "screen": table,
                          "screen_seconds": time.time() - start})
    if args.screen_only:
        print(lever_markdown(table))
        return
    chosen = choose({label: _seeds(per) for label, per in table.items()})
    chosen_levers = {**LEVERS, **combos}[chosen]
    out, fresh = final(chosen_levers, args.quick, args.jobs, used)
    results = {"screen_seeds": SCREEN_SEEDS, "levers": LEVERS, "combinations": combos,
               "screen": table, "chosen": chosen, "chosen_levers": chosen_levers,
               "fresh_seeds": FRESH_SEEDS, "used_seeds": USED_SEEDS, "fresh_classes": fresh,
               "digit_test_seeds": DIGIT_TEST_SEEDS, "final": out,
               "seconds": time.time() - start}
    write_json(name, results)
    text = (f"Chosen on validation: **{chosen}** {chosen_levers}.\n\nFinal (test drawers; "
            f"kanji: fresh classes, seeds {list(FRESH_SEEDS)}; digits: seeds "
            f"{list(DIGIT_TEST_SEEDS)}; demo: `hebbref demo`'s configuration, seed 0):\n\n"
            + final_markdown(out) + "\n\nLever screen (validation drawers, seeds "
            f"{list(SCREEN_SEEDS)}; ✓ meets the criterion on validation means):\n\n"
            + lever_markdown(table))
    if not args.quick:
        update_readme_section("levers", text)
    print(text)


if __name__ == "__main__":
    main()

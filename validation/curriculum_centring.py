"""The late cost, second study: centred writes against a running mean (docs/MATH.md §5.7,
`centre_rate`), chosen on validation in four regimes and reported on classes and drawers no
choice has seen.

    python validation/curriculum_centring.py [--jobs 2] [--quick]

Why: with batches of 4 images the batch mean that a centred write subtracts is a quarter the
written class's own image, so the write keeps much of the common component centring means to
remove. On the digits protocol with data like the user's handwriting (many drawers a class)
the write then costs accuracy at 21–50 and >50 exposures, where the kanji and digit
curricula of validation/curriculum_levers.py did not show it.

The rule, fixed before the test stage ran:
1. Screen SETTINGS on *validation* drawers in four regimes: "kanji" and "digits"
   (validation/curriculum.py's protocols, seeds 10 and 11), "demo" (`hebbref demo`'s
   configuration, seeds 10–15) and "rich" (RICH: 10 KanjiVG classes × 160 rendered drawers, the
   digits protocol at 28 × 28 with 40 held-out drawers a class, seeds 10–15). Each against the
   baseline of its seed.
2. Choose over the four regimes: among settings meeting the no-cost criterion on validation
   means (>= 0.15 at 1 and 2 exposures, >= -0.01 at 21–50 and >50, in every regime) the best
   score; if none does, among those meeting its late half (>= -0.01 at 21–50 and >50 in every
   regime) the best score; else the best score overall (`choose_late_first`). The first run
   used `curriculum.choose`, which goes straight to the best score overall: it chose a setting
   that already lost 0.012–0.027 at >50 in three regimes on validation, for a larger early
   lead, and the test stage confirmed that cost (kept in the JSON as `first`). The late half
   first is the order the goal states (no cost, then speed); this change was made after that
   test stage had been seen, and the README says so.
3. Report on *test* drawers: fresh KanjiVG classes (curriculum_levers' FRESH_SEEDS), the digits
   (seeds 0–4), `hebbref demo` (seeds 0–2, its three seeds) and "rich" on classes disjoint from
   every class used anywhere (RICH_TEST_SEEDS). Baseline, the current default and the choice,
   each bucket's paired difference with its 95 % bootstrap interval over (seed, image).

Writes validation/results/curriculum_centring.json and the README section "The late cost:
centring against a running mean".
"""
import argparse
import dataclasses
import inspect
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, update_readme_section, write_json  # noqa: E402
from curriculum import DATASETS, _mean, choose, score  # noqa: E402
from curriculum_levers import (FRESH_SEEDS, _seeds, compare, final_markdown,  # noqa: E402
                               fresh_code_points, fresh_dataset, lever_markdown, run_cells,
                               used_code_points)

from hebbref.data import kanji  # noqa: E402
from hebbref.experiments.curriculum import DATASET_PROTOCOLS, DEMO_SEEDS, demo_config  # noqa: E402
from hebbref.files import atomic_write  # noqa: E402

CURRENT = {"write_gain": 0.25}  # the default of `hebbref curriculum` before this study
SETTINGS = {
    "gain 0.25 (current)": CURRENT,
    "gain 0.25, running ρ 0.01": {"write_gain": 0.25, "centre_rate": 0.01},
    "gain 0.5, running ρ 0.01": {"write_gain": 0.5, "centre_rate": 0.01},
    "gain 1, running ρ 0.01": {"write_gain": 1.0, "centre_rate": 0.01},
    "gain 0.5, running ρ 0.01, T 100": {"write_gain": 0.5, "centre_rate": 0.01, "T": 100.0},
}
SCREEN_SEEDS = {"kanji": (10, 11), "digits": (10, 11), "demo": tuple(range(10, 16)),
                "rich": tuple(range(10, 16))}
DIGIT_TEST_SEEDS, RICH_TEST_SEEDS = (0, 1, 2, 3, 4), (30, 31, 32, 33, 34)
RICH = dict(DATASET_PROTOCOLS["digits"], size=28)  # 40 held-out drawers a class
RICH_CLASSES, RICH_DRAWERS = 10, 160


def rich_code_points(seed, excluded):
    """The first RICH_CLASSES kanji, in an order shuffled by [seed, 99], not in `excluded`."""
    candidates = kanji.available_kanji()
    order = np.random.default_rng([seed, 99]).permutation(len(candidates))
    return sorted([candidates[i] for i in order if candidates[i] not in excluded][:RICH_CLASSES])


def rich_dataset(seed, points):
    """RICH_DRAWERS drawers of each kanji in `points` as an .npz in kanji.cache_dir()."""
    style = {k: p.default for k, p in inspect.signature(kanji.render_kanji_dataset)
             .parameters.items() if k not in ("num_classes", "drawers", "size", "seed",
                                              "max_strokes", "cache")}
    path = kanji.cache_dir() / (f"kanji-rich-{seed}-{'-'.join(map(str, points))}"
                                f"-r{kanji.RENDERER_VERSION}.npz")
    if not path.exists():
        data = kanji._render_dataset(points, RICH_DRAWERS, 28, seed, style)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, X=data.X, y=data.y, drawer=data.drawer))
    return f"npz:{path}"


def rich_classes():
    """{seed: code points} of the validation and the test "rich" regimes: validation classes
    avoid the fresh test classes; test classes avoid those, the validation ones and every class
    of curriculum_levers.USED_SEEDS."""
    used = used_code_points()
    fresh = set().union(*(fresh_code_points(s, used) for s in FRESH_SEEDS))
    valid = {s: rich_code_points(s, fresh) for s in SCREEN_SEEDS["rich"]}
    taken = used | fresh | set().union(*map(set, valid.values()))
    test = {s: rich_code_points(s, taken) for s in RICH_TEST_SEEDS}
    assert not taken & set().union(*map(set, test.values())), "rich test classes overlap"
    return valid, test


def choose_late_first(table, tolerance=0.01):
    """Step 2 of the module docstring. table: {label: {regime: per-seed diffs}}."""
    def late_half(per_regime):
        means = [_mean([s["diff"][b] for s in seeds]) for seeds in per_regime.values()
                 for b in ("21-50", ">50")]
        return all(m is not None and m >= -tolerance for m in means)

    full = choose(table)
    late = [label for label, per in table.items() if late_half(per)]
    if late and full not in late:
        return max(late, key=lambda label: score(table[label]))
    return full


def regime(name, seed, split, points=None):
    """The base config (write_gain pinned at 1) of one regime, seed and split."""
    if name == "demo":
        return demo_config(seed=seed, split=split, write_gain=1.0)
    if name == "rich":
        return dataclasses.replace(DATASETS["digits"], **RICH, dataset=rich_dataset(seed, points),
                                   seed=seed, split=split)
    return dataclasses.replace(DATASETS[name], seed=seed, split=split)


def stage(plan, settings, quick, jobs):
    """plan: {regime: [(seed, base config)]}; every setting and the baseline on each cell.
    Returns {label: {regime: compare(...)}}."""
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="steps / 5, to check the script")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (joblib)")
    parser.add_argument("--reuse-screen", action="store_true",
                        help="take the screen (and the first choice) from the saved JSON")
    args = parser.parse_args(argv)
    start = time.time()
    suffix = "_quick" if args.quick else ""
    valid, test = rich_classes()
    first = None
    if args.reuse_screen:
        with open(os.path.join(RESULTS, f"curriculum_centring{suffix}.json"),
                  encoding="utf-8") as f:
            saved = json.load(f)
        screen = saved["screen"]
        first = saved.get("first") or {k: saved[k] for k in ("chosen", "chosen_levers", "final")}
    else:
        screen = stage({name: [(s, regime(name, s, "validation", valid.get(s)))
                               for s in seeds] for name, seeds in SCREEN_SEEDS.items()},
                       SETTINGS, args.quick, args.jobs)
    chosen = choose_late_first({label: _seeds(per) for label, per in screen.items()})
    used = used_code_points()
    plan = {"kanji": [], "digits": [(s, regime("digits", s, "test")) for s in DIGIT_TEST_SEEDS],
            "demo": [(s, regime("demo", s, "test")) for s in range(DEMO_SEEDS)],
            "rich": [(s, regime("rich", s, "test", test[s])) for s in RICH_TEST_SEEDS]}
    for seed in FRESH_SEEDS:
        spec, _ = fresh_dataset(seed, used)
        plan["kanji"].append((seed, dataclasses.replace(regime("kanji", seed, "test"),
                                                        dataset=spec)))
    final = stage(plan, {"current": CURRENT, "chosen": SETTINGS[chosen]}, args.quick, args.jobs)
    final = {name: {label: final[label][name] for label in final} for name in plan}
    results = {"settings": SETTINGS, "screen_seeds": SCREEN_SEEDS, "screen": screen,
               "chosen": chosen, "chosen_levers": SETTINGS[chosen],
               "rich_classes": {"validation": {s: "".join(map(chr, p)) for s, p in valid.items()},
                                "test": {s: "".join(map(chr, p)) for s, p in test.items()}},
               "test_seeds": {"kanji": FRESH_SEEDS, "digits": DIGIT_TEST_SEEDS,
                              "demo": list(range(DEMO_SEEDS)), "rich": RICH_TEST_SEEDS},
               "final": final, "first": first, "seconds": time.time() - start}
    write_json(f"curriculum_centring{suffix}.json", results)
    text = markdown(results)
    if not args.quick:
        update_readme_section("centring", text)
    print(text)


def markdown(results):
    seeds = results["test_seeds"]
    return (f"Chosen on validation: **{results['chosen']}** {results['chosen_levers']}.\n\n"
            f"Test drawers (kanji: fresh classes, seeds {list(seeds['kanji'])}; digits: seeds "
            f"{list(seeds['digits'])}; demo: `hebbref demo`, seeds {list(seeds['demo'])}; "
            f"rich: fresh classes, seeds {list(seeds['rich'])}):\n\n"
            + final_markdown(results["final"])
            + (f"\n\nThe first choice, by the best score overall (`curriculum.choose`): "
               f"**{results['first']['chosen']}**, on the same test drawers:\n\n"
               + final_markdown(results["first"]["final"]) if results.get("first") else "")
            + "\n\nScreen (validation drawers; seeds "
            + ", ".join(f"{k} {list(v)}" for k, v in results["screen_seeds"].items())
            + "; ✓ meets the criterion on validation means in every regime):\n\n"
            + lever_markdown(results["screen"]))


if __name__ == "__main__":
    main()

"""MbPA (docs/MATH.md §6.5) and cache + MbPA on the LMs trained by validation/lm_torch.py: the rows
model, + cache, + MbPA, + cache + MbPA, for the plain and the Hebbian model.

    python validation/lm_mbpa.py [--tokens 5000]    (after validation/lm_torch.py)
    python validation/lm_mbpa.py --init "BBC defaults" --tokens 2000   (after lm_buckets.py)

Reads runs/lm_torch/hebbref_baseline.npz and hebbref_hebbian.npz (hebbref, Adam, the shortened
protocol of lm_torch.py), or with --init "BBC defaults" the seed-0 models of lm_buckets.py (one
epoch, the defaults chosen there) searched over a wider grid (WIDE_POINTS), and chooses MbPA's (K, S, α, β, ε, λ_m) and the cache's (W, θ_c, λ_c) on
the first --tokens validation tokens only, evaluates the first --tokens test tokens at the
chosen values, and writes validation/results/lm_mbpa.json and the README table, with the
tokens/s of the MbPA passes.
"""
import argparse
import functools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, update_readme_section, write_json  # noqa: E402
from lm_torch import PARAMS, SETTINGS  # noqa: E402

from hebbref.data.text import load_corpus  # noqa: E402
from hebbref.experiments.lm import LMConfig  # noqa: E402
from hebbref.experiments.lm_checkpoint import load_state  # noqa: E402
from hebbref.mbpa import DEFAULT_POINTS, evaluate_mbpa  # noqa: E402
from hebbref.plots import plot_lm_buckets  # noqa: E402
from hebbref.sweep import run_sweep  # noqa: E402

MODELS = {init: {model: f"hebbref_{model}{suffix}.npz" for model in ("baseline", "hebbian")}
          for init, suffix in (("hebbref init", ""), ("torch-style init", "_torch-style_init"))}
BUCKETS_MODELS = "BBC defaults"   # the seed-0 models of lm_buckets.py, named in its lm.json
MODELS[BUCKETS_MODELS] = {}
# K = 32 and S = 3, the largest values of DEFAULT_POINTS, were chosen by three of four models;
# on wider grids the BBC-defaults models chose S at the grid's edge each time (S = 6, then
# S = 10 with K = 64 and 32): K up to 128 and S up to 20, at the α and β chosen there.
WIDE_POINTS = ((8, 1, 1.0, 0.1, 1e-3), (32, 3, 1.0, 0.1, 1e-3), (32, 6, 1.0, 0.1, 1e-3),
               (64, 6, 1.0, 0.1, 1e-3), (32, 10, 1.0, 0.1, 1e-3), (64, 10, 1.0, 0.1, 1e-3),
               (128, 6, 1.0, 0.1, 1e-3), (128, 10, 1.0, 0.1, 1e-3), (32, 20, 1.0, 0.1, 1e-3),
               (64, 20, 1.0, 0.1, 1e-3))


def rows_for(path, corpus, config, points=DEFAULT_POINTS):
    if path.endswith("checkpoint.npz"):
        params = load_state(path)[1].params
    else:
        params = dict(np.load(os.path.join(PARAMS, path)))
    return evaluate_mbpa(config, corpus, params, with_cache=True, points=points)


def buckets_models():
    """{model: checkpoint} of lm_buckets.py's seed-0 runs, and their config."""
    from lm_buckets import RUNS
    with open(os.path.join(RESULTS, "lm.json"), encoding="utf-8") as f:
        runs = json.load(f)["runs"]
    paths = {model: os.path.join(RUNS, os.path.basename(r[0]["config"]["out"]), "checkpoint.npz")
             for model, r in runs.items()}
    return paths, runs["baseline"][0]["config"]


ROWS = (("model", ""), ("cache", " + cache"), ("mbpa", " + MbPA"), ("cache_mbpa", " + cache + MbPA"))


def table(results, init, split="test"):
    names = [">1K", "100–1K", "10–100", "<10", "overall"]
    lines = [f"| {init} ({split}) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for model, result in results.items():
        for key, label in ROWS:
            rows = result[key][split]
            by_name = {r["name"]: r["perplexity"] for r in rows["buckets"] + [rows["overall"]]}
            lines.append(f"| {model}{label} | " + " | ".join(
                f"{by_name[n]:,.1f}" if by_name.get(n) else "n/a" for n in names) + " |")
    return "\n".join(lines)


def evaluate_init(init, corpus, config, tokens):
    """The rows of both models of one initialisation, side by side (one core each)."""
    models, points = MODELS[init], DEFAULT_POINTS
    if init == BUCKETS_MODELS:
        models, trained = buckets_models()
        points = WIDE_POINTS
        config = LMConfig(**{**trained, "out": None, "mbpa": True, "cache": True,
                             "mbpa_tokens": tokens})
    done = run_sweep(functools.partial(rows_for, corpus=corpus, config=config, points=points),
                     list(models.values()), jobs=2)
    return dict(zip(models, done))


def markdown(saved):
    """The README section: per initialisation, the values chosen on validation and the rows."""
    sections = []
    for init, results in saved["by_init"].items():
        speed = "; ".join(f"{m}: valid {r['tokens_per_second']['valid']['value']:.0f} tokens/s "
                          f"({r['tokens_per_second']['valid']['points']} grid points), test "
                          f"{r['tokens_per_second']['test']['value']:.0f} tokens/s (1 point)"
                          for m, r in results.items())
        chosen = "; ".join(f"{m}: {r['chosen']}" for m, r in results.items())
        tokens = saved["tokens_by_init"][init]
        sections.append(f"**{init}** (first {tokens:,} tokens of each split). Chosen on "
                        f"validation: {chosen}. Speed: {speed}.\n\n" + table(results, init))
    return (f"Memory M = {saved['memory']} per column (evaluation batch "
            f"{SETTINGS['eval_batch_size']}); chosen point = (K, S, α, β, ε).\n\n"
            + "\n\n".join(sections))


def plots(saved):
    """lm_mbpa.png, the paper's rows for the BBC defaults, from saved (no evaluation)."""
    if BUCKETS_MODELS in saved["by_init"]:   # the paper's rows for the BBC defaults, as a plot
        rows = {f"{model}{label}": [result[key]] for model, result in
                saved["by_init"][BUCKETS_MODELS].items() for key, label in ROWS}
        tokens = saved["tokens_by_init"][BUCKETS_MODELS]
        plot_lm_buckets(rows, os.path.join(RESULTS, "lm_mbpa.png"),
                        title=f"BBC defaults, seed 0, first {tokens:,} test tokens",
                        annotate=False, palette="tab20")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--init", nargs="*", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args(argv)
    corpus = load_corpus("bbc", seed=0)
    config = LMConfig(**SETTINGS, mbpa=True, cache=True, mbpa_tokens=args.tokens)
    path = os.path.join(RESULTS, "lm_mbpa.json")
    saved = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}
    saved.setdefault("by_init", {})
    saved["memory"] = config.mbpa_memory
    tokens = saved.setdefault("tokens_by_init", dict.fromkeys(saved["by_init"], saved.get("tokens")))
    for init in args.init:
        saved["by_init"][init] = evaluate_init(init, corpus, config, args.tokens)
        tokens[init] = args.tokens
        write_json("lm_mbpa.json", saved)
    text = markdown(saved)
    update_readme_section("lm-mbpa", text)
    plots(saved)
    print(text)


if __name__ == "__main__":
    main()

"""MbPA (METHOD §8) and cache + MbPA on the LMs trained by validation/lm_torch.py: the rows
model, + cache, + MbPA, + cache + MbPA, for the plain and the Hebbian model.

    python validation/lm_mbpa.py [--tokens 5000]    (after validation/lm_torch.py)

Reads runs/lm_torch/hebbref_baseline.npz and hebbref_hebbian.npz (hebbref, Adam, the shortened
protocol of lm_torch.py), chooses MbPA's (K, S, α, β, ε, λ_m) and the cache's (W, θ_c, λ_c) on
the first --tokens validation tokens only, evaluates the first --tokens test tokens at the
chosen values, and writes validation/results/lm_mbpa.json and the README table, with the
tokens/s of the MbPA passes.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, update_readme_section, write_json  # noqa: E402
from lm_torch import PARAMS, SETTINGS  # noqa: E402

from hebbref.data.text import load_corpus  # noqa: E402
from hebbref.experiments.lm import LMConfig  # noqa: E402
from hebbref.mbpa import evaluate_mbpa  # noqa: E402

MODELS = {init: {model: f"hebbref_{model}{suffix}.npz" for model in ("baseline", "hebbian")}
          for init, suffix in (("hebbref init", ""), ("torch-style init", "_torch-style_init"))}


def rows_for(path, corpus, config):
    params = dict(np.load(os.path.join(PARAMS, path)))
    return evaluate_mbpa(config, corpus, params, with_cache=True)


def table(results, init, split="test"):
    names = [">1K", "100–1K", "10–100", "<10", "overall"]
    lines = [f"| {init} ({split}) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for model, result in results.items():
        for key, label in (("model", ""), ("cache", " + cache"), ("mbpa", " + MbPA"),
                           ("cache_mbpa", " + cache + MbPA")):
            rows = result[key][split]
            by_name = {r["name"]: r["perplexity"] for r in rows["buckets"] + [rows["overall"]]}
            lines.append(f"| {model}{label} | " + " | ".join(
                f"{by_name[n]:,.1f}" if by_name.get(n) else "n/a" for n in names) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--init", nargs="*", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args(argv)
    corpus = load_corpus("bbc", seed=0)
    config = LMConfig(**SETTINGS, mbpa=True, cache=True, mbpa_tokens=args.tokens)
    path = os.path.join(RESULTS, "lm_mbpa.json")
    saved = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}
    if saved.get("tokens") != args.tokens or "by_init" not in saved:
        saved = {"tokens": args.tokens, "memory": config.mbpa_memory, "by_init": {}}
    for init in args.init:
        saved["by_init"][init] = {model: rows_for(file, corpus, config)
                                  for model, file in MODELS[init].items()}
        write_json("lm_mbpa.json", saved)
    sections = []
    for init, results in saved["by_init"].items():
        speed = "; ".join(f"{m}: valid {r['tokens_per_second']['valid']['value']:.0f} tokens/s "
                          f"({r['tokens_per_second']['valid']['points']} grid points), test "
                          f"{r['tokens_per_second']['test']['value']:.0f} tokens/s (1 point)"
                          for m, r in results.items())
        chosen = "; ".join(f"{m}: {r['chosen']}" for m, r in results.items())
        sections.append(f"**{init}.** Chosen on validation: {chosen}. Speed: {speed}.\n\n"
                        + table(results, init))
    text = (f"First {args.tokens:,} tokens of each split, memory M = {config.mbpa_memory} per "
            f"column (evaluation batch {config.eval_batch_size}); chosen point = (K, S, α, β, ε)."
            "\n\n" + "\n\n".join(sections))
    update_readme_section("lm-mbpa", text)
    print(text)


if __name__ == "__main__":
    main()

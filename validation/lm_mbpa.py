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
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import update_readme_section, write_json  # noqa: E402
from lm_torch import PARAMS, SETTINGS  # noqa: E402

from hebbref.data.text import load_corpus  # noqa: E402
from hebbref.experiments.lm import LMConfig  # noqa: E402
from hebbref.mbpa import evaluate_mbpa  # noqa: E402

MODELS = {"baseline": "hebbref_baseline.npz", "hebbian": "hebbref_hebbian.npz"}


def rows_for(name, corpus, config):
    params = dict(np.load(os.path.join(PARAMS, MODELS[name])))
    return evaluate_mbpa(config, corpus, params, with_cache=True)


def table(results, split="test"):
    names = [">1K", "100–1K", "10–100", "<10", "overall"]
    lines = [f"| model ({split}) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
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
    args = parser.parse_args(argv)
    corpus = load_corpus("bbc", seed=0)
    config = LMConfig(**SETTINGS, mbpa=True, cache=True, mbpa_tokens=args.tokens)
    results = {}
    for name in MODELS:
        results[name] = rows_for(name, corpus, config)
        print(name, results[name]["chosen"], results[name]["tokens_per_second"], flush=True)
    write_json("lm_mbpa.json", {"tokens": args.tokens, "memory": config.mbpa_memory,
                                "results": results})
    speed = "; ".join(f"{m}: valid {r['tokens_per_second']['valid']['value']:.0f} tokens/s "
                      f"({r['tokens_per_second']['valid']['points']} grid points), test "
                      f"{r['tokens_per_second']['test']['value']:.0f} tokens/s (1 point)"
                      for m, r in results.items())
    chosen = "; ".join(f"{m}: {r['chosen']}" for m, r in results.items())
    text = (f"First {args.tokens:,} tokens of each split, memory M = {config.mbpa_memory} per "
            f"column (evaluation batch {config.eval_batch_size}). Chosen on validation: "
            f"{chosen}. Speed: {speed}.\n\n" + table(results))
    update_readme_section("lm-mbpa", text)
    print(text)


if __name__ == "__main__":
    main()

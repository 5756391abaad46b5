"""The language model of docs/MATH.md §10 trained by hebbref and by a short independent PyTorch script
(validation/lm_torch_side.py), side by side, on the same split and token ids.

    python validation/lm_torch.py [--rows NAME ...] [--seeds 0 1 2] [--max-steps 230]
                                  [--eval-tokens 30000] [--skip-done] [--quick]

Both sides: BBC News (`load_corpus("bbc", seed=s)`), embedding E = 128 → 1-layer LSTM H = 128 →
softmax, B = 32, BPTT 35, state carried and detached, evaluation batch 10; the Hebbian rule of
docs/MATH.md §5 after the optimiser step (bias by gradient only). Each row carries its own training
settings (optimizer, lr, clip, γ, T, lam_rule, write_scale):
- the Adam rows: Adam lr 2e-3, gradient-norm clip 2.5, γ = 0.01, T = 500, the paper's write;
- the ", defaults" rows: hebbref's LM defaults when they ran, pinned (DEFAULTS): torch-style
  init, SGD lr 20 at a constant lr, clip 0.25, γ = 0.01, T = 20, plain writes at half size; torch:
  hebbref's initial weights copied in, plain torch.optim.SGD, b_hh frozen at 0
  (lm_torch_side.torch_model).

Seeds: a seed s does on both sides what LMConfig(seed=s) does in hebbref: it shuffles the
documents into the split (so the vocabulary changes with s) and draws the initial weights
(default_rng(s); torch.manual_seed(s) for torch's own initialisation); batchify fixes the data
order. Both implementations of a (row, seed) share split and initial weights; the "agreement
over seeds" table sets their ratio against the spread over seeds.

Shortened protocol (budget): every run stops after --max-steps training steps (230 ≈ 1/3 of an
epoch of 680) and is scored on the first --eval-tokens tokens of the validation and test splits.
Rows accumulate in validation/results/lm_torch.json under their name for seed 0 and under
"NAME (seed s)" for other seeds, so rows can be run one process at a time. Besides perplexity by
bucket, every row records the mechanism: mean ‖h‖ of the activations entering the softmax, and
mean ‖θ_i‖ and b_i over words of each training-frequency bucket (a Hebbian row is written as a
mean of h, so its norm follows ‖h‖). --quick writes lm_torch_quick.json and runs/lm_torch_quick
(5 steps, 2,000 tokens unless given), not the README. Without torch: says so, exits 0.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RATIO_MARGIN, RESULTS, update_readme_section, write_json  # noqa: E402
from lm_torch_side import torch_row  # noqa: E402
from stats import seed_ratio_interval  # noqa: E402

from hebbref.data.batching import batchify, bptt_segments  # noqa: E402
from hebbref.data.text import load_corpus  # noqa: E402
from hebbref.experiments.lm import LMConfig, run  # noqa: E402
from hebbref.metrics import bucket_of_targets, frequency_buckets  # noqa: E402
from hebbref.models.lm import lm_forward, lm_initial_state  # noqa: E402

PARAMS = os.path.join(os.path.dirname(RESULTS), "..", "runs", "lm_torch")
SHAPE = dict(embed_size=128, hidden=128, layers=1, batch_size=32, bptt=35, eval_batch_size=10)
RULE_KEYS = ("optimizer", "lr", "clip", "gamma", "T", "lam_rule", "write_scale", "write_gain")
ADAM = dict(optimizer="adam", lr=2e-3, clip=2.5, gamma=0.01, T=500.0, lam_rule="paper",
            write_scale="none", write_gain=1.0, prior_count=0.0)
# The Adam rows as LMConfig keywords (validation/lm_mbpa.py builds its config from them).
SETTINGS = {**SHAPE, **{key: ADAM[key] for key in ("optimizer", "lr", "clip", "gamma", "T")}}
HEBBREF_INIT = dict(embed_init="uniform", softmax_bias_init="zero", lstm_bias_init="forget_one")
TORCH_INIT = dict(embed_init="normal", softmax_bias_init="uniform", lstm_bias_init="torch")


# The LM settings the ", defaults" rows train with, pinned so a rerun reproduces them: LMConfig()
# now anneals the lr (docs/MATH.md §4.6), which the torch side does not implement.
DEFAULTS = dict(optimizer="sgd", lr=20.0, clip=0.25, gamma=0.01, T=20.0, lam_rule="paper",
                write_scale="none", write_gain=0.5, prior_count=0.0)
DEFAULTS_INIT = dict(embed_init="normal", softmax_bias_init="uniform", lstm_bias_init="torch")


def spec(implementation, hebbian, init, sparse=None, settings=ADAM, freeze_bias_hh=None):
    """A row: implementation, Hebbian?, initialisation, torch embedding gradient sparse?, its
    training settings (RULE_KEYS), and for torch whether b_hh is frozen (lm_torch_side.torch_model:
    the Adam rows train both of nn.LSTM's biases, the defaults rows only b_ih, as hebbref)."""
    return dict(implementation=implementation, hebbian=hebbian, init=init, sparse=sparse,
                settings=settings,
                freeze_bias_hh=None if implementation == "hebbref" else bool(freeze_bias_hh))


ROWS = {
    "hebbref baseline": spec("hebbref", False, HEBBREF_INIT),
    "hebbref hebbian": spec("hebbref", True, HEBBREF_INIT),
    "torch baseline, hebbref init": spec("torch", False, HEBBREF_INIT, False),
    "torch hebbian, hebbref init": spec("torch", True, HEBBREF_INIT, False),
    "torch baseline": spec("torch", False, "torch default", False),
    "torch hebbian": spec("torch", True, "torch default", False),
    "hebbref baseline, torch-style init": spec("hebbref", False, TORCH_INIT),
    "hebbref hebbian, torch-style init": spec("hebbref", True, TORCH_INIT),
    **{f"hebbref {model}, only {key}={value}": spec("hebbref", model == "hebbian",
                                                    {**HEBBREF_INIT, key: value})
       for key, value in TORCH_INIT.items() for model in ("baseline", "hebbian")},
    "torch baseline, hebbref init, sparse Adam": spec("torch", False, HEBBREF_INIT, True),
    "torch hebbian, hebbref init, sparse Adam": spec("torch", True, HEBBREF_INIT, True),
    "hebbref baseline, defaults": spec("hebbref", False, DEFAULTS_INIT, settings=DEFAULTS),
    "hebbref hebbian, defaults": spec("hebbref", True, DEFAULTS_INIT, settings=DEFAULTS),
    "torch baseline, defaults": spec("torch", False, DEFAULTS_INIT, False, DEFAULTS, True),
    "torch hebbian, defaults": spec("torch", True, DEFAULTS_INIT, False, DEFAULTS, True),
}
# hebbref row vs the torch row with the same initial weights and optimiser update
PAIRS = (("hebbref baseline", "torch baseline, hebbref init, sparse Adam"),
         ("hebbref hebbian", "torch hebbian, hebbref init, sparse Adam"),
         ("hebbref baseline, defaults", "torch baseline, defaults"),
         ("hebbref hebbian, defaults", "torch hebbian, defaults"))
BUCKETS = (">1K", "100–1K", "10–100", "<10")


def row_key(name, seed):
    """The row's key in the results: its name for seed 0 (as before seeds), else "name (seed s)"."""
    return name if seed == 0 else f"{name} (seed {seed})"


def params_path(key, folder=PARAMS):
    stem = key.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
    return os.path.join(folder, stem + ".npz")


def mechanism(params, corpus, tokens):
    """Mean ‖h‖ over the evaluated validation tokens, and row_statistics."""
    data = batchify(tokens, SETTINGS["eval_batch_size"])
    state, norms = lm_initial_state(params, data.shape[1]), []
    for _, x, _ in bptt_segments(data, SETTINGS["bptt"]):
        _, h, state, _ = lm_forward(params, x, state)
        norms.append(np.linalg.norm(h.astype(np.float64), axis=1))
    return {"h_norm": float(np.concatenate(norms).mean()), **row_statistics(params, corpus)}


def row_statistics(params, corpus):
    """Per frequency bucket: mean ‖θ_i‖, mean b_i, and the alignment of the rows, ‖mean of
    θ_i/‖θ_i‖‖² (≈ the mean pairwise cosine: 1 when every row points one way, ≈ 0 for random
    rows); rows written as means of h share h's common direction."""
    words = np.arange(len(corpus.vocab))
    bucket = bucket_of_targets(words, corpus.train_counts, corpus.word_to_id["<unk>"],
                               frequency_buckets("default"))
    theta = params["softmax.theta"].astype(np.float64)
    theta_norm = np.linalg.norm(theta, axis=1)
    unit = theta / np.maximum(theta_norm, 1e-30)[:, None]
    names = [b.name for b in frequency_buckets("default")] + ["<unk>"]
    present = [(i, name) for i, name in enumerate(names) if np.any(bucket == i)]
    return {"theta_norm": {name: float(theta_norm[bucket == i].mean()) for i, name in present},
            "bias": {name: float(params["softmax.b"][bucket == i].mean()) for i, name in present},
            "alignment": {name: float(np.sum(unit[bucket == i].mean(axis=0) ** 2))
                          for i, name in present}}


def hebbref_row(row, seed, max_steps, eval_tokens):
    """Train and score one hebbref row with LMConfig(seed=seed): split, initial weights."""
    # A constant lr, as the torch side trains: the comparison is of implementations, not schedules.
    config = LMConfig(corpus="bbc", hebbian=row["hebbian"], seed=seed, max_steps=max_steps,
                      eval_tokens=eval_tokens, curve_every=10**9, checkpoint_every=10**9,
                      dropout=0.0, dtype="float32", lr_schedule="constant", **SHAPE,
                      **row["settings"], **row["init"])
    results = run(config, progress=False)
    return ({split: results[split] for split in ("valid", "test")},
            results["_state"].params, results["tokens_per_second"])


def train_row(name, corpus, seed, max_steps, eval_tokens, folder):
    """One row for one seed (corpus: load_corpus("bbc", seed=seed)); saves its trained weights
    (for validation/lm_mbpa.py) and returns its record for the results JSON."""
    row, start = ROWS[name], time.time()
    if row["implementation"] == "hebbref":
        splits, params, speed = hebbref_row(row, seed, max_steps, eval_tokens)
    else:
        splits, params, speed = torch_row(corpus, row["hebbian"], row["init"], row["sparse"],
                                          row["settings"], SHAPE, seed=seed,
                                          max_steps=max_steps, eval_tokens=eval_tokens,
                                          freeze_bias_hh=row["freeze_bias_hh"])
    os.makedirs(folder, exist_ok=True)
    np.savez(params_path(row_key(name, seed), folder), **params)
    torch_options = ({} if row["implementation"] == "hebbref" else
                     {"torch": {"sparse_embedding": row["sparse"],
                                "freeze_bias_hh": row["freeze_bias_hh"]}})
    return {**splits, "name": name, "seed": seed, "init": row["init"],
            "settings": row["settings"], **torch_options, "train_tokens_per_second": speed,
            "mechanism": mechanism(params, corpus, corpus.valid[:eval_tokens + 1]),
            "seconds": time.time() - start}


def same_training(a, b):
    """Two rows (records or ROWS entries) trained from the same settings and initialisation."""
    def rule(settings):  # rows recorded before write_gain, prior_count: full size, λ = 1/c
        return {"write_gain": 1.0, "prior_count": 0.0, **settings}

    return rule(a["settings"]) == rule(b["settings"]) and a["init"] == b["init"]


def load_results(path, max_steps, eval_tokens):
    """The rows in path if run under this protocol, else none. A file from before rows carried
    their seed and settings (protocol holding SETTINGS and seed 0) is read as seed-0 Adam rows."""
    protocol = {"shape": SHAPE, "corpus": "bbc", "min_count": LMConfig().min_count,
                "max_steps": max_steps, "eval_tokens": eval_tokens}
    results = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    results.pop("record", None)     # write_json adds this run's record
    legacy = {"settings": SETTINGS, "max_steps": max_steps, "eval_tokens": eval_tokens, "seed": 0}
    if results.get("protocol") == legacy:
        for name, row in results["rows"].items():
            row.update(name=name, seed=0, settings=ADAM)
        results["protocol"] = protocol
    if results.get("protocol") != protocol:
        results = {"protocol": protocol, "rows": {}}
    return results


def table(rows, split="test"):
    names = list(BUCKETS)
    lines = [f"| run (seed 0, {split}) | overall | " + " | ".join(names)
             + " | ‖h‖ | ‖θ_i‖ >1K / <10 | b >1K / <10 | alignment >1K / <10 |",
             "|---|" + "---|" * (len(names) + 5)]
    for name, row in rows.items():
        by_name = {b["name"]: b["perplexity"] for b in row[split]["buckets"]}
        m = row["mechanism"]
        lines.append(f"| {name} | {row[split]['overall']['perplexity']:,.1f} | "
                     + " | ".join(f"{by_name[n]:,.1f}" if by_name.get(n) else "n/a" for n in names)
                     + f" | {m['h_norm']:.2f} | "
                     + " | ".join(frequent_rare(m, key) for key in ("theta_norm", "bias",
                                                                    "alignment")) + " |")
    return "\n".join(lines)


def frequent_rare(mechanism, key):
    """"value >1K / value <10" of a row_statistics entry; n/a if the row has not recorded it
    (alignment came after the first rows: --refresh-rows adds it from the saved weights)."""
    values = mechanism.get(key, {})
    if ">1K" not in values or "<10" not in values:
        return "n/a"
    return f"{values['>1K']:.2f} / {values['<10']:.2f}"


def perplexities(row, split):
    """{"overall": perplexity, bucket name: perplexity or None} of one row."""
    by_name = {b["name"]: b["perplexity"] for b in row[split]["buckets"]}
    return {"overall": row[split]["overall"]["perplexity"], **{n: by_name.get(n) for n in BUCKETS}}


def agreement(rows, split="test"):
    """Per pair of PAIRS: the seeds where both rows were trained with the pair's settings and
    initialisation now (ROWS: rows of older defaults drop out), and their perplexities."""
    pairs = []
    for hebbref_name, torch_name in PAIRS:
        seeds, sides = [], {"hebbref": [], "torch": []}
        for row in sorted(rows.values(), key=lambda row: row["seed"]):
            other = rows.get(row_key(torch_name, row["seed"]))
            if (row["name"] == hebbref_name and other is not None
                    and same_training(row, ROWS[hebbref_name])
                    and same_training(other, ROWS[hebbref_name])):
                seeds.append(row["seed"])
                sides["hebbref"].append(perplexities(row, split))
                sides["torch"].append(perplexities(other, split))
        if seeds:
            pairs.append({"hebbref_name": hebbref_name, "torch_name": torch_name, "seeds": seeds,
                          **{side: {key: [p[key] for p in values] for key in values[0]}
                             for side, values in sides.items()}})
    return pairs


def ratio_interval(hebbref, torch):
    """hebbref/torch ratio per seed and seed_ratio_interval of them; None if a value is missing."""
    if not all(a and b and np.isfinite(a) and np.isfinite(b) for a, b in zip(hebbref, torch)):
        return None, None
    ratios = [a / b for a, b in zip(hebbref, torch)]
    return ratios, seed_ratio_interval(ratios)


def interval_text(interval, seeds):
    if interval is None:
        return "n/a"
    ratio, low, high = interval
    return f"{ratio:.4f}" if seeds < 2 else f"{ratio:.4f} [{low:.4f}, {high:.4f}]"


def spread(values):
    return "n/a" if len(values) < 2 else f"{max(values) / min(values):.3f}"


def mean_sd(values):
    return (f"{values[0]:,.1f}" if len(values) < 2
            else f"{np.mean(values):,.1f} ± {np.std(values, ddof=1):,.1f}")


def agreement_tables(rows, split="test"):
    """Markdown: overall perplexity, ratios and verdict per pair; then the interval per bucket."""
    overall = [f"| hebbref row / torch row | seeds | hebbref {split} ppl | torch {split} ppl | "
               "hebbref/torch per seed | ratio [95 % interval] | seed spread hebbref / torch "
               "(max/min) | verdict |", "|---|---|---|---|---|---|---|---|"]
    buckets = ["| hebbref row / torch row | overall | " + " | ".join(BUCKETS) + " |",
               "|---|" + "---|" * (len(BUCKETS) + 1)]
    for pair in agreement(rows, split):
        label, seeds = f"{pair['hebbref_name']} / {pair['torch_name']}", len(pair["seeds"])
        h, t = pair["hebbref"]["overall"], pair["torch"]["overall"]
        ratios, interval = ratio_interval(h, t)
        if interval is None:
            verdict = "n/a"
        elif seeds < 2:
            verdict = "one seed: no interval"
        else:
            verdict = ("agree within ±1 %" if 1 - RATIO_MARGIN <= interval[1] and
                       interval[2] <= 1 + RATIO_MARGIN else "inconclusive: includes 1"
                       if interval[1] <= 1 <= interval[2] else "differ: excludes 1")
        per_seed = ", ".join(f"{r:.4f}" for r in ratios) if ratios else "n/a"
        overall.append(f"| {label} | {', '.join(map(str, pair['seeds']))} | {mean_sd(h)} | "
                       f"{mean_sd(t)} | {per_seed} | {interval_text(interval, seeds)} | "
                       f"{spread(h)} / {spread(t)} | {verdict} |")
        cells = [interval_text(ratio_interval(pair["hebbref"][key], pair["torch"][key])[1], seeds)
                 for key in ("overall",) + BUCKETS]
        buckets.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(overall) + "\n\nhebbref/torch perplexity ratio by bucket [95 % interval " \
        "over seeds]:\n\n" + "\n".join(buckets)


def describe(settings, init=None):
    """One line of a row's training settings (and initialisation) for the README."""
    text = (f"{settings['optimizer']} lr {settings['lr']:g}, clip {settings['clip']:g}, "
            f"γ = {settings['gamma']:g}, T = {settings['T']:g}, lam_rule {settings['lam_rule']}, "
            f"write_scale {settings['write_scale']} × {settings.get('write_gain', 1.0):g}")
    if init is not None:
        text += ", init " + (init if isinstance(init, str)
                             else " / ".join(f"{key}={value}" for key, value in init.items()))
    return text


def report(results, corpus, max_steps, eval_tokens):
    """The README section: the seed-0 table, the settings of its rows, the agreement table."""
    rows = results["rows"]
    epoch = -(-(corpus.train.size // SHAPE["batch_size"] - 1) // SHAPE["bptt"])
    settings = {describe(row["settings"], row["init"]) for row in rows.values()
                if row["name"].endswith(", defaults")}
    text = (f"Protocol: {max_steps} training steps ({max_steps / epoch:.2f} of an epoch of "
            f"{epoch} at seed 0), first {eval_tokens:,} tokens of each split. Test "
            "perplexity, seed 0:\n\n"
            + table({key: row for key, row in rows.items() if row["seed"] == 0})
            + f"\n\nRows without \", defaults\": {describe(ADAM)}. Rows \", defaults\" "
            "(hebbref's LMConfig() when they ran): " + "; ".join(sorted(settings) or ["none yet"])
            + ". The torch rows train both of nn.LSTM's biases b_ih and b_hh (each gets hebbref's "
            "bias gradient, so their sum moves twice as far), except the \", defaults\" rows, "
            "which freeze b_hh at 0 and so train hebbref's model with hebbref's updates.")
    return (text + "\n\nAgreement over seeds (test split; each seed s has its own split and "
            "initial weights, shared by both implementations; interval: "
            "`validation/stats.py` `seed_ratio_interval`, Student's t over seeds on the log ratio; "
            "verdict from the overall interval):\n\n" + agreement_tables(rows))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--max-steps", type=int, default=None, help="230 (--quick: 5)")
    parser.add_argument("--eval-tokens", type=int, default=None, help="30000 (--quick: 2000)")
    parser.add_argument("--skip-done", action="store_true",
                        help="skip a (row, seed) already in the results with the same settings")
    parser.add_argument("--quick", action="store_true",
                        help="scratch run: lm_torch_quick.json, runs/lm_torch_quick, no README")
    parser.add_argument("--refresh-rows", action="store_true",
                        help="recompute row_statistics of the rows in the JSON from the saved "
                             "weights (no training) and rewrite the table")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not installed: the PyTorch side cannot run; nothing written")
        return 0
    suffix = "_quick" if args.quick else ""
    max_steps = args.max_steps or (5 if args.quick else 230)
    eval_tokens = args.eval_tokens or (2000 if args.quick else 30000)
    name, folder = f"lm_torch{suffix}.json", PARAMS + suffix
    results = load_results(os.path.join(RESULTS, name), max_steps, eval_tokens)
    corpora = {}

    def corpus_of(seed):  # the split of LMConfig(seed=seed)
        if seed not in corpora:
            corpora[seed] = load_corpus("bbc", min_count=LMConfig().min_count, seed=seed)
        return corpora[seed]

    if args.refresh_rows:
        for key, row in results["rows"].items():
            if not os.path.exists(params_path(key, folder)):
                print(f"{key}: no saved weights at {params_path(key, folder)}; kept as it was")
                continue
            row["mechanism"].update(row_statistics(dict(np.load(params_path(key, folder))),
                                                   corpus_of(row["seed"])))
        write_json(name, results)
        args.rows = []
    for seed in args.seeds:
        for row_name in args.rows:
            done = results["rows"].get(row_key(row_name, seed))
            if args.skip_done and done is not None and same_training(done, ROWS[row_name]):
                print(f"{row_key(row_name, seed)}: in the results already, skipped")
                continue
            record = train_row(row_name, corpus_of(seed), seed, max_steps, eval_tokens, folder)
            results["rows"][row_key(row_name, seed)] = record
            write_json(name, results)
            print(f"{row_key(row_name, seed)}: test {record['test']['overall']['perplexity']:.1f} "
                  f"({record['seconds']:.0f} s)", flush=True)
    text = report(results, corpus_of(0), max_steps, eval_tokens)
    if not args.quick:
        update_readme_section("lm-torch", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

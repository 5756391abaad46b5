"""The language model of METHOD §6 trained by hebbref and by a short independent PyTorch script,
side by side, on the same split and token ids (issue 15, point 1).

    python validation/lm_torch.py [--rows NAME ...] [--max-steps 230] [--eval-tokens 30000]

Both sides: BBC News (`load_corpus("bbc")`, V = 16,960), embedding E = 128 → 1-layer LSTM
H = 128 → softmax, B = 32, BPTT 35, state carried and detached, Adam lr 2e-3, gradient-norm clip
2.5, the Hebbian rule of METHOD §2 with γ = 0.01, T = 500 after the optimiser step (bias by
gradient only); evaluation batch 10. The PyTorch side uses torch's nn.Embedding, nn.LSTM,
nn.Linear and torch.optim and writes the rule itself after `opt.step()`; it shares nothing with
hebbref but the token ids, the batchify layout and the bucket table.

Shortened protocol (budget): every run stops after --max-steps training steps (230 ≈ 1/3 of an
epoch of 680) and is scored on the first --eval-tokens tokens of the validation and test splits.
Each row is one seed (0); rows accumulate in validation/results/lm_torch.json, so rows can be run
one process at a time. Besides perplexity by bucket, every row records the mechanism: mean ‖h‖
of the activations entering the softmax, and mean ‖θ_i‖ and b_i over words of each training-
frequency bucket (a Hebbian row is written as a mean of h, so its norm follows ‖h‖).
Without torch the script says so and exits 0.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, update_readme_section, write_json  # noqa: E402

from hebbref.data.batching import batchify, bptt_segments  # noqa: E402
from hebbref.data.text import load_corpus  # noqa: E402
from hebbref.experiments.lm import LMConfig, run  # noqa: E402
from hebbref.metrics import bucket_of_targets, frequency_buckets, perplexity_by_bucket  # noqa: E402
from hebbref.models.lm import lm_forward, lm_init, lm_initial_state  # noqa: E402

PARAMS = os.path.join(os.path.dirname(RESULTS), "..", "runs", "lm_torch")
SETTINGS = dict(embed_size=128, hidden=128, layers=1, batch_size=32, bptt=35, optimizer="adam",
                lr=2e-3, clip=2.5, gamma=0.01, T=500.0, eval_batch_size=10)
HEBBREF_INIT = dict(embed_init="uniform", softmax_bias_init="zero", lstm_bias_init="forget_one")
TORCH_INIT = dict(embed_init="normal", softmax_bias_init="uniform", lstm_bias_init="torch")
# name: (implementation, hebbian, initialisation, torch embedding gradient sparse?)
ROWS = {
    "hebbref baseline": ("hebbref", False, HEBBREF_INIT, None),
    "hebbref hebbian": ("hebbref", True, HEBBREF_INIT, None),
    "torch baseline, hebbref init": ("torch", False, HEBBREF_INIT, False),
    "torch hebbian, hebbref init": ("torch", True, HEBBREF_INIT, False),
    "torch baseline": ("torch", False, "torch default", False),
    "torch hebbian": ("torch", True, "torch default", False),
    "hebbref baseline, torch-style init": ("hebbref", False, TORCH_INIT, None),
    "hebbref hebbian, torch-style init": ("hebbref", True, TORCH_INIT, None),
    **{f"hebbref {model}, only {key}={value}": ("hebbref", model == "hebbian",
                                                {**HEBBREF_INIT, key: value}, None)
       for key, value in TORCH_INIT.items() for model in ("baseline", "hebbian")},
    "torch baseline, hebbref init, sparse Adam": ("torch", False, HEBBREF_INIT, True),
    "torch hebbian, hebbref init, sparse Adam": ("torch", True, HEBBREF_INIT, True),
}


def params_path(name):
    return os.path.join(PARAMS, name.replace(" ", "_").replace(",", "") + ".npz")


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


def hebbref_row(corpus, hebbian, init, max_steps, eval_tokens):
    config = LMConfig(corpus="bbc", hebbian=hebbian, max_steps=max_steps, eval_tokens=eval_tokens,
                      curve_every=10**9, checkpoint_every=10**9, **SETTINGS, **init)
    results = run(config, progress=False)
    return ({split: results[split] for split in ("valid", "test")},
            results["_state"].params, results["tokens_per_second"])


def torch_model(V, init, seed):
    """nn.Embedding → nn.LSTM → nn.Linear; torch's own init, or hebbref's values copied in
    (b_ih = hebbref's b, b_hh = 0, so their sum is hebbref's bias)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    H, E = SETTINGS["hidden"], SETTINGS["embed_size"]
    model = nn.ModuleDict({"embed": nn.Embedding(V, E), "lstm": nn.LSTM(E, H),
                           "linear": nn.Linear(H, V)})
    if init != "torch default":
        params = lm_init(V, E, H, np.random.default_rng(seed), dtype=np.float32, **init)
        with torch.no_grad():
            model["embed"].weight.copy_(torch.from_numpy(params["embed.E"]))
            model["lstm"].weight_ih_l0.copy_(torch.from_numpy(params["lstm1.Wx"].T.copy()))
            model["lstm"].weight_hh_l0.copy_(torch.from_numpy(params["lstm1.Wh"].T.copy()))
            model["lstm"].bias_ih_l0.copy_(torch.from_numpy(params["lstm1.b"]))
            model["lstm"].bias_hh_l0.zero_()
            model["linear"].weight.copy_(torch.from_numpy(params["softmax.theta"]))
            model["linear"].bias.copy_(torch.from_numpy(params["softmax.b"]))
    return model


def torch_forward(model, x, state):
    """x: (T, N) long -> logits (T·N, V), h (T·N, H), new state."""
    out, state = model["lstm"](model["embed"](x), state)
    h = out.reshape(-1, out.shape[-1])
    return model["linear"](h), h, state


def torch_hebbian(theta, counts, h, y, gamma, T):
    """METHOD §2 after opt.step(): λ_i = max(1/c_i, γ) if c_i < T else 0 (count before the
    batch), θ[i] ← λ_i ĥ_i + (1 − λ_i) θ[i] for every class in the batch, c_i += n_i."""
    import torch

    classes, n = torch.unique(y, return_counts=True)
    sums = torch.zeros(theta.shape[0], h.shape[1]).index_add_(0, y, h)
    h_hat = sums[classes] / n[:, None]
    c = counts[classes].double()
    lam = torch.where(c < T, torch.clamp(1.0 / c, min=gamma), torch.zeros_like(c)).float()
    theta[classes] = lam[:, None] * h_hat + (1 - lam[:, None]) * theta[classes]
    counts[classes] += n


def clip_(parameters, max_norm):
    """Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (whose norm kernel has no
    sparse version): g ← g · min(1, max_norm / (‖g‖ + 1e-6))."""
    import torch

    grads = [p.grad for p in parameters if p.grad is not None]
    values = [g.coalesce().values() if g.is_sparse else g for g in grads]
    total = torch.sqrt(sum(torch.sum(v.double() ** 2) for v in values))
    scale = min(1.0, max_norm / (float(total) + 1e-6))
    for g in grads:
        g.mul_(scale)


def torch_row(corpus, hebbian, init, sparse, max_steps, eval_tokens):
    import torch

    torch.set_num_threads(1)
    V = len(corpus.vocab)
    model = torch_model(V, init, seed=0)
    model["embed"].sparse = bool(sparse)
    dense = [p for name, p in model.named_parameters() if not (sparse and name == "embed.weight")]
    optimizers = [torch.optim.Adam(dense, lr=SETTINGS["lr"])]
    if sparse:
        optimizers.append(torch.optim.SparseAdam([model["embed"].weight], lr=SETTINGS["lr"]))
    counts = torch.ones(V, dtype=torch.long)
    data = torch.from_numpy(batchify(corpus.train, SETTINGS["batch_size"])).long()
    state, start = None, time.perf_counter()
    for step, (_, x, y) in enumerate(bptt_segments(data.numpy(), SETTINGS["bptt"])):
        if step == max_steps:
            break
        x, y = torch.from_numpy(x).long(), torch.from_numpy(y).long().reshape(-1)
        logits, h, state = torch_forward(model, x, state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits, y)
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        clip_(model.parameters(), SETTINGS["clip"])
        for opt in optimizers:
            opt.step()
        if hebbian:
            with torch.no_grad():
                torch_hebbian(model["linear"].weight, counts, h.detach(), y, SETTINGS["gamma"],
                              SETTINGS["T"])
    seconds = time.perf_counter() - start
    splits = {}
    buckets = frequency_buckets("default")
    with torch.no_grad():
        for split in ("valid", "test"):
            tokens = getattr(corpus, split)[:eval_tokens + 1]
            data = batchify(tokens, SETTINGS["eval_batch_size"])
            state, nll, targets = None, [], []
            for _, x, y in bptt_segments(data, SETTINGS["bptt"]):
                logits, _, state = torch_forward(model, torch.from_numpy(x).long(), state)
                target = torch.from_numpy(y).long().reshape(-1)
                nll.append(torch.nn.functional.cross_entropy(logits, target, reduction="none"))
                targets.append(y.reshape(-1))
            splits[split] = perplexity_by_bucket(torch.cat(nll).double().numpy(),
                                                 np.concatenate(targets), corpus.train_counts,
                                                 corpus.word_to_id["<unk>"], buckets)
    lstm = model["lstm"]
    params = {"embed.E": model["embed"].weight.detach().numpy(),
              "lstm1.Wx": lstm.weight_ih_l0.detach().numpy().T.copy(),
              "lstm1.Wh": lstm.weight_hh_l0.detach().numpy().T.copy(),
              "lstm1.b": (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy(),
              "softmax.theta": model["linear"].weight.detach().numpy(),
              "softmax.b": model["linear"].bias.detach().numpy()}
    return splits, params, max_steps * SETTINGS["batch_size"] * SETTINGS["bptt"] / seconds


def table(rows, split="test"):
    names = [">1K", "100–1K", "10–100", "<10"]
    lines = [f"| run (seed 0, {split}) | overall | " + " | ".join(names)
             + " | ‖h‖ | ‖θ_i‖ >1K / <10 | b >1K / <10 | alignment >1K / <10 |",
             "|---|" + "---|" * (len(names) + 5)]
    for name, row in rows.items():
        by_name = {b["name"]: b["perplexity"] for b in row[split]["buckets"]}
        m = row["mechanism"]
        lines.append(f"| {name} | {row[split]['overall']['perplexity']:,.1f} | "
                     + " | ".join(f"{by_name[n]:,.1f}" if by_name.get(n) else "n/a" for n in names)
                     + f" | {m['h_norm']:.2f} | {m['theta_norm']['>1K']:.2f} / "
                       f"{m['theta_norm']['<10']:.2f} | {m['bias']['>1K']:.2f} / "
                       f"{m['bias']['<10']:.2f} | {m['alignment']['>1K']:.2f} / "
                       f"{m['alignment']['<10']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--max-steps", type=int, default=230)
    parser.add_argument("--eval-tokens", type=int, default=30000)
    parser.add_argument("--refresh-rows", action="store_true",
                        help="recompute row_statistics of the rows in the JSON from the saved "
                             "weights (no training) and rewrite the table")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not installed: the PyTorch side cannot run; nothing written")
        return 0
    path = os.path.join(RESULTS, "lm_torch.json")
    results = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}
    protocol = {"settings": SETTINGS, "max_steps": args.max_steps,
                "eval_tokens": args.eval_tokens, "seed": 0}
    if results.get("protocol") != protocol:
        results = {"protocol": protocol, "rows": {}}
    corpus = load_corpus("bbc", seed=0)
    if args.refresh_rows:
        for name, row in results["rows"].items():
            row["mechanism"].update(row_statistics(dict(np.load(params_path(name))), corpus))
        args.rows = []
    for name in args.rows:
        implementation, hebbian, init, sparse = ROWS[name]
        start = time.time()
        if implementation == "hebbref":
            splits, params, speed = hebbref_row(corpus, hebbian, init, args.max_steps,
                                                args.eval_tokens)
        else:
            splits, params, speed = torch_row(corpus, hebbian, init, sparse, args.max_steps,
                                              args.eval_tokens)
        valid = corpus.valid[:args.eval_tokens + 1]
        os.makedirs(PARAMS, exist_ok=True)      # the trained weights, for validation/lm_mbpa.py
        np.savez(params_path(name), **params)
        results["rows"][name] = {**splits, "init": init, "train_tokens_per_second": speed,
                                 "mechanism": mechanism(params, corpus, valid),
                                 "seconds": time.time() - start}
        write_json("lm_torch.json", results)
        print(f"{name}: test {splits['test']['overall']['perplexity']:.1f} "
              f"({time.time() - start:.0f} s)", flush=True)
    epoch = -(-(corpus.train.size // SETTINGS["batch_size"] - 1) // SETTINGS["bptt"])
    text = (f"Protocol: {args.max_steps} training steps ({args.max_steps / epoch:.2f} of an "
            f"epoch of {epoch}), first {args.eval_tokens:,} "
            "tokens of each split, seed 0. Test perplexity:\n\n" + table(results["rows"]))
    update_readme_section("lm-torch", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

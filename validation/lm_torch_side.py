"""The PyTorch side of validation/lm_torch.py: the LM of docs/MATH.md §10 with torch's nn.Embedding,
nn.LSTM, nn.Linear and torch.optim, and the rule of docs/MATH.md §5 written here after `opt.step()`.

It shares nothing with hebbref but the token ids, the batchify layout, the bucket table and,
when asked, hebbref's initial weights (drawn by `lm_init`, copied in). torch is imported inside
the functions, so validation/lm_torch.py can import this module without torch.
"""
import time

import numpy as np

from hebbref.data.batching import batchify, bptt_segments
from hebbref.metrics import frequency_buckets, perplexity_by_bucket
from hebbref.models.lm import lm_init

WRITE_SCALES = ("none", "centred")   # the write variants of docs/MATH.md §5 written here


def torch_model(V, init, seed, *, embed_size=128, hidden=128, freeze_bias_hh=False):
    """nn.Embedding → nn.LSTM → nn.Linear; torch's own init ("torch default", drawn after
    torch.manual_seed(seed)), or hebbref's values drawn by lm_init(V, E, H,
    default_rng(seed), **init) as hebbref's LMConfig(seed=seed) draws them, copied in
    (b_ih = hebbref's b, b_hh = 0, so their sum is hebbref's bias).

    freeze_bias_hh: keep b_hh out of training. nn.LSTM's two biases both receive the gradient of
    hebbref's one bias b, so with both trained their sum moves twice as far per step (SGD: 2·lr·g;
    Adam: up to 2·lr) and the gradient norm counts ‖g_b‖² twice; with b_hh frozen at 0 the model
    and its updates are hebbref's (the Adam rows were run before this option and train both)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    H, E = hidden, embed_size
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
    model["lstm"].bias_hh_l0.requires_grad_(not freeze_bias_hh)
    return model


def torch_forward(model, x, state):
    """x: (T, N) long -> logits (T·N, V), h (T·N, H), new state."""
    out, state = model["lstm"](model["embed"](x), state)
    h = out.reshape(-1, out.shape[-1])
    return model["linear"](h), h, state


def torch_hebbian(theta, counts, h, y, gamma, T, write_scale="none", write_gain=1.0):
    """docs/MATH.md §5 after opt.step(): λ_i = max(1/c_i, γ) if c_i < T else 0 (count before the
    batch), θ[i] ← λ_i ĥ_i + (1 − λ_i) θ[i] for every class in the batch, c_i += n_i.
    ĥ_i is the mean of h_t over y_t = i ("none"), or of h_t − h̄ with h̄ the mean of all N rows
    of h, every class ("centred"), times write_gain (docs/MATH.md §5.7)."""
    import torch

    if write_scale not in WRITE_SCALES:
        raise ValueError(f"write_scale must be one of {WRITE_SCALES} here, got {write_scale!r}")
    if write_scale == "centred":
        h = h - h.mean(dim=0)
    classes, n = torch.unique(y, return_counts=True)
    sums = torch.zeros(theta.shape[0], h.shape[1]).index_add_(0, y, h)
    h_hat = sums[classes] / n[:, None] * write_gain
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


def torch_optimizers(model, optimizer, lr, sparse):
    """"adam": torch.optim.Adam, with SparseAdam on a sparse embedding gradient (lazy rows, as
    hebbref's Adam); "sgd": plain torch.optim.SGD on everything (a dense zero gradient leaves a
    row where hebbref's row-sparse SGD does not touch it, so the two are the same update)."""
    import torch

    model["embed"].sparse = bool(sparse)
    if optimizer == "sgd":
        return [torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)]
    if optimizer != "adam":
        raise ValueError(f"the torch side has optimizers 'adam' and 'sgd', got {optimizer!r}")
    dense = [p for name, p in model.named_parameters()
             if p.requires_grad and not (sparse and name == "embed.weight")]
    optimizers = [torch.optim.Adam(dense, lr=lr)]
    if sparse:
        optimizers.append(torch.optim.SparseAdam([model["embed"].weight], lr=lr))
    return optimizers


def torch_train(model, corpus, hebbian, settings, optimizers, *, max_steps, batch_size, bptt):
    """max_steps truncated-BPTT steps from the start of the training split, state carried and
    detached: loss → clip → optimiser step → rule (docs/MATH.md §5). Returns training seconds."""
    import torch

    counts = torch.ones(len(corpus.vocab), dtype=torch.long)
    data = batchify(corpus.train, batch_size)
    state, start = None, time.perf_counter()
    for step, (_, x, y) in enumerate(bptt_segments(data, bptt)):
        if step == max_steps:
            break
        x, y = torch.from_numpy(x).long(), torch.from_numpy(y).long().reshape(-1)
        logits, h, state = torch_forward(model, x, state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits, y)
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        if settings["clip"]:
            clip_(model.parameters(), settings["clip"])
        for opt in optimizers:
            opt.step()
        if hebbian:
            with torch.no_grad():
                torch_hebbian(model["linear"].weight, counts, h.detach(), y, settings["gamma"],
                              settings["T"], settings["write_scale"],
                              settings.get("write_gain", 1.0))
    return time.perf_counter() - start


def torch_evaluate(model, corpus, eval_tokens, *, batch_size, bptt):
    """Validation and test perplexity by bucket on the first eval_tokens tokens of each split."""
    import torch

    splits, buckets = {}, frequency_buckets("default")
    with torch.no_grad():
        for split in ("valid", "test"):
            data = batchify(getattr(corpus, split)[:eval_tokens + 1], batch_size)
            state, nll, targets = None, [], []
            for _, x, y in bptt_segments(data, bptt):
                logits, _, state = torch_forward(model, torch.from_numpy(x).long(), state)
                target = torch.from_numpy(y).long().reshape(-1)
                nll.append(torch.nn.functional.cross_entropy(logits, target, reduction="none"))
                targets.append(y.reshape(-1))
            splits[split] = perplexity_by_bucket(torch.cat(nll).double().numpy(),
                                                 np.concatenate(targets), corpus.train_counts,
                                                 corpus.word_to_id["<unk>"], buckets)
    return splits


def torch_params(model):
    """The trained weights under hebbref's parameter names (for the mechanism columns)."""
    lstm = model["lstm"]
    return {"embed.E": model["embed"].weight.detach().numpy(),
            "lstm1.Wx": lstm.weight_ih_l0.detach().numpy().T.copy(),
            "lstm1.Wh": lstm.weight_hh_l0.detach().numpy().T.copy(),
            "lstm1.b": (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy(),
            "softmax.theta": model["linear"].weight.detach().numpy(),
            "softmax.b": model["linear"].bias.detach().numpy()}


def torch_row(corpus, hebbian, init, sparse, settings, shape, *, seed, max_steps, eval_tokens,
              freeze_bias_hh=False):
    """Train and score one torch row. settings: optimizer ("adam" or "sgd"), lr, clip (0: none),
    gamma, T, lam_rule ("paper" only), write_scale (WRITE_SCALES); shape: embed_size, hidden,
    batch_size, bptt, eval_batch_size; freeze_bias_hh: see torch_model.
    Returns (splits, params, training tokens per second)."""
    import torch

    if settings.get("prior_count", 0.0):
        raise ValueError(f"the torch side implements prior_count 0 only, got "
                         f"{settings['prior_count']!r}")
    if settings["lam_rule"] != "paper":
        raise ValueError(f"the torch side writes lam_rule 'paper' only, got "
                         f"{settings['lam_rule']!r}")
    torch.set_num_threads(1)
    model = torch_model(len(corpus.vocab), init, seed, embed_size=shape["embed_size"],
                        hidden=shape["hidden"], freeze_bias_hh=freeze_bias_hh)
    optimizers = torch_optimizers(model, settings["optimizer"], settings["lr"], sparse)
    seconds = torch_train(model, corpus, hebbian, settings, optimizers, max_steps=max_steps,
                          batch_size=shape["batch_size"], bptt=shape["bptt"])
    splits = torch_evaluate(model, corpus, eval_tokens, batch_size=shape["eval_batch_size"],
                            bptt=shape["bptt"])
    speed = max_steps * shape["batch_size"] * shape["bptt"] / seconds
    return splits, torch_params(model), speed

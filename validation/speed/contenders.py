"""The contenders the bench times: closures that run one training step per call, hebbref's
(with the Hebbian rule, in train_step's docs/MATH.md §5 order) and torch's (the same model, no rule);
the LSTM pass alone; and the evaluation of a token stream (with and without the neural cache)."""
import time

import numpy as np

from hebbref import threads
from hebbref.cache import evaluate_with_cache
from hebbref.experiments.lm import evaluate
from hebbref.hebbian import HebbianSoftmax
from hebbref.models.classifier import classifier_init, classifier_loss
from hebbref.models import prefixed, sub
from hebbref.models.lm import (_hidden_backward, _hidden_forward, lm_init, lm_initial_state,
                               lm_loss)
from hebbref.nn.lstm import lstm_backward, lstm_forward, lstm_init
from hebbref.nn.softmax import _softmax_numerators, linear_cross_entropy
from hebbref.optim import clip_grad_norm, sgd
from hebbref.train import train_step

from .workloads import LM_CLIP, LM_LR, MLP_LR, lm_step_products, zipf_ids


def _lm_problem(V, H, sizes, seed):
    """The bench's LM step problem: float32 parameters, three Zipf (x, y) batches to cycle
    through, and the zero LSTM state."""
    rng = np.random.default_rng(seed)
    params = lm_init(V, H, H, rng, dtype=np.float32)
    batches = [(zipf_ids(rng, V, (sizes.lm_bptt, sizes.lm_batch)),
                zipf_ids(rng, V, (sizes.lm_bptt, sizes.lm_batch))) for _ in range(3)]
    return params, batches, lm_initial_state(params, sizes.lm_batch)


def hebbref_lm_step(V, H, sizes, seed=0, *, hebbian=True):
    """A closure running one hebbref LM training step per call (docs/MATH.md §5 order, train.py)."""
    params, batches, lstm_state = _lm_problem(V, H, sizes, seed)
    rule = HebbianSoftmax(V) if hebbian else None
    state = {"lstm": lstm_state, "opt": {}, "step": 0}

    def step():
        x, y = batches[state["step"] % len(batches)]
        state["step"] += 1
        _, grads, h, state["lstm"] = lm_loss(params, x, y, state["lstm"])
        train_step(params, grads, state["opt"], h, y.reshape(-1), optimizer="sgd", lr=LM_LR,
                   clip=LM_CLIP, hebbian_softmax=rule)

    step.params = params
    return step


# The phases of one hebbref LM step, in the order hebbref_lm_phases times them.
LM_PHASES = ("forward (embedding, LSTM)", "softmax layer + loss (fused)",
             "backward (LSTM, embedding)", "clip", "sgd", "hebbian rule")


def hebbref_lm_phases(V, H, sizes, steps, seed=0):
    """Run `steps` hebbref LM steps as hebbref_lm_step does (lm_loss's three parts, then
    train_step's clip, SGD and Hebbian rule, written out here so each can be timed) and return
    ({phase: [seconds, one per step]} for every phase of LM_PHASES, after one untimed step;
    the parameters), the parameters being those hebbref_lm_step's reach after steps + 1 calls."""
    params, batches, lstm_state = _lm_problem(V, H, sizes, seed)
    rule, opt = HebbianSoftmax(V), {}
    times = {phase: [] for phase in LM_PHASES}
    for step in range(steps + 1):
        x, y = batches[step % len(batches)]
        y = y.reshape(-1)
        marks = [time.perf_counter()]
        h, lstm_state, cache = _hidden_forward(params, x, lstm_state, 0.0, None)
        marks.append(time.perf_counter())
        _, dh, softmax_grads = linear_cross_entropy(h, sub(params, "softmax"), y)
        marks.append(time.perf_counter())
        grads = _hidden_backward(dh, prefixed("softmax", softmax_grads), cache)
        marks.append(time.perf_counter())
        clip_grad_norm(grads, LM_CLIP)
        marks.append(time.perf_counter())
        sgd(params, grads, opt, lr=LM_LR)
        marks.append(time.perf_counter())
        rule.update(params["softmax.theta"], h, y)
        marks.append(time.perf_counter())
        for phase, start, end in zip(LM_PHASES, marks, marks[1:]):
            if step:
                times[phase].append(end - start)
    return times, params


def lm_matrix_products(V, H, sizes, seed=0, *, part=None):
    """A closure running only the matrix products of one LM step (lm_step_products), float32:
    the step's time if all element-wise work cost nothing. part: None (all), "softmax" (the
    layer's three) or "lstm" (the rest)."""
    rng = np.random.default_rng(seed)
    shapes = lm_step_products(sizes.lm_tokens, sizes.lm_batch, H, H, V)
    shapes = {None: shapes, "softmax": shapes[:3], "lstm": shapes[3:]}[part]
    products = [(rng.standard_normal((m, k)).astype(np.float32),
                 rng.standard_normal((k, n)).astype(np.float32), count)
                for m, k, n, count in shapes]

    def run_products():
        for a, b, count in products:
            for _ in range(count):
                a @ b

    return run_products


def softmax_elementwise(V, H, sizes, seed=0):
    """A closure running only the element-wise passes of the fused softmax layer over all N
    rows: max, exp(z − max) in place and the row sums (softmax._softmax_numerators, on the BLAS
    threads as linear_cross_entropy runs it), on an (N, V) float32 array with nothing else
    between calls. What the layer's rest would cost if nothing around the passes slowed them
    (after the first call the values stay in (0, 1], so every call does the same work)."""
    rng = np.random.default_rng(seed)
    N = sizes.lm_tokens
    z = rng.standard_normal((N, V)).astype(np.float32)
    y = rng.integers(0, V, N)
    return lambda: threads.map_row_blocks(_softmax_numerators, (z, y), N, V)


def torch_lm_step(torch, V, H, sizes, seed=0):
    """A closure running one torch LM training step per call (same model, no Hebbian rule)."""
    nn = torch.nn
    torch.manual_seed(seed)
    embed, lstm, out = nn.Embedding(V, H, sparse=False), nn.LSTM(H, H), nn.Linear(H, V)
    parameters = [*embed.parameters(), *lstm.parameters(), *out.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=LM_LR)
    rng = np.random.default_rng(seed)
    batches = [(torch.from_numpy(zipf_ids(rng, V, (sizes.lm_bptt, sizes.lm_batch))),
                torch.from_numpy(zipf_ids(rng, V, (sizes.lm_bptt, sizes.lm_batch))))
               for _ in range(3)]
    state = {"hidden": None, "step": 0}

    def step():
        x, y = batches[state["step"] % len(batches)]
        state["step"] += 1
        hs, hidden = lstm(embed(x), state["hidden"])
        state["hidden"] = tuple(a.detach() for a in hidden)   # truncated BPTT
        loss = torch.nn.functional.cross_entropy(out(hs).reshape(-1, V), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, LM_CLIP)
        optimizer.step()

    return step


def _mlp_batches(sizes, rng, count=64):
    """`count` random (x, y) batches, cycled through so that neither model can memorise one
    batch (whose gradients would then shrink towards denormal numbers and slow both down)."""
    D, *_, classes = sizes.mlp_sizes
    return [(rng.random((sizes.mlp_batch, D), dtype=np.float32),
             rng.integers(0, classes, sizes.mlp_batch)) for _ in range(count)]


def hebbref_mlp_step(sizes, seed=0):
    D, *hidden, classes = sizes.mlp_sizes
    rng = np.random.default_rng(seed)
    params = classifier_init(D, hidden, classes, rng, dtype=np.float32)
    batches = _mlp_batches(sizes, rng)
    rule = HebbianSoftmax(classes)
    state = {"opt": {}, "step": 0}

    def step():
        x, y = batches[state["step"] % len(batches)]
        state["step"] += 1
        _, grads, h = classifier_loss(params, x, y, activation="relu")
        train_step(params, grads, state["opt"], h, y, optimizer="adam", lr=MLP_LR, hebbian_softmax=rule)

    step.state = state
    return step


def torch_mlp_step(torch, sizes, seed=0):
    nn = torch.nn
    D, H1, H2, classes = sizes.mlp_sizes
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(D, H1), nn.ReLU(), nn.Linear(H1, H2), nn.ReLU(),
                          nn.Linear(H2, classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=MLP_LR)
    batches = [(torch.from_numpy(x), torch.from_numpy(y))
               for x, y in _mlp_batches(sizes, np.random.default_rng(seed))]
    state = {"step": 0}

    def step():
        x, y = batches[state["step"] % len(batches)]
        state["step"] += 1
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def hebbref_lstm_pass(sizes, seed=0):
    """A closure running the LM's LSTM alone, forward and backward over one BPTT segment
    (T = lm_bptt steps, N = lm_batch, E = H = lm_hidden), with dx (as the LM needs for the
    embedding). No vocabulary: the V-free part of the step."""
    rng = np.random.default_rng(seed)
    T, N, H = sizes.lm_bptt, sizes.lm_batch, sizes.lm_hidden
    params = lstm_init(H, H, rng, dtype=np.float32)
    x = rng.standard_normal((T, N, H)).astype(np.float32)
    upstream = (rng.standard_normal((T, N, H)) * 1e-3).astype(np.float32)
    zeros = np.zeros((N, H), np.float32)

    def run():
        _, cache = lstm_forward(x, zeros, zeros, params)
        lstm_backward(upstream, cache)

    return run


def torch_lstm_pass(torch, sizes, seed=0):
    """The same LSTM pass in torch: nn.LSTM forward, then backward of a fixed upstream
    gradient into the weights and the input."""
    torch.manual_seed(seed)
    T, N, H = sizes.lm_bptt, sizes.lm_batch, sizes.lm_hidden
    lstm = torch.nn.LSTM(H, H)
    x = torch.randn(T, N, H, requires_grad=True)
    upstream = torch.randn(T, N, H) * 1e-3

    def run():
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = lstm(x)
        out.backward(upstream)

    return run


def eval_tokens(sizes, V, seed=0):
    """The evaluation stream of the eval section: lm_eval_segments BPTT segments of lm_batch
    columns, Zipf ids."""
    count = sizes.lm_batch * (sizes.lm_bptt * sizes.lm_eval_segments + 1)
    return zipf_ids(np.random.default_rng(seed), V, count)


def hebbref_eval(V, H, sizes, *, cache=None, seed=0):
    """A closure running experiments.lm.evaluate over eval_tokens (cache None), or
    cache.evaluate_with_cache with the given {"window", "theta_c", "lambda_c"}."""
    params = lm_init(V, H, H, np.random.default_rng(seed), dtype=np.float32)
    tokens = eval_tokens(sizes, V, seed)
    common = {"batch_size": sizes.lm_batch, "bptt": sizes.lm_bptt}
    if cache is None:
        return lambda: evaluate(params, tokens, **common)
    return lambda: evaluate_with_cache(params, tokens, **common, **cache)


def torch_eval(torch, V, H, sizes, seed=0):
    """torch's evaluation of the same model over the same stream: the NLL of every target,
    state carried across segments, under no_grad."""
    nn = torch.nn
    torch.manual_seed(seed)
    embed, lstm, out = nn.Embedding(V, H), nn.LSTM(H, H), nn.Linear(H, V)
    tokens = eval_tokens(sizes, V, seed)
    length = tokens.size // sizes.lm_batch
    data = torch.from_numpy(tokens[:length * sizes.lm_batch].reshape(sizes.lm_batch, length).T
                            .copy())

    def run():
        hidden, nll = None, []
        with torch.no_grad():
            for start in range(0, length - 1, sizes.lm_bptt):
                x = data[start:start + sizes.lm_bptt]
                y = data[start + 1:start + 1 + x.shape[0]]
                x = x[:y.shape[0]]
                hs, hidden = lstm(embed(x), hidden)
                logp = torch.log_softmax(out(hs), dim=-1)
                nll.append(-logp.gather(-1, y[..., None]).reshape(-1))
        return torch.cat(nll)

    return run

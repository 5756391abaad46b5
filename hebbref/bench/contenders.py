"""The contenders `hebbref bench` times: closures that run one training step per call, hebbref's
(with the Hebbian rule, in train_step's METHOD §2 order) and torch's (the same model, no rule)."""
import numpy as np

from hebbref.bench.workloads import LM_CLIP, LM_LR, MLP_LR, lm_step_products, zipf_ids
from hebbref.hebbian import HebbianSoftmax
from hebbref.models.classifier import classifier_init, classifier_loss
from hebbref.models.lm import lm_init, lm_initial_state, lm_loss
from hebbref.train import train_step


def hebbref_lm_step(V, H, sizes, seed=0, *, hebbian=True):
    """A closure running one hebbref LM training step per call (METHOD §2 order, train.py)."""
    rng = np.random.default_rng(seed)
    params = lm_init(V, H, H, rng, dtype=np.float32)
    batches = [(zipf_ids(rng, V, (sizes.lm_bptt, sizes.lm_batch)),
                zipf_ids(rng, V, (sizes.lm_bptt, sizes.lm_batch))) for _ in range(3)]
    rule = HebbianSoftmax(V) if hebbian else None
    state = {"lstm": lm_initial_state(params, sizes.lm_batch), "opt": {}, "step": 0}

    def step():
        x, y = batches[state["step"] % len(batches)]
        state["step"] += 1
        _, grads, h, state["lstm"] = lm_loss(params, x, y, state["lstm"])
        train_step(params, grads, state["opt"], h, y.reshape(-1), optimizer="sgd", lr=LM_LR,
                   clip=LM_CLIP, hebbian=rule)

    return step


def lm_matrix_products(V, H, sizes, seed=0):
    """A closure running only the matrix products of one LM step (lm_step_products), float32:
    the step's time if all element-wise work cost nothing."""
    rng = np.random.default_rng(seed)
    products = [(rng.standard_normal((m, k)).astype(np.float32),
                 rng.standard_normal((k, n)).astype(np.float32), count)
                for m, k, n, count in lm_step_products(sizes.lm_tokens, sizes.lm_batch, H, H, V)]

    def run_products():
        for a, b, count in products:
            for _ in range(count):
                a @ b

    return run_products


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
        train_step(params, grads, state["opt"], h, y, optimizer="adam", lr=MLP_LR, hebbian=rule)

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


"""`hebbref bench`: how fast hebbref's NumPy code runs, beside PyTorch and the machine's BLAS peak.

Everything is measured in one process. Contenders are interleaved: in each round every
contender runs once, in reversed order on odd rounds, so a change in machine load during the
benchmark hits all of them alike. A number is the median over `repeats` timed runs after
`warmup` untimed calls; one run is as many calls as make it at least `min_seconds` long, and
times are reported per call. Numba's compilation (or the load from its on-disk cache) happens
before any timing and is reported on its own.

Sections (float32 throughout):
1. BLAS peak: an n×n by n×n matmul, float32 and float64, in GFLOP/s.
2. LSTM language-model training step, hebbref (forward, backward, global-norm clip, SGD,
   Hebbian rule) against torch (nn.Embedding(sparse=False), nn.LSTM, nn.Linear, cross-entropy,
   clip_grad_norm_, SGD; no Hebbian rule), with torch given numpy's BLAS thread count; and
   hebbref's share of the float32 BLAS peak from :func:`lm_step_flops`.
3. MLP classifier step (the curriculum's model, METHOD §5) with Adam, hebbref (with the Hebbian
   rule) against torch, at numpy's thread count and at one thread (as the curriculum runs it).
4. Sparse row scatter-add (the embedding backward, METHOD §4): the numba kernel against
   np.add.at and torch's index_add_.
5. The Hebbian rule (METHOD §2): hebbian_update as a percentage of the LM step, its speed-up
   over hebbian_update_reference, and memory.
6. Scaling: LM step time per token as the vocabulary and the hidden size grow (log-log plot).

Token ids and labels are Zipf-distributed (P(k) ∝ 1/(k+1)), like word frequencies (METHOD §6).

Threads: numpy's BLAS keeps its own thread count (or --threads K) and torch is given the same
count. --quick runs on one thread: its tiny matmuls, split over threads, stall for a scheduler
time slice whenever another process holds a core, and a smoke test should not depend on that.
The load average at start and end is recorded; compare runs only at similar load.
"""
import argparse
import contextlib
import io
import json
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from hebbref.checkpoint import atomic_write
from hebbref.hebbian import HebbianSoftmax, hebbian_update, hebbian_update_reference
from hebbref.kernels import scatter_add_rows, scatter_add_rows_numpy
from hebbref.models.classifier import classifier_init, classifier_loss
from hebbref.models.lm import lm_init, lm_initial_state, lm_loss
from hebbref.train import train_step

DEFAULT_PLOT = os.path.join("runs", "bench", "bench_scaling.png")
TORCH_MISSING = "torch not installed"

LM_LR, LM_CLIP = 1.0, 0.25     # SGD with clipping, as in the usual word-LM recipe
MLP_LR = 1e-3                  # the curriculum's Adam learning rate


@dataclass(frozen=True)
class BenchSizes:
    """Problem sizes and timing settings of one benchmark run.

    The LM has lm_vocabs[i] words, embedding = hidden = lm_hidden, batches of lm_batch streams
    and lm_bptt steps, so N = lm_batch·lm_bptt target tokens per step. The Hebbian rule is
    timed at (V, H, N) = (lm_vocabs[0], lm_hidden, N), and the scatter-add adds N rows of width
    lm_hidden into lm_vocabs[-1] rows: the sizes of the LM step they belong to.
    """

    blas_n: int
    lm_batch: int
    lm_bptt: int
    lm_hidden: int
    lm_vocabs: tuple
    mlp_sizes: tuple            # (D, H_1, H_2, classes)
    mlp_batch: int
    scaling_vocabs: tuple       # at hidden = scaling_hidden
    scaling_hidden: int
    scaling_hiddens: tuple      # at vocabulary = scaling_vocab
    scaling_vocab: int
    repeats: int
    warmup: int
    min_seconds: float
    settle_seconds: float       # idle pause before each timed run (see _measure)

    @property
    def lm_tokens(self):
        return self.lm_batch * self.lm_bptt


FULL = BenchSizes(blas_n=2048, lm_batch=32, lm_bptt=35, lm_hidden=256, lm_vocabs=(10000, 33278),
                  mlp_sizes=(784, 256, 256, 200), mlp_batch=16,
                  scaling_vocabs=(1000, 4000, 16000, 64000), scaling_hidden=256,
                  scaling_hiddens=(64, 128, 256, 512), scaling_vocab=10000,
                  repeats=7, warmup=1, min_seconds=0.05, settle_seconds=0.3)

QUICK = BenchSizes(blas_n=128, lm_batch=4, lm_bptt=5, lm_hidden=32, lm_vocabs=(300, 500),
                   mlp_sizes=(64, 32, 32, 20), mlp_batch=4,
                   scaling_vocabs=(100, 200, 400, 800), scaling_hidden=16,
                   scaling_hiddens=(8, 16, 32, 64), scaling_vocab=200,
                   repeats=2, warmup=1, min_seconds=0.002, settle_seconds=0.0)

# The issue's targets: (key, description, threshold, "min" = measured must be >= threshold,
# "max" = measured must be <= threshold).
TARGETS = (
    ("lm_speedup_small_vocab", "LM step, hebbref/torch tokens/s at V = {V0}", 2.0, "min"),
    ("lm_speedup_large_vocab", "LM step, hebbref/torch tokens/s at V = {V1}", 1.5, "min"),
    ("lm_blas_fraction_large_vocab", "LM step, share of float32 BLAS peak at V = {V1}", 0.5, "min"),
    ("mlp_speedup", "MLP step, hebbref/torch (numpy's thread count)", 1.0, "min"),
    ("mlp_speedup_one_thread", "MLP step, hebbref/torch (one thread, as the curriculum)", 1.0,
     "min"),
    ("scatter_speedup_add_at", "scatter-add, numba/np.add.at", 30.0, "min"),
    ("hebbian_percent_of_lm_step", "Hebbian rule, % of the LM step at V = {V0}", 3.0, "max"),
)


# ----------------------------------------------------------------------------------------------
# Timing

def _measure(contenders, sizes):
    """Time zero-argument callables in interleaved rounds.

    contenders: {name: callable}. Each is called sizes.warmup times untimed; the last warm-up
    call fixes how many calls make one run (at least sizes.min_seconds). Then sizes.repeats
    rounds, every contender one run per round, order reversed on odd rounds. Before each run
    the process sleeps sizes.settle_seconds: BLAS and OpenMP worker threads keep spinning for a
    while after a call returns, and without the pause one contender's spinning threads would
    take cores from the next one's run (measured here: torch's LM step ran 10–20 % slower right
    after hebbref's than after a pause).
    Returns {name: {"median_s": seconds per call, "runs_s": [per call, one per round],
    "calls_per_run": k, "spread": (max − min)/median over the runs}}.
    """
    calls = {}
    for name, fn in contenders.items():
        for _ in range(max(sizes.warmup, 1)):
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
        calls[name] = max(1, math.ceil(sizes.min_seconds / max(elapsed, 1e-9)))
    runs = {name: [] for name in contenders}
    names = list(contenders)
    for round_ in range(sizes.repeats):
        for name in (names if round_ % 2 == 0 else names[::-1]):
            fn, k = contenders[name], calls[name]
            time.sleep(sizes.settle_seconds)
            start = time.perf_counter()
            for _ in range(k):
                fn()
            runs[name].append((time.perf_counter() - start) / k)
    results = {}
    for name, times in runs.items():
        median = statistics.median(times)
        results[name] = {"median_s": median, "runs_s": times, "calls_per_run": calls[name],
                         "spread": (max(times) - min(times)) / median}
    return results


def _ratio(slower_s, faster_s):
    """How many times faster: slower_s / faster_s (None when either side is missing)."""
    if slower_s is None or faster_s is None:
        return None
    return slower_s / faster_s


# ----------------------------------------------------------------------------------------------
# Machine

def _import_torch():
    """torch, or None when it cannot be imported (it is an optional extra)."""
    try:
        import torch
    except (ImportError, OSError):
        return None
    return torch


def _numpy_blas():
    """threadpoolctl's record of the BLAS numpy uses (the one under numpy's own folder)."""
    blas = [entry for entry in threadpool_info() if entry.get("user_api") == "blas"]
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    for entry in blas:
        if entry.get("filepath", "").startswith(numpy_dir) and "numpy" in entry["filepath"]:
            return entry
    return blas[0] if blas else {"internal_api": "unknown", "num_threads": 1}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _machine(torch):
    import numba

    blas = _numpy_blas()
    machine = {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": torch.__version__ if torch else TORCH_MISSING,
        "blas_library": blas.get("internal_api"),
        "blas_version": blas.get("version"),
        "blas_architecture": blas.get("architecture"),
        "blas_threading_layer": blas.get("threading_layer"),
        "blas_threads": int(blas.get("num_threads", 1)),
        "load_average_start": list(os.getloadavg()),
    }
    if torch:
        config = torch.__config__.show()
        machine["torch_blas"] = next((part.split("=", 1)[1] for line in config.splitlines()
                                      for part in line.replace(",", " ").split()
                                      if part.startswith("BLAS_INFO=")), "unknown")
    return machine


def _numba_first_call():
    """Time the first call of the numba scatter kernel (compilation or cache load)."""
    from hebbref import kernels

    kernel = kernels._scatter_add_rows_numba
    already = bool(kernel.signatures)
    start = time.perf_counter()
    scatter_add_rows(np.zeros((2, 2), np.float32), np.zeros(1, np.int64),
                     np.ones((1, 2), np.float32))
    seconds = time.perf_counter() - start
    hits = sum(kernel.stats.cache_hits.values())
    if already:
        how = "already compiled in this process"
    elif hits:
        how = "loaded from numba's on-disk cache"
    else:
        how = "compiled"
    return {"first_call_s": seconds, "how": how, "cache_hits": hits,
            "cache_misses": sum(kernel.stats.cache_misses.values())}


# ----------------------------------------------------------------------------------------------
# Inputs

def zipf_ids(rng, V, size, exponent=1.0):
    """Ids in [0, V) with P(k) ∝ 1/(k+1)^exponent (the rank-frequency law of words). -> int64."""
    weights = 1.0 / np.arange(1, V + 1, dtype=np.float64) ** exponent
    return rng.choice(V, size=size, p=weights / weights.sum()).astype(np.int64)


def lm_step_flops(tokens, embed_size, hidden_size, vocab_size):
    """Floating-point operations in the matrix products of one LM training step.

    With N = tokens (batch × BPTT), E = embed_size, H = hidden_size, V = vocab_size, and
    2·m·k·n FLOPs for an (m, k) × (k, n) product:

        softmax layer:  z = h θᵀ,  dh = dz θ,  dθ = dzᵀ h         3 × 2·N·H·V  = 6·N·H·V
        LSTM forward:   x Wx (one product), h_{t−1} Wh (T steps)  2·N·4H·(E + H)
        LSTM backward:  dWx = xᵀ da, dWh = h_prevᵀ da,
                        dx = da Wxᵀ, dh_{t−1} = da_t Whᵀ           2 × 2·N·4H·(E + H)

        FLOPs = 6·N·H·V + 24·N·H·(E + H)

    Element-wise work (exp, sigmoid, the optimiser, the Hebbian rule) is not counted, so
    FLOPs / time / BLAS peak is the fraction of the peak the step reaches on its matmuls.
    """
    N, E, H, V = tokens, embed_size, hidden_size, vocab_size
    return 6 * N * H * V + 24 * N * H * (E + H)


# ----------------------------------------------------------------------------------------------
# Contenders

def _hebbref_lm_step(V, H, sizes, seed=0, *, hebbian=True):
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


def lm_step_products(tokens, batch, embed_size, hidden_size, vocab_size):
    """Every matrix product of one LM training step as (m, k, n, count): count products of an
    (m, k) by a (k, n) matrix. Their 2·m·k·n·count FLOPs sum to lm_step_flops (tested)."""
    N, B, E, H, V = tokens, batch, embed_size, hidden_size, vocab_size
    return [(N, H, V, 1),          # softmax: z = h θᵀ
            (N, V, H, 1),          # softmax: dh = dz θ
            (V, N, H, 1),          # softmax: dθ = dzᵀ h
            (N, E, 4 * H, 1),      # LSTM: input projection x Wx
            (E, N, 4 * H, 1),      # dWx = xᵀ da
            (H, N, 4 * H, 1),      # dWh = h_prevᵀ da
            (N, 4 * H, E, 1),      # dx = da Wxᵀ
            (B, H, 4 * H, N // B),   # h_{t−1} Wh, one per time step
            (B, 4 * H, H, N // B)]   # da_t Whᵀ, one per time step


def _lm_matrix_products(V, H, sizes, seed=0):
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


def _torch_lm_step(torch, V, H, sizes, seed=0):
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


def _hebbref_mlp_step(sizes, seed=0):
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


def _torch_mlp_step(torch, sizes, seed=0):
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


# ----------------------------------------------------------------------------------------------
# Sections

def bench_blas(sizes):
    """Section 1: GFLOP/s of an n×n by n×n matmul (2n³ FLOPs) in float32 and float64."""
    n = sizes.blas_n
    rng = np.random.default_rng(0)
    operands = {}
    for dtype in (np.float32, np.float64):
        a, b = rng.standard_normal((2, n, n)).astype(dtype)
        operands[np.dtype(dtype).name] = (a, b, np.empty((n, n), dtype))
    timed = _measure({name: (lambda a=a, b=b, c=c: np.matmul(a, b, out=c))
                      for name, (a, b, c) in operands.items()}, sizes)
    result = {"n": n}
    for name, t in timed.items():
        result[name] = {**t, "gflops": 2 * n**3 / t["median_s"] / 1e9}
    return result


def _contender_row(timed, name, tokens=None):
    if name not in timed:
        return {"status": TORCH_MISSING}
    row = dict(timed[name])
    if tokens:
        row["tokens_per_s"] = tokens / row["median_s"]
    return row


def bench_lm(sizes, torch, peak_gflops):
    """Section 2: LM training step, hebbref vs torch, at each vocabulary of sizes.lm_vocabs."""
    H, N = sizes.lm_hidden, sizes.lm_tokens
    rows = []
    for V in sizes.lm_vocabs:
        _progress(f"LM step V = {V}")
        contenders = {"hebbref": _hebbref_lm_step(V, H, sizes),
                      "products": _lm_matrix_products(V, H, sizes)}
        if torch:
            contenders["torch"] = _torch_lm_step(torch, V, H, sizes)
        timed = _measure(contenders, sizes)
        flops = lm_step_flops(N, H, H, V)
        hebbref, torch_row = _contender_row(timed, "hebbref", N), _contender_row(timed, "torch", N)
        hebbref["gflops"] = flops / hebbref["median_s"] / 1e9
        rows.append({
            "V": V, "tokens_per_step": N, "flops_per_step": flops,
            "hebbref": hebbref, "torch": torch_row,
            "speedup_vs_torch": _ratio(torch_row.get("median_s"), hebbref["median_s"]),
            "blas_peak_fraction": hebbref["gflops"] / peak_gflops,
            # The ceiling: torch against the products alone, as if nothing else took time.
            "matrix_products": timed["products"],
            "products_share_of_step": timed["products"]["median_s"] / hebbref["median_s"],
            "speedup_ceiling_vs_torch": _ratio(torch_row.get("median_s"),
                                               timed["products"]["median_s"]),
        })
    return {"batch": sizes.lm_batch, "bptt": sizes.lm_bptt, "embed": H, "hidden": H,
            "optimizer": f"sgd lr={LM_LR}", "clip": LM_CLIP,
            "hebbref_includes_hebbian_rule": True,
            "flops_formula": "6·N·H·V + 24·N·H·(E + H), N = batch·bptt (see lm_step_flops)",
            "by_vocab": rows}


def bench_mlp(sizes, torch, threads):
    """Section 3: MLP step with Adam, hebbref (with the Hebbian rule) vs torch, at numpy's
    thread count and at one thread."""
    result = {"sizes": list(sizes.mlp_sizes), "batch": sizes.mlp_batch,
              "optimizer": f"adam lr={MLP_LR}", "hebbref_includes_hebbian_rule": True}
    saved = torch.get_num_threads() if torch else None
    for key, count in (("threads_numpy", threads), ("threads_one", 1)):
        _progress(f"MLP step, {count} thread(s)")
        if torch:
            torch.set_num_threads(count)
        with threadpool_limits(limits=count, user_api="blas"):
            contenders = {"hebbref": _hebbref_mlp_step(sizes)}
            if torch:
                contenders["torch"] = _torch_mlp_step(torch, sizes)
            timed = _measure(contenders, sizes)
        hebbref, torch_row = _contender_row(timed, "hebbref"), _contender_row(timed, "torch")
        result[key] = {"threads": count, "hebbref": hebbref, "torch": torch_row,
                       "speedup_vs_torch": _ratio(torch_row.get("median_s"), hebbref["median_s"])}
    if torch:
        torch.set_num_threads(saved)
    return result


def bench_scatter(sizes, torch):
    """Section 4: target[ids[k]] += rows[k] with Zipf ids (the embedding backward's work)."""
    _progress("scatter-add")
    V, K, E = sizes.lm_vocabs[-1], sizes.lm_tokens, sizes.lm_hidden
    rng = np.random.default_rng(0)
    ids = zipf_ids(rng, V, K)
    rows = rng.standard_normal((K, E)).astype(np.float32) * np.float32(1e-3)
    targets = {name: np.zeros((V, E), np.float32) for name in ("numba", "np.add.at")}
    contenders = {
        "numba": lambda: scatter_add_rows(targets["numba"], ids, rows),
        "np.add.at": lambda: scatter_add_rows_numpy(targets["np.add.at"], ids, rows),
    }
    if torch:
        target_t, ids_t, rows_t = torch.zeros((V, E)), torch.from_numpy(ids), torch.from_numpy(rows)
        contenders["torch index_add_"] = lambda: target_t.index_add_(0, ids_t, rows_t)
    timed = _measure(contenders, sizes)
    numba_s = timed["numba"]["median_s"]
    torch_row = _contender_row(timed, "torch index_add_")
    return {"target_rows": V, "rows": K, "width": E, "distinct_ids": int(np.unique(ids).size),
            "numba": timed["numba"], "np.add.at": timed["np.add.at"], "torch index_add_": torch_row,
            "speedup_vs_add_at": _ratio(timed["np.add.at"]["median_s"], numba_s),
            "speedup_vs_torch": _ratio(torch_row.get("median_s"), numba_s)}


def _traced_peak(fn):
    """Peak bytes allocated (and not yet freed) while fn() runs, by tracemalloc. NumPy reports
    every array buffer it allocates to tracemalloc, so this covers the arrays of the step."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_hebbian(sizes, lm_step_s):
    """Section 5: cost of hebbian_update at the LM's sizes, as a share of the LM step; fast vs
    reference; memory of an LM step with and without the Hebbian softmax."""
    _progress("Hebbian rule")
    V, H, N = sizes.lm_vocabs[0], sizes.lm_hidden, sizes.lm_tokens
    rng = np.random.default_rng(0)
    h = rng.standard_normal((N, H)).astype(np.float32)
    y = zipf_ids(rng, V, N)
    theta = rng.standard_normal((V, H)).astype(np.float32)
    # T = ∞ and γ > 0: every class present in the batch is written on every call (the most
    # work the rule can do), however many calls the timing makes.
    rule = {"gamma": 0.01, "T": math.inf}
    states = {name: (theta.copy(), np.ones(V, np.int64)) for name in ("fast", "reference")}
    timed = _measure({
        "fast": lambda: hebbian_update(*states["fast"], h, y, **rule),
        "reference": lambda: hebbian_update_reference(*states["reference"], h, y, **rule),
    }, sizes)
    fast_s = timed["fast"]["median_s"]

    _progress("memory (tracemalloc)")
    peaks = {}
    for name, hebbian in (("with_hebbian", True), ("without_hebbian", False)):
        step = _hebbref_lm_step(V, H, sizes, hebbian=hebbian)
        step()  # optimiser state and the carried LSTM state exist before tracing starts
        peaks[name] = _traced_peak(step)
    counts = np.ones(V, np.int64)
    update_peak = _traced_peak(lambda: hebbian_update(theta, counts, h, y, **rule))
    return {
        "V": V, "H": H, "N": N, "distinct_labels": int(np.unique(y).size), **rule,
        "T": "inf",
        "fast": timed["fast"], "reference": timed["reference"],
        "fast_speedup_over_reference": _ratio(timed["reference"]["median_s"], fast_s),
        "lm_step_s": lm_step_s,
        "percent_of_lm_step": 100.0 * fast_s / lm_step_s,
        "memory": {
            "method": "tracemalloc peak of the arrays allocated during one LM step (NumPy "
                      "reports its buffers to tracemalloc); the persistent extra state, the "
                      "counts, is V·8 bytes (int64), computed analytically",
            "lm_step_peak_bytes_with_hebbian": peaks["with_hebbian"],
            "lm_step_peak_bytes_without_hebbian": peaks["without_hebbian"],
            "extra_peak_bytes": peaks["with_hebbian"] - peaks["without_hebbian"],
            "hebbian_update_peak_bytes": update_peak,
            "counts_bytes": V * 8,
        },
    }


def bench_scaling(sizes, torch):
    """Section 6: LM step seconds per token over vocabulary sizes and over hidden sizes."""
    curves = {}
    for axis, points in (("vocab", [(V, sizes.scaling_hidden) for V in sizes.scaling_vocabs]),
                         ("hidden", [(sizes.scaling_vocab, H) for H in sizes.scaling_hiddens])):
        rows = []
        for V, H in points:
            _progress(f"scaling V = {V}, H = {H}")
            contenders = {"hebbref": _hebbref_lm_step(V, H, sizes)}
            if torch:
                contenders["torch"] = _torch_lm_step(torch, V, H, sizes)
            timed = _measure(contenders, sizes)
            row = {"V": V, "H": H}
            for name in ("hebbref", "torch"):
                row[f"{name}_s_per_token"] = (timed[name]["median_s"] / sizes.lm_tokens
                                              if name in timed else None)
            row["speedup_vs_torch"] = _ratio(row["torch_s_per_token"], row["hebbref_s_per_token"])
            rows.append(row)
        x = [row["V" if axis == "vocab" else "H"] for row in rows]
        slopes = {}
        for name in ("hebbref", "torch"):
            y = [row[f"{name}_s_per_token"] for row in rows]
            slopes[name] = (float(np.polyfit(np.log(x), np.log(y), 1)[0])
                            if None not in y else None)
        curves[axis] = {"fixed": ({"H": sizes.scaling_hidden} if axis == "vocab"
                                  else {"V": sizes.scaling_vocab}),
                        "points": rows, "log_log_slope": slopes}
    return curves


def _targets(results):
    lm = results["lm"]["by_vocab"]
    measured = {
        "lm_speedup_small_vocab": lm[0]["speedup_vs_torch"],
        "lm_speedup_large_vocab": lm[-1]["speedup_vs_torch"],
        "lm_blas_fraction_large_vocab": lm[-1]["blas_peak_fraction"],
        "mlp_speedup": results["mlp"]["threads_numpy"]["speedup_vs_torch"],
        "mlp_speedup_one_thread": results["mlp"]["threads_one"]["speedup_vs_torch"],
        "scatter_speedup_add_at": results["scatter"]["speedup_vs_add_at"],
        "hebbian_percent_of_lm_step": results["hebbian"]["percent_of_lm_step"],
    }
    names = {"V0": lm[0]["V"], "V1": lm[-1]["V"]}
    rows = []
    for key, text, threshold, kind in TARGETS:
        value = measured[key]
        if value is None:
            met = None
        else:
            met = value >= threshold if kind == "min" else value <= threshold
        rows.append({"key": key, "description": text.format(**names), "threshold": threshold,
                     "kind": kind, "measured": value, "met": met})
    return rows


def run(sizes, *, quick=False):
    """Run every section; returns the results dict that main() prints and writes as JSON."""
    started = time.perf_counter()
    torch = _import_torch()
    saved_torch_threads = torch.get_num_threads() if torch else None
    try:
        return _run_sections(sizes, torch, quick, started)
    finally:
        if torch:
            torch.set_num_threads(saved_torch_threads)


def _run_sections(sizes, torch, quick, started):
    machine = _machine(torch)
    threads = machine["blas_threads"]
    if torch:
        torch.set_num_threads(threads)
        machine["torch_threads"] = torch.get_num_threads()
    results = {"format": "hebbref-bench", "version": 1, "quick": quick, "machine": machine,
               "settings": asdict(sizes), "numba": _numba_first_call()}
    _progress("BLAS peak")
    results["blas"] = bench_blas(sizes)
    peak = results["blas"]["float32"]["gflops"]
    results["lm"] = bench_lm(sizes, torch, peak)
    results["mlp"] = bench_mlp(sizes, torch, threads)
    results["scatter"] = bench_scatter(sizes, torch)
    results["hebbian"] = bench_hebbian(sizes, results["lm"]["by_vocab"][0]["hebbref"]["median_s"])
    results["scaling"] = bench_scaling(sizes, torch)
    results["targets"] = _targets(results)
    machine["load_average_end"] = list(os.getloadavg())
    results["total_seconds"] = time.perf_counter() - started
    return results


# ----------------------------------------------------------------------------------------------
# Output

# Progress lines go to stderr when it is a terminal; main() sets this for each run (--quiet).
_show_progress = sys.stderr.isatty()


def _progress(text):
    if _show_progress:
        print(f"  measuring {text} ...", file=sys.stderr, flush=True)


def _times(x):
    return "n/a" if x is None else f"{x:.2f}×"


def _seconds(row):
    if "median_s" not in row:
        return row.get("status", "n/a")
    t = row["median_s"]
    text = f"{t * 1e3:.3f} ms" if t < 1 else f"{t:.3f} s"
    return text + (f" ±{row['spread'] * 50:.0f}%" if row["spread"] > 0.2 else "")


def format_report(results):
    """The stdout table: every measurement and every ratio, then the targets."""
    m, s = results["machine"], results["settings"]
    lines = [
        f"hebbref bench{' --quick' if results['quick'] else ''}: {m['cpu_model']}, "
        f"{m['cpus_available']} of {m['logical_cpus']} CPUs; numpy {m['numpy']} on "
        f"{m['blas_library']} {m['blas_version']} ({m['blas_threads']} threads); numba "
        f"{m['numba']}; torch {m['torch']}"
        + (f" ({m['torch_threads']} threads, BLAS {m['torch_blas']})"
           if "torch_threads" in m else ""),
        f"load average at start {m['load_average_start'][0]:.2f}, at end "
        f"{m['load_average_end'][0]:.2f}; median of {s['repeats']} interleaved runs after "
        f"{s['warmup']} warm-up call(s); '±x%' marks runs whose half-range exceeds 10%",
        f"numba scatter kernel first call: {results['numba']['first_call_s']:.3f} s "
        f"({results['numba']['how']}), excluded from all timings",
        "",
    ]
    b = results["blas"]
    lines.append(f"1. BLAS peak, {b['n']}³ matmul: float32 {b['float32']['gflops']:.1f} GFLOP/s, "
                 f"float64 {b['float64']['gflops']:.1f} GFLOP/s")
    lm = results["lm"]
    lines += ["", f"2. LM training step (batch {lm['batch']}, BPTT {lm['bptt']}, "
              f"E = H = {lm['hidden']}, float32, {lm['optimizer']}, clip {lm['clip']}; hebbref includes the Hebbian rule)",
              f"   {'V':>7}  {'hebbref step':>16}  {'torch step':>16}  {'hebbref tok/s':>13}  "
              f"{'torch tok/s':>11}  {'hebbref/torch':>13}  {'GFLOP/s':>7}  {'of f32 peak':>11}"]
    for r in lm["by_vocab"]:
        torch_tps = r["torch"].get("tokens_per_s")
        lines.append(f"   {r['V']:>7}  {_seconds(r['hebbref']):>16}  {_seconds(r['torch']):>16}  "
                     f"{r['hebbref']['tokens_per_s']:>13.0f}  "
                     f"{'n/a' if torch_tps is None else f'{torch_tps:.0f}':>11}  "
                     f"{_times(r['speedup_vs_torch']):>13}  {r['hebbref']['gflops']:>7.1f}  "
                     f"{100 * r['blas_peak_fraction']:>10.1f}%")
    lines.append(f"   FLOPs per step = {lm['flops_formula']}")
    for r in lm["by_vocab"]:
        lines.append(f"   V = {r['V']}: the step's matrix products alone take "
                     f"{_seconds(r['matrix_products'])} ({100 * r['products_share_of_step']:.0f}% "
                     f"of the hebbref step); torch/products = "
                     f"{_times(r['speedup_ceiling_vs_torch'])}, the ceiling with free "
                     f"element-wise work")
    mlp = results["mlp"]
    lines += ["", f"3. MLP step {' → '.join(map(str, mlp['sizes']))}, batch {mlp['batch']}, "
              f"{mlp['optimizer']} (hebbref includes the Hebbian rule)"]
    for key in ("threads_numpy", "threads_one"):
        r = mlp[key]
        lines.append(f"   {r['threads']} thread(s): hebbref {_seconds(r['hebbref'])}, torch "
                     f"{_seconds(r['torch'])}, hebbref/torch {_times(r['speedup_vs_torch'])}")
    sc = results["scatter"]
    lines += ["", f"4. Scatter-add {sc['rows']} Zipf rows ({sc['distinct_ids']} distinct) of "
              f"{sc['width']} into {sc['target_rows']}, float32",
              f"   numba {_seconds(sc['numba'])}, np.add.at {_seconds(sc['np.add.at'])}, torch "
              f"index_add_ {_seconds(sc['torch index_add_'])}",
              f"   numba/np.add.at {_times(sc['speedup_vs_add_at'])}, numba/torch "
              f"{_times(sc['speedup_vs_torch'])}"]
    hb = results["hebbian"]
    mem = hb["memory"]
    lines += ["", f"5. Hebbian rule (V = {hb['V']}, H = {hb['H']}, N = {hb['N']}, "
              f"{hb['distinct_labels']} distinct Zipf labels, γ = {hb['gamma']}, T = ∞)",
              f"   hebbian_update {_seconds(hb['fast'])} = {hb['percent_of_lm_step']:.2f}% of the "
              f"LM step ({hb['lm_step_s'] * 1e3:.1f} ms); reference loop "
              f"{_seconds(hb['reference'])}; fast/reference "
              f"{_times(hb['fast_speedup_over_reference'])}",
              f"   LM step peak memory (tracemalloc): with Hebbian "
              f"{mem['lm_step_peak_bytes_with_hebbian'] / 2**20:.2f} MiB, without "
              f"{mem['lm_step_peak_bytes_without_hebbian'] / 2**20:.2f} MiB (difference "
              f"{mem['extra_peak_bytes'] / 2**20:+.3f} MiB); the update alone peaks at "
              f"{mem['hebbian_update_peak_bytes'] / 2**20:.3f} MiB; counts hold "
              f"{mem['counts_bytes'] / 2**10:.1f} KiB"]
    lines += ["", "6. Scaling: LM step time per token (µs)"]
    for axis, curve in results["scaling"].items():
        fixed = ", ".join(f"{k} = {v}" for k, v in curve["fixed"].items())
        lines.append(f"   over {axis} ({fixed}); log-log slope hebbref "
                     f"{curve['log_log_slope']['hebbref']:.2f}, torch "
                     + ("n/a" if curve["log_log_slope"]["torch"] is None
                        else f"{curve['log_log_slope']['torch']:.2f}"))
        for p in curve["points"]:
            torch_us = ("n/a" if p["torch_s_per_token"] is None
                        else f"{p['torch_s_per_token'] * 1e6:.2f}")
            lines.append(f"     V = {p['V']:>6}, H = {p['H']:>4}: hebbref "
                         f"{p['hebbref_s_per_token'] * 1e6:8.2f}, torch {torch_us:>8}, "
                         f"hebbref/torch {_times(p['speedup_vs_torch'])}")
    lines += ["", "Targets"]
    for t in results["targets"]:
        verdict = ("n/a (torch not installed)" if t["met"] is None
                   else "met" if t["met"] else "MISSED")
        value = "n/a" if t["measured"] is None else f"{t['measured']:.3g}"
        sign = "≥" if t["kind"] == "min" else "≤"
        lines.append(f"   {t['description']:<58} {value:>8}  (target {sign} {t['threshold']:g})  "
                     f"{verdict}")
    lines.append(f"total {results['total_seconds']:.1f} s")
    return "\n".join(lines)


def plot_scaling(results, path):
    """Log-log plot of time per token over vocabulary and hidden size, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for ax, (axis, curve) in zip(axes, results["scaling"].items()):
        key = "V" if axis == "vocab" else "H"
        x = [p[key] for p in curve["points"]]
        for name, style in (("hebbref", "o-"), ("torch", "s--")):
            y = [p[f"{name}_s_per_token"] for p in curve["points"]]
            if None in y:
                continue
            slope = curve["log_log_slope"][name]
            ax.plot(x, [v * 1e6 for v in y], style, label=f"{name} (slope {slope:.2f})")
        fixed = ", ".join(f"{k} = {v}" for k, v in curve["fixed"].items())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("vocabulary size V" if axis == "vocab" else "hidden size H (= embedding)")
        ax.set_ylabel("µs per token (LM training step)")
        ax.set_title(f"over {'V' if axis == 'vocab' else 'H'} ({fixed})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    s, m = results["settings"], results["machine"]
    fig.suptitle(f"LM training step, float32, batch {s['lm_batch']} × BPTT {s['lm_bptt']}, "
                 f"{m['blas_threads']} BLAS thread(s), {m['cpu_model']}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def build_parser():
    """The `hebbref bench` options; every help text shows its default."""
    parser = argparse.ArgumentParser(
        prog="hebbref bench",
        description="Time hebbref's training steps, sparse kernels and Hebbian rule beside "
                    "torch and the machine's BLAS peak; print a table, write JSON and a plot.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, 2 repeats: a smoke test, well under 20 s (default: off)")
    parser.add_argument("--json", metavar="OUT", default=None,
                        help="write every measurement to this JSON file (default: none)")
    parser.add_argument("--plot", metavar="OUT", default=DEFAULT_PLOT,
                        help=f"scaling plot, PNG (default: {DEFAULT_PLOT})")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads for numpy, and so for torch (default: numpy's own "
                             "count; 1 with --quick)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on stderr (default: shown when stderr is a "
                             "terminal)")
    return parser


def main(argv=None):
    """`hebbref bench [--quick] [--json OUT] [--plot OUT] [--threads K] [--quiet]`. Returns the
    exit status (0)."""
    global _show_progress
    parser = build_parser()
    args = parser.parse_args(argv)
    _show_progress = sys.stderr.isatty() and not args.quiet
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    # --quick is a smoke test and runs on one thread: small matmuls split over threads stall
    # for a scheduler time slice whenever another process holds one of the cores.
    threads = args.threads if args.threads is not None else (1 if args.quick else None)
    with (threadpool_limits(limits=threads, user_api="blas") if threads
          else contextlib.nullcontext()):
        results = run(QUICK if args.quick else FULL, quick=args.quick)
    print(format_report(results))
    if args.json:
        text = json.dumps(results, indent=1, allow_nan=False)
        atomic_write(args.json, lambda f: f.write(text.encode()))
    plot_scaling(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

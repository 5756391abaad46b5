"""The problems the bench times: sizes (full and --quick), Zipf-distributed ids, and the
matrix products of one LM step with their FLOP count."""
from dataclasses import dataclass

import numpy as np

LM_LR, LM_CLIP = 1.0, 0.25     # SGD with clipping, as in the usual word-LM recipe
# The neural cache of the eval section: the smallest window of cache.DEFAULT_WINDOWS and
# mid-grid θ_c, λ_c (speed does not depend on θ_c, λ_c).
EVAL_CACHE = {"window": 100, "theta_c": 0.3, "lambda_c": 0.1}
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
    lm_eval_segments: int       # BPTT segments in the eval section's token stream
    repeats: int
    warmup: int
    min_seconds: float
    settle_seconds: float       # idle pause before each timed run (see measure)
    warm_calls: int             # untimed calls after the pause, before each timed run
    large_vocabs: tuple         # section 7: the LM step up to WikiText-103's vocabulary
    large_repeats: int          # its rounds: a step at V = 267,735 takes seconds

    @property
    def lm_tokens(self):
        return self.lm_batch * self.lm_bptt


FULL = BenchSizes(blas_n=2048, lm_batch=32, lm_bptt=35, lm_hidden=256, lm_vocabs=(10000, 33278),
                  mlp_sizes=(784, 256, 256, 200), mlp_batch=16,
                  scaling_vocabs=(1000, 4000, 16000, 64000), scaling_hidden=256,
                  scaling_hiddens=(64, 128, 256, 512), scaling_vocab=10000,
                  lm_eval_segments=20, repeats=9, warmup=3, min_seconds=0.05, settle_seconds=0.3,
                  warm_calls=1, large_vocabs=(267735,), large_repeats=3)
# warmup = 3: the last warm-up call sets the calls per run (measure), and a first call is cold
# (numba's cache load, first-touch pages): with warmup = 1 the MLP's 2.5 ms step would be timed
# in runs of 7 calls, 17 ms instead of min_seconds.

QUICK = BenchSizes(blas_n=128, lm_batch=4, lm_bptt=5, lm_hidden=32, lm_vocabs=(300, 500),
                   mlp_sizes=(64, 32, 32, 20), mlp_batch=4,
                   scaling_vocabs=(100, 200, 400, 800), scaling_hidden=16,
                   scaling_hiddens=(8, 16, 32, 64), scaling_vocab=200,
                   lm_eval_segments=2, repeats=2, warmup=1, min_seconds=0.002, settle_seconds=0.0,
                   warm_calls=0, large_vocabs=(500, 3000), large_repeats=2)


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
    return 6 * tokens * hidden_size * vocab_size + lstm_flops(tokens, embed_size, hidden_size)


def lstm_flops(tokens, embed_size, hidden_size):
    """The LSTM's share of lm_step_flops: 24·N·H·(E + H) (forward and backward, one layer)."""
    return 24 * tokens * hidden_size * (embed_size + hidden_size)


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


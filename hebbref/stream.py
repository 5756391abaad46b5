"""The language model run down a token stream, as evaluation, the neural cache and MbPA read a
split (docs/MATH.md §1.2, §2.8, §6.1): N batchify columns read T steps at a time, the LSTM
state carried (no dropout, no Hebbian update), so each target sees its whole column so far.
"""
import numpy as np
from tqdm import tqdm

from hebbref.data.batching import batchify, bptt_segments, num_segments
from hebbref.models.lm import lm_forward, lm_initial_state
from hebbref.nn.softmax import nll_per_target, nll_per_target_reference


def eval_tokens(corpus, split, limit):
    """The tokens of corpus.<split> ("valid" or "test") that evaluation reads: all of them, or
    the first limit + 1 (limit targets) when limit is not None."""
    tokens = getattr(corpus, split)
    return tokens if limit is None else tokens[:limit + 1]


def walk(params, tokens, *, batch_size, bptt, reference=False, progress=False, desc="evaluate"):
    """Run the model down a token stream, one BPTT segment at a time, the state carried.

    Inputs:  tokens: (M,) int ids; batch_size: N columns; bptt: T >= 1 steps per segment;
             reference: the plain twins; progress: a bar named desc (only on a terminal).
    Yields, per segment of t <= T steps, (start, y, h, z, nll): start: the number of earlier
             targets in each column; y: (t, N) int64 targets; h: (t·N, H) activations entering
             the softmax; z: (t·N, V) logits; nll: (t·N,) float64 −log p_model(target); rows
             follow y.reshape(-1) (time-major, the column varying fastest).
    """
    data = batchify(tokens, batch_size)
    state = lm_initial_state(params, data.shape[1])
    target_nll = nll_per_target_reference if reference else nll_per_target
    segments = tqdm(bptt_segments(data, bptt), total=num_segments(data, bptt), desc=desc,
                    unit="segment", leave=False, disable=None if progress else True)
    for start, x, y in segments:
        z, h, state, _ = lm_forward(params, x, state, reference=reference)
        yield start, y, h, z, target_nll(z, y.reshape(-1)).astype(np.float64)

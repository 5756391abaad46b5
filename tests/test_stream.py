"""The token-stream walker (docs/MATH.md §1.2, §2.8, §6.1) and the plain path it switches to.

Gold computations: one lm_forward over each whole column (the carried state makes segments
unnecessary, docs/MATH.md §2.8) and nll_per_target_reference on its logits, for the walker; for
reference=True, the fast path of the same function, which shares none of the twins' code below
the walker.
"""
import numpy as np
import pytest

from hebbref import cache, mbpa, stream, threads
from hebbref.data.batching import batchify
from hebbref.experiments.lm import evaluate
from hebbref.models.lm import lm_forward, lm_init, lm_initial_state
from hebbref.nn.softmax import nll_per_target_reference

POINTS = ((2, 1, 1.0, 0.1, 1e-3), (3, 2, 0.5, 0.0, 0.1), (3, 0, 0.5, 0.0, 0.1))


def tiny_model(seed, V=11):
    """An untrained float64 embed 4 → LSTM 6 → softmax V model; its LSTM and softmax weights
    scaled up so that h spreads over (−1, 1) and the logits over several units, which makes the
    cache peaked and the MbPA steps large."""
    params = lm_init(V, 4, 6, np.random.default_rng(seed), dtype=np.float64)
    for key in ("lstm1.Wx", "lstm1.Wh", "softmax.theta"):
        params[key] = params[key] * 4
    return params


@pytest.mark.parametrize("batch_size,bptt", [(1, 1), (3, 4), (2, 50)])
def test_walk_is_one_pass_over_whole_columns(batch_size, bptt):
    """docs/MATH.md §1.2, §2.8: segments of any length tile the targets batchify(tokens)[1:] in
    time-major order, and, the state carried, give the h and NLLs of one pass over the whole
    columns."""
    params = tiny_model(0)
    tokens = np.random.default_rng(0).integers(0, 11, 41)
    data = batchify(tokens, batch_size)
    z, h, _, _ = lm_forward(params, data[:-1], lm_initial_state(params, batch_size))
    segments = list(stream.walk(params, tokens, batch_size=batch_size, bptt=bptt))
    assert [start for start, *_ in segments] == list(range(0, data.shape[0] - 1, bptt))
    y = np.concatenate([y for _, y, *_ in segments])
    np.testing.assert_array_equal(y, data[1:])
    np.testing.assert_allclose(np.concatenate([h for _, _, h, _, _ in segments]), h,
                               rtol=1e-12, atol=1e-14)
    nll = np.concatenate([nll for *_, nll in segments])
    assert nll.dtype == np.float64
    np.testing.assert_allclose(nll, nll_per_target_reference(z, data[1:].reshape(-1)),
                               rtol=1e-12)


def test_eval_tokens_takes_limit_targets():
    class Corpus:
        valid, test = np.arange(10), np.arange(20)
    assert stream.eval_tokens(Corpus, "valid", None) is Corpus.valid
    assert stream.eval_tokens(Corpus, "test", 5).tolist() == [0, 1, 2, 3, 4, 5]


def relative_difference(fast, plain):
    fast, plain = np.asarray(fast), np.asarray(plain)
    return float(np.max(np.abs(fast - plain) / np.abs(plain)))


def test_reference_path_gives_the_same_nlls():
    """docs/MATH.md §6.1, §6.4, §6.5: reference=True (the model's plain twins,
    nll_per_target_reference, the one-step cache cache_log_probs_reference at every target,
    adapted_logits_reference at every MbPA position) gives the fast path's NLLs on a float64 model to relative 1e-9, for evaluation, the cache
    (every grid point, nested windows, windows not yet full) and MbPA (span form, shared
    neighbours and step runs). The measured differences are printed."""
    params = tiny_model(1)
    tokens = np.random.default_rng(1).integers(0, 11, 60)
    run = dict(batch_size=3, bptt=4)
    both = {reference: dict(
        evaluate=evaluate(params, tokens, reference=reference, **run)[0],
        cache=cache._grid(params, tokens, run["batch_size"], run["bptt"], (2, 9), (0.0, 1.5),
                          (0.3, 1.0), reference)[0],
        mbpa=mbpa.mbpa_log_probs(params, tokens, memory_size=5, points=POINTS,
                                 reference=reference, **run))
        for reference in (False, True)}
    fast, plain = both[False], both[True]
    differences = {"evaluate": relative_difference(fast["evaluate"], plain["evaluate"])}
    for point, nll in fast["cache"].items():
        finite = np.isfinite(plain["cache"][point])
        assert np.array_equal(np.isfinite(nll), finite), point
        differences[f"cache {point}"] = relative_difference(nll[finite],
                                                            plain["cache"][point][finite])
    for key in ("model",) + POINTS:
        differences[f"mbpa {key}"] = relative_difference(fast["mbpa"][key], plain["mbpa"][key])
    print("reference vs fast, max relative difference:", differences)
    assert max(differences.values()) <= 1e-9, differences


def test_reference_path_runs_no_fast_code(monkeypatch):
    """With reference=True nothing reaches the thread pool (the threaded NLL, the fast LSTM)
    or the cache's and MbPA's fast stream code."""
    def refuse(*args, **kwargs):
        raise AssertionError("a fast path ran under reference=True")

    for module, name in ((threads, "map_row_blocks"), (threads, "blas_limit"),
                         (cache, "_cache_segments"), (mbpa, "_span_logits")):
        monkeypatch.setattr(module, name, refuse)
    params = tiny_model(2)
    tokens = np.random.default_rng(2).integers(0, 11, 30)
    run = dict(batch_size=2, bptt=5, reference=True)
    evaluate(params, tokens, **run)
    cache.evaluate_with_cache(params, tokens, window=3, theta_c=1.0, lambda_c=0.2, **run)
    mbpa.mbpa_log_probs(params, tokens, memory_size=4, points=POINTS[:1], **run)

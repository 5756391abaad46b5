"""The benchmark's workloads and timing (validation/speed/workloads.py, timing.py): the FLOP
formula and the Zipf ids against independent counts, the interleaved rounds."""
import dataclasses
import time

import numpy as np
import pytest

from speed import timing, workloads


@pytest.mark.parametrize("T, B, E, H, V", [(35, 32, 256, 256, 10000), (5, 4, 3, 7, 11),
                                           (1, 1, 1, 1, 1)])
def test_lm_step_flops_counts_every_matmul(T, B, E, H, V):
    """lm_step_flops equals the sum of 2·m·k·n over the matrix products that
    hebbref/nn/lstm.py and hebbref/nn/softmax.py compute, listed here one by one."""
    N = T * B
    products = [
        (N, E, 4 * H),                 # lstm_forward: x Wx
        *[(B, H, 4 * H)] * T,          # lstm_step_forward: h_{t−1} Wh
        (N, H, V),                     # softmax_layer_forward: h θᵀ
        (N, V, H),                     # softmax_layer_backward: dz θ
        (V, N, H),                     # softmax_layer_backward: dzᵀ h
        *[(B, 4 * H, H)] * T,          # lstm_backward: das[t] Whᵀ
        (E, N, 4 * H),                 # lstm_backward: xᵀ da
        (H, N, 4 * H),                 # lstm_backward: h_prevᵀ da
        (N, 4 * H, E),                 # lstm_backward: da Wxᵀ
    ]
    assert workloads.lm_step_flops(N, E, H, V) == sum(2 * m * k * n for m, k, n in products)
    # ... and the products the bench times as the step's matmul-only floor are the same ones.
    listed = [(m, k, n) for m, k, n, count in workloads.lm_step_products(N, B, E, H, V)
              for _ in range(count)]
    assert sorted(listed) == sorted(products)


def test_zipf_ids_follow_the_rank_frequency_law():
    """P(k) ∝ 1/(k+1): id 0 is about twice as frequent as id 1 and three times id 2."""
    ids = workloads.zipf_ids(np.random.default_rng(0), 50, 200_000)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 50
    counts = np.bincount(ids, minlength=50)
    assert counts[0] / counts[1] == pytest.approx(2.0, rel=0.05)
    assert counts[0] / counts[2] == pytest.approx(3.0, rel=0.05)


def test_measure_interleaves_and_reverses_order():
    """Warm-up calls come first; then each round calls every contender, reversed on odd rounds."""
    calls = []
    sizes = dataclasses.replace(workloads.QUICK, repeats=4, warmup=2, min_seconds=0.0)
    result = timing.measure({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, sizes)
    assert calls == ["a", "a", "b", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert all(len(r["runs_s"]) == 4 and r["calls_per_run"] == 1 for r in result.values())


def test_measure_makes_warm_calls_after_each_pause_and_does_not_time_them():
    """With warm_calls = 1 every run is preceded by one untimed call (after the settle pause):
    the sequence has it, and a contender whose warm calls are slow (30 ms) has fast runs."""
    calls = []
    sizes = dataclasses.replace(workloads.QUICK, repeats=2, warmup=1, min_seconds=0.0,
                                warm_calls=1)

    def slow_when_warming():
        calls.append("s")
        if len(calls) % 2 == 0:          # calls 2, 4, ...: the warm call before each run
            time.sleep(0.03)

    result = timing.measure({"s": slow_when_warming}, sizes)
    assert calls == ["s"] * 5
    assert max(result["s"]["runs_s"]) < 0.02


def test_phase_timing_runs_the_same_steps_as_the_timed_step():
    """hebbref_lm_phases writes lm_loss and train_step out phase by phase to time them; its
    steps must be the bench's LM step (docs/MATH.md §5 order: clip, SGD, Hebbian rule), so after the
    same number of steps both hold the same parameters, bit for bit."""
    from speed.contenders import LM_PHASES, hebbref_lm_phases, hebbref_lm_step

    sizes, V, steps = workloads.QUICK, 40, 3
    times, params = hebbref_lm_phases(V, sizes.lm_hidden, sizes, steps)
    step = hebbref_lm_step(V, sizes.lm_hidden, sizes)
    for _ in range(steps + 1):
        step()
    assert list(times) == list(LM_PHASES)
    assert all(len(t) == steps and min(t) > 0 for t in times.values())
    assert params.keys() == step.params.keys()
    for name in params:
        np.testing.assert_array_equal(params[name], step.params[name], err_msg=name)


def test_paired_interval_covers_the_true_ratio_whatever_the_machine_drift():
    """timing.paired_interval: a 95 % t interval on per-round log ratios. Simulated rounds where
    both contenders share a slow spell of the machine (a common factor up to 2×, which would
    swamp a ratio of medians) and have their own ±5 % noise: the interval holds the true ratio
    1.3 in about 95 % of 400 runs and stays narrow."""
    rng = np.random.default_rng(0)
    hits, widths = 0, []
    for _ in range(400):
        drift = rng.uniform(1.0, 2.0, 7)
        fast = 0.1 * drift * np.exp(rng.normal(0, 0.05, 7))
        slow = 0.13 * drift * np.exp(rng.normal(0, 0.05, 7))
        low, high = timing.paired_interval(list(slow), list(fast))
        hits += low <= 1.3 <= high
        widths.append(high / low)
    assert 0.90 <= hits / 400 <= 0.99
    assert np.median(widths) < 1.15
    assert timing.paired_interval(None, [1.0, 2.0]) is None
    assert timing.paired_interval([1.0], [2.0]) is None
    assert timing.paired_interval([2.0, 4.0], [1.0, 2.0]) == [2.0, 2.0]

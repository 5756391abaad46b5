"""validation/stats.py: the intervals the validation scripts report (docs/MATH.md §6.2, §6.3):
paired bootstrap of accuracy differences, bootstrap of NLL differences per bucket, and
Student's t over seeds on log ratios."""
import math

import numpy as np
import pytest

from hebbref.metrics import EXPOSURE_BUCKETS
from stats import bucket_difference_interval, paired_difference_ci, seed_ratio_interval


def _per_image(rng, images, p_base, p_hebb, evaluations=3):
    """A seed's per-image tally: every image evaluated `evaluations` times in bucket "1"."""
    total = np.zeros((images, len(EXPOSURE_BUCKETS)), np.int64)
    total[:, 1] = evaluations
    correct = lambda p: np.where(total > 0, rng.binomial(evaluations, p, total.shape), 0)
    return {"total": total, "baseline": correct(p_base), "hebbian": correct(p_hebb)}


def test_paired_difference_interval():
    """The difference is Σ(correct_H − correct_B) / Σ total over the bucket (computed here from
    the definition); the 95 % interval contains it, covers the true gain of simulated seeds,
    shrinks like 1/√n when four times the images are resampled, and an empty bucket is None."""
    rng = np.random.default_rng(0)
    runs = [_per_image(rng, 100, 0.3, 0.5) for _ in range(5)]
    ci = paired_difference_ci(runs, n_resamples=1000)["1"]
    gain = sum((r["hebbian"] - r["baseline"])[:, 1].sum() for r in runs)
    assert ci["difference"] == pytest.approx(gain / sum(r["total"][:, 1].sum() for r in runs))
    assert ci["low"] < ci["difference"] < ci["high"]
    assert ci["low"] < 0.2 < ci["high"]
    assert (ci["images"], ci["evaluations"]) == (500, 1500)
    wide = ci["high"] - ci["low"]
    big = paired_difference_ci([_per_image(rng, 400, 0.3, 0.5) for _ in range(5)],
                               n_resamples=1000)["1"]
    assert 0.35 < (big["high"] - big["low"]) / wide < 0.7
    empty = paired_difference_ci(runs)["2"]
    assert empty["difference"] is None and empty["low"] is None and empty["images"] == 0


def test_difference_interval_is_paired():
    # Per-target NLL varies by ±5 nats between targets but the two models differ by a near
    # constant per bucket: only a paired interval is this narrow around the shift.
    rng = np.random.default_rng(0)
    rows = np.repeat([0, 1, 3], 500)                      # buckets "a", "b", <unk>; "c" empty
    old = rng.normal(5.0, 5.0, rows.size)
    shift = np.select([rows == 0, rows == 1], [0.2, -0.5], 0.0)
    new = old + shift + rng.normal(0.0, 0.01, rows.size)
    result = bucket_difference_interval(new, old, rows, ["a", "b", "c"], rng=1)
    assert [r["name"] for r in result] == ["a", "b", "c", "<unk>", "overall"]
    assert [r["tokens"] for r in result] == [500, 500, 0, 500, 1500]
    for row, expected in zip(result, (0.2, -0.5)):
        assert row["low"] < expected < row["high"], row
        assert row["high"] - row["low"] < 0.01, row
        assert row["ratio_low"] == pytest.approx(math.exp(row["low"]))
        assert row["ratio"] == pytest.approx(math.exp(row["mean_difference"]))
    assert result[2]["ratio"] is None and result[2]["low"] is None          # no targets
    assert result[4]["mean_difference"] == pytest.approx(np.mean(new - old))


def test_difference_interval_matches_t_interval():
    # For a mean of 400 roughly normal differences the percentile bootstrap and Student's t
    # interval must agree to a few percent of their width.
    from scipy import stats

    rng = np.random.default_rng(3)
    difference = rng.normal(0.1, 1.0, 400)
    row = bucket_difference_interval(difference, np.zeros(400), np.zeros(400, np.int64), ["a"],
                                     n_resamples=4000, rng=2)[0]
    t = stats.ttest_1samp(difference, 0.0).confidence_interval(0.95)
    width = t.high - t.low
    assert abs(row["low"] - t.low) < 0.08 * width and abs(row["high"] - t.high) < 0.08 * width


def test_difference_interval_bad_inputs():
    with pytest.raises(ValueError, match="one shape"):
        bucket_difference_interval(np.zeros(3), np.zeros(4), np.zeros(3, np.int64), ["a"])
    with pytest.raises(ValueError, match="rows must lie"):
        bucket_difference_interval(np.zeros(3), np.zeros(3), np.array([0, 1, 2]), ["a"])


def test_seed_ratio_interval_covers_the_true_ratio_at_its_confidence():
    """Property: a 95 % interval over seeds (Student's t on log ratios) contains the true ratio
    in about 95 % of experiments when log ratios are normal (docs/MATH.md §10: a Hebbian/baseline
    difference is reported with an interval that carries the training noise). 2,000 simulated
    studies of 3 seeds: the coverage must lie within 4 binomial standard errors of 0.95, and a
    z-interval (which ignores that sd is estimated from 3 seeds) must cover clearly less."""
    rng = np.random.default_rng(1)
    true_ratio, sd, studies, seeds = 0.97, 0.05, 2000, 3
    logs = rng.normal(math.log(true_ratio), sd, size=(studies, seeds))
    covered = 0
    for row in np.exp(logs):
        ratio, low, high = seed_ratio_interval(row)
        assert low <= ratio <= high
        covered += low <= true_ratio <= high
    se = math.sqrt(0.95 * 0.05 / studies)
    assert abs(covered / studies - 0.95) < 4 * se
    half = 1.96 * logs.std(axis=1, ddof=1) / math.sqrt(seeds)
    z_covered = np.mean(np.abs(logs.mean(axis=1) - math.log(true_ratio)) <= half)
    assert z_covered < 0.95 - 4 * se


def test_seed_ratio_interval_edges_and_bad_input():
    """One seed, or identical seeds: no spread to estimate, the interval is the point. Bad input
    is a ValueError naming the argument."""
    assert seed_ratio_interval([0.9]) == pytest.approx((0.9, 0.9, 0.9))
    assert seed_ratio_interval([1.1, 1.1]) == pytest.approx((1.1, 1.1, 1.1))
    ratio, low, high = seed_ratio_interval([0.9, 1.0, 1.1], confidence=0.5)
    _, low95, high95 = seed_ratio_interval([0.9, 1.0, 1.1])
    assert low95 < low < ratio < high < high95
    for bad in ([], [1.0, -0.5], [1.0, 0.0], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="ratios"):
            seed_ratio_interval(bad)
    with pytest.raises(ValueError, match="confidence"):
        seed_ratio_interval([1.0, 1.1], confidence=1.0)

"""How sure a difference between two models is: the intervals the validation scripts report.

- paired_difference_ci: Hebbian − baseline accuracy per exposure bucket (the curriculum),
  bootstrap over (seed, test image) units; it lives in hebbref.metrics, since `hebbref demo`
  prints it;
- bucket_difference_interval: the difference in mean NLL per frequency bucket between two
  models scored on the same targets, bootstrap over targets;
- seed_ratio_interval: a ratio over seeds (or over the paired rounds of a timing), Student's t on
  the log ratios.
"""
import math

import numpy as np

from hebbref.metrics import paired_difference_ci  # noqa: F401 (re-exported)
from hebbref.checks import check_array, check_number


def bucket_difference_interval(nll_new, nll_old, rows, names, *, confidence=0.95,
                               n_resamples=2000, rng=None):
    """Interval of the difference in mean NLL between two models scored on the same targets.

    nll_new, nll_old: (N,) NLL of each target under the two models, the same targets in the same
    order (the difference is taken target by target: a paired comparison); rows: (N,) int, the
    row of each target (bucket_of_targets: 0..len(names)−1 for the buckets, len(names) for
    <unk>); names: the bucket names.
    The interval is scipy.stats.bootstrap's percentile interval of the mean per-target difference,
    resampling targets; it treats targets as independent, so it measures how much the
    evaluation text decides the difference, not how much training noise does.
    Returns one dict per bucket, then "<unk>", then "overall": name, tokens, mean_difference,
    low, high (nats) and ratio, ratio_low, ratio_high = exp of those (the perplexity ratio
    new/old); None for all of them in a row without targets.
    """
    from scipy import stats

    nll_new = check_array(nll_new, "nll_new", ndim=1).astype(np.float64)
    nll_old = check_array(nll_old, "nll_old", ndim=1).astype(np.float64)
    rows = check_array(rows, "rows", ndim=1, dtype_kind="i")
    if not nll_new.shape == nll_old.shape == rows.shape:
        raise ValueError(f"nll_new, nll_old and rows must have one shape, got {nll_new.shape}, "
                         f"{nll_old.shape} and {rows.shape}")
    names = list(names) + ["<unk>"]
    if rows.size and (rows.min() < 0 or rows.max() >= len(names)):
        raise ValueError(f"rows must lie in [0, {len(names)}), got [{rows.min()}, {rows.max()}]")
    rng = np.random.default_rng(rng)
    difference = nll_new - nll_old
    groups = [(name, difference[rows == k]) for k, name in enumerate(names)]
    result = []
    for name, values in groups + [("overall", difference)]:
        row = {"name": name, "tokens": int(values.size)}
        if values.size < 2:
            keys = ("mean_difference", "low", "high", "ratio", "ratio_low", "ratio_high")
            result.append({**row, **dict.fromkeys(keys)})
            continue
        ci = stats.bootstrap((values,), np.mean, confidence_level=confidence,
                             n_resamples=n_resamples, method="percentile", random_state=rng,
                             batch=max(1, 20_000_000 // values.size)).confidence_interval
        mean = float(values.mean())
        row.update(mean_difference=mean, low=float(ci.low), high=float(ci.high),
                   ratio=math.exp(mean), ratio_low=math.exp(ci.low), ratio_high=math.exp(ci.high))
        result.append(row)
    return result


def seed_ratio_interval(ratios, *, confidence=0.95):
    """Interval of a perplexity ratio over training seeds: Student's t on the log ratios.

    ratios: (S,) positive (array or sequence), one Hebbian/baseline perplexity ratio per seed (each seed's pair
    shares split, initial weights and data order). log r_s are treated as independent draws of
    the training noise; the interval is exp(m ± t_{S−1} · sd / √S), m and sd the mean and
    sample standard deviation of log r_s (scipy.stats.t). Unlike bucket_difference_interval it
    carries the noise of training, so with few seeds it is wide.
    Returns (ratio, low, high): exp(m) and the interval; low = high = ratio when S = 1.
    """
    from scipy import stats

    ratios = check_array(np.asarray(ratios, dtype=np.float64), "ratios", ndim=1)
    if ratios.size == 0 or not np.all(ratios > 0):
        raise ValueError(f"ratios must be a non-empty array of positive numbers, got {ratios}")
    if not 0 < check_number(confidence, "confidence") < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    logs = np.log(ratios)
    mean = float(logs.mean())
    if ratios.size == 1 or np.ptp(logs) == 0:
        return math.exp(mean), math.exp(mean), math.exp(mean)
    low, high = stats.t.interval(confidence, ratios.size - 1, loc=mean,
                                 scale=stats.sem(logs))
    return math.exp(mean), math.exp(low), math.exp(high)

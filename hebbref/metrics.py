"""Evaluation metrics for the reproductions (METHOD §5, §6). Accuracy by exposure is at the end.

Perplexity by training-frequency bucket (METHOD §6)
---------------------------------------------------
A target token falls in a bucket by how often its word occurs in the training split, c =
train_counts[target]. Buckets are half-open count ranges ``low <= c < high``, listed from the
most to the least frequent, and together they cover every count 0, 1, 2, ... exactly once:

    "default" (METHOD §6, for ~1M-token corpora)   "paper" (WikiText-103, Rae et al. 2018)
    ">1K"     1000 <= c                             ">10K"    10000 <= c
    "100–1K"   100 <= c < 1000                      "1K–10K"   1000 <= c < 10000
    "10–100"    10 <= c < 100                       "100–1K"    100 <= c < 1000
    "<10"            c < 10                         "<100"            c < 100

So a name's lower figure is included and its upper figure is not (">1K" includes c = 1000).
Targets equal to ``<unk>`` form a row of their own after the buckets, whatever the count of
``<unk>``; ``<eos>`` is a word like any other (in the top bucket on any real corpus).

    bucket perplexity  = exp(mean NLL of the targets in the bucket)
    overall perplexity = exp(Σ NLL / N) = exp(Σ_k n_k · mean_NLL_k / N),
i.e. the token-weighted mean of the rows' log-perplexities, <unk> row included.
"""
import math
import numbers
from typing import NamedTuple

import numpy as np

from hebbref.validate import check_array, check_int

# ------------------------------------------------------------------------------------------------
# Perplexity by training-frequency bucket (METHOD §6)

BUCKET_THRESHOLDS = {"default": (10, 100, 1000), "paper": (100, 1000, 10000)}


class FrequencyBucket(NamedTuple):
    """Targets whose training count c satisfies low <= c < high (high = inf for the top bucket)."""

    name: str
    low: int
    high: float

    def rule(self):
        """The bucket's range as text, e.g. "100 <= count < 1000"."""
        if self.low == 0:
            return f"count < {int(self.high)}"
        if math.isinf(self.high):
            return f"{self.low} <= count"
        return f"{self.low} <= count < {int(self.high)}"


def _short(count):
    for size, suffix in ((1_000_000, "M"), (1000, "K")):
        if count >= size and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


def frequency_buckets(spec="default"):
    """The frequency buckets, most frequent first (module docstring).

    spec: "default", "paper", or increasing positive integer thresholds (t_1 < ... < t_k), which
    give the buckets c >= t_k, [t_{k-1}, t_k), ..., c < t_1.
    Returns a tuple of FrequencyBucket(name, low, high).
    """
    if isinstance(spec, str):
        if spec not in BUCKET_THRESHOLDS:
            raise ValueError(f"spec must be one of {sorted(BUCKET_THRESHOLDS)} or a sequence of "
                             f"thresholds, got {spec!r}")
        thresholds = BUCKET_THRESHOLDS[spec]
    else:
        thresholds = tuple(spec)
        if not thresholds or any(isinstance(t, bool) or not isinstance(t, numbers.Integral)
                                 for t in thresholds):
            raise ValueError(f"spec thresholds must be a non-empty sequence of ints, got {spec!r}")
        if thresholds[0] < 1 or any(a >= b for a, b in zip(thresholds, thresholds[1:])):
            raise ValueError(f"spec thresholds must be positive and increasing, got {spec!r}")
    edges = [0, *(int(t) for t in thresholds), math.inf]
    buckets = []
    for low, high in zip(edges[:-1], edges[1:]):
        if low == 0:
            name = f"<{_short(high)}"
        elif math.isinf(high):
            name = f">{_short(low)}"
        else:
            name = f"{_short(low)}–{_short(high)}"
        buckets.append(FrequencyBucket(name, low, high))
    return tuple(reversed(buckets))


def _check_buckets(buckets):
    """The buckets must be FrequencyBuckets that tile [0, inf) from the top down."""
    buckets = tuple(buckets)
    if not buckets or not all(isinstance(b, FrequencyBucket) for b in buckets):
        raise TypeError("buckets must be a non-empty sequence of FrequencyBucket "
                        "(see frequency_buckets)")
    tiled = (math.isinf(buckets[0].high) and buckets[-1].low == 0
             and all(upper.low == lower.high for upper, lower in zip(buckets, buckets[1:]))
             and all(b.low < b.high for b in buckets))
    if not tiled:
        raise ValueError(f"buckets must cover counts [0, inf) without gaps or overlaps, most "
                         f"frequent first; got {[b.rule() for b in buckets]}")
    return buckets


def _check_targets(targets, train_counts, unk_id):
    train_counts = check_array(train_counts, "train_counts", ndim=1, dtype_kind="i")
    vocab_size = train_counts.shape[0]
    if train_counts.size and train_counts.min() < 0:
        raise ValueError(f"train_counts must be non-negative, got minimum {train_counts.min()}")
    targets = check_array(targets, "targets", ndim=1, dtype_kind="i")
    if targets.size and (targets.min() < 0 or targets.max() >= vocab_size):
        raise ValueError(f"targets must lie in [0, {vocab_size}) (the length of train_counts), "
                         f"got values in [{targets.min()}, {targets.max()}]")
    check_int(unk_id, "unk_id", 0, vocab_size - 1)
    return targets, train_counts, int(unk_id)


def bucket_of_targets(targets, train_counts, unk_id, buckets):
    """Row of each target: the index of its frequency bucket, or len(buckets) for <unk>.

    targets: (N,) int ids in [0, V); train_counts: (V,) int training counts; unk_id: the id of
    <unk>; buckets: from frequency_buckets.
    Returns (N,) int64 in [0, len(buckets)].
    """
    targets, train_counts, unk_id = _check_targets(targets, train_counts, unk_id)
    buckets = _check_buckets(buckets)
    return _bucket_index(targets, train_counts, unk_id, buckets)


def _bucket_index(targets, train_counts, unk_id, buckets):
    counts = train_counts[targets]
    index = np.empty(targets.shape[0], dtype=np.int64)
    for k, bucket in enumerate(buckets):
        index[(counts >= bucket.low) & (counts < bucket.high)] = k
    index[targets == unk_id] = len(buckets)
    return index


def perplexity_by_bucket(nll, targets, train_counts, unk_id, buckets):
    """Perplexity overall and per training-frequency bucket (METHOD §6).

    nll: (N,) float, −log p(target) of each target; targets: (N,) int ids; train_counts: (V,);
    unk_id: id of <unk>; buckets: from frequency_buckets.
    Returns {"buckets": [one row per bucket, most frequent first, then the "<unk>" row],
             "overall": row} where each row is a dict with
        name, rule (its count range as text), tokens (int), mean_nll and perplexity (floats,
        or None when tokens == 0, so the result stays valid JSON).
    Sums are taken in float64 whatever the dtype of nll (a float32 sum over 10^5..10^8 targets
    would lose digits of the reported perplexity).
    """
    nll = check_array(nll, "nll", ndim=1)
    targets, train_counts, unk_id = _check_targets(targets, train_counts, unk_id)
    if nll.shape != targets.shape:
        raise ValueError(f"nll and targets must have the same shape, got {nll.shape} and "
                         f"{targets.shape}")
    buckets = _check_buckets(buckets)
    index = _bucket_index(targets, train_counts, unk_id, buckets)
    nll = nll.astype(np.float64)
    tokens = np.bincount(index, minlength=len(buckets) + 1)
    total_nll = np.bincount(index, weights=nll, minlength=len(buckets) + 1)
    names = [(b.name, b.rule()) for b in buckets] + [("<unk>", f"target is <unk> (id {unk_id})")]
    rows = [_row(name, rule, int(n), float(s))
            for (name, rule), n, s in zip(names, tokens, total_nll)]
    overall = _row("overall", "all targets", int(nll.shape[0]), float(nll.sum()))
    return {"buckets": rows, "overall": overall}


def _row(name, rule, tokens, total_nll):
    mean_nll = total_nll / tokens if tokens else None
    return {
        "name": name,
        "rule": rule,
        "tokens": tokens,
        "mean_nll": mean_nll,
        "perplexity": float(np.exp(mean_nll)) if tokens else None,
    }


# ------------------------------------------------------------------------------------------------
# Accuracy by exposure (METHOD §5)

EXPOSURE_BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3-5", 3, 5), ("6-10", 6, 10),
                    ("11-20", 11, 20), ("21-50", 21, 50), (">50", 51, None))


def exposure_bucket(exposures):
    """Index into EXPOSURE_BUCKETS of each exposure count (0, 1, 2, 3–5, 6–10, 11–20, 21–50, >50).

    exposures: (N,) non-negative ints -> (N,) int64.
    """
    upper = np.array([high for _, _, high in EXPOSURE_BUCKETS[:-1]])
    return np.searchsorted(upper, np.asarray(exposures), side="left").astype(np.int64)


class ExposureTally:
    """Correct and total test classifications per test image and exposure bucket, summed over
    evaluations.

    Each evaluation files every evaluated test image once, under the bucket of its class's
    exposure count (training draws of that class so far), so totals count (image, evaluation)
    pairs. Keeping them per image lets a confidence interval resample images (and seeds).
    num_images: the size of the test set the image ids index.
    """

    def __init__(self, num_images):
        self.correct = np.zeros((num_images, len(EXPOSURE_BUCKETS)), np.int64)
        self.total = np.zeros((num_images, len(EXPOSURE_BUCKETS)), np.int64)

    def add(self, correct, exposures, images):
        """correct: (N,) bool, one per evaluated test image; exposures: (N,) its class's
        exposure count; images: (N,) distinct ids of those images in [0, num_images)."""
        index = exposure_bucket(exposures)
        self.correct[images, index] += np.asarray(correct, dtype=np.int64)
        self.total[images, index] += 1

    def as_dict(self):
        """{bucket name: {"correct", "total", "accuracy" (None when total is 0)}}."""
        correct, total = self.correct.sum(axis=0), self.total.sum(axis=0)
        return {name: {"correct": int(c), "total": int(t),
                       "accuracy": (float(c / t) if t else None)}
                for (name, _, _), c, t in zip(EXPOSURE_BUCKETS, correct, total)}


def paired_difference_ci(runs, *, confidence=0.95, n_resamples=2000, seed=0):
    """Hebbian − baseline accuracy per exposure bucket, with a bootstrap interval over seeds and
    test images (scipy.stats.bootstrap, paired, percentile method).

    runs: one dict per seed, {"total": (I, B), "baseline": (I, B), "hebbian": (I, B)} ints:
    evaluations of each test image in each bucket, and how many of them each model got right
    (both models saw the same stream, so the totals are shared and the comparison is paired).
    The resampled unit is one (seed, image) pair with all its evaluations, so the interval
    carries the variation between images and between seeds' streams, classes and weights.
    Returns {bucket name: {"difference", "low", "high", "images", "evaluations"}}, the
    difference being Σ(correct_H − correct_B) / Σ total over the bucket's units; all None when
    the bucket is empty, low = high = difference when only one unit is in it.
    """
    from scipy import stats

    total = np.concatenate([np.asarray(r["total"]) for r in runs])
    gain = np.concatenate([np.asarray(r["hebbian"]) - np.asarray(r["baseline"]) for r in runs])
    out = {}
    for k, (name, _, _) in enumerate(EXPOSURE_BUCKETS):
        units = total[:, k] > 0
        t, g = total[units, k].astype(float), gain[units, k].astype(float)
        cell = {"difference": None, "low": None, "high": None, "images": int(units.sum()),
                "evaluations": int(t.sum())}
        if units.any():
            cell["difference"] = cell["low"] = cell["high"] = float(g.sum() / t.sum())
        if units.sum() > 1 and np.ptp(g / t) > 0:
            ci = stats.bootstrap((g, t), lambda g, t, axis: g.sum(axis) / t.sum(axis),
                                 paired=True, vectorized=True, confidence_level=confidence,
                                 n_resamples=n_resamples, method="percentile",
                                 rng=np.random.default_rng(seed)).confidence_interval
            cell["low"], cell["high"] = float(ci.low), float(ci.high)
        out[name] = cell
    return out

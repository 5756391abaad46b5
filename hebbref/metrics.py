"""Evaluation metrics for the reproductions: perplexity by training-frequency bucket
(docs/MATH.md §6.2: half-open ranges low <= c < high of the target's training count c, most
frequent first, <unk> a row of its own, <eos> a word) and accuracy by exposure (§6.3)."""
import math
import numbers
from typing import NamedTuple

import numpy as np

from hebbref.checks import check_array, check_int

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
    """A tuple of FrequencyBucket(name, low, high), most frequent first. spec: "default",
    "paper", or increasing positive int thresholds t_1 < ... < t_k: c >= t_k, ..., c < t_1."""
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
    inner = [f"{_short(low)}–{_short(high)}" for low, high in zip(edges[1:-2], edges[2:-1])]
    names = [f"<{_short(edges[1])}", *inner, f">{_short(edges[-2])}"]       # "<10", "10–100", ">1K"
    return tuple(FrequencyBucket(*bucket) for bucket in zip(names, edges, edges[1:]))[::-1]


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
    """Row of each target: its bucket's index, or len(buckets) for <unk>. targets: (N,) int in
    [0, V); train_counts: (V,) int; buckets: from frequency_buckets -> (N,) int64."""
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
    """Perplexity overall and per training-frequency bucket (docs/MATH.md §6.2).

    nll: (N,) −log p(target); targets: (N,) int ids; train_counts: (V,); unk_id: id of <unk>.
    Returns {"buckets": [a row per bucket, then "<unk>"], "overall": row}, each row {name, rule,
    tokens, mean_nll, perplexity} (None when tokens == 0, so it stays valid JSON). Sums are in
    float64 (a float32 sum over 10^8 targets would lose digits of the perplexity).
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
    return {"name": name, "rule": rule, "tokens": tokens, "mean_nll": mean_nll,
            "perplexity": float(np.exp(mean_nll)) if tokens else None}


EXPOSURE_BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3-5", 3, 5), ("6-10", 6, 10),
                    ("11-20", 11, 20), ("21-50", 21, 50), (">50", 51, None))


def exposure_bucket(exposures):
    """Index into EXPOSURE_BUCKETS of each exposure count: (N,) ints >= 0 -> (N,) int64."""
    upper = np.array([high for _, _, high in EXPOSURE_BUCKETS[:-1]])
    return np.searchsorted(upper, np.asarray(exposures), side="left").astype(np.int64)


class ExposureTally:
    """Correct and total test classifications per test image and exposure bucket, summed over
    evaluations (docs/MATH.md §6.3); per image, so a confidence interval can resample images.
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


def paired_difference_of_runs(baseline, hebbian, **options):
    """paired_difference_ci of two models' curriculum results on the same streams: baseline,
    hebbian: [result per seed] (each with "per_image"), in the same seed order."""
    return paired_difference_ci([
        {"total": h["per_image"]["total"], "baseline": b["per_image"]["correct"],
         "hebbian": h["per_image"]["correct"]} for b, h in zip(baseline, hebbian, strict=True)],
        **options)


def paired_difference_ci(runs, *, confidence=0.95, n_resamples=2000, seed=0):
    """Hebbian − baseline accuracy Δ_b per exposure bucket with its paired percentile bootstrap
    interval over (seed, image) units (docs/MATH.md §6.3), so it carries the variation between
    images and between seeds' streams, classes and weights. runs: one dict per seed, {"total",
    "baseline", "hebbian"}: (I, B) ints, evaluations of each test image in each bucket and how
    many each model got right. Returns {bucket: {"difference", "low", "high", "images",
    "evaluations"}}; None when empty, low = high with a single unit."""
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

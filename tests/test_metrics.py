"""hebbref/metrics.py: perplexity by training-frequency bucket (docs/MATH.md §10) and accuracy by
exposure (docs/MATH.md §9)."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hebbref.metrics import (
    EXPOSURE_BUCKETS,
    ExposureTally,
    FrequencyBucket,
    exposure_bucket,
    frequency_buckets,
    perplexity_by_bucket,
)

INF = math.inf


def test_named_bucket_specs():
    assert frequency_buckets() == (
        FrequencyBucket(">1K", 1000, INF), FrequencyBucket("100–1K", 100, 1000),
        FrequencyBucket("10–100", 10, 100), FrequencyBucket("<10", 0, 10))
    assert [b.name for b in frequency_buckets("paper")] == [">10K", "1K–10K", "100–1K", "<100"]
    assert [b.rule() for b in frequency_buckets("paper")] == [
        "10000 <= count", "1000 <= count < 10000", "100 <= count < 1000", "count < 100"]
    assert [b.name for b in frequency_buckets((5, 50, 2000000))] == [">2M", "50–2M", "5–50", "<5"]


@pytest.mark.parametrize("spec, error", [
    ("wikitext", ValueError), ((), ValueError), ((10, 10), ValueError), ((0, 10), ValueError),
    ((100, 10), ValueError), ((1.5, 10), ValueError),
])
def test_bad_bucket_specs(spec, error):
    with pytest.raises(error, match="spec"):
        frequency_buckets(spec)


def bucket_rows(targets, counts, unk_id, buckets):
    """The row perplexity_by_bucket files each target under: its bucket's index, or
    len(buckets) for the <unk> row."""
    rows = []
    for target in targets:
        result = perplexity_by_bucket(np.zeros(1), np.array([target]), counts, unk_id, buckets)
        rows.append([row["tokens"] for row in result["buckets"]].index(1))
    return rows


def test_boundaries_on_hand_picked_counts():
    # id:            0 (<unk>)  1     2    3    4   5   6  7  8     9        10
    counts = np.array([5000, 1000, 999, 100, 99, 10, 9, 0, 1001, 10**6, 10000])
    targets = np.arange(counts.size)
    default = bucket_rows(targets, counts, 0, frequency_buckets("default"))
    assert default == [4, 0, 1, 1, 2, 2, 3, 3, 0, 0, 0]
    paper = bucket_rows(targets, counts, 0, frequency_buckets("paper"))
    assert paper == [4, 1, 2, 2, 3, 3, 3, 3, 1, 0, 0]
    # <unk> is its own row wherever its id is and whatever its count.
    assert bucket_rows(targets, counts, 7, frequency_buckets())[:8] == [
        0, 0, 1, 1, 2, 2, 3, 4]


def test_perplexity_by_bucket_by_hand():
    counts = np.array([3, 2000, 50, 5])  # <unk>, a ">1K" word, a "10–100" word, a "<10" word
    targets = np.array([1, 1, 2, 0, 1])
    nll = np.array([1.0, 3.0, 4.0, 0.5, 2.0], dtype=np.float32)
    result = perplexity_by_bucket(nll, targets, counts, 0, frequency_buckets())
    rows = {row["name"]: row for row in result["buckets"]}
    names = [row["name"] for row in result["buckets"]]
    assert names == [">1K", "100–1K", "10–100", "<10", "<unk>"]
    assert rows[">1K"]["tokens"] == 3 and rows[">1K"]["mean_nll"] == pytest.approx(2.0)
    assert rows[">1K"]["perplexity"] == pytest.approx(math.exp(2.0))
    assert rows["10–100"]["perplexity"] == pytest.approx(math.exp(4.0))
    assert rows["<unk>"]["perplexity"] == pytest.approx(math.exp(0.5))
    for empty in ("100–1K", "<10"):  # empty buckets: None, never NaN
        assert rows[empty] == {"name": empty, "rule": rows[empty]["rule"], "tokens": 0,
                               "mean_nll": None, "perplexity": None}
    assert result["overall"]["tokens"] == 5
    assert result["overall"]["perplexity"] == pytest.approx(math.exp(10.5 / 5))
    json.dumps(result, allow_nan=False)  # results are written as JSON


def test_no_targets():
    result = perplexity_by_bucket(np.zeros(0), np.zeros(0, dtype=np.int64), np.array([1, 2]), 0,
                                  frequency_buckets())
    assert result["overall"] == {"name": "overall", "rule": "all targets", "tokens": 0,
                                 "mean_nll": None, "perplexity": None}
    assert all(row["tokens"] == 0 for row in result["buckets"])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), vocab_size=st.integers(1, 30), n=st.integers(1, 200),
       dtype=st.sampled_from([np.float32, np.float64]),
       spec=st.sampled_from(["default", "paper", (1, 2, 3), (7,)]))
def test_bucket_bookkeeping(data, vocab_size, n, dtype, spec):
    """docs/MATH.md §10: every target lies in exactly one row (its frequency bucket, low <= c < high,
    or the <unk> row); row token counts add up to N; each row's mean NLL is the mean over its
    targets; overall log-perplexity = the token-weighted mean of the rows' log-perplexities."""
    buckets = frequency_buckets(spec)
    counts = data.draw(hnp.arrays(np.int64, vocab_size,
                                  elements=st.sampled_from([0, 1, 2, 3, 9, 10, 11, 99, 100,
                                                            999, 1000, 1001, 10000, 123456])))
    targets = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, vocab_size - 1)))
    nll = data.draw(hnp.arrays(dtype, n, elements=st.floats(0, 20, width=32)))
    unk_id = data.draw(st.integers(0, vocab_size - 1))

    index = np.array(bucket_rows(targets, counts, unk_id, buckets))
    for t, k in zip(targets, index):
        member = [t != unk_id and b.low <= counts[t] < b.high for b in buckets] + [t == unk_id]
        assert sum(member) == 1 and member[k]

    result = perplexity_by_bucket(nll, targets, counts, unk_id, buckets)
    rows = result["buckets"]
    assert len(rows) == len(buckets) + 1
    assert sum(row["tokens"] for row in rows) == n == result["overall"]["tokens"]
    weighted = 0.0
    for k, row in enumerate(rows):
        members = nll[index == k].astype(np.float64)
        assert row["tokens"] == members.size
        if members.size:
            assert row["mean_nll"] == pytest.approx(members.mean(), rel=1e-9, abs=1e-12)
            assert math.log(row["perplexity"]) == pytest.approx(row["mean_nll"], abs=1e-9)
            weighted += row["tokens"] * math.log(row["perplexity"])
        else:
            assert row["mean_nll"] is None and row["perplexity"] is None
    assert math.log(result["overall"]["perplexity"]) == pytest.approx(weighted / n, abs=1e-9)


def test_bad_inputs():
    counts, buckets = np.array([1, 5, 50]), frequency_buckets()
    targets, nll = np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="targets must lie"):
        perplexity_by_bucket(np.zeros(2), np.array([0, 3]), counts, 0, buckets)
    with pytest.raises(TypeError, match="targets"):
        perplexity_by_bucket(np.zeros(1), np.array([0.0]), counts, 0, buckets)
    with pytest.raises(ValueError, match="train_counts must be non-negative"):
        perplexity_by_bucket(nll, targets, np.array([1, -1, 2]), 0, buckets)
    with pytest.raises(ValueError, match="unk_id"):
        perplexity_by_bucket(nll, targets, counts, 3, buckets)
    with pytest.raises(ValueError, match="buckets must cover"):
        perplexity_by_bucket(nll, targets, counts, 0, buckets[:2] + buckets[3:])
    with pytest.raises(TypeError, match="buckets"):
        perplexity_by_bucket(nll, targets, counts, 0, [("<10", 0, 10)])
    with pytest.raises(ValueError, match="same shape"):
        perplexity_by_bucket(nll[:2], targets, counts, 0, buckets)
    with pytest.raises(ValueError, match="nll must be finite"):
        perplexity_by_bucket(np.array([1.0, np.nan, 2.0]), targets, counts, 0, buckets)


def test_exposure_buckets_boundaries():
    names = [name for name, _, _ in EXPOSURE_BUCKETS]
    assert names == ["0", "1", "2", "3-5", "6-10", "11-20", "21-50", ">50"]
    counts = [0, 1, 2, 3, 5, 6, 10, 11, 20, 21, 50, 51, 10**6]
    expected = ["0", "1", "2", "3-5", "3-5", "6-10", "6-10", "11-20", "11-20", "21-50", "21-50",
                ">50", ">50"]
    assert [names[i] for i in exposure_bucket(counts)] == expected


def test_tally_counts_each_image_once():
    tally = ExposureTally(4)
    tally.add(np.array([True, False, True]), np.array([1, 1, 60]), np.array([0, 1, 2]))
    tally.add(np.array([False, True]), np.array([0, 60]), np.array([3, 2]))
    d = tally.as_dict()
    assert (d["1"]["correct"], d["1"]["total"], d["1"]["accuracy"]) == (1, 2, 0.5)
    assert (d[">50"]["correct"], d[">50"]["total"]) == (2, 2)
    assert (d["0"]["correct"], d["0"]["total"]) == (0, 1)
    assert d["2"]["accuracy"] is None
    assert tally.total[2].tolist() == [0, 0, 0, 0, 0, 0, 0, 2]   # image 2: twice in >50
    assert tally.correct.sum() == 3 and tally.total.sum() == 5

"""hebbref/plots.py: the estimators the plots draw are the READMEs' own, and the figures write."""
import numpy as np

from hebbref import plots


def _seed(correct, total):
    return {"by_exposure": {b: {"correct": c, "total": t, "accuracy": c / t if t else None}
                            for b, c, t in zip(("0", "1", ">50"), correct, total)}}


def test_pooled_accuracy_is_correct_over_evaluations():
    """Σ correct / Σ evaluations over seeds, not the mean of the seeds' accuracies: 1/1 and
    0/3 pool to 1/4 (their mean would be 1/2)."""
    seeds = [_seed((0, 1, 5), (2, 1, 10)), _seed((0, 0, 5), (2, 3, 10))]
    assert plots.pooled_accuracy(seeds, "1") == 0.25
    assert np.isnan(plots.pooled_accuracy([_seed((0, 0, 0), (0, 1, 1))], "0"))


def test_change_is_the_geometric_mean_of_the_seeds_ratios():
    """Ratios 0.5 and 2.0 (one seed each way) give no change; the ratio of the means would say
    +25 %."""
    change = plots.geometric_mean_change([[50.0], [200.0]], [[100.0], [100.0]])
    assert np.allclose(change, [0.0])


def test_whiskers_stay_within_the_seeds_range():
    """A share's band runs from the lowest to the highest seed, so it never goes below 0 (a mean
    ± std band of 0, 0, 0.6 would reach −0.08)."""
    mean, (low, high) = plots._mean_range([[0.0], [0.0], [0.6]])
    assert low[0] == 0.0 and high[0] == 0.6
    assert np.all(plots._whiskers(mean, (low, high)) >= 0)


def test_accuracy_plot_writes_a_png_without_bucket_zero(tmp_path):
    seeds = [_seed((0, 1, 5), (2, 1, 10)), _seed((0, 0, 5), (2, 3, 10))]
    path = tmp_path / "plot.png"
    plots.plot_accuracy_by_exposure({"baseline": seeds, "hebbian": seeds}, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

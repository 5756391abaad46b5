"""Matplotlib figures for both reproductions (written atomically as PNG).

Every function takes `runs = {model name: [result of one seed, ...]}` and draws the mean across
seeds with ± one standard deviation where there is more than one seed.
"""
import io
import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hebbref.files import atomic_write  # noqa: E402

COLOURS = {"baseline": "tab:blue", "hebbian": "tab:red", "chosen": "tab:red",
           "paper rule": "tab:orange", "baseline + cache": "tab:cyan",
           "hebbian + cache": "tab:orange"}


def _save(fig, path):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def _mean_std(values):
    """Mean and std over seeds, ignoring NaN (an empty bucket); all-NaN columns stay NaN."""
    values = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=0), (np.nanstd(values, axis=0) if len(values) > 1 else None)


def plot_accuracy_by_exposure(runs, path, *, title=""):
    """Test accuracy per exposure bucket (METHOD §5), one bar group per bucket; an empty bucket
    is marked "n/a" (never drawn as 0), and each tick gives the evaluations it rests on."""
    buckets = list(next(iter(runs.values()))[0]["by_exposure"])
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(runs)
    for k, (name, seeds) in enumerate(runs.items()):
        acc = [[seed["by_exposure"][b]["accuracy"] for b in buckets] for seed in seeds]
        mean, std = _mean_std([[np.nan if a is None else a for a in row] for row in acc])
        x = np.arange(len(buckets)) + (k - (len(runs) - 1) / 2) * width
        ax.bar(x, mean, width, yerr=std, capsize=3, label=f"{name} ({len(seeds)} seed(s))",
               color=COLOURS.get(name))
        for xi in x[np.isnan(mean)]:
            ax.annotate("n/a", (xi, 0.01), ha="center", va="bottom", fontsize=8)
    seeds = next(iter(runs.values()))
    totals = [sum(seed["by_exposure"][b]["total"] for seed in seeds) for b in buckets]
    ax.set_xticks(np.arange(len(buckets)), [f"{b}\nn={n}" for b, n in zip(buckets, totals)])
    ax.set_xlabel("times the class was seen in training (exposures); n = evaluated images")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title or "accuracy by exposure")
    ax.legend()
    _save(fig, path)


def _lines_with_band(ax, runs, points, x_of, y_of):
    """One line per model: the mean over seeds of y_of(point) against x_of(point), with a
    ± std band when there are several seeds. points(seed) -> the seed's list of points."""
    for name, seeds in runs.items():
        x = [x_of(p) for p in points(seeds[0])]
        mean, std = _mean_std([[y_of(p) for p in points(seed)] for seed in seeds])
        ax.plot(x, mean, label=name, color=COLOURS.get(name))
        if std is not None:
            ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=COLOURS.get(name))


def plot_accuracy_over_time(runs, path, *, title=""):
    """Test accuracy over the introduced classes against training step."""
    fig, ax = plt.subplots(figsize=(8, 4))
    _lines_with_band(ax, runs, lambda seed: seed["over_time"], lambda p: p["step"],
                     lambda p: p["accuracy"])
    ax.set_xlabel("training step")
    ax.set_ylabel("test accuracy (classes introduced so far)")
    ax.set_title(title or "accuracy over time")
    ax.legend()
    _save(fig, path)


def plot_lm_curves(runs, path, *, title=""):
    """Validation perplexity against training tokens (curve points are (step, tokens, ppl))."""
    fig, ax = plt.subplots(figsize=(8, 4))
    _lines_with_band(ax, runs, lambda seed: seed["curve"], lambda p: p[1], lambda p: p[2])
    ax.set_xlabel("training tokens")
    ax.set_ylabel("validation perplexity")
    ax.set_yscale("log")
    ax.set_title(title or "learning curves")
    ax.legend()
    _save(fig, path)


def plot_lm_buckets(runs, path, *, split="test", title="", annotate=True, palette=None):
    """Perplexity per training-frequency bucket (log scale), with the relative change of every
    model against the first one written above its bars (annotate). palette: a matplotlib
    colormap name giving each model its own colour (for many models), else the fixed colours."""
    first = next(iter(runs.values()))[0][split]["buckets"]
    names = [b["name"] for b in first]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(runs)
    means = {}
    for k, (name, seeds) in enumerate(runs.items()):
        ppl = [[np.nan if b["perplexity"] is None else b["perplexity"] for b in seed[split]["buckets"]]
               for seed in seeds]
        mean, std = _mean_std(ppl)
        means[name] = mean
        x = np.arange(len(names)) + (k - (len(runs) - 1) / 2) * width
        colour = plt.get_cmap(palette)(k / len(runs)) if palette else COLOURS.get(name)
        ax.bar(x, mean, width, yerr=std, capsize=3, label=name, color=colour)
        if k and annotate:
            reference = next(iter(means.values()))
            for xi, m, r in zip(x, mean, reference):
                if np.isfinite(m) and np.isfinite(r):
                    ax.annotate(f"{100 * (m / r - 1):+.1f}%", (xi, m), ha="center",
                                va="bottom", fontsize=8)
    counts = [b["tokens"] for b in first]
    ax.set_xticks(np.arange(len(names)), [f"{n}\n({c} tokens)" for n, c in zip(names, counts)])
    ax.set_yscale("log")
    ax.set_xlabel("training-set frequency of the target word")
    ax.set_ylabel(f"{split} perplexity")
    ax.set_title(title or f"{split} perplexity by word frequency")
    ax.legend()
    _save(fig, path)

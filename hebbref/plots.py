"""Matplotlib figures for both reproductions (written atomically as PNG).

Every function takes `runs = {model name: [result of one seed, ...]}`. Where there is more than
one seed, whiskers and bands span the seeds' range (lowest to highest), so they never leave the
values' own range (a share never goes below 0).
"""
import io
import os
import warnings

import matplotlib
import matplotlib.ticker

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


def _mean_range(values):
    """Mean over seeds (axis 0) and the seeds' (lowest, highest), ignoring NaN (an empty bucket);
    all-NaN columns stay NaN; the range is None with one seed."""
    values = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = (np.nanmin(values, axis=0), np.nanmax(values, axis=0)) if len(values) > 1 else None
        return np.nanmean(values, axis=0), spread


def _whiskers(centre, spread):
    """matplotlib's yerr (distances below and above) for whiskers over a (lowest, highest) range."""
    return None if spread is None else np.clip([centre - spread[0], spread[1] - centre], 0, None)


def pooled_accuracy(seeds, bucket):
    """Σ correct / Σ evaluations over the seeds (the READMEs' pooled estimator); NaN if empty."""
    cells = [seed["by_exposure"][bucket] for seed in seeds]
    total = sum(c["total"] for c in cells)
    return sum(c["correct"] for c in cells) / total if total else np.nan


def plot_accuracy_by_exposure(runs, path, *, title=""):
    """Test accuracy per exposure bucket (docs/MATH.md §6.3), pooled over every evaluation of
    every seed, whiskers over the seeds' own; bucket 0 (classes no model can know yet) left out,
    an empty bucket marked "n/a" (never 0), each tick with the evaluations it rests on."""
    buckets = [b for b in next(iter(runs.values()))[0]["by_exposure"] if b != "0"]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / len(runs)
    for k, (name, seeds) in enumerate(runs.items()):
        pooled = np.array([pooled_accuracy(seeds, b) for b in buckets])
        per_seed = [[np.nan if seed["by_exposure"][b]["accuracy"] is None
                     else seed["by_exposure"][b]["accuracy"] for b in buckets] for seed in seeds]
        x = np.arange(len(buckets)) + (k - (len(runs) - 1) / 2) * width
        ax.bar(x, pooled, width, yerr=_whiskers(pooled, _mean_range(per_seed)[1]), capsize=3,
               label=f"{name} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})",
               color=COLOURS.get(name))
        for xi in x[np.isnan(pooled)]:
            ax.annotate("n/a", (xi, 0.01), ha="center", va="bottom", fontsize=8)
    paired = {"baseline", "hebbian"} <= set(runs) and all(
        "per_image" in r for rs in runs.values() for r in rs)
    if paired:  # the paired difference above each bucket
        from hebbref.metrics import paired_difference_of_runs

        difference = paired_difference_of_runs(runs["baseline"], runs["hebbian"])
        for xi, b in enumerate(buckets):
            d = difference[b]
            if d["difference"] is not None:
                ax.annotate(f"{d['difference']:+.3f}\n[{d['low']:+.3f},\n{d['high']:+.3f}]",
                            (xi, 1.0), ha="center", va="top", fontsize=7)
    seeds = next(iter(runs.values()))
    totals = [sum(seed["by_exposure"][b]["total"] for seed in seeds) for b in buckets]
    ax.set_xticks(np.arange(len(buckets)), [f"{b}\n{n:,}" for b, n in zip(buckets, totals)],
                  fontsize=8)
    ax.set_xlabel("times the class was seen in training (exposures); second line: evaluations "
                  "(test images × times evaluated)\nbars: pooled over every evaluation"
                  + ("; whiskers: lowest to highest seed" if len(seeds) > 1 else "")
                  + ("\nabove: Hebbian − baseline [95 % paired bootstrap interval over seeds "
                     "and test images]" if paired else "")
                  + "; classes not yet seen (0 exposures) left out", fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.15)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_title(title or "accuracy by exposure")
    ax.legend(loc="upper left", bbox_to_anchor=(0, 0.76), fontsize=8)
    _save(fig, path)


def _lines_with_band(ax, runs, points, x_of, y_of):
    """One line per model: the mean over seeds of y_of(point) against x_of(point), with a band
    from the lowest to the highest seed when there are several. points(seed) -> its points."""
    for name, seeds in runs.items():
        x = [x_of(p) for p in points(seeds[0])]
        mean, spread = _mean_range([[y_of(p) for p in points(seed)] for seed in seeds])
        ax.plot(x, mean, label=name, color=COLOURS.get(name))
        if spread is not None:
            ax.fill_between(x, *spread, alpha=0.2, color=COLOURS.get(name))


def _line_plot(runs, points, x_of, y_of, xlabel, ylabel, title):
    """A figure of _lines_with_band; returns its axes for finishing touches before _save."""
    fig, ax = plt.subplots(figsize=(8, 4))
    _lines_with_band(ax, runs, points, x_of, y_of)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    return fig, ax


def plot_accuracy_over_time(runs, path, *, title=""):
    """Test accuracy over the introduced classes against training step."""
    fig, _ = _line_plot(runs, lambda seed: seed["over_time"], lambda p: p["step"],
                        lambda p: p["accuracy"], "training step",
                        "test accuracy (classes introduced so far)", title or "accuracy over time")
    _save(fig, path)


def plot_lm_curves(runs, path, *, title=""):
    """Validation perplexity against training tokens (curve points are (step, tokens, ppl))."""
    fig, ax = _line_plot(runs, lambda seed: seed["curve"], lambda p: p[1], lambda p: p[2],
                         "training tokens", "validation perplexity", title or "learning curves")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_yscale("log")
    _save(fig, path)


def geometric_mean_change(values, reference):
    """Relative change of `values` against `reference` (both (S, B): seeds × buckets) as the
    READMEs' tables give it: the geometric mean over seeds of the per-seed ratios, minus 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.exp(np.nanmean(np.log(np.asarray(values) / np.asarray(reference)), axis=0)) - 1


def plot_lm_buckets(runs, path, *, split="test", title="", annotate=True, palette=None):
    """Perplexity per training-frequency bucket (log scale): bars the mean over seeds, whiskers
    the seeds' range; with annotate, each model's change against the first model, the geometric
    mean over seeds of the per-seed ratios, written vertically above its bar. palette: a
    matplotlib colormap name giving each model its own colour, else the fixed colours."""
    first = next(iter(runs.values()))[0][split]["buckets"]
    names = [b["name"] for b in first]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    width = 0.8 / len(runs)
    values = {name: np.array([[np.nan if b["perplexity"] is None else b["perplexity"]
                               for b in seed[split]["buckets"]] for seed in seeds], dtype=float)
              for name, seeds in runs.items()}
    reference = next(iter(values.values()))
    for k, (name, ppl) in enumerate(values.items()):
        mean, spread = _mean_range(ppl)
        x = np.arange(len(names)) + (k - (len(runs) - 1) / 2) * width
        colour = plt.get_cmap(palette)(k / len(runs)) if palette else COLOURS.get(name)
        ax.bar(x, mean, width, yerr=_whiskers(mean, spread), capsize=2, label=name,
               color=colour)
        if k and annotate:
            top = mean if spread is None else spread[1]
            for xi, t, change in zip(x, top, geometric_mean_change(ppl, reference)):
                if np.isfinite(t) and np.isfinite(change):
                    ax.annotate(f"{100 * change:+.1f} %".replace("-", "−"), (xi, t * 1.08),
                                ha="center", va="bottom", rotation=90, fontsize=7)
    counts = [b["tokens"] for b in first]
    ax.set_xticks(np.arange(len(names)), [f"{n}\n({c:,} tokens)" for n, c in zip(names, counts)])
    ax.set_yscale("log")
    notes = []
    if any(len(seeds) > 1 for seeds in runs.values()):
        notes.append("bars: mean over seeds, whiskers: lowest to highest seed")
    if annotate and len(runs) > 1:
        notes.append(f"% against {next(iter(runs))}: geometric mean of the seeds' ratios")
        ax.set_ylim(top=ax.get_ylim()[1] * 8)   # room for the vertical labels
    xlabel = "training-set frequency of the target word"
    ax.set_xlabel(f"{xlabel}\n{'; '.join(notes)}" if notes else xlabel,
                  fontsize=8 if notes else None)
    ax.set_ylabel(f"{split} perplexity")
    ax.set_title(title or f"{split} perplexity by word frequency")
    ax.legend(loc="upper left", fontsize=8)
    _save(fig, path)

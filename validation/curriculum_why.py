"""validation/curriculum.py's figure of why a written row can cost accuracy: the norms of fresh
and well-seen softmax rows, and how often a fresh class wins a well-seen image. It draws with the
package's plot helpers (hebbref.plots), which the package's own figures use."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hebbref.plots import COLOURS, _lines_with_band, _mean_range, _save  # noqa: E402


def plot_why(datasets, path):
    """Why a written row can cost accuracy (docs/MATH.md §9), one row of panels per dataset.

    datasets: {dataset name: {model name: [result of one seed, ...]}}, results of
    hebbref.experiments.curriculum.run_model. Left: mean norm ‖θ[i]‖ of fresh rows (classes
    seen 1–5 times, solid) and well-seen rows (> 20 times, dashed) against training step.
    Right: share of test images of well-seen classes classified as a fresh class.
    """
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 3.6 * len(datasets)), squeeze=False)
    for (name, runs), (left, right) in zip(datasets.items(), axes):
        value = lambda key: (lambda p: np.nan if p[key] is None else p[key])
        for model, seeds in runs.items():
            colour = COLOURS.get(model)
            for key, line in (("fresh_norm", "-"), ("seen_norm", "--")):
                x = [p["step"] for p in seeds[0]["over_time"]]
                mean, _ = _mean_range([[value(key)(p) for p in s["over_time"]] for s in seeds])
                left.plot(x, mean, line, color=colour,
                          label=f"{model}, {'fresh' if key == 'fresh_norm' else 'well-seen'} rows")
            _lines_with_band(right, {model: seeds}, lambda s: s["over_time"],
                             lambda p: p["step"], value("fresh_wins"))
        left.set_title(f"{name}: norm of softmax rows")
        left.set_xlabel("training step")
        left.set_ylabel("mean ‖θ[i]‖")
        left.legend(fontsize=7)
        right.set_title(f"{name}: well-seen images won by a fresh class")
        right.set_xlabel("training step")
        right.set_ylabel("share of images (band: lowest to highest seed)")
        right.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)

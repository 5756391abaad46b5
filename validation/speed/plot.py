"""The bench's scaling plot: time per token over vocabulary and hidden size."""
import io

from hebbref.files import atomic_write


def plot_scaling(results, path):
    """Log-log plot of time per token over vocabulary and hidden size, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for ax, (axis, curve) in zip(axes, results["scaling"].items()):
        key = "V" if axis == "vocab" else "H"
        x = [p[key] for p in curve["points"]]
        for name, style in (("hebbref", "o-"), ("torch", "s--")):
            y = [p[f"{name}_s_per_token"] for p in curve["points"]]
            if None in y:
                continue
            slope = curve["log_log_slope"][name]
            ax.plot(x, [v * 1e6 for v in y], style, label=f"{name} (slope {slope:.2f})")
        fixed = ", ".join(f"{k} = {v}" for k, v in curve["fixed"].items())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("vocabulary size V" if axis == "vocab" else "hidden size H (= embedding)")
        ax.set_ylabel("µs per token (LM training step)")
        ax.set_title(f"over {'V' if axis == 'vocab' else 'H'} ({fixed})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    s, m = results["settings"], results["machine"]
    fig.suptitle(f"LM training step, float32, batch {s['lm_batch']} × BPTT {s['lm_bptt']}, "
                 f"{m['blas_threads']} BLAS thread(s), {m['cpu_model']}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))

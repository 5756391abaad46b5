"""Paired A/B timing of the fused softmax layer (issue 16): hebbref.nn.softmax.linear_cross_entropy
as committed at a git revision against the working tree; or the SGD kernel against its twin; or
(--adam) the Adam update of the bench's MLP: kernel, twin, and a revision's adam_delta.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python validation/ab_softmax.py --rev REV \
        [--vocab 33278] [--rounds 21] [--block-rows K ...]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python validation/ab_softmax.py --sgd
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python validation/ab_softmax.py --adam [--rev REV]

The layer runs on the bench's LM sizes (N = 1,120 rows, H = 256, float32, Zipf-free random
h, θ, b and labels). --rev loads hebbref/nn/softmax.py of that revision (`git show`) beside the
working tree's; --block-rows adds the working tree's layer at those block heights. Each round
calls every contender once, in an order reversed on odd rounds, with no pause (steps as a
training loop runs them). Prints, per contender, the median and the ratio to the first with a
95 % t interval over the paired rounds (hebbref.bench.timing.paired_interval). With --save the
rows go into results/ab_softmax.json under the run's arguments: the figures docs/MATH.md and
validation/README.md cite.
"""
import argparse
import dataclasses
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

from hebbref import kernels
from speed.timing import measure, paired_interval
from speed.workloads import QUICK
from hebbref.nn import softmax

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import add_run  # noqa: E402

N, H = 1120, 256


def module_at(rev, path="hebbref/nn/softmax.py"):
    """`path` as committed at `rev`, imported as a separate module."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=HERE,
                            check=True, capture_output=True, text=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"{name}_{rev}", f.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.unlink(f.name)
    return module


def paired_rounds(contenders, rounds):
    """{name: [seconds per round]}: hebbref.bench.timing.measure with two untimed calls each
    first, then `rounds` rounds of one call per contender, no pause and no warm call."""
    sizes = dataclasses.replace(QUICK, repeats=rounds, warmup=2, min_seconds=0.0,
                                settle_seconds=0.0, warm_calls=0)
    return {name: row["runs_s"] for name, row in measure(contenders, sizes).items()}


def report(times):
    """Print one line per contender and return the same as rows: name, median ms, the geometric
    mean of its per-round time over the first contender's, and the 95 % t interval of that."""
    first, rows = next(iter(times)), []
    for name, runs in times.items():
        interval = paired_interval(runs, times[first]) if name != first else None
        ratio = float(np.exp(np.mean(np.log(runs) - np.log(times[first]))))
        rows.append({"contender": name, "median_ms": statistics.median(runs) * 1e3,
                     "time_ratio": ratio, "interval": interval})
        text = "" if interval is None else f" [{interval[0]:.3f}, {interval[1]:.3f}]"
        print(f"{name:>32}: median {rows[-1]['median_ms']:8.1f} ms, "
              f"time / {first} {ratio:.3f}{text}")
    return rows


def layer_contenders(args):
    rng = np.random.default_rng(0)
    V = args.vocab
    params = {"theta": (rng.standard_normal((V, H)) * 0.06).astype(np.float32),
              "b": (rng.standard_normal(V) * 0.1).astype(np.float32)}
    h = rng.standard_normal((N, H)).astype(np.float32)
    y = rng.integers(0, V, N)
    old = module_at(args.rev)
    contenders = {f"{args.rev}": lambda: old.linear_cross_entropy(h, params, y),
                  "working tree": lambda: softmax.linear_cross_entropy(h, params, y)}
    for rows in args.block_rows:
        contenders[f"working tree, {rows} rows"] = (
            lambda rows=rows: softmax.linear_cross_entropy(h, params, y, block_rows=rows))
    return contenders


def sgd_contenders():
    """The LM's largest SGD update: the (33,278, 256) softmax weights, lr small enough that the
    weights stay put over the rounds."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(33278 * H).astype(np.float32)
    g = (rng.standard_normal(p.size) * 1e-3).astype(np.float32)
    return {"sgd_step_numpy (p -= lr * g)": lambda: kernels.sgd_step_numpy(p, g, 1e-9),
            "sgd_step (numba)": lambda: kernels.sgd_step(p, g, 1e-9)}


def adam_contenders(rev):
    """One Adam update of every parameter of the bench's MLP (784-256-256-200, float32): the
    twin adam_step_numpy, the kernel adam_step, and with `rev` that revision's
    kernels.adam_delta followed by p -= delta (the update before adam_step)."""
    rng = np.random.default_rng(0)
    shapes = [(784, 256), (256,), (256, 256), (256,), (256, 200), (200,)]
    problems = [tuple(np.abs(rng.standard_normal(shape) * scale).astype(np.float32)
                      for scale in (0.05, 1e-3, 1e-4, 1e-6)) for shape in shapes]
    coefficients = dict(beta1=0.9, beta2=0.999, eps=1e-8, step_size=1e-9,
                        sqrt_bias_correction2=0.5)

    def update(step):
        return lambda: [step(p, g, m, v) for p, g, m, v in problems]

    contenders = {}
    if rev:
        old = module_at(rev, "hebbref/kernels.py")
        contenders[f"{rev}: p -= adam_delta(...)"] = update(
            lambda p, g, m, v: p.__isub__(old.adam_delta(g, m, v, **coefficients)))
    contenders |= {
        "adam_step_numpy (twin)": update(
            lambda p, g, m, v: kernels.adam_step_numpy(p, g, m, v, **coefficients)),
        "adam_step (numba)": update(
            lambda p, g, m, v: kernels.adam_step(p, g, m, v, **coefficients))}
    return contenders


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="git revision whose fused layer is the baseline")
    parser.add_argument("--vocab", type=int, default=33278)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--block-rows", type=int, nargs="*", default=[])
    parser.add_argument("--sgd", action="store_true", help="time the SGD kernel instead")
    parser.add_argument("--adam", action="store_true",
                        help="time the Adam update on the MLP's weights instead (with --rev: "
                             "against that revision's adam_delta)")
    parser.add_argument("--save", action="store_true",
                        help="keep the rows in results/ab_softmax.json (what the docs cite)")
    args = parser.parse_args(argv)
    if not (args.sgd or args.adam or args.rev):
        parser.error("give --rev REV (or --sgd, or --adam)")
    if args.adam:
        contenders = adam_contenders(args.rev)
    else:
        contenders = sgd_contenders() if args.sgd else layer_contenders(args)
    rows = report(paired_rounds(contenders, args.rounds))
    if args.save:
        add_run("ab_softmax.json", " ".join(sys.argv[1:] if argv is None else argv), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

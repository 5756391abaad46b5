"""The bench's MLP step over a longer run (issue 16): step time every 100 steps, hebbref and torch,
and how many of Adam's moment entries are subnormal floats at that point.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python validation/mlp_subnormals.py \
        [--steps 1200] [--label NAME]

`hebbref bench` times the first ~200 steps of a fresh MLP (784-256-256-200, batch 16, Adam
lr = 1e-3, ReLU). Units that ReLU has switched off get a zero gradient, so their first moment
decays as m ← 0.9 m and falls below float32's smallest normal number (1.2e-38) after some
hundreds of steps; arithmetic on subnormal numbers is many times slower on x86, in NumPy, numba
and torch alike. Both models run the same steps in lockstep (100 of one, then 100 of the other).
Writes the rows into validation/results/mlp_subnormals.json under --label. The committed file
holds "adam_step with flush" (this code) and "adam_step without flush" (this script run with
hebbref/kernels.py of 025d36b, the last revision without the flush, put in place by hand).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import add_run  # noqa: E402

from speed.contenders import hebbref_mlp_step, torch_mlp_step  # noqa: E402
from speed.machine import import_torch  # noqa: E402
from speed.workloads import FULL  # noqa: E402


def subnormal_fraction(arrays):
    """Share of entries that are non-zero and below the smallest normal number of their dtype."""
    arrays = list(arrays)
    tiny = [np.finfo(a.dtype).tiny for a in arrays]
    count = sum(int(np.count_nonzero((a != 0) & (np.abs(a) < t))) for a, t in zip(arrays, tiny))
    return count / max(1, sum(a.size for a in arrays))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--label", default="working tree",
                        help="key of this run in the results file (a rerun replaces it)")
    args = parser.parse_args(argv)
    torch = import_torch()
    steps = {"hebbref": hebbref_mlp_step(FULL)}
    if torch is not None:
        steps["torch"] = torch_mlp_step(torch, FULL)
    rows = []
    for done in range(args.every, args.steps + 1, args.every):
        row = {"steps": done}
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.every):
                step()
            row[f"{name}_ms"] = (time.perf_counter() - start) / args.every * 1e3
        moments = step_moments(steps["hebbref"])
        row["hebbref_adam_m_subnormal"] = subnormal_fraction(moments["m"])
        row["hebbref_adam_v_subnormal"] = subnormal_fraction(moments["v"])
        rows.append(row)
        print("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in row.items()), flush=True)
    add_run("mlp_subnormals.json", args.label, rows, sizes=list(FULL.mlp_sizes),
            batch=FULL.mlp_batch, every=args.every)
    return 0


def step_moments(step):
    """Adam's m and v arrays of a hebbref_mlp_step closure, from its optimiser state."""
    state = step.state["opt"]
    return {prefix: [v for k, v in state.items() if k.startswith(f"{prefix}/")]
            for prefix in ("m", "v")}


if __name__ == "__main__":
    sys.exit(main())

"""Section 7 of the bench: the LM step at large vocabularies, up to WikiText-103's 267,735 words,
hebbref against torch: time per token over a few paired rounds, and peak memory.

The fused layer (hebbref.nn.softmax.linear_cross_entropy) computes the logits in blocks of rows
and never holds the (N, V) logits; torch's step holds them, their softmax and their gradient.
So hebbref's peak should grow with V (θ's gradient, one block) but not with N·V, and torch's
with N·V. Memory is taken two ways: tracemalloc for hebbref (every NumPy buffer), and the growth
of the process's resident memory (timing.resident_peak) for both, the one measure that sees
torch's allocator too.
"""
import dataclasses

import numpy as np

from .contenders import hebbref_lm_step, torch_lm_step
from .machine import TORCH_MISSING
from .timing import measure, paired_interval, progress, ratio, resident_peak, traced_peak

METHOD = ("time: median seconds per step over `repeats` interleaved rounds, per token, after one "
          "warm-up step of each side at V = 1,000 (numba's kernels load, torch initialises); "
          "hebbref_peak_bytes: tracemalloc peak of hebbref's first timed step; "
          "*_resident_peak_bytes: the largest, over the timed steps, peak resident memory of a "
          "step above the level before it (VmHWM reset through /proc/self/clear_refs): "
          "parameters and the carried state exist before, so only what the step allocates "
          "counts")


def _watched(step, resident, traced):
    """step, as a contender whose every call records its resident peak in `resident` and whose
    first call also its tracemalloc peak in `traced`: the memory comes from the steps being
    timed, since one step at V = 267,735 takes tens of seconds on a busy machine. (tracemalloc
    adds microseconds per array allocated, nothing beside a step of seconds.)"""
    def step_traced_once():
        if traced:
            step()
        else:
            traced.append(traced_peak(step))
    return lambda: resident.append(resident_peak(step_traced_once))


def bench_large_vocab(sizes, torch):
    """Section 7: one row per V of sizes.large_vocabs at H = lm_hidden, N = lm_tokens."""
    H, N = sizes.lm_hidden, sizes.lm_tokens
    few = dataclasses.replace(sizes, repeats=sizes.large_repeats, warmup=0, min_seconds=0.0,
                              warm_calls=0)
    hebbref_lm_step(1000, H, sizes)()        # the warm-up (METHOD), at a vocabulary that is cheap
    if torch:
        torch_lm_step(torch, 1000, H, sizes)()
    rows = []
    for V in sizes.large_vocabs:
        progress(f"large vocabulary V = {V}")
        # Both sides' first steps run under tracemalloc (torch's tensors escape it: only
        # hebbref's figure is kept), so the two sides' timed steps are the same kind of call.
        traced, resident = {"hebbref": [], "torch": []}, {"hebbref": [], "torch": []}
        steps = {"hebbref": hebbref_lm_step(V, H, sizes)}
        if torch:
            steps["torch"] = torch_lm_step(torch, V, H, sizes)
        steps = {name: _watched(step, resident[name], traced[name])
                 for name, step in steps.items()}
        timed = measure(steps, few)
        row = {"V": V, "H": H, "N": N}
        for name in ("hebbref", "torch"):
            row[f"{name}_s_per_token"] = (timed[name]["median_s"] / N if name in timed
                                          else None)
        peaks = {name: None if None in r or not r else max(r) for name, r in resident.items()}
        row.update(
            speedup_vs_torch=ratio(row["torch_s_per_token"], row["hebbref_s_per_token"]),
            speedup_interval=paired_interval(timed.get("torch", {}).get("runs_s"),
                                             timed["hebbref"]["runs_s"]),
            hebbref=timed["hebbref"], torch=timed.get("torch", {"status": TORCH_MISSING}),
            hebbref_peak_bytes=traced["hebbref"][0], hebbref_resident_peak_bytes=peaks["hebbref"],
            torch_resident_peak_bytes=peaks["torch"],
            logits_bytes=N * V * np.dtype(np.float32).itemsize,
            theta_bytes=V * H * np.dtype(np.float32).itemsize)
        rows.append(row)
    return {"repeats": few.repeats, "warmup": few.warmup, "method": METHOD, "points": rows}

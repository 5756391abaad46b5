"""Timing for the bench: interleaved rounds of zero-argument callables, memory peaks and
the progress lines on stderr."""
import math
import statistics
import sys
import time
import tracemalloc

import numpy as np

from stats import seed_ratio_interval   # validation/stats.py

# Progress lines go to stderr when it is a terminal; main() sets this for each run (--quiet).
show_progress = sys.stderr.isatty()


def progress(text):
    if show_progress:
        print(f"  measuring {text} ...", file=sys.stderr, flush=True)


def measure(contenders, sizes):
    """Time zero-argument callables in interleaved rounds.

    contenders: {name: callable}. Each is called sizes.warmup times untimed; the last warm-up
    call fixes how many calls make one run (at least sizes.min_seconds; one without warm-up).
    Then sizes.repeats rounds, every contender one run per round, order reversed on odd rounds.
    Before each run the process sleeps sizes.settle_seconds: BLAS and OpenMP worker threads keep
    spinning for a while after a call returns, and without the pause one contender's spinning
    threads would take cores from the next one's run (on a 2-CPU machine torch's LM step runs
    10–20 % slower right after hebbref's than after a pause). After the pause, sizes.warm_calls
    untimed calls bring the contender's own threads and caches back to where a training loop
    keeps them, so the timed calls measure steps as they run back to back, not a step after an
    idle spell.
    Returns {name: {"median_s": seconds per call, "runs_s": [per call, one per round],
    "calls_per_run": k, "spread": (max − min)/median over the runs}}.
    """
    calls = {}
    for name, fn in contenders.items():
        elapsed = math.inf
        for _ in range(sizes.warmup):
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
        calls[name] = max(1, math.ceil(sizes.min_seconds / max(elapsed, 1e-9)))
    runs = {name: [] for name in contenders}
    names = list(contenders)
    for round_ in range(sizes.repeats):
        for name in (names if round_ % 2 == 0 else names[::-1]):
            fn, k = contenders[name], calls[name]
            time.sleep(sizes.settle_seconds)
            for _ in range(sizes.warm_calls):
                fn()
            start = time.perf_counter()
            for _ in range(k):
                fn()
            runs[name].append((time.perf_counter() - start) / k)
    results = {}
    for name, times in runs.items():
        median = statistics.median(times)
        results[name] = {"median_s": median, "runs_s": times, "calls_per_run": calls[name],
                         "spread": (max(times) - min(times)) / median}
    return results


def ratio(slower_s, faster_s):
    """How many times faster: slower_s / faster_s (None when either side is missing)."""
    if slower_s is None or faster_s is None:
        return None
    return slower_s / faster_s


def paired_interval(slower_runs, faster_runs, confidence=0.95):
    """[low, high]: a Student's t interval over rounds for the ratio slower/faster, from the
    per-round ratios (both contenders ran in every round, so a slow spell of a shared machine
    that hits one round hits both): stats.seed_ratio_interval of them, rounds standing for
    seeds. None when either side is missing or there are fewer than 2 rounds."""
    if not slower_runs or not faster_runs or min(len(slower_runs), len(faster_runs)) < 2:
        return None
    ratios = np.asarray(slower_runs) / np.asarray(faster_runs)
    return list(seed_ratio_interval(ratios, confidence=confidence)[1:])


def traced_peak(fn):
    """Peak bytes allocated (and not yet freed) while fn() runs, by tracemalloc. NumPy reports
    every array buffer it allocates to tracemalloc, so this covers the arrays of the step."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()



def _status_bytes(field):
    """A memory field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field}")


def resident_peak(fn):
    """Bytes by which the process's resident memory peaks above its level before fn() runs, or
    None where Linux's peak counter cannot be reset. It sees every allocator (torch's as well as
    NumPy's, unlike tracemalloc); arrays above glibc's 32 MB mmap ceiling always take fresh
    pages, smaller ones may reuse freed heap, so it is a lower bound on what fn() allocates."""
    try:
        before = _status_bytes("VmRSS")
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")              # resets VmHWM, the peak, to the current resident size
    except OSError:
        return None
    fn()
    return _status_bytes("VmHWM") - before

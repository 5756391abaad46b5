"""`hebbref bench`: how fast hebbref's NumPy code runs, beside PyTorch and the machine's BLAS peak.

Everything is measured in one process. Contenders are interleaved: in each round every
contender runs once, in reversed order on odd rounds, so a change in machine load during the
benchmark hits all of them alike. A number is the median over `repeats` timed runs after
`warmup` untimed calls; one run is as many calls as make it at least `min_seconds` long, and
times are reported per call. Numba's compilation (or the load from its on-disk cache) happens
before any timing and is reported on its own.

Sections (float32 throughout):
1. BLAS peak: an n×n by n×n matmul, float32 and float64, in GFLOP/s.
2. LSTM language-model training step, hebbref (forward, backward, global-norm clip, SGD,
   Hebbian rule) against torch (nn.Embedding(sparse=False), nn.LSTM, nn.Linear, cross-entropy,
   clip_grad_norm_, SGD; no Hebbian rule), with torch given numpy's BLAS thread count; and
   hebbref's share of the float32 BLAS peak from :func:`lm_step_flops`, the step's matrix
   products alone, and its peak memory (tracemalloc).
   2b. The LSTM alone (forward and backward over one segment, V-free) against torch's nn.LSTM,
   and its share of the float32 peak. 2c. Evaluation throughput (experiments.lm.evaluate, and
   cache.evaluate_with_cache) against torch's evaluation of the same model.
3. MLP classifier step (the curriculum's model, METHOD §5) with Adam, hebbref (with the Hebbian
   rule) against torch, at numpy's thread count and at one thread (as the curriculum runs it).
4. Sparse row scatter-add (the embedding backward, METHOD §4): the numba kernel against
   np.add.at and torch's index_add_.
5. The Hebbian rule (METHOD §2): hebbian_update as a percentage of the LM step, its speed-up
   over hebbian_update_reference, and memory.
6. Scaling: LM step time per token as the vocabulary and the hidden size grow (log-log plot).

Token ids and labels are Zipf-distributed (P(k) ∝ 1/(k+1)), like word frequencies (METHOD §6).

Threads: numpy's BLAS keeps its own thread count (or --threads K) and torch is given the same
count. --quick runs on one thread: its tiny matmuls, split over threads, stall for a scheduler
time slice whenever another process holds a core, and a smoke test should not depend on that.
The load average at start and end is recorded; compare runs only at similar load.

Modules, by job: workloads (sizes, Zipf ids, FLOP count), contenders (one training step per
call, hebbref and torch), timing (interleaved rounds, memory peaks), machine (CPU, BLAS,
versions), sections (the six measurements and `run`), report (the printed table), plot (the
scaling plot). The project's speed targets are not here: they live with the validation results
(validation/bench_targets.json, checked by validation/bench.py).
"""
import argparse
import contextlib
import json
import os
import sys

from threadpoolctl import threadpool_limits

from hebbref.bench import report, sections, timing, workloads
from hebbref.bench.plot import plot_scaling
from hebbref.files import atomic_write

DEFAULT_PLOT = os.path.join("runs", "bench", "bench_scaling.png")


def build_parser():
    """The `hebbref bench` options; every help text shows its default."""
    parser = argparse.ArgumentParser(
        prog="hebbref bench",
        description="Time hebbref's training steps, sparse kernels and Hebbian rule beside "
                    "torch and the machine's BLAS peak; print a table, write JSON and a plot.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, 2 repeats: a smoke test, well under 20 s (default: off)")
    parser.add_argument("--json", metavar="OUT", default=None,
                        help="write every measurement to this JSON file (default: none)")
    parser.add_argument("--plot", metavar="OUT", default=DEFAULT_PLOT,
                        help=f"scaling plot, PNG (default: {DEFAULT_PLOT})")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads for numpy, and so for torch (default: numpy's own "
                             "count; 1 with --quick)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress lines on stderr (default: shown when stderr is a "
                             "terminal)")
    return parser


def main(argv=None):
    """`hebbref bench [--quick] [--json OUT] [--plot OUT] [--threads K] [--quiet]`. Returns the
    exit status (0)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    timing.show_progress = sys.stderr.isatty() and not args.quiet
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    # --quick is a smoke test and runs on one thread: small matmuls split over threads stall
    # for a scheduler time slice whenever another process holds one of the cores.
    threads = args.threads if args.threads is not None else (1 if args.quick else None)
    with (threadpool_limits(limits=threads, user_api="blas") if threads
          else contextlib.nullcontext()):
        results = sections.run(workloads.QUICK if args.quick else workloads.FULL,
                               quick=args.quick)
    print(report.format_report(results))
    if args.json:
        text = json.dumps(results, indent=1, allow_nan=False)
        atomic_write(args.json, lambda f: f.write(text.encode()))
    plot_scaling(results, args.plot)
    return 0


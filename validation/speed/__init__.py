"""The bench (validation/bench.py): how fast hebbref's NumPy code runs, beside PyTorch and the
machine's BLAS peak.

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
3. MLP classifier step (the curriculum's model, docs/MATH.md §9) with Adam, hebbref (with the Hebbian
   rule) against torch, at numpy's thread count and at one thread (as the curriculum runs it).
4. Sparse row scatter-add (the embedding backward, docs/MATH.md §2): the numba kernel against
   np.add.at and torch's index_add_.
5. The Hebbian rule (docs/MATH.md §5): hebbian_update as a percentage of the LM step, its speed-up
   over hebbian_update_reference, and memory.
6. Scaling: LM step time per token as the vocabulary and the hidden size grow (log-log plot).
7. Large vocabularies, up to WikiText-103's 267,735 words: the LM step's time per token over a
   few paired rounds, hebbref vs torch, and its peak memory (module vocab).

Token ids and labels are Zipf-distributed (P(k) ∝ 1/(k+1)), like word frequencies (docs/MATH.md §10).

Threads: numpy's BLAS keeps its own thread count (or --threads K) and torch is given the same
count. --quick runs on one thread: its tiny matmuls, split over threads, stall for a scheduler
time slice whenever another process holds a core, and a smoke test should not depend on that.
The load average at start and end is recorded; compare runs only at similar load.

Modules, by job: workloads (sizes, Zipf ids, FLOP count), contenders (one training step per
call, hebbref and torch), timing (interleaved rounds, memory peaks), machine (CPU, BLAS,
versions), sections (sections 1-6 and `run`), vocab (section 7), report (the printed table),
plot (the scaling plot). The project's speed targets are in validation/bench_targets.json,
checked by validation/bench.py.
"""

"""Run many independent experiment configurations side by side (seeds, γ, T sweeps).

Each worker is pinned to one BLAS thread (threadpoolctl), so `jobs` runs share `jobs` cores
without their thread pools fighting. The work goes through joblib, so a sweep runs on a cluster
by choosing joblib's backend: `with joblib.parallel_config(backend="dask"): run_sweep(...)`
after connecting a `dask.distributed.Client` (the `cluster` extra), or backend="ray" after
`ray.util.joblib.register_ray()`. Backends that cannot stream results (Ray) return them at the end.
"""
from joblib import Parallel, delayed
from joblib.parallel import get_active_backend
from threadpoolctl import threadpool_limits
from tqdm import tqdm


def _one_thread(run, config):
    with threadpool_limits(1):
        return run(config)


def run_sweep(run, configs, *, jobs=1, progress=True):
    """[run(c) for c in configs], `jobs` at a time (1: in this process; -1: one per core), each
    with one BLAS thread, in order. run: picklable; progress: a bar (only on a terminal)."""
    configs = list(configs)
    if not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive integer or -1, got {jobs!r}")
    if jobs == 1:
        results = (_one_thread(run, c) for c in configs)
    else:
        backend, _ = get_active_backend()
        streams = getattr(backend, "supports_return_generator", False)
        results = Parallel(n_jobs=jobs, return_as="generator" if streams else "list")(
            delayed(_one_thread)(run, c) for c in configs)
    return list(tqdm(results, total=len(configs), desc="sweep", unit="run",
                     disable=None if progress else True))

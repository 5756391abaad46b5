"""Run many independent experiment configurations side by side (seeds, γ, T sweeps).

Each worker is pinned to one BLAS thread (threadpoolctl), so `jobs` runs share `jobs` cores
without their thread pools fighting over them. The work goes through joblib, so a sweep that
outgrows one machine runs unchanged on a cluster by choosing joblib's backend, e.g.

    from dask.distributed import Client
    from joblib import parallel_config
    client = Client("scheduler-address:8786")  # Dask: connect to the cluster first
    with parallel_config(backend="dask"):
        results = run_sweep(run, configs, jobs=-1)

    # Ray: from ray.util.joblib import register_ray; register_ray(), then backend="ray".

Dask comes with the `cluster` extra (pip install 'hebbref[cluster]'); ray is not a dependency.
Backends that cannot stream results back one by one (Ray's refuses return_as="generator") get
the whole list at the end instead.
"""
from joblib import Parallel, delayed
from joblib.parallel import get_active_backend
from threadpoolctl import threadpool_limits
from tqdm import tqdm


def _one_thread(run, config):
    with threadpool_limits(1):
        return run(config)


def run_sweep(run, configs, *, jobs=1, progress=True):
    """[run(c) for c in configs], `jobs` at a time (each with one BLAS thread), in order.

    run: a picklable function of one config (e.g. hebbref.experiments.curriculum.run);
    jobs: number of parallel workers (1: in this process, no pool; -1: one per core);
    progress: a bar over finished runs (only on a terminal).
    """
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

"""run_sweep: results in input order, identical to running one by one, one BLAS thread each."""
import dataclasses

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from hebbref.experiments.curriculum import CurriculumConfig, run
from hebbref.sweep import run_sweep


def blas_threads(config):
    return config, max(info["num_threads"] for info in threadpool_info())


def test_workers_are_pinned_to_one_blas_thread():
    results = run_sweep(blas_threads, [1, 2, 3], jobs=2)
    assert results == [(1, 1), (2, 1), (3, 1)]


def test_parallel_sweep_equals_sequential_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HEBBREF_CACHE_DIR", str(tmp_path))
    base = CurriculumConfig(classes=5, initial_classes=2, add_every=3, steps=8, batch_size=4,
                            hidden_sizes=(8,), eval_every=4)
    configs = [dataclasses.replace(base, seed=s, gamma=g) for s, g in ((0, 0.1), (1, 0.3))]
    parallel = run_sweep(run, configs, jobs=2)
    sequential = run_sweep(run, configs, jobs=1)
    for p, s in zip(parallel, sequential):
        assert p["config"] == s["config"]
        for model in ("baseline", "hebbian"):
            assert p[model]["by_exposure"] == s[model]["by_exposure"]
            assert np.allclose([x["accuracy"] for x in p[model]["over_time"]],
                               [x["accuracy"] for x in s[model]["over_time"]])


@pytest.mark.parametrize("jobs", [0, -2, 1.5])
def test_bad_jobs(jobs):
    with pytest.raises(ValueError, match="jobs"):
        run_sweep(blas_threads, [1], jobs=jobs)

"""What the bench records about the machine: CPU, BLAS library and threads, versions, load,
and the first call of the numba kernel (compilation or cache load)."""
import os
import platform
import time

import numpy as np
from threadpoolctl import threadpool_info

from hebbref import kernels

TORCH_MISSING = "torch not installed"


def import_torch():
    """torch, or None when it cannot be imported (it is an optional extra)."""
    try:
        import torch
    except (ImportError, OSError):
        return None
    return torch


def _numpy_blas():
    """threadpoolctl's record of the BLAS numpy uses (the one under numpy's own folder)."""
    blas = [entry for entry in threadpool_info() if entry.get("user_api") == "blas"]
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    for entry in blas:
        if entry.get("filepath", "").startswith(numpy_dir) and "numpy" in entry["filepath"]:
            return entry
    return blas[0] if blas else {"internal_api": "unknown", "num_threads": 1}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(torch):
    import numba

    blas = _numpy_blas()
    machine = {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": torch.__version__ if torch else TORCH_MISSING,
        "blas_library": blas.get("internal_api"),
        "blas_version": blas.get("version"),
        "blas_architecture": blas.get("architecture"),
        "blas_threading_layer": blas.get("threading_layer"),
        "blas_threads": int(blas.get("num_threads", 1)),
        "load_average_start": list(os.getloadavg()),
    }
    if torch:
        config = torch.__config__.show()
        machine["torch_blas"] = next((part.split("=", 1)[1] for line in config.splitlines()
                                      for part in line.replace(",", " ").split()
                                      if part.startswith("BLAS_INFO=")), "unknown")
    return machine


def numba_first_call():
    """Time the first call of the numba scatter kernel (compilation or cache load)."""
    kernel = kernels._scatter_add_rows_numba
    already = bool(kernel.signatures)
    start = time.perf_counter()
    kernels.scatter_add_rows(np.zeros((2, 2), np.float32), np.zeros(1, np.int64),
                     np.ones((1, 2), np.float32))
    seconds = time.perf_counter() - start
    hits = sum(kernel.stats.cache_hits.values())
    if already:
        how = "already compiled in this process"
    elif hits:
        how = "loaded from numba's on-disk cache"
    else:
        how = "compiled"
    return {"first_call_s": seconds, "how": how, "cache_hits": hits,
            "cache_misses": sum(kernel.stats.cache_misses.values())}


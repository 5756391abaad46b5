"""Sparse row kernels: each numba kernel sits beside its plain-NumPy twin, and tests check they
agree (STYLE: Numba kernels sit beside their pure-NumPy twins).

Used by the embedding backward (summing gradient rows of repeated ids) and by the sparse-row
optimisers (adding into a parameter or an optimiser state).
"""
import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _scatter_add_rows_numba(target, ids, rows):
    for k in range(ids.shape[0]):
        target[ids[k]] += rows[k]


def scatter_add_rows_numpy(target, ids, rows):
    """NumPy twin of :func:`scatter_add_rows`: target[ids[k]] += rows[k] for every k, repeats summed.

    target: (V, E); ids: (K,) int; rows: (K, E). Updates target in place.
    """
    np.add.at(target, ids, rows)


def scatter_add_rows(target, ids, rows):
    """target[ids[k]] += rows[k] for every k, with repeated ids summed (numba kernel).

    target: (V, E) C-contiguous; ids: (K,) int64 in [0, V); rows: (K, E), same dtype as target.
    Updates target in place. Rows are added in the order of k, exactly as the NumPy twin does.
    """
    if ids.shape[0]:
        _scatter_add_rows_numba(target, np.ascontiguousarray(ids, dtype=np.int64),
                                np.ascontiguousarray(rows, dtype=target.dtype))


def coalesce_rows(ids, rows):
    """Merge repeated ids: returns (unique_ids (K,), summed_rows (K, E)), unique_ids sorted.

    ids: (M,) int; rows: (M, E).
    """
    unique_ids, inverse = np.unique(ids, return_inverse=True)
    summed = np.zeros((unique_ids.shape[0], rows.shape[1]), dtype=rows.dtype)
    scatter_add_rows(summed, inverse.reshape(-1), rows)
    return unique_ids.astype(np.int64, copy=False), summed

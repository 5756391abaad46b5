"""Embedding lookup with a sparse gradient (docs/MATH.md §2.4): the backward returns the touched
ids and their summed gradient rows as :class:`SparseRows`, never a dense (V, E) array; the rows
are summed by np.add.at (plain path) or hebbref.kernels.scatter_add_rows (same order, bit for bit).
"""
from typing import NamedTuple

import numpy as np

from hebbref.checks import check_array, check_labels


class SparseRows(NamedTuple):
    """A gradient that is zero except on rows ids: (K,) int64, unique and sorted; rows: (K, E)."""

    ids: np.ndarray
    rows: np.ndarray


def embedding_forward(ids, params):
    """ids: (...) int in [0, V); params {"E": (V, E)} -> out: (..., E) = E[ids], cache."""
    E = check_array(params.get("E"), "params['E']", ndim=2)
    ids = check_labels(ids, "ids", E.shape[0])
    return E[ids], (ids, E.shape)


def embedding_backward(dout, cache, *, reference=False):
    """dE[v] = Σ of dout: (..., E) over positions where ids == v, as {"E": SparseRows} of the K
    touched rows; reference: sum with np.add.at instead of the numba kernel."""
    ids, (_, E_dim) = cache
    unique_ids, position = np.unique(ids.reshape(-1), return_inverse=True)
    rows = np.zeros((unique_ids.shape[0], E_dim), dtype=dout.dtype)
    if reference:
        np.add.at(rows, position.reshape(-1), dout.reshape(-1, E_dim))  # repeats summed
    else:
        from hebbref.kernels import scatter_add_rows

        scatter_add_rows(rows, position.reshape(-1), dout.reshape(-1, E_dim))
    return {"E": SparseRows(unique_ids.astype(np.int64, copy=False), rows)}

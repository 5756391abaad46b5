"""Embedding lookup with a sparse gradient (METHOD §4).

The backward pass never builds a dense (V, E) array: it returns the touched ids (unique, sorted)
and the summed gradient rows for them, as a :class:`SparseRows`. The rows are summed by np.add.at
on the plain path and by a numba kernel on the fast path (hebbref.kernels.scatter_add_rows, which
adds in the same order, so the two agree bit for bit).
"""
from typing import NamedTuple

import numpy as np

from hebbref.validate import check_array, check_labels


class SparseRows(NamedTuple):
    """A gradient that is zero except on some rows.

    ids: (K,) int64, unique and sorted.  rows: (K, E), the gradient of those rows.
    """

    ids: np.ndarray
    rows: np.ndarray


def embedding_forward(ids, params):
    """Look up rows of E.

    Inputs:  ids: (...) integer ids in [0, V); params: {"E": (V, E)}.
    Outputs: out: (..., E) with out[...] = E[ids[...]]; cache for the backward pass.
    """
    E = check_array(params.get("E"), "params['E']", ndim=2)
    ids = check_labels(ids, "ids", E.shape[0])
    return E[ids], (ids, E.shape)


def embedding_backward(dout, cache, *, reference=False):
    """Gradient of the lookup: dE[v] = sum of dout over positions where ids == v.

    Inputs:  dout: (..., E); cache from embedding_forward; reference: sum the rows with
             np.add.at (the plain path) instead of the numba kernel.
    Outputs: {"E": SparseRows(ids (K,), rows (K, E))}: only the K touched rows.
    """
    ids, (_, E_dim) = cache
    unique_ids, position = np.unique(ids.reshape(-1), return_inverse=True)
    rows = np.zeros((unique_ids.shape[0], E_dim), dtype=dout.dtype)
    if reference:
        np.add.at(rows, position.reshape(-1), dout.reshape(-1, E_dim))  # repeats summed
    else:
        from hebbref.kernels import scatter_add_rows

        scatter_add_rows(rows, position.reshape(-1), dout.reshape(-1, E_dim))
    return {"E": SparseRows(unique_ids.astype(np.int64, copy=False), rows)}

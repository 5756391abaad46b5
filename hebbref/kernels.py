"""Numba kernels of the fast path (scatter_add_rows, adam_step, sgd_step, lstm_gate_gradients)
and matmul_accumulate, each tested against a plain twin (bit for bit, or to rounding for the
gemm). Only the fast path imports this module: numba takes most of a second to load, and
`--reference` runs without it. matmul_accumulate calls NumPy's own BLAS gemm with β = 1 (ctypes):
NumPy has no gemm that adds into an array, and scipy.linalg.blas loads a second OpenBLAS whose
spinning threads slow NumPy's (validation/README.md).
"""
import ctypes
import os

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _scatter_add_rows_numba(target, ids, rows):
    # Element by element: `target[ids[k]] += rows[k]` would build a temporary row per k.
    for k in range(ids.shape[0]):
        i = ids[k]
        for j in range(rows.shape[1]):
            target[i, j] += rows[k, j]


def scatter_add_rows_numpy(target, ids, rows):
    """NumPy twin of :func:`scatter_add_rows`. target: (V, E); ids: (K,) int; rows: (K, E)."""
    np.add.at(target, ids, rows)


def scatter_add_rows(target, ids, rows):
    """target[ids[k]] += rows[k] for every k in order, repeated ids summed, in place.
    target: (V, E) C-contiguous; ids: (K,) int64 in [0, V); rows: (K, E) of target's dtype."""
    if ids.shape[0]:
        _scatter_add_rows_numba(target, np.ascontiguousarray(ids, dtype=np.int64),
                                np.ascontiguousarray(rows, dtype=target.dtype))


# error_model="numpy": a division by zero gives inf/nan as in NumPy instead of a per-element
# Python check, which would keep LLVM from vectorising the loop.
@numba.njit(cache=True, nogil=True, error_model="numpy")
def _adam_step_numba(p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, eps,
                     step_size, sqrt_bias_correction2, tiny, zero):
    for k in range(g.shape[0]):
        m_k = beta1 * m[k] + one_minus_beta1 * g[k]
        v_k = beta2 * v[k] + one_minus_beta2 * (g[k] * g[k])
        m[k] = m_k if abs(m_k) >= tiny else zero
        v[k] = v_k if v_k >= tiny else zero
        p[k] -= step_size * (m[k] / (np.sqrt(v[k]) / sqrt_bias_correction2 + eps))


def adam_step(p, g, m, v, *, beta1, beta2, eps, step_size, sqrt_bias_correction2):
    """hebbref.optim.adam_step_numpy in one loop without its temporaries, bit-identical (the
    same operations in the same order). p, g, m, v: same shape and dtype; p, m, v C-contiguous,
    updated in place through flat views."""
    _check_contiguous(p=p, m=m, v=v)
    d = m.dtype.type  # every coefficient rounded to the dtype first, as NumPy does
    _adam_step_numba(p.reshape(-1), np.ascontiguousarray(g).reshape(-1), m.reshape(-1),
                     v.reshape(-1), d(beta1), d(1.0 - beta1), d(beta2), d(1.0 - beta2), d(eps),
                     d(step_size), d(sqrt_bias_correction2), np.finfo(d).tiny, d(0.0))


def _check_contiguous(**arrays):
    # reshape(-1) of a non-contiguous array is a copy, and a write into it would be lost
    for name, x in arrays.items():
        if not x.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous (it is updated in place)")


@numba.njit(cache=True, nogil=True)
def _sgd_step_numba(p, g, lr):
    for k in range(p.shape[0]):
        p[k] -= lr * g[k]


def sgd_step(p, g, lr):
    """hebbref.optim.sgd_step_numpy (p ← p − lr · g) in one loop, bit-identical (the same two
    roundings, lr in p's dtype) without its (V, H) temporary. p: C-contiguous, updated in place;
    g: same shape and dtype."""
    _check_contiguous(p=p)
    _sgd_step_numba(p.reshape(-1), np.ascontiguousarray(g).reshape(-1), p.dtype.type(lr))


@numba.njit(cache=True, nogil=True)
def _lstm_gate_gradients_numba(da, dh, dc, gates, c_prev, tanh_c, one):
    H = dh.shape[1]
    for n in range(dh.shape[0]):
        for j in range(H):
            i, f = gates[n, j], gates[n, H + j]
            g, o = gates[n, 2 * H + j], gates[n, 3 * H + j]
            dc_t = dc[n, j] + (one - tanh_c[n, j] * tanh_c[n, j]) * o * dh[n, j]
            da[n, j] = (one - i) * i * g * dc_t
            da[n, H + j] = (one - f) * f * c_prev[n, j] * dc_t
            da[n, 3 * H + j] = (one - o) * o * tanh_c[n, j] * dh[n, j]
            da[n, 2 * H + j] = (one - g * g) * i * dc_t
            dc[n, j] = dc_t * f


def lstm_gate_gradients(da, dh, dc, gates, c_prev, tanh_c):
    """One step of the LSTM backward's element-wise work (docs/MATH.md §2.7) in place, in one
    pass; `one` is passed in the arrays' dtype, so float32 stays float32. da: (N, 4H) output;
    dh: (N, H) gradient into h_t; dc: (N, H) gradient into c_t from t+1 on entry, dc_{t−1} on
    exit; gates: (N, 4H) holding i, f, g, o; c_prev, tanh_c: (N, H)."""
    _lstm_gate_gradients_numba(da, dh, dc, gates, c_prev, tanh_c, dh.dtype.type(1))


def matmul_accumulate_numpy(out, a, b, *, transpose="a"):
    """NumPy twin of :func:`matmul_accumulate`, through a temporary (M, N) product."""
    out += a.T @ b if transpose == "a" else a @ b.T


_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS, _CBLAS_TRANS = 101, 111, 112
_gemm = {}


def _numpy_cblas_gemm(dtype):
    """cblas_sgemm / cblas_dgemm of the OpenBLAS that NumPy itself loads (64-bit integers, as
    numpy's scipy-openblas64 names them), or None when it cannot be found."""
    if dtype not in _gemm:
        _gemm[dtype] = None
        from threadpoolctl import threadpool_info

        numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
        for lib in threadpool_info():
            path = lib.get("filepath", "")
            if lib.get("internal_api") == "openblas" and path.startswith(numpy_dir) \
                    and "numpy" in path:
                name = {np.dtype(np.float32): "scipy_cblas_sgemm64_",
                        np.dtype(np.float64): "scipy_cblas_dgemm64_"}[dtype]
                _gemm[dtype] = getattr(ctypes.CDLL(path), name, None)
    return _gemm[dtype]


def matmul_accumulate(out, a, b, *, transpose="a"):
    """out (M, N) += aᵀ b (transpose="a": a (K, M), b (K, N)) or a bᵀ ("b": a (M, K), b (N, K))
    without the temporary product, by gemm with β = 1 on NumPy's own OpenBLAS; the twin when
    that is not found or an array is not C-contiguous (they agree to rounding)."""
    if transpose not in ("a", "b"):
        raise ValueError(f"transpose must be 'a' or 'b', got {transpose!r}")
    M, N = out.shape
    K = a.shape[0] if transpose == "a" else a.shape[1]
    if out.size == 0 or K == 0:
        return
    gemm = _numpy_cblas_gemm(out.dtype) if out.dtype.kind == "f" else None
    if gemm is None or not all(x.flags.c_contiguous and x.dtype == out.dtype
                               for x in (out, a, b)):
        matmul_accumulate_numpy(out, a, b, transpose=transpose)
        return
    scalar = ctypes.c_float if out.dtype == np.float32 else ctypes.c_double
    i64 = ctypes.c_int64
    if transpose == "a":
        trans_a, trans_b, lda, ldb = _CBLAS_TRANS, _CBLAS_NO_TRANS, M, N
    else:
        trans_a, trans_b, lda, ldb = _CBLAS_NO_TRANS, _CBLAS_TRANS, K, K
    gemm(_CBLAS_ROW_MAJOR, trans_a, trans_b, i64(M), i64(N), i64(K), scalar(1.0),
         a.ctypes.data_as(ctypes.c_void_p), i64(lda), b.ctypes.data_as(ctypes.c_void_p),
         i64(ldb), scalar(1.0), out.ctypes.data_as(ctypes.c_void_p), i64(N))

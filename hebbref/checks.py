"""Checks at the public boundary: each raises with the argument's name, what was expected and
what was given. Inner functions trust their inputs."""
import numbers

import numpy as np


def check_array(x, name, *, ndim=None, shape=None, dtype_kind="f", finite=True):
    """Return ``x`` as an ndarray after checking type, ndim, shape, dtype kind and finiteness.
    shape: a tuple whose entries are ints or None (None matches any length).
    dtype_kind: "f" for floating arrays, "i" for integer arrays, None for no check."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    if shape is not None:
        if x.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
            want = tuple("any" if s is None else s for s in shape)
            raise ValueError(f"{name} must have shape {want}, got {x.shape}")
    if dtype_kind == "f" and x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    if dtype_kind == "i" and x.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {x.dtype}")
    if finite and x.dtype.kind == "f" and x.size and not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite, got NaN or Inf")
    return x


def check_labels(y, name, num_classes, *, shape=None):
    """Return integer labels ``y`` as int64 after checking dtype, shape and range [0, num_classes)."""
    check_array(y, name, shape=shape, dtype_kind="i")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}), got values in "
                         f"[{y.min()}, {y.max()}]")
    return y.astype(np.int64, copy=False)


def check_same_dtype(name_a, a, name_b, b):
    """Raise TypeError unless two floating arrays share one dtype (no silent up-casting)."""
    if a.dtype != b.dtype:
        raise TypeError(f"{name_a} and {name_b} must share a dtype, got {a.dtype} and {b.dtype}")


def check_number(x, name, *, low=None, high=None, allow_inf=False):
    """Return float(x) after checking it is a real number within [low, high]."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    x = float(x)
    if np.isnan(x) or (np.isinf(x) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {x}")
    if (low is not None and x < low) or (high is not None and x > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {x}")
    return x


def check_int(x, name, low=None, high=None):
    """Return int(x) after checking it is an integer (not bool) within [low, high]."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(x).__name__}")
    if high is not None and not (low or 0) <= x <= high:
        raise ValueError(f"{name} must lie in [{low or 0}, {high}], got {x}")
    if low is not None and x < low:
        raise ValueError(f"{name} must be >= {low}, got {x}")
    return int(x)

"""Truncated-BPTT batching of a token stream (METHOD §4, §6).

``batchify`` cuts the token stream into B contiguous columns, ``bptt_segments`` walks down them
``bptt`` rows at a time, and the row where a segment starts is all that is needed to resume an
epoch exactly (``bptt_segments(data, bptt, start=...)``).
"""
import numpy as np

from hebbref.validate import check_array, check_int


def batchify(tokens, batch_size):
    """Cut a token stream into B contiguous columns.

    tokens: (M,) integer ids; batch_size: B >= 1.
    Returns data: (L, B) int64 with L = M // B and data[:, b] = tokens[b·L : (b+1)·L]; the last
    M − L·B tokens are dropped. Raises ValueError if L < 2 (no input-target pair would remain).
    """
    tokens = check_array(tokens, "tokens", ndim=1, dtype_kind="i")
    batch_size = check_int(batch_size, "batch_size", 1)
    length = tokens.size // batch_size
    if length < 2:
        raise ValueError(
            f"tokens has {tokens.size} tokens, too few for batch_size {batch_size}: each of the "
            f"{batch_size} columns needs at least 2 tokens"
        )
    columns = tokens[: length * batch_size].astype(np.int64).reshape(batch_size, length)
    return np.ascontiguousarray(columns.T)


def _check_data(data, bptt):
    data = check_array(data, "data", ndim=2, dtype_kind="i")
    return data, check_int(bptt, "bptt", 1)


def num_segments(data, bptt):
    """Number of segments ``bptt_segments(data, bptt)`` yields: ⌈(L − 1) / bptt⌉ for data (L, B)."""
    data, bptt = _check_data(data, bptt)
    return -(-max(data.shape[0] - 1, 0) // bptt)


def bptt_segments(data, bptt, *, start=0):
    """Walk down the columns of ``batchify`` output in segments of ``bptt`` steps.

    data: (L, B) integer ids; bptt: T >= 1; start: the row to begin at, 0 <= start <= L − 1 (a
    saved segment start resumes an epoch exactly; L − 1 yields nothing).
    Yields (start, x, y) for start = start, start + T, ... < L − 1, with x = data[start : start+t],
    y = data[start+1 : start+1+t], t = min(T, L − 1 − start) (the last segment may be shorter).
    x and y are (t, B) views into data. Consecutive segments tile data[:-1] (x) and data[1:] (y).
    """
    data, bptt = _check_data(data, bptt)
    check_int(start, "start")
    last = data.shape[0] - 1
    if not 0 <= start <= max(last, 0):
        raise ValueError(f"start must lie in [0, {max(last, 0)}] for data of shape "
                         f"{data.shape}, got {start}")
    return _segments(data, bptt, int(start))


def _segments(data, bptt, start):
    last = data.shape[0] - 1
    for row in range(start, last, bptt):
        steps = min(bptt, last - row)
        yield row, data[row: row + steps], data[row + 1: row + 1 + steps]

"""Row blocks on the BLAS threads: element-wise work over a large (N, V) array, split by rows.

NumPy's element-wise functions run on one core while its matrix products use every BLAS thread;
work independent per row (the cross-entropy) can run its row blocks on threads, as NumPy
releases the GIL in its loops, and bit-identically, as each row is computed alike. The thread
count follows BLAS's, so code under `threadpool_limits(1)` (the sweeps) stays on one thread.
"""
import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor

MIN_BLOCK = 1 << 19   # elements; below this a thread hand-off costs more than it saves
_pool = None  # one ThreadPoolExecutor, made on first use


@functools.lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def blas_threads():
    """The smallest thread count among the loaded BLAS libraries (1 if none is found)."""
    return min((lib["num_threads"] for lib in _blas_controller().info()), default=1)


def blas_limit(threads):
    """A context in which every loaded BLAS runs at most `threads` threads (None: unchanged);
    one reused controller makes it cheap enough (µs, not a fresh threadpool_limits' ~0.2 ms) for
    a loop of small products."""
    if threads is None:
        return contextlib.nullcontext()
    return _blas_controller().limit(limits=threads)


def row_blocks(n_rows, row_size, threads):
    """range(n_rows) as at most `threads` contiguous slices of >= MIN_BLOCK elements each."""
    blocks = max(1, min(threads, n_rows * row_size // MIN_BLOCK, n_rows))
    edges = [n_rows * k // blocks for k in range(blocks + 1)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def map_row_blocks(fn, args, n_rows, row_size, threads=None):
    """[fn(block, *args) for block in row_blocks(...)] on `threads` threads (default: BLAS's);
    fn must only touch the rows of its block."""
    blocks = row_blocks(n_rows, row_size, blas_threads() if threads is None else threads)
    if len(blocks) == 1:
        return [fn(blocks[0], *args)]
    global _pool
    _pool = _pool or ThreadPoolExecutor(thread_name_prefix="hebbref-rows")
    futures = [_pool.submit(fn, block, *args) for block in blocks]
    return [future.result() for future in futures]

"""Why torch's LSTM is faster than hebbref's at small vocabularies (issue 16): the LM's LSTM
alone (T = 35, N = 32, E = H = 256, forward + backward), and the same matrix products alone,
each in NumPy/OpenBLAS and in torch/MKL, with torch's oneDNN (mkldnn) RNN kernel on and off.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python validation/lstm_onednn.py   (~1 minute, idle machine)

Rows, timed in interleaved rounds in one process (hebbref.bench.timing.measure):
- hebbref LSTM: hebbref.nn.lstm forward + backward (what `hebbref bench` times);
- torch LSTM, oneDNN on / off: nn.LSTM forward + backward with torch.backends.mkldnn enabled
  (torch's default) and disabled;
- products alone, NumPy / torch: the LSTM's matrix products in the order the step needs them,
  nothing else: the input projection (T·N, E)×(E, 4H), 35 recurrent (N, H)×(H, 4H), 35
  (N, 4H)×(4H, H) for dh, and the three sequence products of the backward (dWx, dWh, dx).
Writes validation/results/lstm_onednn.json.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_json  # noqa: E402

from speed.contenders import hebbref_lstm_pass, torch_lstm_pass  # noqa: E402
from speed.machine import machine_info  # noqa: E402
from speed.timing import measure  # noqa: E402
from speed.workloads import FULL  # noqa: E402


def products(lib, T, N, H, seed=0):
    """The LSTM pass's matrix products alone in NumPy (lib = np) or torch (lib = torch)."""
    rng = np.random.default_rng(seed)
    arrays = {k: rng.standard_normal(shape).astype(np.float32) for k, shape in
              (("x", (T * N, H)), ("Wx", (H, 4 * H)), ("Wh", (H, 4 * H)), ("h", (N, H)),
               ("da", (T * N, 4 * H)))}
    if lib is not np:
        arrays = {k: lib.from_numpy(v) for k, v in arrays.items()}
    x, Wx, Wh, h, da = (arrays[k] for k in ("x", "Wx", "Wh", "h", "da"))
    WhT, WxT = Wh.T.contiguous() if lib is not np else np.ascontiguousarray(Wh.T), Wx.T

    def run():
        x @ Wx                                   # input projection
        for _ in range(T):
            h @ Wh                               # recurrent product, forward
        for t in range(T):
            da[t * N:(t + 1) * N] @ WhT          # dh_{t−1}, backward
        x.T @ da, x.T @ da, da @ WxT             # dWx, dWh (same shapes), dx

    return run


def torch_lstm_no_onednn(torch, sizes):
    inner = torch_lstm_pass(torch, sizes)

    def run():
        with torch.backends.mkldnn.flags(enabled=False):
            inner()

    return run


def main():
    try:
        import torch
    except ImportError:
        print("torch is not installed (pip install 'hebbref[torch]'): nothing to compare")
        return
    torch.set_num_threads(2)
    sizes = FULL
    T, N, H = sizes.lm_bptt, sizes.lm_batch, sizes.lm_hidden
    contenders = {"hebbref LSTM": hebbref_lstm_pass(sizes),
                  "torch LSTM, oneDNN on": torch_lstm_pass(torch, sizes),
                  "torch LSTM, oneDNN off": torch_lstm_no_onednn(torch, sizes),
                  "products alone, NumPy": products(np, T, N, H),
                  "products alone, torch": products(torch, T, N, H)}
    times = measure(contenders, sizes)
    results = {"sizes": {"T": T, "N": N, "E": H, "H": H}, "machine": machine_info(torch),
               "ms": {k: 1e3 * v["median_s"] for k, v in times.items()}, "timings": times}
    write_json("lstm_onednn.json", results)
    for name, ms in results["ms"].items():
        print(f"{name:26s} {ms:7.1f} ms")


if __name__ == "__main__":
    main()

"""LSTM over a sequence, with truncated BPTT (docs/MATH.md §2.6–§2.8). Gate order i, f, g, o.
The caller carries (h_T, c_T) into the next segment as plain arrays ("detached"). x_t Wx for all
t, dWx, dWh and dx are each one (T·N)-row product; only h_{t−1} Wh runs step by step. The
*_reference functions loop over the step functions (read these); lstm_forward / lstm_backward,
their fast twins, import hebbref.threads and hebbref.kernels (numba) only when first called.
"""
import numpy as np

from hebbref.nn.activations import sigmoid
from hebbref.checks import check_array, check_same_dtype


LSTM_BIAS_INITS = ("forget_one", "torch")


def lstm_init(input_size, hidden_size, rng, *, forget_bias=1.0, bias_init="forget_one",
              dtype=np.float64):
    """{"Wx": (D, 4H), "Wh": (H, 4H), "b": (4H,)}, drawn in that order, weights ~ U(−1/√H, 1/√H)
    as in PyTorch. bias_init "forget_one": b = 0 but the forget block = forget_bias (1.0 helps
    gradients flow early on); "torch": b = b_ih + b_hh, both ~ U(−1/√H, 1/√H), as torch adds."""
    if bias_init not in LSTM_BIAS_INITS:
        raise ValueError(f"bias_init must be one of {LSTM_BIAS_INITS}, got {bias_init!r}")
    bound = 1.0 / np.sqrt(hidden_size)
    H = hidden_size
    params = {"Wx": rng.uniform(-bound, bound, (input_size, 4 * H)).astype(dtype),
              "Wh": rng.uniform(-bound, bound, (H, 4 * H)).astype(dtype)}
    if bias_init == "torch":
        params["b"] = rng.uniform(-bound, bound, (2, 4 * H)).sum(axis=0).astype(dtype)
    else:
        params["b"] = np.zeros(4 * H, dtype=dtype)
        params["b"][H:2 * H] = forget_bias
    return params


def lstm_step_forward(xw_t, h_prev, c_prev, Wh):
    """One step. xw_t: (N, 4H) = x_t Wx + b; h_prev, c_prev: (N, H); Wh: (H, 4H)
    -> h, c: (N, H), cache (i, f, g, o, c_prev, tanh_c)."""
    H = h_prev.shape[1]
    a = xw_t + h_prev @ Wh
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, (i, f, g, o, c_prev, tanh_c)


def lstm_step_backward(dh, dc_next, cache):
    """dh: (N, H) total gradient into h_t; dc_next: (N, H) into c_t from t+1
    -> da: (N, 4H) gradient of the pre-activations, dc_prev: (N, H)."""
    i, f, g, o, c_prev, tanh_c = cache
    dc = dc_next + dh * o * (1 - tanh_c * tanh_c)
    da = np.concatenate([
        dc * g * i * (1 - i),
        dc * c_prev * f * (1 - f),
        dc * i * (1 - g * g),
        dh * tanh_c * o * (1 - o),
    ], axis=1)
    return da, dc * f


def _check_inputs(x, h0, c0, params):
    """Validate lstm_forward's arguments; returns (x, h0, c0, Wx, Wh, b)."""
    Wx = check_array(params.get("Wx"), "params['Wx']", ndim=2)
    H = Wx.shape[1] // 4
    if Wx.shape[1] != 4 * H or H == 0:
        raise ValueError(f"params['Wx'] must have shape (D, 4H) with H >= 1, got {Wx.shape}")
    Wh = check_array(params.get("Wh"), "params['Wh']", shape=(H, 4 * H))
    b = check_array(params.get("b"), "params['b']", shape=(4 * H,))
    x = check_array(x, "x", shape=(None, None, Wx.shape[0]))
    h0 = check_array(h0, "h0", shape=(x.shape[1], H))
    c0 = check_array(c0, "c0", shape=(x.shape[1], H))
    for name, arr in (("h0", h0), ("c0", c0), ("params['Wx']", Wx), ("params['Wh']", Wh),
                      ("params['b']", b)):
        check_same_dtype("x", x, name, arr)
    return x, h0, c0, Wx, Wh, b


def lstm_forward_reference(x, h0, c0, params):
    """Plain twin of lstm_forward: a loop over lstm_step_forward.

    Inputs:  x: (T, N, D); h0, c0: (N, H); params {"Wx": (D, 4H), "Wh": (H, 4H), "b": (4H,)}.
    Outputs: hs: (T, N, H); cache, whose "hT", "cT" are the state to carry into the next segment.
    """
    x, h0, c0, Wx, Wh, b = _check_inputs(x, h0, c0, params)
    T, N, D = x.shape
    H = Wh.shape[0]
    xw = (x.reshape(T * N, D) @ Wx + b).reshape(T, N, 4 * H)
    hs = np.empty((T, N, H), dtype=x.dtype)
    steps = []
    h, c = h0, c0
    for t in range(T):
        h, c, step_cache = lstm_step_forward(xw[t], h, c, Wh)
        hs[t] = h
        steps.append(step_cache)
    return hs, {"x": x, "h0": h0, "hs": hs, "steps": steps, "Wx": Wx, "Wh": Wh, "hT": h, "cT": c}


def lstm_backward_reference(dhs, cache):
    """Plain twin of lstm_backward: a loop over lstm_step_backward. dhs: (T, N, H)
    -> dx: (T, N, D); dh0, dc0: (N, H); grads {"Wx", "Wh", "b"} matching params."""
    x, Wx, Wh, steps = cache["x"], cache["Wx"], cache["Wh"], cache["steps"]
    T, N, D = x.shape
    H = Wh.shape[0]
    das = np.empty((T, N, 4 * H), dtype=x.dtype)
    dh_next = np.zeros((N, H), dtype=x.dtype)
    dc_next = np.zeros((N, H), dtype=x.dtype)
    for t in range(T - 1, -1, -1):
        das[t], dc_next = lstm_step_backward(dhs[t] + dh_next, dc_next, steps[t])
        dh_next = das[t] @ Wh.T
    dx, grads = _sequence_grads(das, x, _previous_hidden(cache), Wx)
    return dx, dh_next, dc_next, grads


def _previous_hidden(cache):
    """h_{t−1} for every step t: (T, N, H) = [h0, hs[0], ..., hs[T−2]]."""
    hs = cache["hs"]
    return np.concatenate([cache["h0"][None], hs[:-1]], axis=0) if hs.shape[0] else hs


def _sequence_grads(das, x, h_prev, Wx):
    """dx = da Wxᵀ (T, N, D) and {"Wx": Σ x_tᵀ da_t, "Wh": Σ h_{t−1}ᵀ da_t, "b": Σ da_t}, over all
    steps at once. das: (T, N, 4H); x: (T, N, D); h_prev: (T, N, H)."""
    T, N, D = x.shape
    da_flat = das.reshape(T * N, das.shape[2])
    grads = {
        "Wx": x.reshape(T * N, D).T @ da_flat,
        "Wh": h_prev.reshape(T * N, h_prev.shape[2]).T @ da_flat,
        "b": da_flat.sum(axis=0),
    }
    return (da_flat @ Wx.T).reshape(T, N, D), grads


# BLAS threads for the small step-by-step products h_{t−1} Wh and da_t Whᵀ of the fast path
# (None: the caller's count). Two threads barely help on these small products, and on a busy
# 2-CPU machine one thread was up to 5× faster, as two threads wait for each other.
RECURRENT_BLAS_THREADS = None


def _gate_scale(H, dtype):
    """(4H,) factors s with σ(a) = s·tanh(s·a) + s on the i, f, o blocks (s = ½) and
    tanh(a) = s·tanh(s·a) on the g block (s = 1), so one tanh serves all four gates."""
    scale = np.full(4 * H, 0.5, dtype=dtype)
    scale[2 * H:3 * H] = 1.0
    return scale


def lstm_forward(x, h0, c0, params):
    """Fast twin of lstm_forward_reference (same inputs and outputs; its own cache, for
    lstm_backward). σ(a) = ½·tanh(a/2) + ½, so one tanh serves all four gates (NumPy's tanh is
    several times cheaper than a stable sigmoid), the exact halving folded into the weights;
    each step writes into arrays allocated once. Agrees with the twin to a few ulp (tested).
    The element-wise work stays in NumPy: numba has no vectorised tanh, so a kernel was slower.
    """
    from hebbref import threads

    x, h0, c0, Wx, Wh, b = _check_inputs(x, h0, c0, params)
    T, N, D = x.shape
    H = Wh.shape[0]
    scale = _gate_scale(H, x.dtype)
    shift = np.where(scale == 0.5, scale, 0).astype(x.dtype)
    Wh_scaled = Wh * scale
    gates = (x.reshape(T * N, D) @ (Wx * scale) + b * scale).reshape(T, N, 4 * H)
    cs, tanh_cs, hs = np.empty((3, T, N, H), dtype=x.dtype)
    recurrent = np.empty((N, 4 * H), dtype=x.dtype)
    h, c = h0, c0
    with threads.blas_limit(RECURRENT_BLAS_THREADS):
        for t in range(T):
            h, c = _step_forward(gates[t], h, c, Wh_scaled, scale, shift, recurrent,
                                 cs[t], tanh_cs[t], hs[t])
    return hs, {"x": x, "h0": h0, "c0": c0, "hs": hs, "gates": gates, "cs": cs,
                "tanh_cs": tanh_cs, "Wx": Wx, "Wh": Wh, "hT": h, "cT": c}


def _step_forward(a, h, c, Wh_scaled, scale, shift, recurrent, c_out, tanh_c_out, h_out):
    """One step of lstm_forward in place: a (N, 4H) holds x_t Wx + b (scaled) on entry and
    i, f, g, o on exit; writes c_t, tanh(c_t), h_t into the given rows. Returns (h_t, c_t)."""
    H = h.shape[1]
    a += np.matmul(h, Wh_scaled, out=recurrent)
    np.tanh(a, out=a)
    a *= scale
    a += shift                      # a now holds i, f, g, o
    i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    np.multiply(f, c, out=c_out)
    np.multiply(i, g, out=tanh_c_out)
    c_out += tanh_c_out
    np.tanh(c_out, out=tanh_c_out)
    np.multiply(o, tanh_c_out, out=h_out)
    return h_out, c_out


def lstm_backward(dhs, cache):
    """Fast twin of lstm_backward_reference (same inputs and outputs; cache from lstm_forward):
    each step's element-wise work in one numba pass (hebbref.kernels.lstm_gate_gradients)."""
    from hebbref import threads
    from hebbref.kernels import lstm_gate_gradients

    x, Wh, gates = cache["x"], cache["Wh"], cache["gates"]
    T, N, _ = x.shape
    H = Wh.shape[0]
    das = np.empty((T, N, 4 * H), dtype=x.dtype)
    dh, dc = np.zeros((2, N, H), dtype=x.dtype)
    # A contiguous copy of Whᵀ: the 35 small products run ~1.5× faster than on the view.
    Wh_T = np.ascontiguousarray(Wh.T)
    with threads.blas_limit(RECURRENT_BLAS_THREADS):
        for t in range(T - 1, -1, -1):
            dh += dhs[t]
            c_prev = cache["cs"][t - 1] if t else cache["c0"]
            lstm_gate_gradients(das[t], dh, dc, gates[t], c_prev, cache["tanh_cs"][t])
            np.matmul(das[t], Wh_T, out=dh)
    dx, grads = _sequence_grads(das, x, _previous_hidden(cache), cache["Wx"])
    return dx, dh, dc, grads

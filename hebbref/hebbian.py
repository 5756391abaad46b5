"""The Hebbian Softmax update (Rae et al., ICML 2018, Algorithm 1); equations: docs/MATH.md §5.

After the optimiser has turned θ into θ', every class i present in the batch (n_i > 0) mixes the
mean ĥ_i of its activations h̃_t into its row; rows of absent classes are never written:

    λ_i  = max(1/c_i, γ) if c_i < T, else 0              (lam_rule="exact_mean": n_i/(c_i−1+n_i))
    θ[i] ← λ_i ĥ_i + (1 − λ_i) θ'[i],   c_i ← c_i + n_i

Options not in the paper, off by default: write_scale sets h̃_t ("row_norm": h_t rescaled to
‖θ'[y_t]‖, the norm gradient descent gave the row; "centred": h_t − h̄, since features after ReLU
share a large common component that, written into a row, raises its logit for every input,
§5.2; "centred_row_norm": both); write_gain and calibrate scale ĥ_i against the late cost, and
prior_count k sets λ_i = max(1/(c_i + k), γ), so the row gradient descent trained weighs like k
activations in the mean (§5.7).
:func:`hebbian_update_reference` is the plain loop over classes; :func:`hebbian_update` sorts the
batch once and touches only the K present rows (no V×H temporary). They agree (§8 P7); both
update θ and the counts in place.
"""
from dataclasses import dataclass

import numpy as np

from hebbref.checks import check_array, check_labels, check_number, check_same_dtype

LAM_RULES = ("paper", "exact_mean")
WRITE_SCALES = ("none", "row_norm", "centred", "centred_row_norm")
LEVERS = ("write_gain", "calibrate", "moments", "fresh_bias", "centre_window", "prior_count")
MOMENTS = ("keep", "reset_first", "reset")          # hebbref/train.py, docs/MATH.md §5.7
FRESH_BIASES = ("keep", "mean", "zero", "none")     # hebbref/train.py, docs/MATH.md §5.7


def init_counts(V):
    """Per-class counts c ∈ Z^V, all 1 before any training step (docs/MATH.md §5). -> (V,) int64."""
    if isinstance(V, bool) or not isinstance(V, (int, np.integer)) or V < 0:
        raise ValueError(f"V must be a non-negative integer, got {V!r}")
    return np.ones(int(V), dtype=np.int64)


def _check_levers(write_gain=1.0, calibrate=False, moments="keep", fresh_bias="keep",
                  centre_window=0.0, prior_count=0.0):
    """Validate the levers of the module docstring and hebbref/train.py; return write_gain."""
    check_number(centre_window, "centre_window", low=0.0)
    check_number(prior_count, "prior_count", low=0.0)
    write_gain = check_number(write_gain, "write_gain", low=0.0)
    if not isinstance(calibrate, bool):
        raise TypeError(f"calibrate must be a bool, got {calibrate!r}")
    for name, value, choices in (("moments", moments, MOMENTS),
                                 ("fresh_bias", fresh_bias, FRESH_BIASES)):
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return write_gain


def _check_rule_args(gamma, T, lam_rule, write_scale="none"):
    gamma = check_number(gamma, "gamma", low=0.0, high=1.0)
    T = check_number(T, "T", low=0.0, high=np.inf, allow_inf=True)
    if not isinstance(lam_rule, str) or lam_rule not in LAM_RULES:
        raise ValueError(f"lam_rule must be one of {LAM_RULES}, got {lam_rule!r}")
    if not isinstance(write_scale, str) or write_scale not in WRITE_SCALES:
        raise ValueError(f"write_scale must be one of {WRITE_SCALES}, got {write_scale!r}")
    return gamma, T, lam_rule


def _check_in_place_target(x, name):
    # Both arrays are updated in place. A non-contiguous or read-only array would need a copy,
    # and an update written into a copy never reaches the model (docs/MATH.md §5: one public
    # implementation wrote through a boolean-mask copy). Refuse instead of copying.
    if not x.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (it is updated in place), got strides "
                         f"{x.strides} for shape {x.shape}")
    if not x.flags.writeable:
        raise ValueError(f"{name} must be writeable (it is updated in place)")


def _check_counts(counts, V):
    if not isinstance(counts, np.ndarray):
        raise TypeError(f"counts must be a numpy.ndarray of int64, got {type(counts).__name__}")
    if counts.dtype != np.int64:
        raise TypeError(f"counts must have dtype int64, got {counts.dtype}")
    if counts.shape != (V,):
        raise ValueError(f"counts must have shape ({V},) to match theta, got {counts.shape}")
    _check_in_place_target(counts, "counts")
    if V and counts.min() < 1:
        raise ValueError(f"counts must be >= 1 (they start at 1, docs/MATH.md §5.1), got min "
                         f"{counts.min()}")


def _check_update_args(theta, counts, h, y, gamma, T, lam_rule, write_scale):
    """Validate the arguments of both public update functions; return (y as int64, gamma, T)."""
    theta = check_array(theta, "theta", ndim=2, finite=False)  # only K rows are read: no O(VH) scan
    if theta.dtype not in (np.float32, np.float64):
        raise TypeError(f"theta must be float32 or float64, got dtype {theta.dtype}")
    _check_in_place_target(theta, "theta")
    V, H = theta.shape
    _check_counts(counts, V)
    h = check_array(h, "h", ndim=2, shape=(None, H))
    check_same_dtype("h", h, "theta", theta)
    y = check_labels(y, "y", V, shape=(h.shape[0],))
    gamma, T, lam_rule = _check_rule_args(gamma, T, lam_rule, write_scale)
    return y, gamma, T


def _lambda(counts_i, n_i, gamma, T, lam_rule, k=0.0):  # counts_i: the counts before this batch
    if lam_rule == "paper":                           # k: prior_count, θ′ weighs like k activations
        rate = 1.0 / (counts_i + k)
    else:  # "exact_mean": weight of the n_i new activations in the running mean of c_i−1+k+n_i
        rate = n_i / (counts_i - 1 + k + n_i)
    return np.where(counts_i < T, np.maximum(rate, gamma), 0.0)


def hebbian_lambda(counts_i, n_i, *, gamma, T, lam_rule="paper", prior_count=0.0):
    """Mixing rates λ_i (docs/MATH.md §5.3) of K present classes: counts_i: (K,) int counts
    c_i >= 1 before this batch; n_i: (K,) int >= 1 occurrences in it; prior_count k >= 0
    (§5.7) -> (K,) float64."""
    counts_i = check_array(counts_i, "counts_i", ndim=1, dtype_kind="i")
    n_i = check_array(n_i, "n_i", shape=counts_i.shape, dtype_kind="i")
    if counts_i.size and counts_i.min() < 1:
        raise ValueError(f"counts_i must be >= 1, got min {counts_i.min()}")
    if n_i.size and n_i.min() < 1:
        raise ValueError(f"n_i must be >= 1 (only classes present in the batch), got min {n_i.min()}")
    gamma, T, lam_rule = _check_rule_args(gamma, T, lam_rule)
    check_number(prior_count, "prior_count", low=0.0)
    return _lambda(counts_i.astype(np.int64), n_i.astype(np.int64), gamma, T, lam_rule,
                   float(prior_count))


def _rescale_to_norms(h, norms):
    """h̃_t = h_t · norms_t / ‖h_t‖, 0 where h_t = 0. h: (N, H); norms: (N,) -> (N, H).
    hypot and scaling a unit vector keep every intermediate inside the dtype's range."""
    h_norms = _row_norms(h)
    nonzero = h_norms > 0
    unit = np.zeros_like(h)
    np.divide(h, h_norms[:, None], out=unit, where=nonzero[:, None])
    return unit * norms[:, None]


def _row_norms(theta_rows):
    """‖θ'[i]‖ of each row of (K, H) -> (K,), by hypot as in :func:`_rescale_to_norms`."""
    if theta_rows.shape[1] == 0:
        return np.zeros(theta_rows.shape[0], theta_rows.dtype)
    return np.hypot.reduce(theta_rows, axis=1)


def _check_h_bar(h_bar, h):
    """h_bar: None, or an (H,) array in the dtype of h (the mean a centred write subtracts)."""
    if h_bar is not None:
        h_bar = check_array(h_bar, "h_bar", shape=(h.shape[1],))
        check_same_dtype("h_bar", h_bar, "h", h)
    return h_bar


def hebbian_update_reference(theta, counts, h, y, *, gamma, T, lam_rule="paper",
                             write_scale="none", write_gain=1.0, calibrate=False, h_bar=None,
                             prior_count=0.0):
    """docs/MATH.md §5.4 as a plain loop over the classes present. Slow; read it, test against it.

    Inputs:  theta: (V, H) float32/float64, θ' after the optimiser step, C-contiguous, updated
             in place; counts: (V,) int64 >= 1, updated in place; h: (N, H) same dtype as theta,
             the activations the forward pass fed to the softmax; y: (N,) int labels in [0, V);
             gamma, T, lam_rule, write_scale, write_gain, calibrate, prior_count: as
             HebbianConfig;
             h_bar: (H,) the mean the centred writes subtract, None: the batch's own mean.
    Outputs: None.
    """
    y, gamma, T = _check_update_args(theta, counts, h, y, gamma, T, lam_rule, write_scale)
    write_gain = _check_levers(write_gain, calibrate, prior_count=prior_count)
    k = float(prior_count)                           # θ′ weighs like k activations (§5.7)
    if calibrate:                                    # ℓ_ref before any row is written
        seen = counts[y] > 1
        l_ref = float(np.mean([theta[y[t]] @ h[t] for t in np.flatnonzero(seen)])) \
            if seen.any() else 0.0
    centred = write_scale.startswith("centred") and y.shape[0] > 0
    if centred and h_bar is None:                    # h̄ over the whole batch, dtype of h
        h_bar = h.mean(axis=0)
    h_bar = _check_h_bar(h_bar, h)
    for i in np.unique(y):                           # every class i with n_i > 0
        members = y == i
        n_i = int(members.sum())                     # n_i = #{t : y_t = i}
        h_i = h[members]                             # (n_i, H): the h_t with y_t = i
        if centred:                                  # h_t − h̄
            h_i = h_i - h_bar
        if write_scale.endswith("row_norm"):         # h̃_t = h_t ‖θ'[i]‖ / ‖h_t‖
            h_i = _rescale_to_norms(h_i, np.full(n_i, _row_norms(theta[i:i + 1])[0]))
        h_hat = h_i.sum(axis=0) / n_i                # ĥ_i, in the dtype of h
        if write_gain != 1.0:                        # ĥ_i ← g ĥ_i
            h_hat = h_hat * h.dtype.type(write_gain)
        if calibrate:                                # ĥ_i ← s_i ĥ_i, s_i = ℓ_ref / (ĥ_i · m_i)
            own = float(h_hat @ (h[members].sum(axis=0) / n_i))
            if l_ref > 0 and own > 0:
                h_hat = h_hat * h.dtype.type(l_ref / own)
        c_i = int(counts[i])                         # the count before this batch
        if c_i < T:
            rate = 1.0 / (c_i + k) if lam_rule == "paper" else n_i / (c_i - 1 + k + n_i)
            lam = max(rate, gamma)
        else:
            lam = 0.0
        if lam > 0.0:
            # With λ = 0 the row is left unwritten: 0·ĥ + 1·θ' would turn −0.0 into +0.0,
            # and docs/MATH.md §8 P1/P8 ask for θ' bit-identically.
            lam = theta.dtype.type(lam)
            theta[i] = lam * h_hat + (1 - lam) * theta[i]  # θ[i] ← λ ĥ_i + (1 − λ) θ'[i]
        counts[i] = c_i + n_i                        # c_i ← c_i + n_i


def _class_sums(h, y):
    """Per-class sums of h: (N, H), y: (N,) int64, N > 0 -> ids (K,) sorted, n_i (K,), sums
    (K, H), each summed in batch order (the stable sort keeps the order of t within a class)."""
    order = np.argsort(y, kind="stable")
    ids, starts, n_i = np.unique(y[order], return_index=True, return_counts=True)
    sums = np.add.reduceat(h[order], starts, axis=0)
    return ids, n_i.astype(np.int64), sums


def hebbian_update(theta, counts, h, y, *, gamma, T, lam_rule="paper", write_scale="none",
                   write_gain=1.0, calibrate=False, h_bar=None, prior_count=0.0):
    """The fast twin of :func:`hebbian_update_reference` (same arguments and result, P7).

    Cost: O(N log N + N·H) for the sort and sums, O(K·H) for the K present rows.
    """
    y, gamma, T = _check_update_args(theta, counts, h, y, gamma, T, lam_rule, write_scale)
    write_gain = _check_levers(write_gain, calibrate, prior_count=prior_count)
    if y.shape[0] == 0:
        return
    raw = h
    if write_scale.startswith("centred"):           # h_t − h̄, as the reference computes h̄
        h = h - (h.mean(axis=0) if h_bar is None else _check_h_bar(h_bar, h))
    if write_scale.endswith("row_norm"):            # h̃_t = h_t ‖θ'[y_t]‖ / ‖h_t‖, before any write
        ids = np.unique(y)
        norms = np.zeros(theta.shape[0], theta.dtype)
        norms[ids] = _row_norms(theta[ids])
        h = _rescale_to_norms(h, norms[y])
    ids, n_i, sums = _class_sums(h, y)
    h_hat = sums / n_i.astype(h.dtype)[:, None]     # (K, H), stays in the dtype of h
    if write_gain != 1.0:
        h_hat = h_hat * h.dtype.type(write_gain)
    if calibrate:
        h_hat = _calibrated(h_hat, theta, counts, raw, y, ids, n_i)
    lam = _lambda(counts[ids], n_i, gamma, T, lam_rule, float(prior_count))
    write = lam > 0.0                               # λ = 0 rows stay bit-identical (P1, P8)
    rows = ids[write]
    lam = lam[write].astype(theta.dtype)[:, None]
    theta[rows] = lam * h_hat[write] + (1 - lam) * theta[rows]
    counts[ids] += n_i


def _calibrated(h_hat, theta, counts, h, y, ids, n_i):
    """ĥ_i · s_i, s_i = ℓ_ref / (ĥ_i · m_i) where both are > 0 (docs/MATH.md §5.7); m_i is the
    plain class mean of h."""
    seen = counts[y] > 1
    l_ref = float(np.einsum("nh,nh->n", theta[y[seen]], h[seen]).astype(np.float64).mean()) \
        if seen.any() else 0.0
    own = np.einsum("kh,kh->k", h_hat, _class_sums(h, y)[2] / n_i.astype(h.dtype)[:, None])
    scale = np.ones(len(ids))
    ok = (own > 0) & (l_ref > 0)
    scale[ok] = l_ref / own[ok].astype(np.float64)
    return h_hat * scale.astype(h.dtype)[:, None]


@dataclass(frozen=True)
class HebbianConfig:
    """The rule's hyperparameters (docs/MATH.md §5) and the library's defaults, stated once:
    gamma in [0, 1]; T >= 0 or math.inf; lam_rule in LAM_RULES; write_scale in WRITE_SCALES.
    The paper states no γ or T; γ = 0.1, T = 100 make θ[i] the exact running mean of a class's
    first 1/γ = 10 sightings (P2, P3), then an exponential average over about its last 10
    batches, following the features as the network changes, and from c_i = T on leave the row
    to gradient descent, which has seen the class often by then (P8). Each experiment config
    declares the values its validation chose.
    """

    gamma: float = 0.1
    T: float = 100
    lam_rule: str = "paper"
    write_scale: str = "none"
    # levers against the late cost, off by default (module docstring, hebbref/train.py)
    write_gain: float = 1.0
    calibrate: bool = False
    moments: str = "keep"
    fresh_bias: str = "keep"
    centre_window: float = 0.0  # K: centred writes subtract a mean over ~K images; 0: the batch's
    prior_count: float = 0.0    # k: λ = 1/(c + k), θ′ weighs like k activations; 0: the paper's

    def __post_init__(self):
        _check_rule_args(self.gamma, self.T, self.lam_rule, self.write_scale)
        _check_levers(self.write_gain, self.calibrate, self.moments, self.fresh_bias,
                      self.centre_window, self.prior_count)


class HebbianOptions:
    """Mixin for an experiment config with the rule's fields: hebbian_config() builds them."""

    def hebbian_config(self):
        levers = {name: getattr(self, name) for name in LEVERS if hasattr(self, name)}
        return HebbianConfig(gamma=self.gamma, T=self.T, lam_rule=self.lam_rule,
                             write_scale=self.write_scale, **levers)


@dataclass(eq=False)
class HebbianSoftmax:
    """The Hebbian Softmax state of one softmax layer: hyperparameters and per-class counts.

    A model holds ``hebbian_softmax: HebbianSoftmax | None`` (None: a plain softmax); training
    calls ``update(params["softmax.theta"], h, y)`` right after the optimiser step (docs/MATH.md
    §5.4), evaluation never does, so counts advance only in training (save them in checkpoints).
    Fields as HebbianConfig (its defaults), plus num_classes V and counts: (V,) int64, all ones
    when not given (docs/MATH.md §5.1).
    """

    num_classes: int
    gamma: float = HebbianConfig.gamma
    T: float = HebbianConfig.T
    lam_rule: str = HebbianConfig.lam_rule
    write_scale: str = HebbianConfig.write_scale
    counts: np.ndarray | None = None
    write_gain: float = HebbianConfig.write_gain
    calibrate: bool = HebbianConfig.calibrate
    moments: str = HebbianConfig.moments
    fresh_bias: str = HebbianConfig.fresh_bias
    centre_window: float = HebbianConfig.centre_window
    prior_count: float = HebbianConfig.prior_count
    h_bar: np.ndarray | None = None  # the running mean of §5.7 (centre_window > 0), after a batch

    def __post_init__(self):
        self.gamma, self.T, self.lam_rule = _check_rule_args(self.gamma, self.T, self.lam_rule,
                                                             self.write_scale)
        self.write_gain = _check_levers(self.write_gain, self.calibrate, self.moments,
                                        self.fresh_bias, self.centre_window, self.prior_count)
        if self.counts is None:
            self.counts = init_counts(self.num_classes)
        _check_counts(self.counts, self.num_classes)

    @classmethod
    def from_config(cls, config, num_classes, counts=None):
        if not isinstance(config, HebbianConfig):
            raise TypeError(f"config must be a HebbianConfig, got {type(config).__name__}")
        return cls(num_classes, gamma=config.gamma, T=config.T, lam_rule=config.lam_rule,
                   write_scale=config.write_scale, counts=counts,
                   **{name: getattr(config, name) for name in LEVERS})

    def update(self, theta, h, y, reference=False):
        """Apply the rule (docs/MATH.md §5.4) to theta (V, H) in place, with h: (N, H),
        y: (N,); reference: run hebbian_update_reference instead of hebbian_update. -> None."""
        update = hebbian_update_reference if reference else hebbian_update
        if self.centre_window and self.write_scale.startswith("centred") and len(h):
            rho = h.dtype.type(min(1.0, len(h) / self.centre_window))  # ρ = min(1, N/K), §5.7
            mean = np.asarray(h).mean(axis=0)
            self.h_bar = mean if self.h_bar is None else (1 - rho) * self.h_bar + rho * mean
        update(theta, self.counts, h, y, gamma=self.gamma, T=self.T, lam_rule=self.lam_rule,
               write_scale=self.write_scale, write_gain=self.write_gain, calibrate=self.calibrate,
               h_bar=self.h_bar if self.centre_window else None, prior_count=self.prior_count)

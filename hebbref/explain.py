"""`hebbref explain`: the Hebbian Softmax update worked through by hand (docs/MATH.md §5.6).

With γ = 0.3 and T = 6 the three batches reach every branch of λ_i: batch 1, every class is
new, λ_i = 1 and θ[i] = ĥ_i (P2); batch 2, c_0 = 4 and 1/4 < γ, so λ_0 = γ; batch 3, c_0 = 6 = T,
λ_0 = 0: θ[0] = θ'[0], handed back to gradient descent (P8). `walkthrough()` returns every
number that `main()` prints, so tests can check each one.
"""
import argparse
import sys

import numpy as np

from hebbref.hebbian import hebbian_lambda, hebbian_update_reference, init_counts
from hebbref.nn.softmax import (softmax_cross_entropy_reference, softmax_layer_backward,
                                softmax_layer_forward)
from hebbref.optim import sgd

V, H = 4, 3
GAMMA = 0.3
T = 6
LR = 0.1


def _constant(values, dtype):
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


# θ (V, H) and b (V,) before the first batch.
THETA0 = _constant([[0.5, 0.0, -0.5], [0.0, 0.5, 0.0], [-0.5, 0.0, 0.5], [0.0, -0.5, 0.5]],
                   np.float64)
B0 = _constant([0.0] * V, np.float64)

# (h: (N, H), y: (N,)) per batch. Each batch repeats one class or two and leaves one class out.
BATCHES = tuple((_constant(h, np.float64), _constant(y, np.int64)) for h, y in (
    ([[1.0, 0.5, 0.0], [0.0, 0.0, 1.5], [1.5, 0.5, 0.5], [0.0, 1.0, 0.0], [0.5, 0.5, 1.0]],
     [0, 2, 0, 1, 0]),
    ([[1.0, 0.0, 0.5], [0.0, 1.5, 0.0], [0.5, 0.5, 0.5], [0.5, 1.0, 0.5], [1.0, 1.0, 0.5]],
     [0, 1, 3, 1, 0]),
    ([[1.5, 0.5, 0.0], [0.0, 1.0, 0.5], [0.0, 0.5, 1.5], [0.5, 0.5, 1.0], [0.5, 0.0, 1.0]],
     [0, 1, 2, 0, 2]),
))


def _rule(count_before, present):
    """Which branch of λ_i applies, in words."""
    if not present:
        return "absent"
    if count_before >= T:
        return "handed back"
    if count_before == 1:
        return "first sight"
    return "floor γ" if 1.0 / count_before < GAMMA else "1/c"


def walkthrough():
    """Run the three batches; one record (dict) per batch per class, in that order: batch
    (from 1), class, present, n (n_i), count_before (c_i), inv_count, lam (λ_i, None if absent),
    rule (λ_i's branch in words), h_hat (None if absent), theta_before, grad_theta, theta_prime,
    theta_new ((H,) each), b_before, b_prime, count_after, loss (the batch's mean loss)."""
    params = {"theta": THETA0.copy(), "b": B0.copy()}
    counts = init_counts(V)
    opt_state = {}
    records = []
    for batch, (h, y) in enumerate(BATCHES, start=1):
        theta_before, b_before = params["theta"].copy(), params["b"].copy()
        z, cache = softmax_layer_forward(h, params)
        loss, dz = softmax_cross_entropy_reference(z, y)
        _, grads = softmax_layer_backward(dz, cache)
        sgd(params, grads, opt_state, lr=LR)                   # docs/MATH.md §5 step 1: θ' and b'
        theta_prime = params["theta"].copy()
        counts_before = counts.copy()
        n = np.bincount(y, minlength=V)
        present = np.flatnonzero(n)
        lam = dict(zip(present.tolist(),
                       hebbian_lambda(counts_before[present], n[present], gamma=GAMMA, T=T)))
        hebbian_update_reference(params["theta"], counts, h, y, gamma=GAMMA, T=T)  # steps 2, 3
        for i in range(V):
            present_i = bool(n[i])
            records.append(dict(
                batch=batch, present=present_i, n=int(n[i]), count_before=int(counts_before[i]),
                inv_count=1.0 / int(counts_before[i]), lam=float(lam[i]) if present_i else None,
                rule=_rule(counts_before[i], present_i), theta_before=theta_before[i],
                h_hat=h[y == i].mean(axis=0) if present_i else None,
                grad_theta=grads["theta"][i].copy(), theta_prime=theta_prime[i],
                theta_new=params["theta"][i].copy(), b_before=float(b_before[i]),
                b_prime=float(params["b"][i]), count_after=int(counts[i]), loss=loss,
                **{"class": i}))
    return records


# Printing: fixed width, 3 decimals

def format_number(x):
    return f"{x:.3f}"


def format_vector(v):
    return "[" + " ".join(f"{x:6.3f}" for x in v) + "]"


def _notes(r):
    """Why λ_i took its value, for one present class (lines of text)."""
    i, c, n, inv, gamma = (r["class"], r["count_before"], r["n"], format_number(r["inv_count"]),
                           format_number(GAMMA))
    if r["rule"] == "first sight":
        return [f"→ class {i}: c_i = 1, 1/c_i = {inv}: λ_i = 1, θ[i] = ĥ_i exactly (P2)"]
    if r["rule"] == "handed back":
        return [f"→ class {i}: c_i = {c} >= T = {T} (1/c_i = {inv} unused): λ_i = 0, θ[i] = θ'[i]",
                "    handed back: from now on gradient descent alone trains this row (P8)"]
    if r["rule"] == "floor γ":
        return [f"→ class {i}: 1/c_i = {inv} < γ = {gamma}: λ_i = γ, the floor"]
    return [f"→ class {i}: 1/c_i = {inv} >= γ = {gamma}: λ_i = 1/c_i"] + (
        [f"    the mean of its {n} rows weighs like one activation; lam_rule=\"exact_mean\"",
         f"    would use n_i/(c_i − 1 + n_i) = {format_number(n / (c - 1 + n))}"] if n > 1 else [])


def _format_batch(batch, h, y, rows):
    """The lines of one batch's section: its inputs, the optimiser step, the rule."""
    absent = ", ".join(str(r["class"]) for r in rows if not r["present"])
    out = [f"Batch {batch} of {len(BATCHES)}: y = {y.tolist()}, absent: class {absent}",
           "  t  y_t  h_t"]
    out += [f"  {t}  {y[t]:3d}  {format_vector(h[t])}" for t in range(h.shape[0])]
    out += ["", f"  (1) optimiser step: loss = {format_number(rows[0]['loss'])}, "
                f"θ' = θ − {format_number(LR)}·∂L/∂θ",
            f"  i  {'θ[i] before':<22}  {'∂L/∂θ[i]':<22}  θ'[i]"]
    out += [f"  {r['class']}  {format_vector(r['theta_before'])}  "
            f"{format_vector(r['grad_theta'])}  {format_vector(r['theta_prime'])}" for r in rows]
    out += ["  b' = [" + " ".join(f"{r['b_prime']:6.3f}" for r in rows)
            + "]  (the bias follows the gradient only)", "",
            "  (2) Hebbian rule, using the counts from before this batch",
            f"  i  n_i  c_i    λ_i  {'ĥ_i':<22}  {'θ[i] new':<22}  c_i new"]
    for r in rows:
        lam, h_hat = ((format_number(r["lam"]), format_vector(r["h_hat"])) if r["present"]
                      else ("-", "absent: θ[i] = θ'[i]"))
        out.append(f"  {r['class']}  {r['n']:3d}  {r['count_before']:3d}  {lam:>5}  "
                   f"{h_hat:<22}  {format_vector(r['theta_new'])}  {r['count_after']:7d}")
    out += ["  " + line for r in rows if r["present"] for line in _notes(r)]
    return out + [""]


def format_walkthrough(records):
    """The text main() prints, built from the records of walkthrough()."""
    out = ["The Hebbian Softmax, one batch at a time (docs/MATH.md §5)",
           f"V = {V} classes, H = {H} features, N = {BATCHES[0][1].shape[0]} per batch, "
           f"γ = {format_number(GAMMA)}, T = {T},",
           f"plain SGD with lr = {format_number(LR)}. Counts c_i start at 1. Every batch:",
           "(1) optimiser step: θ' = θ − lr·∂L/∂θ, b' = b − lr·∂L/∂b;",
           "(2) each class i in the batch: λ_i = max(1/c_i, γ) if c_i < T else 0,",
           "    θ[i] = λ_i·ĥ_i + (1 − λ_i)·θ'[i],  c_i = c_i + n_i;",
           "(3) each class absent from the batch keeps θ'[i] and c_i.", ""]
    for batch, (h, y) in enumerate(BATCHES, start=1):
        out += _format_batch(batch, h, y, [r for r in records if r["batch"] == batch])
    out += ["λ_i by batch (- = class absent)",
            "  batch  " + "  ".join(f"class {i}" for i in range(V))]
    for batch in range(1, len(BATCHES) + 1):
        cells = [format_number(r["lam"]) if r["present"] else "-"
                 for r in records if r["batch"] == batch]
        out.append(f"  {batch:5d}  " + "  ".join(f"{c:>7}" for c in cells))
    return "\n".join(out)


def main(argv=None):
    """Print the walkthrough. argv: command-line arguments (none are taken besides --help)."""
    argparse.ArgumentParser(prog="hebbref explain", description="Work through the Hebbian "
                            "Softmax update on a hand-sized example (V = 4, H = 3, three batches "
                            "of 5; docs/MATH.md §5).").parse_args(argv)
    print(format_walkthrough(walkthrough()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

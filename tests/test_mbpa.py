"""Memory-based parameter adaptation of the softmax layer (docs/MATH.md §6.5).

Gold computations: the reference path that builds θ_x in full (for the span form), central
finite differences of L_t in float64 (for its gradient), the unadapted logits θ h + b (S = 0,
empty memory, α = 0), a brute-force sort (for the neighbours), and experiments.lm.evaluate (for
the stream's model log-probabilities and target order).
"""
import dataclasses

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import mbpa
from hebbref.data.batching import batchify
from hebbref.experiments.lm import evaluate
from hebbref.gradcheck import numerical_gradient, relative_error
from hebbref.models.lm import lm_forward, lm_init, lm_initial_state
from hebbref.nn.softmax import log_softmax

PROPERTY = settings(max_examples=40, deadline=None)
IMPLEMENTATIONS = [mbpa.adapted_logits, mbpa.adapted_logits_reference]
SETTINGS = dict(neighbours=3, steps=2, step_size=0.5, beta=0.1, eps=1e-3)


def adaptation_loss(theta_x, b_x, theta, b, neighbour_h, neighbour_y, weights, beta):
    """L_t(θ_x, b_x) of docs/MATH.md §6.5, written out: the objective whose gradient mbpa steps along."""
    log_p = log_softmax(neighbour_h @ theta_x.T + b_x)
    fit = -np.sum(weights * log_p[np.arange(neighbour_y.shape[0]), neighbour_y])
    return float(fit + 0.5 * beta * (np.sum((theta_x - theta) ** 2) + np.sum((b_x - b) ** 2)))


def random_case(rng, V=7, H=4, M=6, dtype=np.float64):
    """θ, b, h, memory_h, memory_y of a small softmax layer; entries of order 1."""
    return (rng.normal(size=(V, H)).astype(dtype), rng.normal(size=V).astype(dtype),
            rng.normal(size=H).astype(dtype), rng.normal(size=(M, H)).astype(dtype),
            rng.integers(0, V, M))


@st.composite
def cases(draw):
    V, H, M = draw(st.integers(1, 8)), draw(st.integers(1, 5)), draw(st.integers(0, 9))
    values = st.floats(-2.0, 2.0, allow_nan=False, width=64)
    theta = draw(hnp.arrays(np.float64, (V, H), elements=values))
    b = draw(hnp.arrays(np.float64, (V,), elements=values))
    h = draw(hnp.arrays(np.float64, (H,), elements=values))
    memory_h = draw(hnp.arrays(np.float64, (M, H), elements=values))
    memory_y = draw(hnp.arrays(np.int64, (M,), elements=st.integers(0, V - 1)))
    settings_ = dict(neighbours=draw(st.integers(1, 10)), steps=draw(st.integers(0, 4)),
                     step_size=draw(st.floats(0.0, 2.0)), beta=draw(st.floats(0.0, 1.0)),
                     eps=draw(st.floats(1e-3, 10.0)))
    return theta, b, h, memory_h, memory_y, settings_


@PROPERTY
@given(cases())
def test_span_form_equals_reference(case):
    """docs/MATH.md §6.5: θ_x = θ − Σ_k a_k h_kᵀ, so S gradient steps in the span of the K neighbours
    (K×V and K×K arrays) give the same logits θ_x h + b_x as the steps on θ_x built in full,
    for any shapes, memory sizes (M = 0 included), K, S, α, β, ε; float64 to 1e-10."""
    theta, b, h, memory_h, memory_y, settings_ = case
    fast = mbpa.adapted_logits(theta, b, h, memory_h, memory_y, **settings_)
    reference = mbpa.adapted_logits_reference(theta, b, h, memory_h, memory_y, **settings_)
    scale = max(1.0, np.abs(reference).max())
    assert np.abs(fast - reference).max() <= 1e-10 * scale, (fast, reference)


def test_adaptation_gradient_matches_finite_differences():
    """docs/MATH.md §6.5: ∂L_t/∂θ_x = Gᵀ H_K + β(θ_x − θ), ∂L_t/∂b_x = Σ_k G_k + β(b_x − b), checked
    against central differences in float64 at a point away from (θ, b); max relative error
    reported, below 1e-7."""
    rng = np.random.default_rng(3)
    theta, b, h, memory_h, memory_y = random_case(rng)
    index, weights = mbpa.nearest_neighbours(h, memory_h, 4, 1e-3)
    theta_x, b_x = theta + 0.3 * rng.normal(size=theta.shape), b + 0.3 * rng.normal(size=b.shape)
    args = (theta, b, memory_h[index], memory_y[index], weights, 0.7)
    dtheta_x, db_x = mbpa.adaptation_gradient(theta_x, b_x, *args)
    errors = {
        "theta_x": relative_error(dtheta_x, numerical_gradient(
            lambda: adaptation_loss(theta_x, b_x, *args), theta_x)),
        "b_x": relative_error(db_x, numerical_gradient(
            lambda: adaptation_loss(theta_x, b_x, *args), b_x)),
    }
    print(f"MbPA adaptation gradient, max relative error: {errors}")
    assert max(errors.values()) < 1e-7, errors


def test_one_reference_step_lowers_the_loss():
    """A small gradient-descent step decreases L_t (a consequence of the gradient being right)."""
    rng = np.random.default_rng(4)
    theta, b, h, memory_h, memory_y = random_case(rng)
    index, weights = mbpa.nearest_neighbours(h, memory_h, 4, 1e-3)
    args = (theta, b, memory_h[index], memory_y[index], weights, 0.1)
    dtheta, db = mbpa.adaptation_gradient(theta, b, *args)
    assert (adaptation_loss(theta - 0.01 * dtheta, b - 0.01 * db, *args)
            < adaptation_loss(theta, b, *args))


@pytest.mark.parametrize("adapt", IMPLEMENTATIONS)
@pytest.mark.parametrize("change", [dict(steps=0), dict(step_size=0.0), "empty"])
def test_degenerate_cases_give_unadapted_logits(adapt, change):
    """S = 0, α = 0 or an empty memory leave (θ_x, b_x) = (θ, b): logits θ h + b."""
    theta, b, h, memory_h, memory_y = random_case(np.random.default_rng(5))
    settings_ = dict(SETTINGS)
    if change == "empty":
        memory_h, memory_y = memory_h[:0], memory_y[:0]
    else:
        settings_.update(change)
    logits = adapt(theta, b, h, memory_h, memory_y, **settings_)
    np.testing.assert_allclose(logits, theta @ h + b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("adapt", IMPLEMENTATIONS)
def test_adaptation_raises_the_neighbours_label(adapt):
    """With every neighbour labelled y, a few steps raise log p(y | h) at a query beside them."""
    theta, b, h, memory_h, _ = random_case(np.random.default_rng(6))
    memory_h = h + 0.01 * np.random.default_rng(7).normal(size=memory_h.shape)
    memory_y = np.full(memory_h.shape[0], 2)
    logits = adapt(theta, b, h, memory_h, memory_y, **SETTINGS)
    assert log_softmax(logits[None])[0, 2] > log_softmax((theta @ h + b)[None])[0, 2] + 0.1


def test_nearest_neighbours_are_the_k_closest_with_normalised_kernel_weights():
    """Indices = the K smallest ‖h_k − h‖ by a brute-force sort; w_k ∝ 1/(ε + d_k²), Σ w = 1."""
    rng = np.random.default_rng(8)
    h, memory_h = rng.normal(size=4), rng.normal(size=(20, 4))
    index, weights = mbpa.nearest_neighbours(h, memory_h, 5, 0.5)
    distances = [float(np.linalg.norm(row - h)) for row in memory_h]
    expected = sorted(range(20), key=lambda k: distances[k])[:5]
    assert index.tolist() == expected
    kernel = np.array([1 / (0.5 + distances[k] ** 2) for k in expected])
    np.testing.assert_allclose(weights, kernel / kernel.sum(), rtol=1e-12)


@pytest.mark.parametrize("adapt", IMPLEMENTATIONS)
@pytest.mark.parametrize("bad, error, match", [
    (dict(neighbours=0), ValueError, "neighbours"),
    (dict(steps=-1), ValueError, "steps"),
    (dict(step_size=-0.1), ValueError, "step_size"),
    (dict(beta=float("nan")), ValueError, "beta"),
    (dict(eps=0.0), ValueError, "eps"),
    (dict(neighbours=True), TypeError, "neighbours"),
    (dict(memory_y=np.array([0, 1, 99, 0, 0, 0])), ValueError, "memory_y"),
    (dict(memory_h=np.zeros((6, 3))), ValueError, "memory_h"),
    (dict(h=np.zeros(4, np.float32)), TypeError, "h"),
    (dict(theta=[[0.0]]), TypeError, "theta"),
])
def test_bad_input_raises_naming_the_argument(adapt, bad, error, match):
    theta, b, h, memory_h, memory_y = random_case(np.random.default_rng(9))
    arrays = dict(theta=theta, b=b, h=h, memory_h=memory_h, memory_y=memory_y)
    settings_ = dict(SETTINGS)
    for key, value in bad.items():
        (arrays if key in arrays else settings_)[key] = value
    with pytest.raises(error, match=match):
        adapt(arrays.pop("theta"), arrays.pop("b"), arrays.pop("h"), arrays.pop("memory_h"),
              arrays.pop("memory_y"), **settings_)


def test_stream_equals_a_loop_over_the_reference():
    """mbpa_log_probs: model log-probabilities equal −evaluate()'s NLL in the same target order,
    and each MbPA log-probability equals adapted_logits_reference with the memory of the
    target's batchify column sliced by hand (its last M earlier pairs)."""
    V, columns, bptt, memory_size = 9, 2, 3, 4
    params = lm_init(V, 3, 5, np.random.default_rng(10), dtype=np.float64)
    tokens = np.random.default_rng(11).integers(0, V, 17)
    points = ((2, 1, 1.0, 0.1, 1e-3), (3, 2, 0.5, 0.0, 0.1), (3, 0, 0.5, 0.0, 0.1))
    out = mbpa.mbpa_log_probs(params, tokens, batch_size=columns, bptt=bptt,
                              memory_size=memory_size, points=points)
    nll, targets = evaluate(params, tokens, batch_size=columns, bptt=bptt)
    np.testing.assert_array_equal(out["targets"], targets)
    np.testing.assert_allclose(out["model"], -nll, rtol=1e-12)
    data = batchify(tokens, columns)                                       # (8, columns)
    _, h, _, _ = lm_forward(params, data[:-1], lm_initial_state(params, columns))
    h = h.reshape(7, columns, 5)
    for row in range(targets.size):
        step, column = divmod(row, columns)
        memory = slice(max(0, step - memory_size), step)
        for K, S, alpha, beta, eps in points:
            logits = mbpa.adapted_logits_reference(
                params["softmax.theta"], params["softmax.b"], h[step, column],
                h[memory, column], targets.reshape(7, columns)[memory, column], neighbours=K,
                steps=S, step_size=alpha, beta=beta, eps=eps)
            expected = log_softmax(logits[None])[0, targets[row]]
            assert out[(K, S, alpha, beta, eps)][row] == pytest.approx(expected, rel=1e-10)


def test_choose_prefers_the_model_when_mbpa_is_worse_and_mbpa_when_it_is_better():
    """λ_m = 0 wins when p_MbPA is worse on every target; the better point wins otherwise."""
    model = np.log(np.full(5, 0.5))
    log_probs = {"model": model, (1, 1, 1.0, 0.0, 1.0): np.log(np.full(5, 0.1)),
                 (2, 1, 1.0, 0.0, 1.0): np.log(np.full(5, 0.9)), "targets": np.zeros(5)}
    chosen = mbpa.choose(log_probs, lambda_ms=(0.0, 0.5))
    assert chosen["point"] == (2, 1, 1.0, 0.0, 1.0) and chosen["lambda_m"] == 0.5
    del log_probs[(2, 1, 1.0, 0.0, 1.0)]
    assert mbpa.choose(log_probs, lambda_ms=(0.0, 0.5))["lambda_m"] == 0.0


def small_corpus(tmp_path):
    """A 40-word Zipfian text corpus and an untrained float64 model over it."""
    from hebbref.data.text import load_corpus

    rng = np.random.default_rng(12)
    p = 1.0 / np.arange(1, 41)
    lines = [" ".join(rng.choice([f"w{i}" for i in range(40)], size=6, p=p / p.sum()))
             for _ in range(200)]
    (tmp_path / "text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = load_corpus(f"text:{tmp_path / 'text.txt'}")
    return corpus, lm_init(len(corpus.vocab), 4, 5, np.random.default_rng(13), dtype=np.float64)


def test_evaluate_mbpa_rows_on_a_small_corpus(tmp_path):
    """evaluate_mbpa: the "model" rows equal perplexity_by_bucket of evaluate() on the same
    targets; since λ_m = 0 and λ_c = 0 are in the grids, validation perplexity with MbPA is at
    most the model's, and with cache + MbPA at most MbPA's (choices made on validation)."""
    from hebbref.experiments.lm import LMConfig
    from hebbref.metrics import frequency_buckets, perplexity_by_bucket

    corpus, params = small_corpus(tmp_path)
    config = LMConfig(eval_batch_size=3, bptt=4, mbpa_tokens=60, mbpa_memory=20)
    result = mbpa.evaluate_mbpa(config, corpus, params, with_cache=True)
    nll, targets = evaluate(params, corpus.valid[:61], batch_size=3, bptt=4)
    expected = perplexity_by_bucket(nll, targets, corpus.train_counts,
                                    corpus.word_to_id["<unk>"], frequency_buckets("default"))
    assert result["model"]["valid"]["overall"]["perplexity"] == pytest.approx(
        expected["overall"]["perplexity"], rel=1e-12)
    overall = {key: result[key]["valid"]["overall"]["perplexity"]
               for key in ("model", "mbpa", "cache", "cache_mbpa")}
    assert overall["mbpa"] <= overall["model"] * (1 + 1e-12)
    assert overall["cache_mbpa"] <= overall["mbpa"] * (1 + 1e-12)
    assert result["tokens_per_second"]["test"]["points"] == 1


def test_evaluate_mbpa_on_the_plain_path(tmp_path):
    """docs/MATH.md §6.5: config.reference = True (the model's plain twins,
    adapted_logits_reference, the one-step cache reference) chooses the same (K, S, α, β, ε, λ_m, W, θ_c, λ_c) as the fast path and
    gives every row's overall perplexity to relative 1e-9 (float64 model)."""
    from hebbref.experiments.lm import LMConfig

    corpus, params = small_corpus(tmp_path)
    config = LMConfig(eval_batch_size=2, bptt=5, mbpa_tokens=30, mbpa_memory=8)
    points = ((4, 2, 1.0, 0.1, 1e-3), (2, 1, 0.3, 0.0, 1e-3))
    fast, plain = (mbpa.evaluate_mbpa(dataclasses.replace(config, reference=reference), corpus,
                                      params, with_cache=True, points=points)
                   for reference in (False, True))
    assert plain["chosen"] == fast["chosen"]
    for row in ("model", "mbpa", "cache", "cache_mbpa"):
        for split in ("valid", "test"):
            assert plain[row][split]["overall"]["perplexity"] == pytest.approx(
                fast[row][split]["overall"]["perplexity"], rel=1e-9, abs=0)

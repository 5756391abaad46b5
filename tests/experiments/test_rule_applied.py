"""The Hebbian rule is really applied inside the language-model experiment (docs/MATH.md §5, §10).

A tiny `run` with the Hebbian softmax against the same run with the plain softmax (same seed,
same data): the saved counts advance by the training targets, the final θ differs from the
baseline's, and after one step every parameter but θ (the bias included) is bit-identical to the
baseline's, θ differing on exactly the rows of the classes in the batch."""
import os

import numpy as np
import pytest

from hebbref.checkpoint import load_checkpoint
from hebbref.experiments.lm import LMConfig, run

BATCH, BPTT = 4, 5


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    """About 4,000 tokens over 60 words, word k about 1/(k+1) as frequent as word 0."""
    rng = np.random.default_rng(1)
    p = 1.0 / np.arange(1, 61)
    ids = rng.choice(60, size=(500, 8), p=p / p.sum())
    path = tmp_path_factory.mktemp("text") / "words.txt"
    path.write_text("\n".join(" ".join(f"v{k}" for k in line) for line in ids) + "\n",
                    encoding="utf-8")
    return path


def trained(text_file, out, *, hebbian, steps):
    """Parameters and Hebbian counts (None for the plain softmax) after `steps` training steps."""
    config = LMConfig(corpus=f"text:{text_file}", hebbian=hebbian, gamma=0.1, T=20.0,
                      embed_size=6, hidden=5, batch_size=BATCH, bptt=BPTT, max_steps=steps,
                      optimizer="sgd", lr=0.5, eval_tokens=100, curve_every=1000,
                      curve_tokens=100, checkpoint_every=1000, seed=3, out=str(out))
    run(config, progress=False)
    groups, _ = load_checkpoint(os.path.join(out, "checkpoint.npz"))
    counts = groups["hebbian"]["counts"] if hebbian else None
    return groups["params"], counts


def test_one_step_writes_theta_rows_of_the_batch_and_nothing_else(text_file, tmp_path):
    params, counts = trained(text_file, tmp_path / "hebbian", hebbian=True, steps=1)
    baseline, _ = trained(text_file, tmp_path / "plain", hebbian=False, steps=1)
    seen = counts > 1
    assert counts.sum() - counts.size == BATCH * BPTT, "counts did not advance by the targets"
    changed = np.any(params["softmax.theta"] != baseline["softmax.theta"], axis=1)
    # Every class starts at c = 1, so λ = 1 and θ[i] = ĥ_i on every class of the batch (P2).
    np.testing.assert_array_equal(changed, seen)
    assert params.keys() == baseline.keys()
    for name in params:
        if name != "softmax.theta":
            np.testing.assert_array_equal(params[name], baseline[name], err_msg=name)


def test_several_steps_advance_counts_and_move_theta_away_from_the_baseline(text_file, tmp_path):
    steps = 6
    params, counts = trained(text_file, tmp_path / "hebbian", hebbian=True, steps=steps)
    baseline, _ = trained(text_file, tmp_path / "plain", hebbian=False, steps=steps)
    assert counts.min() >= 1 and counts.sum() - counts.size == steps * BATCH * BPTT
    assert not np.array_equal(params["softmax.theta"], baseline["softmax.theta"])

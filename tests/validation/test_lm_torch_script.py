"""validation/lm_torch.py and its PyTorch side (validation/lm_torch_side.py): the torch rule
against hebbref's reference, one torch training run against hebbref's steps, old results files,
the agreement table, and the exit without torch."""
import json
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "validation"))
import lm_torch  # noqa: E402
import lm_torch_side  # noqa: E402

from hebbref.data.batching import batchify, bptt_segments  # noqa: E402
from hebbref.experiments.lm_train import LMConfig, init_state, lm_train_step  # noqa: E402
from hebbref.hebbian import hebbian_update_reference  # noqa: E402


@pytest.mark.parametrize("write_scale, write_gain", [("none", 1.0), ("centred", 1.0),
                                                     ("none", 0.5)])
def test_torch_hebbian_equals_the_reference(torch, write_scale, write_gain):
    rng = np.random.default_rng(1)
    V, H, N = 12, 5, 30
    theta = rng.normal(size=(V, H)).astype(np.float32)
    counts = rng.integers(1, 8, size=V).astype(np.int64)
    h = rng.normal(1.0, 1.0, size=(N, H)).astype(np.float32)   # a common component to centre
    y = rng.integers(0, V // 2, size=N)                          # repeats; half the classes absent
    theta_t, counts_t = torch.from_numpy(theta.copy()), torch.from_numpy(counts.copy())
    hebbian_update_reference(theta, counts, h, y, gamma=0.2, T=5, write_scale=write_scale,
                             write_gain=write_gain)
    lm_torch_side.torch_hebbian(theta_t, counts_t, torch.from_numpy(h), torch.from_numpy(y),
                                0.2, 5, write_scale, write_gain)
    np.testing.assert_allclose(theta_t.numpy(), theta, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(counts_t.numpy(), counts)


def test_torch_hebbian_refuses_other_write_scales(torch):
    with pytest.raises(ValueError, match="write_scale"):
        lm_torch_side.torch_hebbian(torch.zeros(3, 2), torch.ones(3, dtype=torch.long),
                                    torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), 0.1, 5,
                                    "row_norm")


@pytest.mark.parametrize("write_scale", ["none", "centred"])
def test_torch_sgd_with_frozen_bias_hh_trains_hebbref_steps(torch, write_scale):
    """With hebbref's weights copied in and b_hh frozen, torch's SGD steps, clip and rule are
    hebbref's: the weights after three steps agree to float32 rounding."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(2)
    V, E, H, B, bptt, steps = 40, 6, 7, 4, 5, 3
    corpus = SimpleNamespace(train=rng.integers(0, V, size=B * bptt * steps + B),
                             vocab=[f"w{i}" for i in range(V)])
    settings = dict(optimizer="sgd", lr=2.0, clip=0.25, gamma=0.1, T=100.0, lam_rule="paper",
                    write_scale=write_scale, write_gain=0.5, prior_count=0.0)
    init = dict(embed_init="normal", softmax_bias_init="uniform", lstm_bias_init="torch")
    config = LMConfig(hebbian=True, seed=3, embed_size=E, hidden=H, batch_size=B, bptt=bptt,
                      **settings, **init).validate()
    state = init_state(config, V)
    segments = bptt_segments(batchify(corpus.train, B), bptt)
    for _, (_, x, y) in zip(range(steps), segments):
        lm_train_step(state, x, y, config)
    model = lm_torch_side.torch_model(V, init, 3, embed_size=E, hidden=H, freeze_bias_hh=True)
    optimizers = lm_torch_side.torch_optimizers(model, "sgd", settings["lr"], sparse=False)
    lm_torch_side.torch_train(model, corpus, True, settings, optimizers, max_steps=steps,
                              batch_size=B, bptt=bptt)
    for name, value in lm_torch_side.torch_params(model).items():
        np.testing.assert_allclose(value, state.params[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_old_results_file_reads_as_seed_0_adam_rows(tmp_path):
    row = {"valid": {}, "test": {}, "init": lm_torch.HEBBREF_INIT, "mechanism": {}}
    legacy = {"protocol": {"settings": lm_torch.SETTINGS, "max_steps": 230, "eval_tokens": 30000,
                           "seed": 0},
              "rows": {"hebbref baseline": row}}
    path = tmp_path / "lm_torch.json"
    path.write_text(json.dumps(legacy), encoding="utf-8")
    results = lm_torch.load_results(str(path), 230, 30000)
    read = results["rows"]["hebbref baseline"]
    assert (read["name"], read["seed"], read["settings"]) == ("hebbref baseline", 0, lm_torch.ADAM)
    assert lm_torch.same_training(read, lm_torch.ROWS["hebbref baseline"])
    assert lm_torch.load_results(str(path), 5, 30000)["rows"] == {}   # another protocol


def fake_row(name, seed, perplexity):
    buckets = [{"name": b, "perplexity": perplexity * (i + 1)}
               for i, b in enumerate(lm_torch.BUCKETS)]
    spec = lm_torch.ROWS[name]
    return {"test": {"overall": {"perplexity": perplexity}, "buckets": buckets},
            "name": name, "seed": seed, "settings": spec["settings"], "init": spec["init"]}


def test_agreement_table_keys_seeds_and_gives_a_verdict():
    hebbref_name, torch_name = lm_torch.PAIRS[2]
    rows = {}
    for seed, (a, b) in enumerate([(500.0, 505.0), (520.0, 512.0), (480.0, 482.0)]):
        rows[lm_torch.row_key(hebbref_name, seed)] = fake_row(hebbref_name, seed, a)
        rows[lm_torch.row_key(torch_name, seed)] = fake_row(torch_name, seed, b)
    stale = fake_row(torch_name, 3, 400.0)
    stale["settings"] = {**stale["settings"], "write_scale": "other"}   # not the same training
    rows[lm_torch.row_key(torch_name, 3)] = stale
    rows[lm_torch.row_key(hebbref_name, 3)] = fake_row(hebbref_name, 3, 500.0)
    for name in (hebbref_name, torch_name):                # both from older defaults
        rows[lm_torch.row_key(name, 4)] = fake_row(name, 4, 300.0)
        rows[lm_torch.row_key(name, 4)]["settings"] = {**stale["settings"]}
    (pair,) = lm_torch.agreement(rows)
    assert pair["seeds"] == [0, 1, 2]
    text = lm_torch.agreement_tables(rows)
    assert "inconclusive: includes 1" in text and "500.0 ± 20.0" in text   # wider than ±1 %
    assert lm_torch.row_key(hebbref_name, 0) == hebbref_name
    assert lm_torch.row_key(hebbref_name, 2) == f"{hebbref_name} (seed 2)"


def test_without_torch_the_script_says_so_and_exits_0(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)        # import torch raises ImportError
    assert lm_torch.main(["--quick"]) == 0
    assert "torch is not installed" in capsys.readouterr().out

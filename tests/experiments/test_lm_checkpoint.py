"""Resuming a language-model run safely: the checkpoint is untrusted
input, a resume continues its own run in its own folder, and the corpus must be the same."""
import json
import math
import os
import shutil
import signal

import numpy as np
import pytest

from hebbref import cli
from hebbref.checkpoint import load_checkpoint, save_checkpoint
from hebbref.experiments import lm
from hebbref.experiments.lm import LMConfig, load_state, run, save_state
from hebbref.record import write_results


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, corpus_file):
    """A 4-step run (max_steps=4, as --quick sets max_steps) with its checkpoint."""
    out = tmp_path_factory.mktemp("saved")
    config = LMConfig(corpus=f"text:{corpus_file}", embed_size=6, hidden=5, batch_size=4,
                      bptt=5, curve_every=3, curve_tokens=200, checkpoint_every=2,
                      eval_tokens=300, max_steps=4, out=str(out), optimizer="adam", lr=0.01)
    run(config, progress=False)
    return out / "checkpoint.npz"


def copy_of(checkpoint, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(checkpoint, folder / "checkpoint.npz")
    return folder / "checkpoint.npz"


def test_cli_resume_continues_in_the_checkpoints_folder(saved_run, tmp_path, monkeypatch,
                                                        capsys):
    """Case 2: `--resume runB/checkpoint.npz` wrote into runs/lm (the default --out), replacing
    another run's files, and a run saved with max_steps=4 resumed without it ran a whole epoch."""
    checkpoint = copy_of(saved_run, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lm", "--resume", str(checkpoint), "--quiet"]) == 0
    assert not (tmp_path / "runs").exists()
    results = json.loads((checkpoint.parent / "results.json").read_text())
    assert results["steps"] == 4 and results["config"]["max_steps"] == 4
    assert str(checkpoint.parent) in capsys.readouterr().out
    assert cli.main(["lm", "--resume", str(checkpoint), "--quiet", "--max-steps", "6"]) == 0
    assert json.loads((checkpoint.parent / "results.json").read_text())["steps"] == 6


@pytest.mark.parametrize("option, value", [("--hidden", "7"), ("--no-hebbian", None),
                                           ("--gamma", "0.5"), ("--lr", "3"),
                                           ("--corpus", "bbc"), ("--optimizer", "sgd")])
def test_cli_resume_refuses_a_contradicting_option(saved_run, tmp_path, capsys, option, value):
    """Case 2: options given with --resume were silently ignored."""
    checkpoint = copy_of(saved_run, tmp_path)
    before = checkpoint.read_bytes()
    argv = ["lm", "--resume", str(checkpoint), "--quiet", option] + ([value] if value else [])
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert "contradicts the checkpoint" in error and option.strip("-").split("-")[-1] in error
    assert checkpoint.read_bytes() == before


def test_resume_on_a_changed_corpus_is_refused(tmp_path, corpus_file, tiny):
    """Case 3: a shrunk corpus file was resumed on with exit 0 and nonsense throughput; the
    relative text: path was also stored as given, so it named another file from another folder."""
    text = tmp_path / "corpus.txt"
    shutil.copy(corpus_file, text)
    run(tiny(tmp_path / "out", corpus=f"text:{text}", max_steps=3), progress=False)
    config, _ = load_state(tmp_path / "out" / "checkpoint.npz")
    assert config.corpus == f"text:{text.resolve()}"
    lines = text.read_text().splitlines()
    text.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    with pytest.raises(ValueError, match="different corpus"):
        run(resume=tmp_path / "out" / "checkpoint.npz", progress=False)


def rewrite(checkpoint, change):
    """Apply change(groups, meta) to a saved checkpoint, in place."""
    groups, meta = load_checkpoint(checkpoint)
    change(groups, meta)
    save_checkpoint(checkpoint, groups, meta)


def set_meta(key, value):
    return lambda groups, meta: meta.__setitem__(key, value)


def set_config(key, value):
    return lambda groups, meta: meta["config"].__setitem__(key, value)


def set_counts(value):
    return lambda groups, meta: groups["hebbian"].__setitem__(
        "counts", np.full_like(groups["hebbian"]["counts"], value))


@pytest.mark.parametrize("change, message", [
    (set_meta("step", -100), "step must be >= 0"),
    (set_meta("step", 1.5), "step must be an int"),
    (set_meta("position", -5), "position must be >= 0"),
    (set_meta("rng", {"bit_generator": "test"}), "bit_generator"),
    (set_meta("curve", [[1, 2]]), "curve"),
    (set_config("hidden", 9), r"must be float32 of shape \(4, 9\)"),
    (set_config("hebbian", False), "hebbian/counts is not expected"),
    (set_config("dropout", "x"), "dropout must be a real number"),
    (set_config("surprise", 1), "unexpected keyword"),
    (lambda groups, meta: meta.pop("rng"), "missing 'rng'"),
    (lambda groups, meta: groups.pop("lstm_state"), "lstm_state/c0 is missing"),
    (lambda groups, meta: groups["optimizer"].pop("m/lstm1.Wx"), "optimizer/m/lstm1.Wx is missing"),
    (lambda groups, meta: groups["optimizer"].pop("v/embed.E"), "optimizer/v/embed.E is missing"),
    (lambda groups, meta: groups["optimizer"].pop("step/lstm1.b"), "step/lstm1.b is missing"),
    (lambda groups, meta: groups["optimizer"].__setitem__("step/lstm1.b", 5),
     "optimizer/step/lstm1.b is 5, the checkpoint's step 4"),
    (lambda groups, meta: groups["optimizer"]["m/lstm1.Wx"].__setitem__((0, 0), np.nan),
     "optimizer/m/lstm1.Wx holds NaN"),
    (lambda groups, meta: groups["optimizer"]["v/lstm1.b"].__setitem__(0, -1.0),
     "optimizer/v/lstm1.b holds NaN, Inf or a negative value"),
    (lambda groups, meta: groups["optimizer"].__setitem__(
        "m/embed.E", groups["optimizer"]["m/embed.E"].astype(np.float64)),
     "optimizer/m/embed.E must be float32"),
    (lambda groups, meta: meta["rng"]["state"].__setitem__("inc", 3.0), "rng state.inc"),
    (set_meta("rng", {"bit_generator": "MT19937", "state": {"key": [0] * 624, "pos": 700},
                      "has_uint32": 0, "uinteger": 0}), "PCG64"),
    (set_counts(2**63 - 10), r"counts must lie in \[1, 2\*\*62\]"),
    (set_counts(0), "counts must lie in"),
    (set_meta("corpus", {"vocab_size": 10}), "corpus must record"),
])
def test_malformed_checkpoint_fields_are_named(saved_run, tmp_path, change, message):
    """Case 4 (and case 8's int64 counts): missing fields raised KeyError/AttributeError, and
    bad steps, positions, configs that do not match the arrays, or counts about to wrap int64
    in the fast Hebbian path were accepted silently."""
    checkpoint = copy_of(saved_run, tmp_path)
    rewrite(checkpoint, change)
    with pytest.raises(ValueError, match=message):
        load_state(checkpoint)


def test_checkpoint_without_corpus_identity_is_refused(saved_run, tmp_path):
    """Without the corpus identity the corpus cannot be checked, and hebbref always writes it."""
    checkpoint = copy_of(saved_run, tmp_path)
    rewrite(checkpoint, lambda groups, meta: meta.pop("corpus"))
    with pytest.raises(ValueError, match="corpus must record"):
        load_state(checkpoint)


@pytest.mark.parametrize("edit", ["reorder training lines", "swap words in valid and test"])
def test_resume_on_a_corpus_with_the_same_counts_is_refused(tmp_path, corpus_file, tiny, edit):
    """Reordered training lines, or valid/test words swapped for others of the vocabulary,
    keep every count; the hash of each split's token stream still changes."""
    text = tmp_path / "corpus.txt"
    shutil.copy(corpus_file, text)
    run(tiny(tmp_path / "out", corpus=f"text:{text}", max_steps=3), progress=False)
    lines = text.read_text().splitlines()
    if edit == "reorder training lines":
        lines[:10] = lines[:10][::-1]
    else:
        lines[-5:] = [line.replace("w0", "w1") for line in lines[-5:]]
    text.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="different corpus: its sha256"):
        run(resume=tmp_path / "out" / "checkpoint.npz", progress=False)


@pytest.mark.parametrize("step, position", [(4, 10**6), (3, 4), (10**6, 4)])
def test_inconsistent_position_is_refused(saved_run, tmp_path, step, position):
    """Case 4: position 10⁶ (past the epoch) or a step that does not match it."""
    checkpoint = copy_of(saved_run, tmp_path)
    rewrite(checkpoint, lambda groups, meta: meta.update(step=step, position=position))
    with pytest.raises(ValueError, match="inconsistent"):
        run(resume=checkpoint, progress=False)


def test_each_optimizer_has_its_own_default_lr():
    """Case 8: --optimizer adam kept SGD's lr of 20 (perplexity ~10⁴⁷, exit 0)."""
    assert LMConfig().validate().lr == 20.0
    assert LMConfig(optimizer="adam").validate().lr == 2e-3
    assert LMConfig(optimizer="adam", lr=0.1).validate().lr == 0.1


@pytest.mark.parametrize("field, value", [("max_steps", -5), ("eval_tokens", -1500),
                                          ("curve_tokens", 0), ("clip", -1.0), ("seed", -1),
                                          ("lr", math.inf), ("optimizer", "lbfgs"),
                                          ("hebbian", "yes")])
def test_every_number_is_checked(field, value):
    """Case 8: --max-steps -5 and --eval-tokens -1500 were accepted."""
    with pytest.raises((ValueError, TypeError), match=field):
        LMConfig(**{field: value}).validate()


def test_progress_perplexity_of_a_huge_loss_does_not_overflow():
    """Case 8: --lr 1e30 crashed in the progress bar's math.exp."""
    assert lm._perplexity(1e30) == math.inf
    assert lm._perplexity(np.log(50.0)) == pytest.approx(50.0)


def test_later_stop_signals_are_ignored_until_results_are_written(tmp_path, tiny, monkeypatch,
                                                                   capsys):
    """A SIGTERM during training, then a Ctrl-C while the results are written: the second used
    to kill the process by its default action (exit code 130, no results.json). Now it is
    ignored, the results say SIGTERM, and the exit code is SIGTERM's, 128 + 15."""
    def first_signal_at_save(path, config, state):
        if state.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        save_state(path, config, state)

    def second_signal_at_write(path, results):
        os.kill(os.getpid(), signal.SIGINT)
        write_results(path, results)

    monkeypatch.setattr(lm, "save_state", first_signal_at_save)
    monkeypatch.setattr(lm, "write_results", second_signal_at_write)
    config = tiny(tmp_path / "out", max_steps=50)
    monkeypatch.setattr(cli, "lm_config", lambda args: config)
    assert cli.main(["lm", "--quiet"]) == 128 + signal.SIGTERM
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["status"] == "interrupted" and results["signal"] == "SIGTERM"
    assert load_state(tmp_path / "out" / "checkpoint.npz")[1].step == results["steps"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_checkpoint_from_before_lr_schedule_loads_at_a_constant_lr(saved_run, tmp_path):
    """A checkpoint written before the lr schedule existed trained at a constant lr, so it loads
    as "constant" (not as today's default, which would silently change the run); any other
    missing option is still refused by name."""
    checkpoint = copy_of(saved_run, tmp_path)
    rewrite(checkpoint, lambda groups, meta: meta["config"].pop("lr_schedule"))
    config, _ = load_state(checkpoint)
    assert config.lr_schedule == "constant" != LMConfig().lr_schedule
    rewrite(checkpoint, lambda groups, meta: meta["config"].pop("clip"))
    with pytest.raises(ValueError, match=r"config lacks \['clip'\]"):
        load_state(checkpoint)

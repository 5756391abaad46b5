"""The `hebbref` command line: every option states its default, --version, --config reruns,
and clean one-line errors."""
import argparse
import errno
import importlib.metadata
import json
import os

import pytest

from hebbref import cli


def _subcommand_parsers():
    parser = cli.build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


@pytest.mark.parametrize("name", sorted(_subcommand_parsers()))
def test_every_option_shows_its_default(name):
    """`hebbref NAME --help` gives each option a help text that states the default."""
    parser = _subcommand_parsers()[name]
    text = parser.format_help()
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    for action in options:
        assert action.help, f"hebbref {name} {action.option_strings[0]} has no help text"
        shown = parser._get_formatter()._expand_help(action)  # the text --help prints
        assert "default" in shown, f"hebbref {name} {action.option_strings[0]}: {shown!r}"
        assert shown.split()[0] in text
    assert f"usage: hebbref {name}" in text


def test_every_subcommand_is_listed_in_the_top_level_help():
    text = cli.build_parser().format_help()
    for name in ("gradcheck", "explain", "demo", "curriculum", "lm"):
        assert name in text


def test_version_comes_from_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hebbref {importlib.metadata.version('hebbref')}"


def lm_argv(corpus_file, out, *extra):
    return ["lm", "--corpus", f"text:{corpus_file}", "--hidden", "5", "--embed-size", "6",
            "--batch-size", "4", "--bptt", "5", "--max-steps", "4", "--eval-tokens", "300",
            "--optimizer", "adam", "--T", "inf", "--out", str(out), "--quiet", *extra]


def test_config_reruns_a_run_exactly(corpus_file, tmp_path):
    """--config results.json reruns the saved config (T = ∞ included) into a new --out."""
    assert cli.main(lm_argv(corpus_file, tmp_path / "a")) == 0
    first = json.loads((tmp_path / "a" / "results.json").read_text())
    assert first["config"]["T"] == "inf" and first["config"]["lr"] == 2e-3
    assert cli.main(["lm", "--config", str(tmp_path / "a" / "results.json"),
                     "--out", str(tmp_path / "b"), "--quiet"]) == 0
    again = json.loads((tmp_path / "b" / "results.json").read_text())
    assert {**first["config"], "out": None} == {**again["config"], "out": None}
    assert first["test"] == again["test"] and first["curve"] == again["curve"]


def test_out_that_is_a_file_fails_before_any_work(tmp_path, monkeypatch, capsys):
    """A bad --out fails before the curriculum trains both models."""
    from hebbref.experiments import curriculum

    def work(*args, **kwargs):
        raise AssertionError("work started before --out was checked")

    monkeypatch.setattr(curriculum, "prepare_data", work)
    (tmp_path / "taken").write_text("a file")
    assert cli.main(["curriculum", "--out", str(tmp_path / "taken"), "--quiet"]) == 2
    assert "is a file, expected a folder" in capsys.readouterr().err


def test_os_error_is_one_line_naming_the_path(corpus_file, tmp_path, monkeypatch, capsys):
    """A full disk is one line, not a traceback; the last checkpoint survives."""
    from hebbref.experiments import lm

    def disk_full(path, results):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(lm, "write_results", disk_full)
    assert cli.main(lm_argv(corpus_file, tmp_path)) == 1
    error = capsys.readouterr().err.strip()
    assert error == (f"hebbref lm: error: {tmp_path / 'results.json'}: "
                     f"{os.strerror(errno.ENOSPC)}")
    assert lm.load_state(tmp_path / "checkpoint.npz")[1].step == 4


def test_ctrl_c_outside_training_is_a_clean_exit(tmp_path, monkeypatch, capsys):
    """Ctrl-C while the corpus loads exits without a traceback."""
    from hebbref.experiments import lm

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lm, "load_corpus", interrupted)
    assert cli.main(["lm", "--quiet", "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "hebbref lm: interrupted"


def test_config_file_restores_tuples_and_infinity(tmp_path):
    """A curriculum results.json gives back the config it was run with (out aside)."""
    import dataclasses

    from hebbref.experiments.curriculum import CurriculumConfig
    from hebbref.record import write_results

    config = CurriculumConfig(T=float("inf"), hidden_sizes=(32, 16), out="runs/x")
    write_results(tmp_path / "results.json", {"config": dataclasses.asdict(config)})
    fields = cli.config_file_fields(str(tmp_path / "results.json"), CurriculumConfig)
    assert CurriculumConfig(**fields, out="runs/x") == config
    (tmp_path / "other.json").write_text('{"config": {"surprise": 1}}')
    with pytest.raises(ValueError, match="surprise"):
        cli.config_file_fields(str(tmp_path / "other.json"), CurriculumConfig)


def _curriculum_config(monkeypatch, *argv):
    """The CurriculumConfig `hebbref curriculum ARGV` would run (curriculum.run not called)."""
    from hebbref.experiments import curriculum

    seen = []

    def record(config, progress=True):
        seen.append(config)
        raise KeyboardInterrupt   # stop before any work; the CLI turns it into exit code 130

    monkeypatch.setattr(curriculum, "run", record)
    assert cli.main(["curriculum", *argv]) == 130
    return seen[0]


def test_dataset_digits_alone_runs_the_readme_digits_protocol(monkeypatch, tmp_path):
    """README, Reproductions: the digits curriculum has 10 classes, one new every 60 steps,
    batch 4, MLP 256-128, every step evaluated. `--dataset digits` alone must give it; a typed
    option still overrides its part of the protocol, and kanji keeps its own defaults."""
    out = str(tmp_path / "run")
    config = _curriculum_config(monkeypatch, "--dataset", "digits", "--out", out)
    assert (config.classes, config.add_every, config.add_count, config.batch_size,
            config.hidden_sizes, config.eval_every) == (10, 60, 1, 4, (256, 128), 1)
    assert config.initial_classes < config.classes, "every class present at step 0"
    typed = _curriculum_config(monkeypatch, "--dataset", "digits", "--batch-size", "8",
                               "--out", out)
    assert (typed.batch_size, typed.add_every) == (8, 60)
    from hebbref.experiments.curriculum import CurriculumConfig

    kanji = _curriculum_config(monkeypatch, "--out", out)
    assert kanji == CurriculumConfig(out=out)


@pytest.mark.parametrize("argv, flags", [
    (["--dataset", "digits", "--classes", "12"], ["--classes", "--dataset"]),
    (["--classes", "5", "--initial-classes", "6"], ["--initial-classes", "--classes"]),
    (["--batch-size", "0"], ["--batch-size"]),
])
def test_curriculum_errors_name_the_flag_before_any_folder(tmp_path, capsys, argv, flags):
    """A bad option is reported by its flag (not the config field or a loader's argument), on
    one line, and no output folder is made."""
    out = tmp_path / "run"
    assert cli.main(["curriculum", *argv, "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    error = captured.err.strip()
    assert error.startswith("hebbref curriculum: error: ") and "\n" not in error
    for name in flags:
        assert name in error, error
    assert "num_classes" not in error and "initial_classes" not in error
    assert not out.exists()


def test_explain_help_and_readme_describe_what_explain_prints(capsys):
    """`hebbref --help` and the README's command table give the number of updates that
    `hebbref explain` actually walks through (one per batch it prints)."""
    from pathlib import Path

    from hebbref import explain

    assert explain.main([]) == 0
    batches = capsys.readouterr().out.count("\nBatch ")
    words = {2: "two", 3: "three", 4: "four"}[batches]
    top = cli.build_parser().format_help()
    assert f"{words} Hebbian updates" in " ".join(top.split())
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if line.startswith("| `hebbref explain`")]
    assert f"{words} Hebbian updates" in row, row


def test_lm_prior_count_reaches_the_rule_and_a_negative_one_is_refused(corpus_file, tmp_path,
                                                                        capsys):
    """--prior-count k becomes LMConfig.prior_count and the rule's (docs/MATH.md §5.7); k < 0
    is a one-line error naming prior_count, before any output folder is made."""
    args = cli.build_parser().parse_args(lm_argv(corpus_file, tmp_path / "a", "--prior-count", "2"))
    config = cli.lm_config(args)
    assert config.prior_count == 2.0 and config.hebbian_config().prior_count == 2.0
    out = tmp_path / "b"
    assert cli.main(lm_argv(corpus_file, out, "--prior-count", "-1")) == 2
    error = capsys.readouterr().err.strip()
    assert "prior_count" in error and "\n" not in error
    assert not out.exists()

"""The `hebbref` command line: every option of every subcommand says what its default is."""
import argparse

import pytest

from hebbref import bench, cli


def _subcommand_parsers():
    parser = cli.build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    parsers = dict(commands.choices)
    parsers["bench"] = bench.build_parser()  # `hebbref bench` hands its arguments to bench.main
    return parsers


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
    for name in ("gradcheck", "bench", "explain", "demo", "curriculum", "lm"):
        assert name in text

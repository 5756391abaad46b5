"""Fuzzing hebbref's untrusted inputs field by field (the strategies and the property:
fuzz_cases.py). A small example count here; validation/fuzz.py runs the same at a large one."""
import os
import shutil

import pytest
from fuzz_cases import (Base, check_checkpoint, check_cli_resume, check_config, check_dataset,
                        config_mutations, npz_dataset, npz_mutations, tiny_checkpoint)
from hypothesis import HealthCheck, given, settings

from hebbref.experiments.curriculum import demo_config
from hebbref.experiments.lm import quick_config

EXAMPLES = int(os.environ.get("HEBBREF_FUZZ_EXAMPLES", "40"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, corpus_file):
    return tiny_checkpoint(tmp_path_factory.mktemp("fuzz_run"), corpus_file)


def test_checkpoint_field_by_field(checkpoint, tmp_path):
    """A mutated checkpoint either fails in one line naming the field, or loads to exactly what
    it holds (saved again: the same arrays and metadata) and trains a step: never a traceback
    of another type, a crash, a hang or a silent change (a re-zeroed buffer)."""
    outcomes = []

    @fuzz
    @given(npz_mutations(Base(checkpoint)))
    def case(mutation):
        names, mutate = mutation
        path = str(tmp_path / "checkpoint.npz")
        mutate(path)
        outcomes.append(check_checkpoint(path, names))

    case()
    assert "refused" in outcomes


@pytest.mark.parametrize("config", [quick_config(), demo_config()], ids=["lm", "curriculum"])
def test_config_option_by_option(config, tmp_path):
    """A mutated --config either fails in one line naming the option or keeps its value."""
    config_class = type(config)

    @fuzz
    @given(config_mutations(config))
    def case(mutation):
        names, mutate = mutation
        path = tmp_path / "results.json"
        mutate(path)
        check_config(path, names, config_class)

    case()


def test_npz_dataset_array_by_array(tmp_path):
    """A mutated npz dataset either fails in one line naming the array, or gives images in
    [0, 1] with valid labels and drawers."""
    base = Base(npz_dataset(tmp_path / "base.npz"))

    @fuzz
    @given(npz_mutations(base))
    def case(mutation):
        names, mutate = mutation
        path = tmp_path / "d.npz"
        mutate(path)
        check_dataset(path, names)

    case()


def test_the_unmutated_files_are_read(checkpoint, tmp_path):
    """The property's other side: the files the strategies start from are read."""
    shutil.copy(checkpoint, tmp_path / "ck.npz")
    assert check_checkpoint(str(tmp_path / "ck.npz"), []) == "read"
    assert check_dataset(npz_dataset(tmp_path / "d.npz"), []) == "read"


def test_cli_resume_of_a_mutated_checkpoint(checkpoint, tmp_path, capsys):
    """The command line over the same cases: exit 0, or 1 or 2 with one line on stderr."""
    folder = tmp_path / "run"

    @settings(fuzz, max_examples=max(EXAMPLES // 6, 3))
    @given(npz_mutations(Base(checkpoint)))
    def case(mutation):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        names, mutate = mutation
        mutate(str(folder / "checkpoint.npz"))
        check_cli_resume(folder / "checkpoint.npz", names, capsys)

    case()

"""Hypothesis profiles, the `torch` fixture of the parity tests, and a small text corpus shared
by the CLI and language-model tests.

The default Hypothesis profile draws the same examples on every run (derandomize), so a
CI result can be reproduced exactly; HEBBREF_HYPOTHESIS=explore draws fresh random examples
on every run, to hunt for new counterexamples during development."""
import os

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("default", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HEBBREF_HYPOTHESIS", "default"))


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the gold implementation of the parity tests (tests/torch_gold.py)."""
    return pytest.importorskip("torch", reason="torch is an optional extra (pip install -e "
                                               "'.[torch]'); CI installs it")


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """A small Zipfian text: 600 lines of words drawn from a 150-word vocabulary."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(150)]
    p = 1.0 / np.arange(1, 151)
    lines = [" ".join(rng.choice(words, size=rng.integers(3, 12), p=p / p.sum()))
             for _ in range(600)]
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

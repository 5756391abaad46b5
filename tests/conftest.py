"""Hypothesis profiles, and the `torch` fixture of the parity tests.

The default profile draws the same examples on every run (derandomize), so a CI result can be
reproduced exactly; HEBBREF_HYPOTHESIS=explore draws fresh random examples
on every run, to hunt for new counterexamples during development."""
import os

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

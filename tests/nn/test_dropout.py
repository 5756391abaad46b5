"""Inverted dropout (hebbref/nn/dropout.py) against central finite differences in float64."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=small, D=small, p=st.sampled_from([0.0, 0.2, 0.5]))
def test_dropout_gradients(seed, N, D, p):
    rows = gradcheck.check_dropout(np.random.default_rng(seed), N, D, p)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)

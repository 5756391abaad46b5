"""Dense layer (hebbref/nn/linear.py) against central finite differences in float64 (METHOD §1),
at hypothesis-drawn shapes that include batch 1."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=small, D=small, M=small)
def test_linear_gradients(seed, N, D, M):
    rows = gradcheck.check_linear(np.random.default_rng(seed), N, D, M)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)

"""Element-wise non-linearities (hebbref/nn/activations.py) against central finite differences
in float64."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=small, D=small)
def test_activation_gradients(seed, N, D):
    rows = gradcheck.check_activations(np.random.default_rng(seed), N, D)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)

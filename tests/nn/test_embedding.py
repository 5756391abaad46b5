"""Embedding lookup and its sparse gradient (hebbref/nn/embedding.py) against central finite
differences in float64, with repeated ids (V as small as 1)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=small, N=small, V=st.integers(1, 6), E=small)
def test_embedding_gradients(seed, T, N, V, E):
    rows = gradcheck.check_embedding(np.random.default_rng(seed), T, N, V, E)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)

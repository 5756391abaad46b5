"""LSTM sequence forward/backward (hebbref/nn/lstm.py) against central finite differences in
float64, at shapes that include sequence length 1 and hidden size 1."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=small, N=small, D=small, H=small)
def test_lstm_gradients(seed, T, N, D, H):
    rows = gradcheck.check_lstm(np.random.default_rng(seed), T, N, D, H)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)

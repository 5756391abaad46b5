"""The LSTM language model as a whole (hebbref/models/lm.py): the loss gradient of every
parameter against central finite differences in float64, through several BPTT segments that
carry the detached state (METHOD §1, §6)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck

small = st.integers(1, 4)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 3), N=st.integers(1, 3),
       V=st.integers(1, 6), E=small, H=st.integers(1, 3), num_layers=st.integers(1, 2))
def test_lm_gradients_through_carried_bptt_segments(seed, T, N, V, E, H, num_layers):
    rows = gradcheck.check_lm(np.random.default_rng(seed), 3, T, N, V, E, H, num_layers)
    assert {layer for layer, _, _ in rows} == {f"model: lm segment {s}/3" for s in (1, 2, 3)}
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)

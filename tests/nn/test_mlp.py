"""MLP feature extractor (hebbref/nn/mlp.py) against central finite differences in float64,
for every activation."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=small, sizes=st.lists(small, min_size=2, max_size=4),
       activation=st.sampled_from(["relu", "tanh", "sigmoid", "linear"]))
def test_mlp_gradients(seed, N, sizes, activation):
    rng = np.random.default_rng(seed)
    rows = gradcheck.check_mlp(rng, N, tuple(sizes), activation)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)

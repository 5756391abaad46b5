"""The MLP classifier as a whole (hebbref/models/classifier.py): the loss gradient of every
parameter against central finite differences in float64 (METHOD §1, §5)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=small, D=small,
       hidden=st.lists(small, min_size=1, max_size=3), V=st.integers(1, 5),
       activation=st.sampled_from(["relu", "tanh", "linear"]))
def test_classifier_gradients(seed, N, D, hidden, V, activation):
    rng = np.random.default_rng(seed)
    rows = gradcheck.check_classifier(rng, N, D, tuple(hidden), V, activation)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)

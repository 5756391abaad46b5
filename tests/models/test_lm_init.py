"""Initialisation options of models.lm.lm_init (docs/MATH.md §2.9, a choice the paper leaves open).

Each option is checked against the distribution its docstring states, with bounds and moments
that a wrong distribution would violate (large V so the sample moments are tight), and every
combination against the layers' own initialisations drawn once each, in the order embedding,
LSTM layers, softmax (same generator, same draws).
"""
import numpy as np
import pytest

from hebbref.models import prefixed
from hebbref.nn.softmax import softmax_init
from hebbref.models.lm import lm_init
from hebbref.nn.lstm import lstm_init

V, E, H = 4000, 16, 9


def init(**options):
    return lm_init(V, E, H, np.random.default_rng(0), dtype=np.float64, **options)


@pytest.mark.parametrize("torch_style", [False, True])
def test_each_array_is_drawn_once_in_layer_order(torch_style):
    """E (U(±0.1) or N(0, 1)), then each LSTM layer's lstm_init draws, then softmax_init's,
    nothing more: the options change a layer's own draws, never the others'."""
    options = (dict(embed_init="normal", lstm_bias_init="torch", softmax_bias_init="uniform")
               if torch_style else {})
    rng = np.random.default_rng(0)
    expected = {"embed.E": rng.standard_normal((V, E)) if torch_style
                else rng.uniform(-0.1, 0.1, (V, E))}
    for layer, input_size in ((1, E), (2, H)):
        expected.update(prefixed(f"lstm{layer}", lstm_init(
            input_size, H, rng, dtype=np.float64,
            bias_init="torch" if torch_style else "forget_one")))
    expected.update(prefixed("softmax", softmax_init(
        H, V, rng, dtype=np.float64, bias_init="uniform" if torch_style else "zero")))
    params = init(num_layers=2, **options)
    assert params.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(params[key], value, err_msg=key)


def test_normal_embedding_is_standard_normal():
    """embed_init="normal": E ~ N(0, 1): mean ≈ 0, std ≈ 1 (64K draws: ±0.02), values beyond
    0.1 (impossible under the default U(±0.1))."""
    embedding = init(embed_init="normal")["embed.E"]
    assert abs(embedding.mean()) < 0.02 and abs(embedding.std() - 1.0) < 0.02
    assert np.abs(init()["embed.E"]).max() <= 0.1 < np.abs(embedding).max()


def test_uniform_softmax_bias_within_one_over_root_h():
    """softmax_bias_init="uniform": b ~ U(±1/√H): inside the bound, std ≈ bound/√3; default 0."""
    bound = 1 / np.sqrt(H)
    b = init(softmax_bias_init="uniform")["softmax.b"]
    assert np.abs(b).max() <= bound and abs(b.std() - bound / np.sqrt(3)) < 0.02 * bound
    assert not init()["softmax.b"].any()


def test_torch_lstm_bias_is_a_sum_of_two_uniforms():
    """lstm_bias_init="torch": b = b_ih + b_hh, each U(±1/√H): |b| <= 2/√H, var = 2·bound²/3
    (checked on a wide layer); default: zero except the forget block = forget_bias."""
    hidden = 2500
    b = lm_init(3, 2, hidden, np.random.default_rng(1), dtype=np.float64,
                lstm_bias_init="torch")["lstm1.b"]
    bound = 1 / np.sqrt(hidden)
    assert np.abs(b).max() <= 2 * bound and abs(b.var() / (2 * bound**2 / 3) - 1) < 0.05
    default = init(forget_bias=1.0)["lstm1.b"]
    np.testing.assert_array_equal(default, np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])


@pytest.mark.parametrize("option", ["embed_init", "softmax_bias_init", "lstm_bias_init"])
def test_unknown_option_raises_naming_it(option):
    with pytest.raises(ValueError, match=option):
        init(**{option: "xavier"})

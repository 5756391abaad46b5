"""tiny(out, **overrides): a language-model config for runs of a few seconds."""
import pytest

from hebbref.experiments.lm import LMConfig


@pytest.fixture
def tiny(corpus_file):
    """tiny(out, **overrides): an LMConfig for a run of a few seconds on corpus_file."""
    def config(out, **overrides):
        settings = dict(corpus=f"text:{corpus_file}", embed_size=6, hidden=5, batch_size=4,
                        bptt=5, curve_every=3, curve_tokens=200, checkpoint_every=2,
                        eval_tokens=300, gamma=0.1, T=20.0, out=str(out), optimizer="adam",
                        lr=0.01)
        return LMConfig(**{**settings, **overrides})
    return config

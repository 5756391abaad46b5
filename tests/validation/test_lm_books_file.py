"""validation/lm_books_file.py at smoke size: the books as one file, split by contiguous blocks,
and each ratio recomputed from the per-seed perplexities it stores."""
import json

import pytest

import common
from validation_scripts import load_script


def test_books_file_study_at_smoke_size(tmp_path, monkeypatch):
    """The file holds every work without licence lines; the baseline and the Hebbian model train
    on its contiguous blocks with the same seed, and every ratio is Hebbian / baseline."""
    script = load_script("lm_books_file")
    monkeypatch.setattr(script, "RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(common, "RESULTS", str(tmp_path))
    monkeypatch.setattr(script, "SIZE", dict(hidden=6, embed_size=6, batch_size=4, bptt=5,
                                             max_steps=4, eval_tokens=400))
    sections = {}
    monkeypatch.setattr(script, "update_readme_section", sections.__setitem__)
    assert script.main(["--seeds", "3", "--jobs", "1"]) == 0
    text = (tmp_path / "runs" / "shakespeare.txt").read_text(encoding="utf-8")
    assert "*** START OF" not in text.upper() and "*** END OF" not in text.upper()
    assert text.startswith("ALL'S WELL THAT ENDS WELL")  # the first work by file name
    results = json.loads((tmp_path / "lm_books_file.json").read_text(encoding="utf-8"))
    assert "contiguous line blocks" in results["corpus"]["source"]
    for cell in (c for c in results["table"].values() if "ratios" in c):  # buckets with targets
        assert cell["ratios"] == pytest.approx([h / b for h, b in zip(cell["hebbian"],
                                                                      cell["baseline"])])
    assert [(r["config"]["seed"], r["config"]["hebbian"]) for r in results["runs"]] == [
        (3, False), (3, True)]
    assert "| overall |" in sections["lm-books-file"]

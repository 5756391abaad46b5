"""validation/report.py: the READMEs' figures match results/*.json, a hand edit is caught, and
the claim rules word each interval as validation/README.md states them."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from validation_scripts import VALIDATION, load_script

ROOT = os.path.dirname(VALIDATION)
report = load_script("report")
common = load_script("common")


def copy_readmes(tmp_path):
    (tmp_path / "validation").mkdir()
    for path in ("README.md", os.path.join("validation", "README.md")):
        shutil.copy(os.path.join(ROOT, path), tmp_path / path)


def test_check_passes_on_the_repository_and_warns_of_unclean_records():
    done = subprocess.run([sys.executable, os.path.join(VALIDATION, "report.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(os.path.join(VALIDATION, "results", "bench.json"), encoding="utf-8") as f:
        dirty = json.load(f)["record"]["git_commit"].endswith("+dirty")
    assert ("warning: bench.json" in done.stderr) == dirty


@pytest.mark.parametrize("path, old, block", [
    ("README.md", "0.404 [0.362, 0.451]", "lm-table"),
    (os.path.join("validation", "README.md"), "| 1 | 0.000 | 0.282 |", "curriculum")])
def test_a_hand_edited_figure_fails_the_check(tmp_path, capsys, path, old, block):
    copy_readmes(tmp_path)
    assert report.main(["--check", "--root", str(tmp_path)]) == 0
    text = (tmp_path / path).read_text(encoding="utf-8")
    assert old in text
    (tmp_path / path).write_text(text.replace(old, old.replace("2", "3"), 1), encoding="utf-8")
    capsys.readouterr()
    assert report.main(["--check", "--root", str(tmp_path)]) == 1
    assert f"block {block} differs" in capsys.readouterr().out


def test_a_missing_block_fails_the_check(tmp_path, capsys):
    copy_readmes(tmp_path)
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    (tmp_path / "README.md").write_text(text.replace("<!-- speed:end -->", ""), encoding="utf-8")
    assert report.main(["--check", "--root", str(tmp_path)]) == 1
    assert "no <!-- speed:start --> ... <!-- speed:end --> block" in capsys.readouterr().out


def test_rendered_ratio_is_the_geometric_mean_of_the_seeds_ratios():
    """Independently of report.py: the <10 bucket's ratio in README.md is exp(mean log) of each
    seed's Hebbian/baseline test perplexity in results/lm.json, rounded once."""
    with open(os.path.join(VALIDATION, "results", "lm.json"), encoding="utf-8") as f:
        runs = json.load(f)["runs"]
    rare = lambda run: next(b for b in run["test"]["buckets"] if b["name"] == "<10")["perplexity"]
    ratios = [rare(h) / rare(b) for h, b in zip(runs["hebbian"], runs["baseline"])]
    value = f"{np.exp(np.mean(np.log(ratios))):.3f}"
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert f"<10 {value} [" in f.read()


@pytest.mark.parametrize("low, high, words", [
    (0.900, 1.094, "inconclusive"),   # includes 1, reaches past the 1 % margin
    (0.995, 1.009, "not worse"),      # includes 1, upper bound within the margin
    (0.879, 0.994, "better"), (1.002, 1.011, "worse")])
def test_ratio_words_follow_the_rules(low, high, words):
    assert common.ratio_verdict(low, high) == words


@pytest.mark.parametrize("low, high, words", [
    (0.00015, 0.011, "ahead"), (-0.0099, 0.0208, "not worse"), (-0.012, 0.02, "inconclusive"),
    (-0.041, -0.020, "behind")])
def test_difference_words_follow_the_rules(low, high, words):
    assert common.difference_verdict(low, high) == words


def test_a_target_is_met_only_when_the_interval_clears_it():
    assert common.target_verdict(0.95, 1.38, 1.0) == "inconclusive"
    assert common.target_verdict(1.20, 1.51, 1.0) == "met"
    assert common.target_verdict(1.07, 1.36, 1.6) == "missed"

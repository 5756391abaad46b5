"""The project's speed targets (validation/bench_targets.json), checked by validation/bench.py
against a benchmark's results, and the README table built from them."""
import json
import os

from validation_scripts import VALIDATION, load_script

RESULTS = os.path.join(VALIDATION, "results", "bench.json")


def validation_bench():
    return load_script("bench")


def test_validation_readme_table_has_every_target(quick):
    """The README table built from a bench JSON has a row per target, marked missed iff missed."""
    data = quick["json"]
    table = validation_bench().markdown(data)
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    # header, BLAS, LM tokens/s, products, phases and products + passes per
    # vocabulary, lowest LM ratio, peak share, peak memory, LSTM, evaluation, MLP, scatter,
    # Hebbian, Hebbian memory; time and memory per large vocabulary
    assert len(rows) == (1 + 1 + 4 * len(data["lm"]["by_vocab"]) + 9
                         + 2 * len(data["large_vocab"]["points"]))
    assert table.count("(missed)") == sum(
        1 for t in validation_bench().evaluate_targets(data) if t["met"] is False)


def test_targets_reproduce_the_committed_results():
    """The targets file, applied to the committed measurements, gives the committed verdicts."""
    with open(RESULTS, encoding="utf-8") as f:
        committed = json.load(f)
    assert validation_bench().evaluate_targets(committed) == committed["targets"]


def test_a_target_is_met_only_on_its_side_of_the_threshold(quick):
    """"min" targets are met at or above the threshold, "max" targets at or below; a missing
    measurement (no torch) is neither."""
    module = validation_bench()
    rows = module.evaluate_targets(quick["json"])
    assert [t["key"] for t in rows] == list(module.measured(quick["json"]))
    for t in rows:
        if t["measured"] is None:
            assert t["met"] is None
        else:
            assert t["met"] == (t["measured"] >= t["threshold"] if t["kind"] == "min"
                                else t["measured"] <= t["threshold"])


def test_large_vocab_only_replaces_that_section_and_keeps_the_rest(quick, tmp_path, monkeypatch):
    """--large-vocab-only --save: section 7 of results/bench.json becomes the new measurement,
    with its own run record and machine, right after "scaling"; every other key, the file's own
    record included, stays as committed."""
    module = validation_bench()
    committed = {"blas": {"n": 1}, "scaling": {"vocab": 1}, "large_vocab": {"old": True},
                 "targets": [], "total_seconds": 5.0, "record": {"git_commit": "abc"}}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(committed))
    monkeypatch.setattr(module, "JSON", str(path))
    merged = module.with_large_vocab(quick["json"], {"git_commit": "def"})
    assert list(merged) == ["blas", "scaling", "large_vocab", "targets", "total_seconds",
                            "record"]
    assert {k: merged[k] for k in committed if k != "large_vocab"} == {
        k: v for k, v in committed.items() if k != "large_vocab"}
    section = merged["large_vocab"]
    assert section["points"] == quick["json"]["large_vocab"]["points"]
    assert section["machine"] == quick["json"]["machine"]
    assert section["record"] == {"git_commit": "def"}

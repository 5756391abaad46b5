"""validation/ab_softmax.py, the committed paired A/B behind the speed figures of issue 16 and
docs/MATH.md §3.3: its smoke runs print one line per contender with the paired ratio."""
import sys

from validation_scripts import load_script


def test_layer_ab_against_a_revision_prints_every_contender(capsys):
    """--rev HEAD against the working tree at a small vocabulary, one extra block height: three
    lines, the first the baseline at ratio 1.000, the others with a 95 % interval."""
    module = load_script("ab_softmax")
    assert module.main(["--rev", "HEAD", "--vocab", "300", "--rounds", "3",
                        "--block-rows", "100"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].strip().startswith("HEAD:")
    assert lines[0].endswith("1.000") and all("[" in line for line in lines[1:])


def test_sgd_ab_times_the_kernel_against_its_twin(capsys):
    module = load_script("ab_softmax")
    assert module.main(["--sgd", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "sgd_step_numpy" in out and "sgd_step (numba)" in out


def test_save_keeps_one_entry_per_command(monkeypatch, tmp_path):
    """--save writes the printed rows under the run's arguments; a rerun of the same command
    replaces its entry, another command adds one (the file the docs' figures come from)."""
    import json

    module = load_script("ab_softmax")
    written = {}

    def fake_write_json(name, data):
        written[name] = data
        (tmp_path / name).write_text(json.dumps(data))

    common = sys.modules["common"]   # validation/common.py, which add_run writes through
    monkeypatch.setattr(common, "RESULTS", str(tmp_path))
    monkeypatch.setattr(common, "write_json", fake_write_json)
    for argv in (["--sgd", "--rounds", "2", "--save"], ["--sgd", "--rounds", "2", "--save"],
                 ["--sgd", "--rounds", "3", "--save"]):
        assert module.main(argv) == 0
    runs = written["ab_softmax.json"]["runs"]
    assert sorted(runs) == ["--sgd --rounds 2 --save", "--sgd --rounds 3 --save"]
    rows = runs["--sgd --rounds 3 --save"]
    assert [r["contender"] for r in rows] == ["sgd_step_numpy (p -= lr * g)", "sgd_step (numba)"]
    assert rows[0]["interval"] is None and rows[0]["time_ratio"] == 1.0
    low, high = rows[1]["interval"]
    assert low <= rows[1]["time_ratio"] <= high


def test_adam_ab_times_the_kernel_against_its_twin_and_a_revision(capsys):
    """--adam --rev 87bc56e (the last revision with kernels.adam_delta): three lines, that
    revision's update first at ratio 1.000, then the twin and the fused kernel."""
    module = load_script("ab_softmax")
    assert module.main(["--adam", "--rev", "87bc56e", "--rounds", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "87bc56e: p -= adam_delta" in lines[0] and lines[0].endswith("1.000")
    assert "adam_step_numpy (twin)" in lines[1] and "adam_step (numba)" in lines[2]

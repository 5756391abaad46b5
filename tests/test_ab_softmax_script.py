"""validation/ab_softmax.py, the committed paired A/B behind the speed figures of issue 16 and
docs/MATH.md §3.3: its smoke runs print one line per contender with the paired ratio."""
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

"""The fuzz suite of tests/fuzz/ at a large example count: mutated checkpoints, --config JSONs
and npz datasets, each case failing in one line naming the field or read exactly.

    python validation/fuzz.py [--examples 2000] [--cli 100] [--seed 0]

The strategies and the property are tests/fuzz/fuzz_cases.py's (its docstring). Prints, for
each input, how many cases were refused and how many read, and stops at the first case that
breaks the property, with that case (unshrunk: shrinking a file's mutation can take hours).
"""
import argparse
import collections
import os
import sys
import tempfile
import time

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests",
                                "fuzz"))
import fuzz_cases  # noqa: E402

from hebbref.experiments.curriculum import demo_config  # noqa: E402
from hebbref.experiments.lm import quick_config  # noqa: E402


class Captured:
    """capsys for check_cli_resume outside pytest: stderr redirected to a file."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "stderr.txt")

    def __enter__(self):
        self.saved, self.file = os.dup(2), open(self.path, "w+")
        sys.stderr.flush()
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.close()

    def readouterr(self):
        sys.stderr.flush()
        self.file.seek(0)
        err = self.file.read()
        self.file.seek(0)
        self.file.truncate()
        return collections.namedtuple("Output", "out err")("", err)


def fuzz(name, strategy, check, examples, rng_seed, counts):
    @seed(rng_seed)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(strategy)
    def case(mutation):
        counts[name][check(*mutation)] += 1

    start = time.perf_counter()
    case()
    print(f"{name}: {dict(counts[name])} in {time.perf_counter() - start:.0f} s", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="cases per input")
    parser.add_argument("--cli", type=int, default=100, help="`hebbref lm --resume` cases")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = collections.defaultdict(collections.Counter)
    with tempfile.TemporaryDirectory() as folder:
        corpus = os.path.join(folder, "text.txt")
        rng = np.random.default_rng(0)
        words, p = [f"w{i}" for i in range(150)], 1.0 / np.arange(1, 151)
        with open(corpus, "w") as f:
            f.writelines(" ".join(rng.choice(words, size=rng.integers(3, 12), p=p / p.sum()))
                         + "\n" for _ in range(600))
        checkpoint = fuzz_cases.tiny_checkpoint(os.path.join(folder, "run"), corpus)
        base = fuzz_cases.Base(checkpoint)
        case_path = os.path.join(folder, "case")

        def at(mutate):
            mutate(case_path)
            return case_path

        fuzz("checkpoint", fuzz_cases.npz_mutations(base),
             lambda names, mutate: fuzz_cases.check_checkpoint(at(mutate), names),
             args.examples, args.seed, counts)
        for config in (quick_config(), demo_config()):
            fuzz(f"--config {type(config).__name__}", fuzz_cases.config_mutations(config),
                 lambda names, mutate, kind=type(config): fuzz_cases.check_config(
                     at(mutate), names, kind), args.examples, args.seed, counts)
        dataset = fuzz_cases.Base(fuzz_cases.npz_dataset(os.path.join(folder, "base.npz")))
        fuzz("npz dataset", fuzz_cases.npz_mutations(dataset),
             lambda names, mutate: fuzz_cases.check_dataset(at(mutate), names),
             args.examples, args.seed, counts)
        resume = os.path.join(folder, "resume", "checkpoint.npz")
        os.makedirs(os.path.dirname(resume))
        with Captured(folder) as capsys:
            fuzz("hebbref lm --resume", fuzz_cases.npz_mutations(base),
                 lambda names, mutate: (mutate(resume), fuzz_cases.check_cli_resume(
                     resume, names, capsys))[1], args.cli, args.seed, counts)
    print(f"total: {sum(sum(c.values()) for c in counts.values())} cases, none broke the "
          f"property")


if __name__ == "__main__":
    main()

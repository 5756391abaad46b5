"""`hebbref lm`'s defaults on books read as one plain text file, as a new user would run them.

    python validation/lm_books_file.py [--seeds 0] [--jobs 2]

Shakespeare's works (the `*_gut.txt` texts of the package `shakespeare`, each without its
Project Gutenberg licence header and footer, in file-name order) are written to one file, and
`hebbref lm --corpus text:FILE --hidden 128 --embed-size 128` trains the baseline and the
Hebbian model with every other option at its default. `text:` splits a file into three
contiguous blocks of lines (80 / 10 / 10 %), so the test text is the last works of the file, not
the held-out works of `--corpus shakespeare`. Each Hebbian / baseline test perplexity ratio,
per frequency bucket and overall, goes to results/lm_books_file.json and the README section
lm-books-file; finished runs in runs/lm_books_file/ are reused.
"""
import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import HERE, update_readme_section, write_json  # noqa: E402
from lm_buckets import train_one  # noqa: E402
from lm_table import summarise, write_label  # noqa: E402

from hebbref.data.corpus_files import shakespeare_works  # noqa: E402
from hebbref.experiments.lm import LMConfig  # noqa: E402
from hebbref.files import atomic_write  # noqa: E402
from hebbref.sweep import run_sweep  # noqa: E402

RUNS = os.path.join(os.path.dirname(HERE), "runs", "lm_books_file")
SIZE = dict(hidden=128, embed_size=128)


def books_file(folder):
    """One text file of every work in file-name order, each without its licence lines; returns
    its path. The works are read as `--corpus shakespeare` reads them."""
    _, works = shakespeare_works()
    lines = [line for work in works.values() for line in work]
    path = os.path.join(folder, "shakespeare.txt")
    os.makedirs(folder, exist_ok=True)
    atomic_write(path, lambda f: f.write("\n".join(lines).encode("utf-8")))
    return path


def config(path, seed, hebbian):
    return dataclasses.replace(LMConfig(**SIZE), corpus=f"text:{path}", seed=seed,
                               hebbian=hebbian, curve_every=10**6, checkpoint_every=10**6,
                               out=os.path.join(RUNS, f"{'hebbian' if hebbian else 'baseline'}"
                                                      f"_s{seed}"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    path = books_file(RUNS)
    configs = [config(path, seed, hebbian) for seed in args.seeds for hebbian in (False, True)]
    done = run_sweep(train_one, configs, jobs=args.jobs)
    table = summarise({"baseline": done[0::2], "hebbian": done[1::2]})["model"]
    defaults = {k: v for k, v in dataclasses.asdict(configs[1]).items()
                if k in ("gamma", "T", "write_scale", "write_gain", "prior_count", "lr_schedule")}
    results = {"seeds": args.seeds, "defaults": defaults, "table": table,
               "corpus": done[0]["corpus"], "runs": done}
    write_json("lm_books_file.json", results)
    text = render(results)
    update_readme_section("lm-books-file", text)
    print(text)
    return 0


def render(results):
    """The README lines: each bucket's test perplexities and ratio per seed (lm_table.summarise's
    model row), and their geometric mean over seeds when there are several."""
    table, d = results["table"], results["defaults"]
    lines = ["| bucket | baseline | Hebbian | Hebbian / baseline |", "|---|---|---|---|"]
    for bucket, cell in table.items():
        if bucket == "<unk>" or "ratios" not in cell:
            continue
        lines.append(f"| {bucket} | " + " | ".join(
            ", ".join(f"{x:,.1f}" for x in cell[k]) for k in ("baseline", "hebbian")) + " | "
            + ", ".join(f"{r:.3f}" for r in cell["ratios"])
            + (f" (geometric mean {cell['ratio']:.3f} [{cell['low']:.3f}, {cell['high']:.3f}])"
               if len(results["seeds"]) > 1 else "") + " |")
    return (f"Shakespeare's works as one `text:` file, `hebbref lm --hidden 128 --embed-size 128` "
            f"with its defaults (lr {d['lr_schedule']}, write {write_label(d)}, "
            f"T = {d['T']:g}), seeds {results['seeds']}; test perplexity "
            f"per seed ({results['corpus']['test_tokens']:,} test tokens):\n\n"
            + "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

"""Shared bits of the validation scripts: JSON output and the generated README sections."""
import json
import os
import re

import numpy as np

try:
    from hebbref.files import atomic_write
    from hebbref.record import write_results
except ModuleNotFoundError as error:  # the scripts run against the installed package
    raise SystemExit(f"validation/ needs hebbref and its dependencies installed ({error}): "
                     "pip install -e . (README, Set up)") from None
from stats import seed_ratio_interval

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def write_json(name, data):
    """results/name as strict JSON with a run record (hebbref.record.write_results)."""
    path = os.path.join(RESULTS, name)
    write_results(path, data)
    return path


def add_run(name, key, rows, **fields):
    """Write results/name as {**fields, "runs": {...}}: the runs the file already holds, with
    `rows` under `key` (a rerun with the same key replaces its entry)."""
    path = os.path.join(RESULTS, name)
    runs = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            runs = json.load(f).get("runs", {})
    runs[key] = rows
    return write_json(name, {**fields, "runs": runs})


def perplexities(seeds, split, i):
    """(S,) perplexity of row i of `split` in each seed's results, the rows being the frequency
    buckets then overall; NaN for a bucket without targets."""
    values = [(s[split]["buckets"] + [s[split]["overall"]])[i]["perplexity"] for s in seeds]
    return np.array([np.nan if p is None else p for p in values])


def ratio_cell(ratios):
    """"r [low, high]": geometric mean of per-seed ratios and stats.seed_ratio_interval, or
    "—" when a seed's ratio is missing."""
    if not np.all(np.isfinite(ratios)):
        return "—"
    return "{:.3f} [{:.3f}, {:.3f}]".format(*seed_ratio_interval(ratios))


def update_readme_section(key, markdown):
    """Replace the text between <!-- key:start --> and <!-- key:end --> in validation/README.md."""
    path = os.path.join(HERE, "README.md")
    text = open(path, encoding="utf-8").read()
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {start} ... {end} section")
    text = pattern.sub(lambda _: f"{start}\n{markdown.strip()}\n{end}", text)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


# The claim rules of validation/README.md ("How claims are worded"), margins fixed in advance.
RATIO_MARGIN = 0.01        # a perplexity ratio is "not worse" when its upper bound is <= 1.01
DIFFERENCE_MARGIN = 0.01   # an accuracy difference is "not worse" when its lower bound is >= -0.01


def ratio_verdict(low, high):
    """Words for a Hebbian/baseline perplexity ratio from its 95 % interval (lower is better)."""
    if high < 1:
        return "better"
    if low > 1:
        return "worse"
    return "not worse" if high <= 1 + RATIO_MARGIN else "inconclusive"


def difference_verdict(low, high):
    """Words for a Hebbian − baseline accuracy difference from its 95 % interval."""
    if low > 0:
        return "ahead"
    if high < 0:
        return "behind"
    return "not worse" if low >= -DIFFERENCE_MARGIN else "inconclusive"


def speed_verdict(low, high):
    """Words for a hebbref/torch speed ratio from its 95 % interval (higher is faster)."""
    return "faster" if low > 1 else "slower" if high < 1 else "inconclusive"


def target_verdict(low, high, target):
    """"met" when the 95 % interval clears the target, "missed" when it lies wholly short of it
    (higher is better), else "inconclusive"."""
    return "met" if low >= target else "missed" if high < target else "inconclusive"


def load(name, cache={}):
    """results/name, read once."""
    if name not in cache:
        with open(os.path.join(RESULTS, name), encoding="utf-8") as f:
            cache[name] = json.load(f)
    return cache[name]


def unclean():
    """The results files whose run record names no clean commit (absent, or "+dirty")."""
    names = sorted(n for n in os.listdir(RESULTS) if n.endswith(".json"))
    commits = {n: load(n).get("record", {}).get("git_commit") for n in names}
    return {n: c or "no run record" for n, c in commits.items() if not c or c.endswith("+dirty")}

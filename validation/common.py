"""Shared bits of the validation scripts: JSON output and the generated README sections."""
import json
import os
import re

import numpy as np

from hebbref.files import atomic_write
from hebbref.record import write_results
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

"""Shared bits of the validation scripts: JSON output and the generated README sections."""
import os
import re

from hebbref.files import atomic_write
from hebbref.record import write_results

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def write_json(name, data):
    """results/name as strict JSON with a run record (hebbref.record.write_results)."""
    path = os.path.join(RESULTS, name)
    write_results(path, data)
    return path


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

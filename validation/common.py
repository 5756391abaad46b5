"""Shared bits of the validation scripts: JSON output and the generated README sections."""
import json
import os
import re

from hebbref.files import atomic_write

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def write_json(name, data):
    path = os.path.join(RESULTS, name)
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=1, default=float).encode()))
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

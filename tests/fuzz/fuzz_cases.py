"""Strategies that mutate hebbref's untrusted inputs, and the property each case must keep.

Shared by tests/fuzz/ (a small example count, in CI) and validation/fuzz.py (a large one).
Three inputs, each a real file hebbref wrote or reads: a checkpoint of a tiny LM trained a few
steps (with dropout, Adam and the Hebbian softmax, so every group is present), a --config
results JSON, and an npz image dataset. A case changes one field (a metadata value, a config
option, an array's dtype, shape or values, a member removed or added) or the bytes themselves
(truncated, a byte flipped, a member repeated, flagged encrypted, or a zip bomb).

The property: the reader either fails with one line naming the field (a ValueError, TypeError or
OSError whose message is a single line and names a part of what was changed), or it reads
exactly what the file holds (a checkpoint saves back to the same arrays and metadata; a config
keeps the value; a dataset obeys the ImageDataset invariants), and the next step runs. Never a
traceback of another type, a crash or a hang (every case runs under a 30 s alarm).
"""
import contextlib
import io
import json
import math
import os
import signal
import struct
import warnings
import zipfile

import numpy as np
from hypothesis import strategies as st

from hebbref.cli import config_file_fields
from hebbref.data.images import load_npz
from hebbref.experiments.lm import LMConfig, load_state, run, save_state
from hebbref.experiments.lm_train import lm_train_step
from hebbref.record import write_results

ERRORS = (ValueError, TypeError, OSError)
HOSTILE = [None, True, False, 0, -1, 1, 2, 3, 2**31, 2**63, 2**64 + 1, 10**12, -10**12, 0.5,
           1e308, -0.0, math.nan, math.inf, -math.inf, "", "x", "inf", "PCG64", [], [1],
           [[1, 2, 3]], {}, {"a": 1}]
values = st.one_of(st.sampled_from(HOSTILE), st.integers(), st.floats(), st.text(max_size=4),
                   st.lists(st.integers(-3, 3), max_size=3))


class Hang(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds=30):
    """Raise Hang if the block runs longer than `seconds` (a blocked read, an endless loop)."""
    def ring(signum, frame):
        raise Hang(f"no answer in {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_one_line_naming(error, names, path):
    """The error is one of ERRORS, one line, and names one of `names` (its path aside)."""
    message = str(error)
    assert isinstance(error, ERRORS), f"{type(error).__name__}: {message}"
    assert message and "\n" not in message, f"not one line: {message!r}"
    named = message.replace(repr(str(path)), "").replace(str(path), "")
    assert any(str(name) in named for name in names), f"names none of {names}: {message}"


# ------------------------------------------------------------------------------------------------
# The files mutated

def tiny_checkpoint(folder, corpus_file):
    """Train a tiny LM 4 steps into folder; return its checkpoint's path."""
    config = LMConfig(corpus=f"text:{corpus_file}", embed_size=6, hidden=5, batch_size=4,
                      bptt=5, curve_every=3, curve_tokens=200, checkpoint_every=2,
                      eval_tokens=300, max_steps=4, dropout=0.2, out=str(folder),
                      optimizer="adam", lr=0.01)
    run(config, progress=False)
    return os.path.join(folder, "checkpoint.npz")


def results_json(path, config):
    write_results(path, {"config": {k: v for k, v in vars(config).items()}})
    return path


def npz_dataset(path):
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.integers(0, 256, (12, 6, 6), dtype=np.uint8),
             y=np.repeat(np.arange(3), 4), drawer=np.tile(np.arange(4), 3),
             class_names=np.array(["a", "b", "c"]))
    return path


def read_members(path):
    """{key: array} and the metadata record of a (trusted, our own) npz."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    record = json.loads(str(arrays.pop("__meta__"))) if "__meta__" in arrays else None
    return arrays, record


def write_members(path, arrays, record=None):
    if record is not None:
        arrays = {**arrays, "__meta__": np.array(json.dumps(record))}
    if hasattr(path, "write"):
        np.savez(path, **arrays)
    else:
        with open(path, "wb") as f:
            np.savez(f, **arrays)


class Base:
    """The arrays and metadata record a strategy starts from (a short repr for hypothesis)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.arrays, self.record = read_members(path)
        self.meta_paths = meta_paths(self.record) if self.record else []

    def __repr__(self):
        return f"Base({os.path.basename(self.path)!r})"


# ------------------------------------------------------------------------------------------------
# Mutations: each is (description, names it may be reported under, function(path) -> None)

def _set(tree, keys, value):
    for key in keys[:-1]:
        tree = tree[key]
    if value is _DELETE:
        del tree[keys[-1]]
    else:
        tree[keys[-1]] = value


_DELETE = object()


def hostile_array(draw, array):
    kind = draw(st.sampled_from(["dtype", "shape", "value", "empty", "scalar", "object",
                                 "big-endian"]))
    if kind == "dtype":
        dtype = draw(st.sampled_from(["float64", "float32", "int64", "int8", "bool", "complex64",
                                      "U3", "uint64"]))
        try:
            return array.astype(dtype)
        except ValueError:  # text to numbers
            return np.zeros(array.shape, dtype)
    if kind == "shape":
        shape = draw(st.lists(st.integers(0, 9), min_size=0, max_size=3))
        return np.zeros(shape, array.dtype)
    if kind == "value":
        changed = np.array(array, copy=True).reshape(-1)
        if changed.size:
            value = draw(st.sampled_from([np.nan, np.inf, -1, -1e30, 1e30, 0, 2**62, 2**63 - 1]))
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                changed[draw(st.integers(0, changed.size - 1))] = (
                    np.array(value).astype(changed.dtype) if changed.dtype.kind != "U" else "z")
        return changed.reshape(array.shape)
    if kind == "empty":
        return np.zeros((0,) + array.shape[1:], array.dtype)
    if kind == "scalar":
        return np.array(draw(st.integers(-5, 5)))
    if kind == "object":
        return np.array([{"a": 1}], dtype=object)
    return array.astype(array.dtype.newbyteorder(">"))


def _raw(draw, data):
    """A byte-level change: truncate, flip a byte, repeat a member, flag one encrypted, or
    forge a member's declared size."""
    kind = draw(st.sampled_from(["truncate", "flip", "repeat", "encrypt", "forge size"]))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))]
    if kind == "flip":
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        info = draw(st.sampled_from(infos))
        member = archive.read(info)
    if kind == "repeat":
        buffer = io.BytesIO(data)
        with warnings.catch_warnings(), zipfile.ZipFile(buffer, "a") as archive:
            warnings.simplefilter("ignore")
            archive.writestr(info.filename, member)
        return buffer.getvalue()
    entry = _central_entry(data, info.filename)  # flag at +8, uncompressed size at +24
    if kind == "encrypt":
        return data[:entry + 8] + bytes([data[entry + 8] | 1]) + data[entry + 9:]
    size = draw(st.sampled_from([2**32 - 1, info.file_size + 1, max(info.file_size - 1, 0)]))
    return data[:entry + 24] + struct.pack("<I", size % 2**32) + data[entry + 28:]


def _central_entry(data, filename):
    name = filename.encode()
    start = 0
    while True:
        entry = data.index(b"PK\x01\x02", start)
        length = struct.unpack("<H", data[entry + 28:entry + 30])[0]
        if data[entry + 46:entry + 46 + length] == name:
            return entry
        start = entry + 4


def _bomb(draw, arrays):
    """A member of 40 MB of zeros, deflated to ~40 KB, under an existing or a new name."""
    key = draw(st.sampled_from(sorted(arrays) + ["extra/bomb"]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            if name != key:
                with archive.open(name + ".npy", "w") as member:
                    np.lib.format.write_array(member, array)
        with archive.open(key + ".npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.zeros(10**7, np.float32))
    return key, buffer.getvalue()


@st.composite
def npz_mutations(draw, base):
    """(names, mutate(path)): one field of an npz (with an optional metadata record) changed."""
    choices = ["array", "remove", "add", "raw", "bomb"] + (["meta"] * 3 if base.record else [])
    kind = draw(st.sampled_from(choices))
    arrays = dict(base.arrays)
    record = json.loads(json.dumps(base.record)) if base.record is not None else None
    if kind == "meta":
        keys = draw(st.sampled_from(base.meta_paths))
        value = draw(st.one_of(values, st.just(_DELETE)))
        _set(record, keys, value)
        name = [k for k in keys if isinstance(k, str)][-1]
        return [name], lambda p: write_members(p, arrays, record)
    if kind in ("array", "remove"):
        key = draw(st.sampled_from(sorted(arrays)))
        if kind == "remove":
            del arrays[key]
        else:
            arrays[key] = hostile_array(draw, arrays[key])
        return [key, "metadata"][:1 + (key == "__meta__")], lambda p: write_members(p, arrays,
                                                                                      record)
    if kind == "add":
        key = draw(st.sampled_from(["extra", "params/extra", "optimizer/m/extra", "Z"]))
        arrays[key] = np.zeros(draw(st.integers(0, 4)))
        return [key], lambda p: write_members(p, arrays, record)
    if kind == "bomb":
        key, data = _bomb(draw, {**arrays, **({"__meta__": np.array(json.dumps(record))}
                                              if record is not None else {})})
        return [key, "metadata"][:1 + (key == "__meta__")], lambda p: open(p, "wb").write(data)
    buffer = io.BytesIO()
    write_members(buffer, arrays, record)
    data = _raw(draw, buffer.getvalue())
    return [], lambda p: open(p, "wb").write(data)


def meta_paths(record):
    """Every leaf of the checkpoint's metadata, as key paths (config options included)."""
    paths = []

    def walk(tree, keys):
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        for key, value in items:
            if isinstance(value, (dict, list)) and value and len(keys) < 4:
                walk(value, keys + (key,))
            paths.append(keys + (key,))

    walk(record, ())
    return paths


# ------------------------------------------------------------------------------------------------
# The properties

def check_checkpoint(path, names):
    """load_state fails in one line naming the change, or reads exactly what the file holds
    and trains one more step."""
    with alarm():
        try:
            config, state = load_state(path)
        except Exception as error:  # noqa: BLE001 - the property is about every exception
            assert_one_line_naming(error, names or ["checkpoint"], path)
            return "refused"
        again = path + ".again.npz"
        save_state(again, config, state)
        assert_same_npz(path, again)
        rng = np.random.default_rng(0)
        V = state.params["embed.E"].shape[0]
        # a short segment: bptt, a loaded option, may ask for GBs of activations within memory
        x, y = (rng.integers(0, V, (min(config.bptt, 5), config.batch_size)) for _ in range(2))
        try:
            with np.errstate(all="ignore"):
                lm_train_step(state, x, y, config)
        except FloatingPointError as error:  # finite but huge weights: one line, exit 2
            assert_one_line_naming(error, ["non-finite"], path)
        return "read"


def assert_same_npz(path, again):
    arrays, record = read_members(path)
    saved, saved_record = read_members(again)
    assert sorted(arrays) == sorted(saved), "keys changed on the way through"
    for key, array in arrays.items():
        assert array.dtype == saved[key].dtype and array.shape == saved[key].shape, key
        np.testing.assert_array_equal(array, saved[key], err_msg=key)
    record["meta"]["config"].pop("corpus")  # made absolute on reading: the same file
    saved_record["meta"]["config"].pop("corpus")
    assert canonical(record) == canonical(saved_record), "the metadata changed"


def canonical(tree):
    """JSON data with 1 and 1.0 as one value (lr is stored as given, read as a float) and NaN
    equal to itself; True stays apart from 1."""
    if isinstance(tree, dict):
        return {key: canonical(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [canonical(value) for value in tree]
    if isinstance(tree, float) and tree != tree:
        return "nan"
    if isinstance(tree, (int, float)) and not isinstance(tree, bool) and float(tree) == tree:
        return float(tree)
    return tree


def check_config(path, names, config_class):
    """config_file_fields + validate fails in one line naming the option, or keeps its value."""
    with alarm():
        try:
            fields = config_file_fields(str(path), config_class)
            config = config_class(**fields).validate()
        except Exception as error:  # noqa: BLE001
            assert_one_line_naming(error, names or ["--config"], path)
            return "refused"
        for name, value in fields.items():
            if name not in ("lr", "corpus"):  # lr filled in, corpus made absolute
                kept = getattr(config, name)
                assert kept == value or (kept != kept and value != value), name
        return "read"


def check_dataset(path, names):
    """load_npz fails in one line naming the array, or gives a valid ImageDataset."""
    with alarm():
        try:
            dataset = load_npz(path, size=6)
        except Exception as error:  # noqa: BLE001
            assert_one_line_naming(error, names or ["npz file"], path)
            return "refused"
        assert dataset.X.dtype == np.float32 and dataset.X.shape[1:] == (6, 6)
        assert np.isfinite(dataset.X).all() and 0 <= dataset.X.min() <= dataset.X.max() <= 1
        assert dataset.y.shape == dataset.drawer.shape == dataset.X.shape[:1]
        assert dataset.y.min(initial=0) >= 0 and dataset.drawer.min(initial=0) >= 0
        return "read"


@st.composite
def config_mutations(draw, config):
    """(names, mutate(path)): one option of a --config results JSON changed, or its bytes."""
    fields = {k: v for k, v in vars(config).items()}
    kind = draw(st.sampled_from(["option", "option", "unknown", "bytes"]))
    if kind == "bytes":
        text = json.dumps({"config": fields}).encode()
        data = draw(st.sampled_from([b"[" * 100_000, text[:len(text) // 2], b"\xff\xfe",
                                     b'{"config": [1]}', b"null", text.replace(b"{", b"[", 1)]))
        return [], lambda p: open(p, "wb").write(data)
    name = draw(st.sampled_from(sorted(fields))) if kind == "option" else "surprise"
    fields[name] = draw(values)
    return [name], lambda p: results_json(p, _Fields(fields))


class _Fields:
    def __init__(self, fields):
        self.__dict__.update(fields)


def check_cli_resume(path, names, capsys):
    """`hebbref lm --resume` on the case: exit 0, or 1 or 2 with one stderr line, no traceback."""
    from hebbref import cli

    with alarm(120):
        code = cli.main(["lm", "--resume", str(path), "--quiet", "--max-steps", "6"])
    error = capsys.readouterr().err
    assert code in (0, 1, 2), f"exit code {code}: {error}"
    if code:
        assert error.count("\n") == 1 and error.startswith("hebbref lm: error: "), error
    return "read" if code == 0 else "refused"

"""Atomic checkpoints that resume training exactly.

A checkpoint is one .npz file holding named groups of arrays ("params/softmax.theta",
"optimizer/m/lstm1.Wx", "hebbian/counts", ...) and a JSON metadata record (step, data position,
RNG state, configuration). It is written to a temporary file in the same folder and renamed into
place, so a crash mid-write never leaves a half-written checkpoint under the real name.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "hebbref-checkpoint"
VERSION = 1


def atomic_write(path, write):
    """Call write(file_object) on a temporary file beside `path`, then rename it onto `path`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path, groups, meta):
    """groups: {group: {name: ndarray or int or float}}; meta: JSON-serialisable dict."""
    arrays = {f"{group}/{name}": np.asarray(value)
              for group, members in groups.items() for name, value in members.items()}
    record = {"format": FORMAT, "version": VERSION, "meta": meta}
    arrays["__meta__"] = np.array(json.dumps(record))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path):
    """Return (groups, meta) as saved. 0-d integer arrays come back as Python ints.

    Raises FileNotFoundError for a missing file and ValueError for a truncated, corrupt or
    foreign file (anything not written by save_checkpoint).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
        raise ValueError(f"checkpoint {path!r} is truncated or not a hebbref checkpoint "
                         f"({type(error).__name__}: {error})") from None
    try:
        record = json.loads(str(arrays.pop("__meta__")))
        if record["format"] != FORMAT:
            raise KeyError("format")
    except (KeyError, TypeError, json.JSONDecodeError):
        raise ValueError(f"checkpoint {path!r} is not a hebbref checkpoint "
                         f"(no {FORMAT!r} metadata record)") from None
    if record["version"] != VERSION:
        raise ValueError(f"checkpoint {path!r} has format version {record['version']}, "
                         f"this hebbref reads version {VERSION}")
    groups = {}
    for key, value in arrays.items():
        group, name = key.split("/", 1)
        if value.ndim == 0 and value.dtype.kind in "iu":
            value = int(value)
        groups.setdefault(group, {})[name] = value
    return groups, record["meta"]


def rng_state(rng):
    """A Generator's bit-generator state as JSON-serialisable data."""
    return rng.bit_generator.state


def rng_from_state(state):
    """A new Generator continuing exactly where the saved one stopped."""
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)

"""Atomic checkpoints that resume training exactly.

A checkpoint is one .npz file holding named groups of arrays ("params/softmax.theta",
"optimizer/m/lstm1.Wx", "hebbian/counts", ...) and a JSON metadata record (step, data position,
RNG state, configuration). It is written to a temporary file in the same folder and renamed into
place, so a crash mid-write never leaves a half-written checkpoint under the real name.
"""
import json
import os

import numpy as np

from hebbref.files import atomic_write, read_npz

FORMAT = "hebbref-checkpoint"
VERSION = 1


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
    foreign file (anything not written by save_checkpoint). The file is untrusted: callers check
    the meta fields and array shapes they use.
    """
    path = os.fspath(path)
    arrays = read_npz(path, "checkpoint")
    try:
        record = json.loads(str(arrays.pop("__meta__")))
    except (KeyError, json.JSONDecodeError):
        record = None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path!r} is not a hebbref checkpoint "
                         f"(no {FORMAT!r} metadata record)")
    if record.get("version") != VERSION:
        raise ValueError(f"checkpoint {path!r} has format version {record.get('version')!r}, "
                         f"this hebbref reads version {VERSION}")
    if not isinstance(record.get("meta"), dict):
        raise ValueError(f"checkpoint {path!r} has no metadata dict")
    groups = {}
    for key, value in arrays.items():
        group, slash, name = key.partition("/")
        if not slash:
            raise ValueError(f"checkpoint {path!r} holds an array {key!r} outside any group")
        if value.ndim == 0 and value.dtype.kind in "iu":
            value = int(value)
        groups.setdefault(group, {})[name] = value
    return groups, record["meta"]


def rng_state(rng):
    """A Generator's bit-generator state as JSON-serialisable data."""
    return rng.bit_generator.state


# The bit generator is named in the file, so only these names are looked up: a name such as
# "test" would otherwise call numpy.random.test() and run code from the current folder.
BIT_GENERATORS = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM,
                  "MT19937": np.random.MT19937, "Philox": np.random.Philox,
                  "SFC64": np.random.SFC64}


def rng_from_state(state):
    """A new Generator continuing exactly where the saved one stopped.

    Raises ValueError for a state that is not a saved NumPy bit-generator state."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if not isinstance(name, str) or name not in BIT_GENERATORS:
        raise ValueError(f"rng state must name one of {sorted(BIT_GENERATORS)} as its "
                         f"bit_generator, got {name!r}")
    bit_generator = BIT_GENERATORS[name]()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise ValueError(f"rng state for {name} is malformed ({type(error).__name__}: "
                         f"{error})") from None
    return np.random.Generator(bit_generator)

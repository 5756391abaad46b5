"""Checkpoints that resume training exactly: one .npz file of named groups of arrays
("params/softmax.theta", "optimizer/m/lstm1.Wx", "hebbian/counts", ...) and a JSON metadata
record (step, data position, RNG state, configuration), written atomically (files.atomic_write)."""
import json
import os

import numpy as np

from hebbref.files import MAX_JSON_BYTES, atomic_write, parse_json, read_npz

FORMAT = "hebbref-checkpoint"
VERSION = 1


def save_checkpoint(path, groups, meta):
    """groups: {group: {name: ndarray or int or float}}; meta: JSON-serialisable dict."""
    arrays = {f"{group}/{name}": np.asarray(value)
              for group, members in groups.items() for name, value in members.items()}
    record = {"format": FORMAT, "version": VERSION, "meta": meta}
    arrays["__meta__"] = np.array(json.dumps(record))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path, expect=None):
    """(groups, meta) as saved, 0-d integer arrays as Python ints. expect(meta, headers), if
    given, sees the metadata and {key: (shape, dtype)} of every array before any is read and
    raises ValueError or TypeError for a layout the caller cannot use, so a crafted file cannot
    make hebbref allocate what its config does not imply. FileNotFoundError for a missing file,
    ValueError for one save_checkpoint did not write; callers check the values they use."""
    path = os.fspath(path)
    record = {}

    def check(headers, read):
        shape, dtype = headers.get("__meta__", (None, np.dtype(int)))
        if shape != () or dtype.kind != "U" or dtype.itemsize > MAX_JSON_BYTES:
            raise ValueError(f"not a hebbref checkpoint (no {FORMAT!r} metadata record)")
        parsed = parse_json(str(read("__meta__")).encode("utf-8"), "its metadata record")
        if not isinstance(parsed, dict) or parsed.get("format") != FORMAT:
            raise ValueError(f"not a hebbref checkpoint (its metadata record's format is not "
                             f"{FORMAT!r})")
        if parsed.get("version") != VERSION:
            raise ValueError(f"format version {parsed.get('version')!r}, this hebbref reads "
                             f"version {VERSION}")
        if not isinstance(parsed.get("meta"), dict):
            raise ValueError("no metadata dict")
        record.update(parsed)
        if expect is not None:
            expect(record["meta"], {k: v for k, v in headers.items() if k != "__meta__"})

    arrays = read_npz(path, "checkpoint", check)
    del arrays["__meta__"]
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


# PCG64 (np.random.default_rng) is the only generator hebbref makes, so the only one it reads:
# NumPy does not range-check every generator's state (an MT19937 `pos` past its key makes it
# read past its array), so every field is checked here.
PCG64_FIELDS = {("state", "state"): 2**128, ("state", "inc"): 2**128, ("has_uint32",): 2,
                ("uinteger",): 2**32}


def rng_from_state(state):
    """A new Generator continuing exactly where the saved one stopped.
    Raises ValueError for anything but a PCG64 state with every field an int in range."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name != "PCG64":
        raise ValueError(f"rng state must name PCG64, the bit_generator hebbref writes, got "
                         f"{name!r}")
    if set(state) != {"bit_generator", "state", "has_uint32", "uinteger"} or not (
            isinstance(state["state"], dict) and set(state["state"]) == {"state", "inc"}):
        raise ValueError("rng state is malformed: it must hold bit_generator, state {state, "
                         "inc}, has_uint32 and uinteger")
    for keys, end in PCG64_FIELDS.items():
        value = state[keys[0]] if len(keys) == 1 else state[keys[0]][keys[1]]
        if (type(value) is not int or not 0 <= value < end
                or (keys[-1] == "inc" and value % 2 == 0)):
            raise ValueError(f"rng {'.'.join(keys)} must be an int in [0, {end})"
                             f"{', odd' if keys[-1] == 'inc' else ''}; got {value!r}")
    bit_generator = np.random.PCG64()
    bit_generator.state = state
    return np.random.Generator(bit_generator)

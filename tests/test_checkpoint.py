"""Checkpoints: exact round trip, atomic writes, clear errors for missing, truncated or foreign
files."""
import os

import numpy as np
import pytest

from hebbref.checkpoint import (atomic_write, load_checkpoint, rng_from_state, rng_state,
                                save_checkpoint)


def sample_groups():
    rng = np.random.default_rng(3)
    return {"params": {"softmax.theta": rng.standard_normal((4, 3)).astype(np.float32),
                       "lstm1.b": rng.standard_normal(8)},
            "optimizer": {"step/lstm1.b": 7, "m/lstm1.b": rng.standard_normal(8)},
            "hebbian": {"counts": np.array([1, 5, 2, 9], dtype=np.int64)}}


def test_round_trip_is_exact(tmp_path):
    groups = sample_groups()
    path = tmp_path / "run" / "ck.npz"
    save_checkpoint(path, groups, {"step": 12, "note": "x"})
    loaded, meta = load_checkpoint(path)
    assert meta == {"step": 12, "note": "x"}
    assert loaded.keys() == groups.keys()
    for group, members in groups.items():
        for name, value in members.items():
            got = loaded[group][name]
            if isinstance(value, int):
                assert got == value and isinstance(got, int)
            else:
                assert got.dtype == value.dtype and np.array_equal(got, value)
    assert os.listdir(path.parent) == ["ck.npz"]  # no temporary file left behind


def test_rng_state_round_trip_continues_the_same_stream():
    rng = np.random.default_rng(11)
    rng.random(5)
    clone = rng_from_state(rng_state(rng))
    assert np.array_equal(rng.random(10), clone.random(10))


def test_failed_write_leaves_previous_file_intact(tmp_path):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, sample_groups(), {"step": 1})
    before = path.read_bytes()

    def crash(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, crash)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.npz"]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


def test_truncated_file(tmp_path):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, sample_groups(), {"step": 1})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or not a hebbref checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", ["npz", "text"])
def test_foreign_file(tmp_path, content):
    path = tmp_path / "foreign.npz"
    if content == "npz":
        np.savez(path, weights=np.zeros(3))
    else:
        path.write_text("hello")
    with pytest.raises(ValueError, match="not a hebbref checkpoint"):
        load_checkpoint(path)

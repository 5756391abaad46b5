"""Checkpoints: exact round trip, atomic writes, clear errors for missing, truncated or foreign
files."""
import io
import os
import socket
import stat
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from hebbref.checkpoint import load_checkpoint, rng_from_state, rng_state, save_checkpoint
from hebbref.files import atomic_write


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
    with pytest.raises(ValueError, match="truncated or not a valid checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", ["npz", "text"])
def test_foreign_file(tmp_path, content):
    path = tmp_path / "foreign.npz"
    if content == "npz":
        np.savez(path, weights=np.zeros(3))
    else:
        path.write_text("hello")
    with pytest.raises(ValueError, match="not a (hebbref|valid) checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("name", ["test", "show_config", "__import__", None, 7])
def test_rng_state_names_only_a_numpy_bit_generator(tmp_path, monkeypatch, name):
    """Issue #12 case 1: the name comes from the file; "test" used to run numpy.random.test(),
    i.e. pytest in the current folder, executing any conftest.py there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conftest.py").write_text("open('pwned', 'w').close()\n")
    state = rng_state(np.random.default_rng(0))
    state["bit_generator"] = name
    with pytest.raises(ValueError, match="bit_generator"):
        rng_from_state(state)
    assert not (tmp_path / "pwned").exists()


def test_malformed_rng_state_is_a_value_error():
    state = rng_state(np.random.default_rng(0))
    state["state"] = "garbage"
    with pytest.raises(ValueError, match="malformed"):
        rng_from_state(state)


@pytest.mark.parametrize("record", ['{"format": "hebbref-checkpoint", "meta": {}}',
                                    '{"format": "hebbref-checkpoint", "version": 1}',
                                    '[1, 2]'])
def test_missing_record_fields_are_value_errors(tmp_path, record):
    """Issue #12 case 4: missing fields used to raise KeyError."""
    path = tmp_path / "ck.npz"
    np.savez(path, __meta__=np.array(record))
    with pytest.raises(ValueError, match="checkpoint"):
        load_checkpoint(path)


def test_array_header_claiming_huge_size_is_refused_before_allocating(tmp_path):
    """Issue #12 case 7: a header claiming 10¹² float32s used to try to allocate 3.6 TiB."""
    path = tmp_path / "ck.npz"
    save_checkpoint(path, sample_groups(), {"step": 1})
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("params/huge.npy", header.getvalue() + bytes(64))
    with pytest.raises(ValueError, match="claims 4000000000000 bytes"):
        load_checkpoint(path)


def test_files_respect_the_umask(tmp_path):
    """Issue #12 case 9: files were created 0600 (mkstemp), unreadable to colleagues."""
    previous = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "ck.npz", sample_groups(), {"step": 1})
        os.umask(0o077)
        atomic_write(tmp_path / "private.txt", lambda f: f.write(b"x"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "ck.npz").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "private.txt").st_mode) == 0o600


def test_orphaned_temporary_files_are_removed_on_the_next_write(tmp_path):
    """Issue #12 case 5: a write killed by kill -9 leaves .tmp-*; the next write removes it
    (its process is gone), but leaves writes in flight alone: a live process's, and a fresh one
    from another host."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = socket.gethostname()
    killed = tmp_path / f".tmp-{host}-{dead}-abc123ck.npz"
    in_flight = tmp_path / f".tmp-{host}-{os.getpid()}-def456ck.npz"
    other_host = tmp_path / ".tmp-elsewhere-1-ghi789ck.npz"
    old_other_host = tmp_path / ".tmp-elsewhere-2-jkl012ck.npz"
    for path in (killed, in_flight, other_host, old_other_host):
        path.write_bytes(b"partial")
    os.utime(old_other_host, (time.time() - 7200, time.time() - 7200))
    save_checkpoint(tmp_path / "ck.npz", sample_groups(), {"step": 1})
    assert sorted(os.listdir(tmp_path)) == sorted([in_flight.name, other_host.name, "ck.npz"])

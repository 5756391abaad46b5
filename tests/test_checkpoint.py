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
    with pytest.raises(ValueError, match="not a valid checkpoint"):
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


@pytest.mark.parametrize("name", ["test", "show_config", "__import__", None, 7, "MT19937",
                                  "Philox"])
def test_rng_state_names_only_a_numpy_bit_generator(tmp_path, monkeypatch, name):
    """The name comes from the file: "test" would run numpy.random.test() (pytest in the current
    folder, executing any conftest.py there); a valid MT19937 or Philox state would load and
    then fail at the next save, losing the run: only PCG64, which hebbref writes, is read."""
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
    """missing fields raise a ValueError naming the field, not a KeyError."""
    path = tmp_path / "ck.npz"
    np.savez(path, __meta__=np.array(record))
    with pytest.raises(ValueError, match="checkpoint"):
        load_checkpoint(path)


def test_array_header_claiming_huge_size_is_refused_before_allocating(tmp_path):
    """A header claiming 10¹² float32s is refused before any allocation (3.6 TiB)."""
    path = tmp_path / "ck.npz"
    save_checkpoint(path, sample_groups(), {"step": 1})
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("params/huge.npy", header.getvalue() + bytes(64))
    with pytest.raises(ValueError, match=r"declares float32 of shape \(1000000000000,\)"):
        load_checkpoint(path)


def test_files_respect_the_umask(tmp_path):
    """Files get the permissions the umask gives, not mkstemp's 0600 (unreadable to colleagues)."""
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
    """A write killed by kill -9 leaves its temporary file; the next write removes it (its
    process is gone) but leaves alone a live process's write in flight, another host's, and a
    user's file that merely looks like one (.tmp-*ck.npz)."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = socket.gethostname()
    killed = tmp_path / f".tmp-hebbref-{host}-{dead}-0123abcd-ck.npz"
    in_flight = tmp_path / f".tmp-hebbref-{host}-{os.getpid()}-0123abcd-ck.npz"
    other_host = tmp_path / ".tmp-hebbref-elsewhere-1-0123abcd-ck.npz"
    users = [tmp_path / f".tmp-{host}-{dead}-abc123ck.npz", tmp_path / ".tmp-old-ck.npz"]
    for path in (killed, in_flight, other_host, *users):
        path.write_bytes(b"partial")
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    save_checkpoint(tmp_path / "ck.npz", sample_groups(), {"step": 1})
    assert sorted(os.listdir(tmp_path)) == sorted(
        [in_flight.name, other_host.name, "ck.npz"] + [p.name for p in users])


def pcg64_state(**changes):
    state = rng_state(np.random.default_rng(0))
    for key, value in changes.items():
        (state["state"] if key in ("state", "inc") else state)[key] = value
    return state


@pytest.mark.parametrize("state, field", [
    (pcg64_state(inc=float(pcg64_state()["state"]["inc"])), "inc"),
    (pcg64_state(inc=pcg64_state()["state"]["inc"] - 1), "inc"),
    (pcg64_state(state=-1), "state.state"),
    (pcg64_state(state=2**128), "state.state"),
    (pcg64_state(has_uint32=True), "has_uint32"),
    (pcg64_state(uinteger=2**32), "uinteger"),
    ({**pcg64_state(), "extra": 1}, "malformed"),
    ({"bit_generator": "MT19937", "state": {"key": [1, 2, 3], "pos": 10**6}}, "PCG64"),
])
def test_every_rng_field_is_range_checked(state, field):
    """A float or even PCG64 increment (PCG64's is always odd), a state past 128 bits, a bool
    for an int: each is refused naming the field, not accepted or left to NumPy (which, for an
    MT19937 `pos` out of range, reads past its array: a segfault)."""
    with pytest.raises(ValueError, match=field):
        rng_from_state(state)


def test_encrypted_or_repeated_members_are_refused(tmp_path):
    """Encrypted members (zip flag bit 0) raised RuntimeError from zipfile; a repeated member
    name would let a second copy shadow the one checked."""
    path = tmp_path / "ck.npz"
    save_checkpoint(path, sample_groups(), {"step": 1})
    with zipfile.ZipFile(path) as archive:
        first = archive.infolist()[0]
        data = archive.read(first)
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate"):
        archive.writestr(first.filename, data)
    with pytest.raises(ValueError, match="encrypted or repeated"):
        load_checkpoint(path)
    save_checkpoint(path, sample_groups(), {"step": 1})
    raw = bytearray(path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")  # the last member's central-directory entry
    raw[central + 8] |= 1               # general-purpose flag bit 0: encrypted
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="encrypted or repeated"):
        load_checkpoint(path)


def test_member_that_lies_about_its_size_is_refused(tmp_path):
    """The zip entry says 64 bytes of data beyond the header, the header declares 8 float64:
    also 64 bytes; one extra byte in the entry (or one fewer element in the header) fails."""
    path = tmp_path / "ck.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (7,)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("params/x.npy", header.getvalue() + bytes(64))
    with pytest.raises(ValueError, match=r"declares float64 of shape \(7,\), which is not"):
        load_checkpoint(path)


def test_layout_is_checked_before_any_array_is_read(tmp_path, monkeypatch):
    """expect() sees the headers before read_array is called even once."""
    path = tmp_path / "ck.npz"
    save_checkpoint(path, sample_groups(), {"step": 1})
    reads = []
    original = np.lib.format.read_array
    monkeypatch.setattr(np.lib.format, "read_array",
                        lambda *a, **k: reads.append(1) or original(*a, **k))

    def expect(meta, headers):
        assert headers["params/softmax.theta"] == ((4, 3), np.dtype(np.float32))
        assert len(reads) == 1  # the metadata record only
        raise ValueError("params/softmax.theta refused")

    with pytest.raises(ValueError, match="params/softmax.theta refused"):
        load_checkpoint(path, expect=expect)
    assert len(reads) == 1

"""hebbref.files: untrusted files are read only if regular and within limits; outputs replace
only regular files, through temporary names only hebbref makes; an output folder has one run."""
import errno
import json
import os
import subprocess
import sys
import time

import pytest

from hebbref import cli
from hebbref.experiments.curriculum import CurriculumConfig
from hebbref.experiments.lm import LMConfig
from hebbref.files import (MAX_JSON_DEPTH, atomic_write, check_memory, check_writable_folder,
                           memory_bytes, open_regular, read_json, release_folder)


# Reading ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, kind", [(os.mkfifo, "a FIFO"), (os.mkdir, "a folder")])
def test_only_regular_files_are_opened(tmp_path, make, kind):
    """A FIFO would block the reader forever; a folder was reported as "does not exist"."""
    path = tmp_path / "thing"
    make(path)
    with pytest.raises(ValueError, match=f"'{path}' is {kind}, expected a regular file"):
        open_regular(path, "checkpoint")


def test_a_device_and_a_symlink_loop_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="'/dev/zero' is a character device"):
        read_json("/dev/zero", "--config")
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(OSError) as error:
        open_regular(tmp_path / "a", "--config")
    assert error.value.errno == errno.ELOOP and str(tmp_path / "a") in str(error.value)


def test_json_depth_and_size_are_limited(tmp_path, monkeypatch):
    """100,000 nested lists made json.load raise RecursionError; a huge file was read whole.
    Brackets inside strings do not count as nesting."""
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=f"nested 100000 deep, more than {MAX_JSON_DEPTH}"):
        read_json(path, "--config")
    path.write_text(json.dumps({"config": {"note": "[[[[" * 100}}))
    assert read_json(path, "--config") == {"config": {"note": "[[[[" * 100}}
    monkeypatch.setattr("hebbref.files.MAX_JSON_BYTES", 10)
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        read_json(path, "--config")


@pytest.mark.parametrize("content", ["fifo", "[" * 50_000])
def test_cli_config_that_is_a_fifo_or_deeply_nested_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "results.json"
    os.mkfifo(path) if content == "fifo" else path.write_text(content)
    assert cli.main(["demo", "--config", str(path), "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(path) in error


# Writing ----------------------------------------------------------------------------------------

def test_outputs_replace_only_regular_files(tmp_path):
    """A device, or a symlink out of the folder such as /dev/stdout, was replaced by a regular
    file (as root, a system file); a symlink within the folder has its target replaced."""
    for path in ("/dev/null", "/dev/stdout"):
        with pytest.raises(ValueError, match="regular files"):
            atomic_write(path, lambda f: f.write(b"x"))
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    outside = tmp_path / "elsewhere" / "precious.txt"
    outside.parent.mkdir()
    outside.write_text("keep")
    folder = tmp_path / "run"
    folder.mkdir()
    os.symlink(outside, folder / "results.json")
    with pytest.raises(ValueError, match="outside its folder"):
        atomic_write(folder / "results.json", lambda f: f.write(b"x"))
    assert outside.read_text() == "keep" and os.path.islink(folder / "results.json")
    os.symlink("real.json", folder / "link.json")
    atomic_write(folder / "link.json", lambda f: f.write(b"new"))
    assert os.path.islink(folder / "link.json") and (folder / "real.json").read_text() == "new"


def test_a_write_error_names_its_path(tmp_path):
    """A full disk said "[Errno 28] No space left on device" with no path."""
    def disk_full(f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as error:
        atomic_write(tmp_path / "results.json", disk_full)
    assert error.value.errno == errno.ENOSPC
    assert error.value.filename == str(tmp_path / "results.json")
    assert os.listdir(tmp_path) == []


HOLD = ("import sys, time; from hebbref.files import check_writable_folder; "
        "check_writable_folder(sys.argv[1]); print('locked', flush=True); time.sleep(60)")


@pytest.fixture
def held(tmp_path):
    """A folder locked by another live process; yields (folder, pid)."""
    folder = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "locked"
    yield folder, holder.pid
    holder.kill()
    holder.wait()


def test_a_locked_folder_is_refused_naming_the_holder(held):
    """Two runs in one folder left one's checkpoint beside the other's results."""
    folder, pid = held
    with pytest.raises(ValueError, match=f"in use by another hebbref run \\(pid {pid}\\)"):
        check_writable_folder(folder)


def test_the_lock_ends_with_its_process_and_is_reentrant(tmp_path):
    folder = tmp_path / "out"
    subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(60)", "pass"), str(folder)],
                   check=True, capture_output=True)
    check_writable_folder(folder)
    check_writable_folder(folder)  # the same process again: the lock it already holds
    release_folder(folder)


def test_cli_resume_of_a_running_run_is_refused(held, tmp_path, corpus_file, capsys):
    """Resuming a run still running made its checkpoint step go backwards."""
    folder, pid = held
    argv = ["lm", "--corpus", f"text:{corpus_file}", "--out", str(folder), "--quiet",
            "--hidden", "5", "--embed-size", "6", "--max-steps", "2"]
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"pid {pid}" in error
    assert not (folder / "checkpoint.npz").exists()


# Sizes against memory ---------------------------------------------------------------------------

def test_check_memory_names_what_asks():
    check_memory(memory_bytes() // 2, "small")
    with pytest.raises(ValueError, match="hidden=3 needs about .* GiB of memory available"):
        check_memory(memory_bytes() + 1, "hidden=3")


@pytest.mark.parametrize("make, option", [
    (lambda: LMConfig(hidden=10**12), "hidden=1000000000000"),
    (lambda: LMConfig(layers=2**64 + 1), "layers=18446744073709551617"),
    (lambda: LMConfig(batch_size=10**9), "batch_size=1000000000"),
    (lambda: LMConfig(mbpa=True, mbpa_memory=10**9), "mbpa_memory=1000000000"),
    (lambda: CurriculumConfig(size=10**5), "size=100000"),
    (lambda: CurriculumConfig(steps=10**9), "steps=1000000000"),
    (lambda: CurriculumConfig(batch_size=10**9), "batch_size=1000000000"),
    (lambda: CurriculumConfig(hidden_sizes=(10**7, 10**7)), "hidden_sizes"),
])
def test_sizes_past_memory_fail_in_validate(make, option):
    """These passed validation and then failed in allocation, after the corpus or images were
    loaded (or, for the stream of 10⁹ batches, after minutes)."""
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"{option}.*more than the .* GiB of memory available"):
        make().validate()
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("hidden_sizes", [(), [0], [-3]])
def test_curriculum_hidden_sizes_must_be_positive(hidden_sizes):
    """[] and [0] from --config raised deep inside classifier_init."""
    with pytest.raises(ValueError, match="hidden_sizes"):
        CurriculumConfig(hidden_sizes=hidden_sizes).validate()


@pytest.mark.parametrize("name", ["eval_tokens", "mbpa_tokens", "curve_tokens"])
def test_too_few_evaluation_tokens_fail_in_validate(name):
    """eval_tokens=5 with eval_batch_size 10 failed in batchify after the whole training run."""
    with pytest.raises(ValueError, match=f"{name}=5 is too few for eval_batch_size=10: "
                                         "at least 19"):
        LMConfig(eval_batch_size=10, **{name: 5}).validate()
    LMConfig(eval_batch_size=10, **{name: 19}).validate()


def test_a_finished_run_releases_its_folder(tmp_path, corpus_file):
    """The lock lasts for the run: after lm.run and curriculum.run return, another process may
    use the folder."""
    from hebbref.experiments import curriculum, lm

    lm.run(LMConfig(corpus=f"text:{corpus_file}", embed_size=6, hidden=5, batch_size=4, bptt=5,
                    max_steps=2, eval_tokens=300, curve_tokens=200, out=str(tmp_path / "lm")),
           progress=False)
    curriculum.run(CurriculumConfig(dataset="digits", classes=3, initial_classes=2, size=8,
                                    steps=4, hidden_sizes=(8,), eval_drawers=2,
                                    out=str(tmp_path / "c")), progress=False)
    for folder in ("lm", "c"):
        subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(60)", "pass"),
                        str(tmp_path / folder)], check=True, capture_output=True)

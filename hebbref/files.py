"""Writing files so that a crash never leaves half a file under the real name.

Every file hebbref writes (results, plots, checkpoints, caches) goes through `atomic_write`: a
temporary ``.tmp-*`` file in the same folder, flushed to disk, then renamed onto the real name.
"""
import glob
import math
import os
import socket
import stat
import tempfile
import time
import zipfile

import numpy as np

TMP_PREFIX = ".tmp-"
STALE_SECONDS = 3600  # a write in flight never lasts this long; an older .tmp-* is an orphan


def _writer_tag():
    # Temporary names carry host and process id, so that a later run can tell a write killed
    # mid-way (its process is gone) from one in flight (on a shared folder, maybe on another host).
    return f"{socket.gethostname()}-{os.getpid()}-"


def _umask():
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Call write(file_object) on a temporary file beside `path`, then rename it onto `path`.

    The file gets the permissions an ordinary open() would give it (0666 minus the umask):
    mkstemp alone would make it 0600, unreadable to colleagues.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_orphans(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX + _writer_tag(),
                               suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _process_gone(pid):
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        pass
    return False


def _is_orphan(tmp_name, age_seconds):
    """A temporary file is an orphan if the process on this host that wrote it is gone, or, for
    a writer on another host (a shared folder), if it is older than STALE_SECONDS."""
    ours = f"{TMP_PREFIX}{socket.gethostname()}-"
    pid, dash, _ = tmp_name[len(ours):].partition("-")
    if tmp_name.startswith(ours) and dash and pid.isdigit():
        return _process_gone(int(pid))
    return age_seconds > STALE_SECONDS


def remove_orphans(path):
    """Delete ``.tmp-*<name>`` files beside `path` left by a write that was killed (kill -9,
    power loss); writes in flight in other processes are left alone (see _is_orphan)."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    now = time.time()
    for orphan in glob.glob(os.path.join(glob.escape(folder), f"{TMP_PREFIX}*{glob.escape(name)}")):
        try:
            if _is_orphan(os.path.basename(orphan), now - os.stat(orphan).st_mtime):
                os.unlink(orphan)
        except OSError:  # already gone, or not ours to delete
            pass


def check_writable_folder(folder, name="out"):
    """Create `folder` if needed and check a file can be written there, before any work starts.

    Raises ValueError naming the folder if it is a file, cannot be created or is read-only.
    """
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{name} {folder!r} is a file, expected a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX, suffix="probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"cannot write to {name} folder {folder!r}: {error.strerror}") from None
    return folder


def check_regular_file(path, name):
    """Raise unless `path` is an existing regular file (a FIFO or device would block or never end).

    Raises FileNotFoundError if nothing is there, ValueError for anything but a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} {os.fspath(path)!r} does not exist") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{name} {os.fspath(path)!r} is not a regular file")
    return path


def _npy_header(member):
    """(shape, dtype) from the header of one .npy member, without reading its data."""
    major, _ = np.lib.format.read_magic(member)
    read_header = (np.lib.format.read_array_header_1_0 if major == 1
                   else np.lib.format.read_array_header_2_0)
    shape, _, dtype = read_header(member)
    return shape, dtype


def read_npz(path, name):
    """{key: array} from an .npz file (no pickles), every array's size checked against the bytes
    the archive holds for it before anything is allocated (a crafted header could claim 10¹²
    elements).

    Raises FileNotFoundError for a missing file and ValueError, naming `name` and the path, for a
    truncated, corrupt or inconsistent one."""
    check_regular_file(path, name)
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    shape, dtype = _npy_header(member)
                declared = math.prod(shape) * dtype.itemsize
                if dtype.hasobject or declared > info.file_size:
                    raise ValueError(f"member {info.filename!r} claims {declared} bytes of "
                                     f"{dtype} in {info.file_size}")
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
        raise ValueError(f"{name} {os.fspath(path)!r} is truncated or not a valid {name} "
                         f"({type(error).__name__}: {error})") from None

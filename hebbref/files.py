"""Reading untrusted files, and writing files so that a crash never leaves half a file.

Reading: every file a user hands hebbref (checkpoint, ``--config`` JSON, kanji cache, npz dataset,
PNG image) is opened by `open_regular` (a FIFO would block, /dev/zero never end) and read with
limits: `read_npz` checks the zip directory and every member's .npy header, and lets the caller
check shapes and dtypes, before any array is allocated; `read_json` limits size and depth.

Writing: every file hebbref writes goes through `atomic_write`: a temporary
``.tmp-hebbref-<host>-<pid>-<random>-<name>`` file beside it, flushed to disk, then renamed onto
the real name, which must be absent or a regular file. `check_writable_folder` also locks the
output folder, so two runs never write into one folder."""
import contextlib
import fcntl
import json
import math
import os
import re
import secrets
import socket
import stat
import tempfile
import zipfile
import zlib

import numpy as np

TMP_PREFIX = ".tmp-hebbref-"
LOCK_NAME = ".hebbref.lock"
MAX_JSON_BYTES = 64 * 2**20  # a results JSON is a few MB; this stops /dev/zero-like input
MAX_JSON_DEPTH = 32          # results nest a few levels; json recurses once per level
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISLNK, "a symlink"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
_LOCKS = {}  # real path of a locked folder -> its open lock file (the lock lives with it)


def _kind(mode):
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def memory_bytes():
    """Memory a new run can have now: MemAvailable of /proc/meminfo (free memory and caches
    the kernel can drop), or the physical memory where there is no /proc/meminfo."""
    with contextlib.suppress(OSError, StopIteration, ValueError), open("/proc/meminfo") as f:
        return 1024 * int(next(line for line in f if line.startswith("MemAvailable:")).split()[1])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(nbytes, what):
    """Raise ValueError naming `what` (the options or file that set the size) if `nbytes`
    exceed the machine's memory, before anything is allocated."""
    if nbytes > memory_bytes():
        raise ValueError(f"{what} needs about {float(min(nbytes, 1e300)):.3g} bytes, more than "
                         f"the {memory_bytes() / 2**30:.1f} GiB of memory available")


def open_regular(path, name):
    """The file at `path` opened for binary reading, refused unless it is a regular file.
    Raises FileNotFoundError if nothing is there, ValueError naming `name`, the path and what it
    is for a folder, FIFO or device (opened without blocking, so a FIFO cannot hang the check)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} {os.fspath(path)!r} does not exist") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ValueError(f"{name} {os.fspath(path)!r} is {_kind(mode)}, expected a regular file")
    return os.fdopen(fd, "rb")


def parse_json(data, where):
    """JSON from bytes, refused (ValueError naming `where`) past MAX_JSON_DEPTH nesting."""
    try:
        codes = np.frombuffer(re.sub(rb'"(?:[^"\\]|\\.)*"', b"", data), np.uint8)
        depth = np.cumsum(np.isin(codes, (91, 123)).astype(np.int64) - np.isin(codes, (93, 125)))
        if depth.size and depth.max() > MAX_JSON_DEPTH:
            raise ValueError(f"nested {depth.max()} deep, more than {MAX_JSON_DEPTH}")
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{where} is not valid JSON ({error})") from None


def read_json(path, name):
    """The JSON in the file at `path`, at most MAX_JSON_BYTES and MAX_JSON_DEPTH deep."""
    with open_regular(path, name) as file:
        data = file.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"{name} {os.fspath(path)!r} is larger than {MAX_JSON_BYTES} bytes")
    return parse_json(data, f"{name} {os.fspath(path)!r}")


def _npz_headers(archive):
    """({key: (shape, dtype)}, {key: ZipInfo}) of every member, each checked: not encrypted,
    not repeated, no pickles, no dimension past the machine's memory, and a header that accounts
    exactly for the member's size (a member that lies about its size is refused)."""
    headers, infos = {}, {}
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if info.flag_bits & 1 or key in headers:
            raise ValueError(f"member {info.filename!r} is encrypted or repeated")
        with archive.open(info) as member:  # the .npy header only, not the data
            major, _ = np.lib.format.read_magic(member)
            shape, _, dtype = (np.lib.format.read_array_header_1_0 if major == 1
                               else np.lib.format.read_array_header_2_0)(member)
            header_bytes = member.tell()
        if dtype.hasobject or max(shape, default=0) > memory_bytes():
            raise ValueError(f"member {info.filename!r} declares {dtype} of shape {shape}")
        if header_bytes + math.prod(shape) * dtype.itemsize != info.file_size:
            raise ValueError(f"member {info.filename!r} declares {dtype} of shape {shape}, "
                             f"which is not its {info.file_size} bytes")
        headers[key], infos[key] = (shape, dtype), info
    return headers, infos


def read_npz(path, name, check):
    """{key: array} from an .npz file, no pickles. Nothing is allocated before the directory
    and headers pass (_npz_headers), their total fits in memory and check(headers, read) returns
    (headers: {key: (shape, dtype)}; read(key) reads one array; it raises ValueError or
    TypeError for what the caller cannot use). Raises FileNotFoundError for a missing file and
    ValueError naming `name` and the path for anything else: not a regular file, truncated,
    corrupt, inconsistent or refused by check."""
    where = f"{name} {os.fspath(path)!r}"
    with open_regular(path, name) as file:
        try:
            with zipfile.ZipFile(file) as archive:
                headers, infos = _npz_headers(archive)
                check_memory(sum(info.file_size for info in infos.values()), "reading it")

                def read(key):
                    with archive.open(infos[key]) as member:
                        return np.lib.format.read_array(member, allow_pickle=False)

                check(headers, read)
                return {key: read(key) for key in headers}
        except (zipfile.BadZipFile, zlib.error, ValueError, TypeError, EOFError, KeyError,
                OSError, NotImplementedError, RuntimeError, OverflowError) as error:
            raise ValueError(f"{where} is not a valid {name}: {error}") from None


def _target(path):
    """The file a write replaces: `path`, or what a symlink in the same folder points to.
    ValueError for a symlink out of the folder and for anything but a regular file."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            target = os.path.realpath(path)
            if os.path.dirname(target) != os.path.realpath(os.path.dirname(path) or "."):
                raise ValueError(f"{path!r} is a symlink to {target!r}, outside its folder; "
                                 f"hebbref writes only regular files (give a file name)")
            path = target
            mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path!r} is {_kind(mode)}; hebbref replaces only regular files")
    return path


def atomic_write(path, write):
    """Call write(file_object) on a temporary file beside `path`, then rename it onto `path`.
    The file gets the permissions an ordinary open() would give it (0666 minus the umask). An
    OSError (a full disk) names the path it was writing."""
    path = _target(os.fspath(path))
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_orphans(path)
    # Host and pid in the name let remove_orphans tell a write killed mid-way (its process is
    # gone) from one in flight.
    tmp = os.path.join(folder, f"{TMP_PREFIX}{socket.gethostname()}-{os.getpid()}-"
                               f"{secrets.token_hex(4)}-{name}")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.errno and not error.filename:
            raise type(error)(error.errno, error.strerror, path) from None
        raise


def remove_orphans(path):
    """Delete temporary files of `path` left by a write on this host that was killed (kill -9,
    power loss): only names atomic_write makes, and only when their writer's pid is gone."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    ours = re.compile(re.escape(f"{TMP_PREFIX}{socket.gethostname()}-") + r"(\d+)-[0-9a-f]{8}-"
                      + re.escape(name))
    for entry in os.listdir(folder):
        match = ours.fullmatch(entry)
        if not match:
            continue
        try:
            os.kill(int(match.group(1)), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            with contextlib.suppress(OSError):  # already gone, or not ours to delete
                os.unlink(os.path.join(folder, entry))
        except PermissionError:  # it exists, under another user
            pass


def check_writable_folder(folder, name="out"):
    """Create `folder` if needed, check a file can be written there and lock it, before any
    work starts. The lock (fcntl.flock on its .hebbref.lock, which names the holder's pid) lasts
    until release_folder or the end of the process, even kill -9, so a second run, or a resume
    of a running run, cannot write beside this one's files. ValueError naming the folder if it
    is a file, cannot be created, is read-only or is locked by another process."""
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{name} {folder!r} is a file, expected a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX, suffix="probe")
        os.close(fd)
        os.unlink(probe)
        if os.path.realpath(folder) not in _LOCKS:
            lock = os.fdopen(os.open(os.path.join(folder, LOCK_NAME),
                                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666), "r+")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = lock.read(20).strip() or "unknown"
                lock.close()
                raise ValueError(f"{name} folder {folder!r} is in use by another hebbref run "
                                 f"(pid {holder}); wait for it to end or choose another "
                                 f"{name}") from None
            lock.truncate(0)
            lock.write(str(os.getpid()))
            lock.flush()
            _LOCKS[os.path.realpath(folder)] = lock
    except OSError as error:
        raise ValueError(f"cannot write to {name} folder {folder!r}: {error.strerror}") from None
    return folder


def release_folder(folder):
    """Release the lock check_writable_folder took on `folder` (nothing if not held)."""
    lock = _LOCKS.pop(os.path.realpath(os.fspath(folder)), None)
    if lock is not None:
        lock.close()

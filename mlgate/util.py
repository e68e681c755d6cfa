"""Small shared helpers: atomic writes, the per-ticket file lock, subprocesses, dates.

Standard library (+ ``filelock``, imported lazily) only: the hook path imports this module.
"""
from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlgate.errors import LockTimeout, UsageError, WriteFailed
from mlgate.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import subprocess

LOCK_NAME = ".mlgate.lock"
DEFAULT_LOCK_TIMEOUT = 60.0


def today() -> str:
    """Today's date as ``YYYY-MM-DD`` (``MLGATE_TODAY`` overrides, for reproducible demos)."""
    import datetime as _dt  # imported here: the hooks import this module and never need it

    return os.environ.get("MLGATE_TODAY") or _dt.date.today().isoformat()


def now_iso() -> str:
    import datetime as _dt

    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def atomic_write(path: str | Path, text: str | bytes, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` atomically: a temp file in the same folder, fsync, rename.

    Readers see either the old or the new content, never a mix. On any failure (disk full,
    read-only folder, permission denied) the old file is left as it was and
    :class:`WriteFailed` names the path and the cause.
    """
    path = Path(path)
    data = text.encode("utf-8") if isinstance(text, str) else text
    sync = fsync_mode()
    folder = os.path.dirname(path) or "."
    tmp_name: str | None = None
    try:
        try:  # the permission bits the new file gets: the old file's, else the umask's
            keep = os.stat(path).st_mode & 0o7777 if mode is None else mode
        except FileNotFoundError:
            keep = 0o666 & ~_umask()
        fd, tmp_name = _create_temp(folder, path.name)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fchmod(fd, keep)
                if sync != "off":
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp_name, path)
            tmp_name = None
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
        if sync == "full":
            _fsync_dir(Path(folder))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.ENOSPC:
            reason = "no space left on device"
        raise WriteFailed(f"could not write {path}: {reason}; the previous file is unchanged",
                          path=str(path), errno=exc.errno) from exc


_TEMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _create_temp(folder: str, name: str) -> tuple[int, str]:
    """A new, empty file ``<folder>/.<name>.XXXXXXXX.tmp`` (8 random ``[a-z0-9_]``, the shape
    ``tempfile.mkstemp`` uses and :data:`mlgate.evidence.results.TEMP_RE` recognises), opened for
    writing, mode 0600 until the caller sets it; never an existing file (``O_EXCL``)."""
    for _ in range(100):
        token = "".join(_TEMP_CHARS[b % 37] for b in os.urandom(8))
        tmp = os.path.join(folder, f".{name}.{token}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", folder)


FSYNC_MODES = ("full", "file", "off")


def fsync_mode() -> str:
    """How durable :func:`atomic_write` is, from ``MLGATE_FSYNC`` (default ``full``).

    * ``full``: fsync the temp file before the rename and the folder after it: once the call
      returns, the new version survives a power cut.
    * ``file``: fsync the file only: after a power cut the file is the old or the new version
      (never torn), but the newest write may be lost.
    * ``off``: no fsync: atomic against a killed process (rename), not against a power cut.
      For scratch workspaces, CI and benchmarks.
    """
    raw = os.environ.get("MLGATE_FSYNC")
    if not raw:
        return "full"
    mode = raw.strip().lower()
    if mode not in FSYNC_MODES:
        raise UsageError(f"MLGATE_FSYNC={raw!r}: expected one of {', '.join(FSYNC_MODES)}",
                          variable="MLGATE_FSYNC", value=raw)
    return mode


def _umask() -> int:
    cur = os.umask(0)
    os.umask(cur)
    return cur


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def file_lock(folder: str | Path, timeout: float | None = None) -> Iterator[None]:
    """Exclusive lock for a read-modify-write. ``folder`` is a lock file path, or a folder
    (then ``<folder>/.mlgate.lock`` is used).

    Uses an OS-level lock (``filelock``), so a lock left by a killed process is released by
    the kernel and never wedges the next command.
    """
    from filelock import FileLock, Timeout

    target = Path(folder)
    if target.is_dir():
        target = target / LOCK_NAME
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
    timeout = DEFAULT_LOCK_TIMEOUT if timeout is None else timeout
    raw = os.environ.get("MLGATE_LOCK_TIMEOUT")
    if raw:
        try:
            timeout = float(raw)
        except ValueError:
            raise UsageError(f"MLGATE_LOCK_TIMEOUT={raw!r}: expected a number of seconds",
                              variable="MLGATE_LOCK_TIMEOUT", value=raw) from None
        if not timeout >= 0:  # (also refuses nan)
            raise UsageError(f"MLGATE_LOCK_TIMEOUT={raw!r}: expected seconds >= 0",
                              variable="MLGATE_LOCK_TIMEOUT", value=raw)
    lock = FileLock(str(target), timeout=timeout)
    try:
        lock.acquire()
    except Timeout as exc:
        raise LockTimeout(
            f"another mlgate command holds the lock {target} (waited {timeout:.0f}s)",
            path=str(target)) from exc
    try:
        yield
    finally:
        lock.release()


@record
class Completed:
    """What :func:`spawn` returns: the attributes of ``subprocess.CompletedProcess`` that
    callers read (``args``, ``returncode``, ``stdout``, ``stderr``)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(cmd: Sequence[str], cwd: str | Path | None = None, check: bool = False,
        env: dict[str, str] | None = None, input: str | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output. With ``check`` a non-zero exit raises
    ``subprocess.CalledProcessError`` (callers turn it into their own error). (The hooks
    start git with :func:`spawn`, which needs no ``subprocess`` import.)"""
    import subprocess  # (about 1/5 of a hook call's imports: only where it is needed)

    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=check,
                          env=env, input=input, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)


def spawn(cmd: Sequence[str], env: dict[str, str] | None = None) -> Completed:
    """Run ``cmd`` (looked up on ``PATH``) with stdin from ``/dev/null`` and capture its
    output as text, like ``subprocess.run(cmd, capture_output=True, text=True)``: UTF-8, line
    endings turned into ``\\n``. Built on ``os.posix_spawnp`` and ``select.poll``, which cost
    nothing to import; SIGPIPE and SIGXFSZ are reset to their defaults in the child, as
    ``subprocess`` does. Raises ``FileNotFoundError`` when the program does not exist and
    ``UnicodeDecodeError`` when its output is not UTF-8."""
    import select
    from _signal import SIGPIPE, SIGXFSZ  # (the C half of `signal`, loaded at start-up)

    args = [os.fspath(a) for a in cmd]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        pid = os.posix_spawnp(
            args[0], args, os.environ if env is None else env,
            file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
                          (os.POSIX_SPAWN_DUP2, err_w, 2)],
            setsigdef=(SIGPIPE, SIGXFSZ))
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
        os.close(devnull)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    open_fds = [out_r, err_r]
    poller = select.poll()  # (not select.select: that fails on descriptors >= 1024)
    for fd in open_fds:
        poller.register(fd, select.POLLIN)
    try:
        while open_fds:
            for fd, _event in poller.poll():
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    poller.unregister(fd)
                    open_fds.remove(fd)
                    os.close(fd)
    finally:
        for fd in open_fds:
            os.close(fd)
        _, status = os.waitpid(pid, 0)

    def text(parts: list[bytes]) -> str:
        raw = b"".join(parts).decode("utf-8")
        return raw.replace("\r\n", "\n").replace("\r", "\n") if "\r" in raw else raw

    return Completed(args, os.waitstatus_to_exitcode(status), text(chunks[out_r]),
                     text(chunks[err_r]))

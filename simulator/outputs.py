"""Output safety for every command that writes a file (docs/outputs.md).

- `check_out`: an output path is checked before any work starts: an existing folder, a device, FIFO or
  socket, a read-only file, a folder that does not exist or cannot be written, or one of the command's
  own inputs (same resolved path, or same device and inode: a hard link) is refused in one line.
- `atomic_output`: a file is written under ``.<name>.<pid>.mramsim.tmp`` in the target folder and
  renamed over the target when complete, so an existing file is only ever replaced by a complete one.
  Such a temp name left by a killed run (its pid no longer alive) is removed by the next run writing
  the same output.
- `signal_handling`: SIGINT and SIGTERM raise `KeyboardInterrupt` / `Terminated`, so the temp
  file is removed on the way out (the CLI exits 130 / 143). The signal is also remembered: libhdf5 and
  h5py run Python code (weakref callbacks of their object registry) where an exception is printed as
  "Exception ignored" and dropped, so a run could finish and exit 0 after a SIGINT; a remembered signal
  is raised again before any rename (`raise_pending`) and sets the exit status. Inside
  `deferred_signals` (every HDF5 write) a signal is only remembered, and raised when the block ends.
  A second signal exits at once (temp files removed). Forked worker processes exit at once.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
import threading
from contextlib import contextmanager
from pathlib import Path

from models.errors import UserError, shown

TMP_SUFFIX = ".mramsim.tmp"
EXIT_SIGNAL_BASE = 128  # shell convention: a command ended by signal N exits 128 + N


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that cleanup runs (a BaseException: not caught by
    ``except Exception``)."""


_pending: int | None = None  # the first signal received and not yet acted on
_deferring = 0  # depth of deferred_signals blocks
_installed = False
_main_pid = os.getpid()
_live: dict[str, int] = {}  # temp files being written -> pid of the process writing them


# ---------------------------------------------------------------------------------------- paths


def temp_path(path: Path, pid: int | None = None) -> Path:
    return path.parent / f".{path.name}.{os.getpid() if pid is None else pid}{TMP_SUFFIX}"


def _stale_pattern(name: str) -> re.Pattern:
    return re.compile(r"\." + re.escape(name) + r"\.(\d+)" + re.escape(TMP_SUFFIX) + r"\Z")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except (OverflowError, ValueError):  # not a pid this system can have
        return False
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove temp files of ``path`` left by runs that died (pid not alive, or this process's own)."""
    pattern = _stale_pattern(path.name)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None:
            continue
        pid = int(m.group(1))
        if (pid == os.getpid() and entry.path not in _live) or not _alive(pid):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:  # gone already, or not a file we may remove: left alone
                pass
    return removed


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _inputs_of(inputs) -> list[tuple[str, Path]]:
    items = inputs.items() if isinstance(inputs, dict) else ((str(p), p) for p in inputs)
    return [(label, Path(p).expanduser()) for label, p in items if p is not None and str(p) != ""]


def check_out(path, arg: str = "--out", inputs=(), accepted: str = "a new or regular file in a writable folder",
              probe: bool = True) -> Path:
    """The resolved output path, or `UserError` (one line naming ``arg``) if it cannot be written safely.

    ``inputs``: the command's input files, ``{label: path}`` or paths; an output that is one of them
    (same resolved path, or same device and inode) is refused. ``probe``: create and remove a temp
    file to prove the folder is writable (also as root, for whom permission bits do not hold)."""
    text = str(path)
    if not text.strip():
        raise UserError(f"{arg} {text!r}: empty path (accepted: {accepted})")
    try:
        return _check_out(text, arg, inputs, accepted, probe)
    except UserError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:  # a name too long, a NUL byte, a symlink loop
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UserError(f"{arg} {shown(text)}: cannot be used ({why}; accepted: {accepted})") from None


def _check_out(text: str, arg: str, inputs, accepted: str, probe: bool) -> Path:
    p = Path(text).expanduser()
    where = shown(text)
    if text.endswith(os.sep) or p.is_dir():
        raise UserError(f"{arg} {where}: is a folder (accepted: {accepted}, e.g. {p / 'out'})")
    real = p.resolve()
    for label, inp in _inputs_of(inputs):
        if _same_file(real, inp.resolve()):
            raise UserError(f"{arg} {where}: is the same file as {label} (an output never replaces the "
                            f"command's inputs or other outputs; accepted: {accepted})")
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            kind = ("a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else
                    "not a regular file")
            raise UserError(f"{arg} {where}: is {kind}, not a regular file (accepted: {accepted})")
        if not os.access(real, os.W_OK):
            raise UserError(f"{arg} {where}: is read-only (accepted: {accepted})")
    if not real.parent.is_dir():
        raise UserError(f"{arg} {where}: folder {p.parent} does not exist (accepted: {accepted})")
    remove_stale_temps(real)
    if probe:
        tmp = temp_path(real)
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            os.unlink(tmp)
        except FileExistsError:
            pass  # this process is writing it right now: the folder is writable
        except OSError as exc:
            raise UserError(f"{arg} {where}: cannot write in folder {p.parent} ({exc.strerror}; "
                            f"accepted: {accepted})") from None
    return real


def check_out_dir(path, arg: str = "--out", accepted: str = "a folder that exists or can be created") -> Path:
    """An output folder: refused if it exists and is not a folder, or if it cannot be created or
    written (probed with a temp file in it, or in its nearest existing ancestor)."""
    text = str(path)
    if not text.strip():
        raise UserError(f"{arg} {text!r}: empty path (accepted: {accepted})")
    where = shown(text)
    try:
        real = Path(text).expanduser().resolve()
        if real.exists() and not real.is_dir():
            raise UserError(f"{arg} {where}: exists and is not a folder")
        probe_dir = real
        while not probe_dir.exists():
            probe_dir = probe_dir.parent
        if not probe_dir.is_dir():
            raise UserError(f"{arg} {where}: {probe_dir} is not a folder (accepted: {accepted})")
        tmp = probe_dir / f".mramsim-probe.{os.getpid()}{TMP_SUFFIX}"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            os.unlink(tmp)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UserError(f"{arg} {where}: cannot write in {probe_dir} ({exc.strerror}; accepted: {accepted})") \
                from None
    except UserError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UserError(f"{arg} {where}: cannot be written ({why}; accepted: {accepted})") from None
    return real


@contextmanager
def atomic_output(path, arg: str = "--out"):
    """Yields the temp path (``.<name>.<pid>.mramsim.tmp`` beside ``path``); when the block ends
    normally and no signal is pending it replaces ``path`` (mode from the umask); otherwise it is
    removed and the exception goes on."""
    path = check_out(path, arg, probe=False)
    tmp = temp_path(path)
    key = str(tmp)
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:  # an earlier write of this process that was not cleaned up
        os.unlink(tmp)
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except OSError as exc:
        raise UserError(f"{arg} {path}: cannot write in folder {path.parent} ({exc.strerror})") from None
    os.close(fd)
    _live[key] = os.getpid()
    try:
        yield tmp
        with deferred_signals():
            raise_pending()
            os.replace(tmp, path)
            _live.pop(key, None)
    except BaseException:
        _live.pop(key, None)
        _unlink(tmp)
        raise


def _unlink(tmp) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


# ---------------------------------------------------------------------------------------- signals


def _exception(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


def _handler(signum, frame) -> None:
    global _pending
    if os.getpid() != _main_pid or _pending is not None:
        # a forked worker, or a second signal while the first is being acted on: leave now
        for tmp, pid in list(_live.items()):
            if pid == os.getpid():
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        os._exit(EXIT_SIGNAL_BASE + signum)
    _pending = signum
    _forward_to_children(signum)
    if not _deferring:
        raise _exception(signum)


def _forward_to_children(signum: int) -> None:
    """Worker processes (forked pools) end too: a pool waits for its running jobs otherwise."""
    import multiprocessing

    for child in multiprocessing.active_children():
        try:
            os.kill(child.pid, signum)
        except OSError:
            pass


@contextmanager
def signal_handling(restore: bool = True):
    """For a command's whole run (main thread): SIGINT and SIGTERM raise `KeyboardInterrupt` /
    `Terminated` and are remembered (`pending_signal`). At the end the previous handlers come back,
    or (``restore=False``: the process ends next) a signal during the interpreter's teardown exits
    128 + N at once, its outputs already complete."""
    global _installed, _main_pid, _pending
    _main_pid = os.getpid()
    _pending = None
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    _installed = True
    try:
        yield
    finally:
        _installed = False
        for s, h in previous.items():
            signal.signal(s, h if restore else _exit_now)


def _exit_now(signum, frame) -> None:
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a write the signal interrupted: what is buffered is lost
            pass
    os._exit(EXIT_SIGNAL_BASE + signum)


def pending_signal() -> int | None:
    return _pending


def exit_status(signum: int) -> int:
    return EXIT_SIGNAL_BASE + signum


def raise_pending() -> None:
    """Raise the exception of a signal that arrived but was deferred or swallowed."""
    if _pending is not None and _installed and not _deferring:
        raise _exception(_pending)


@contextmanager
def deferred_signals():
    """Within the block a SIGINT / SIGTERM is remembered, not raised; it is raised when the block
    ends. Outside `signal_handling` (library use), the handlers are installed
    for the block and the previous ones restored, the signal then re-delivered to them."""
    global _deferring, _pending
    main = threading.current_thread() is threading.main_thread()
    own = main and not _installed and signal.getsignal(signal.SIGINT) is not _handler
    previous = {}
    if own:
        for s in (signal.SIGINT, signal.SIGTERM):
            previous[s] = signal.signal(s, _handler)
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if own:
            for s, h in previous.items():
                signal.signal(s, h)
            got, _pending = _pending, None
            if got is not None:
                signal.raise_signal(got)
    if not own:
        raise_pending()

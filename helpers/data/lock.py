"""One process at a time: the file lock around cache builds, phantom writing and downloads."""

from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path


@contextlib.contextmanager
def file_lock(path, what: str = "the same work"):
    """Hold an exclusive lock on the file ``path`` (created if missing) while the ``with`` block runs.

    Used around work that two processes must not do at once in the same place: building a
    decode cache, writing phantoms, downloading a file. Another process asking for the same
    lock waits, after printing one line saying what for (``what``) and which lock file, so a
    second notebook or script started at the same time reuses the first one's result
    instead of colliding with it. ``fcntl.flock`` on Linux and macOS; ``msvcrt.locking`` on
    Windows; where neither exists, no lock is taken (a warning says so once). The lock
    file stays behind (removing it would race with a waiting process); it is empty.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        fcntl = None
    with open(path, "a+b") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                print(f"waiting for another process that is {what} (lock {path})", flush=True)
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return
        try:
            import msvcrt
        except ImportError:
            if not _LOCK_WARNED:
                _LOCK_WARNED.append(True)
                warnings.warn("no file locking on this platform: do not start two processes that build the "
                              "same dataset or cache at once", stacklevel=3)
            yield path
            return
        told = False
        while True:
            try:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
                break
            except OSError:
                if not told:
                    print(f"waiting for another process that is {what} (lock {path})", flush=True)
                    told = True
                time.sleep(0.5)
        try:
            yield path
        finally:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)


_LOCK_WARNED: list = []

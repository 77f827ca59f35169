"""One bench per suite folder at a time: a lock file (the ``filelock`` library), with the
holder's pid, host and start time written beside it so that a second bench can say who holds it."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from pgzoo.errors import UsageError

LOCK_FILE = ".pgzoo-bench.lock"
OWNER_FILE = ".pgzoo-bench.owner.json"


def _holder(folder: Path) -> str:
    try:
        owner = json.loads((folder / OWNER_FILE).read_text())
        return f"pid {owner['pid']} on {owner['host']}, running since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


@contextlib.contextmanager
def bench_lock(folder: str | Path) -> Iterator[None]:
    """Hold the bench lock of ``folder`` for the ``with`` block.

    Raises a one-line :class:`UsageError` at once (no waiting) if another process holds it,
    naming that process. The operating system releases the lock of a killed bench.
    """
    folder = Path(folder)
    lock = FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UsageError(f"{folder}: another pgzoo bench is running on this folder ({_holder(folder)}); "
                         "wait for it to finish or stop it") from None
    except OSError as e:
        raise UsageError(f"{folder}: cannot take the bench lock: {e.strerror or e}") from None
    try:
        owner = {"pid": os.getpid(), "host": platform.node(),
                 "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (folder / OWNER_FILE).write_text(json.dumps(owner) + "\n")
        yield
    finally:
        with contextlib.suppress(OSError):
            (folder / OWNER_FILE).unlink()
        lock.release()

"""Processes that a bench starts die with it, even when it is killed with SIGKILL (which no
handler sees): a killed bench must not leave workers computing abandoned runs."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
"""``prctl`` option (linux/prctl.h): the signal this process gets when its parent dies."""
POLL_S = 1.0


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; whether it could."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parent_gone(parent_pid: int) -> bool:
    return os.getppid() != parent_pid


def _watch(parent_pid: int) -> None:
    while not _parent_gone(parent_pid):
        time.sleep(POLL_S)
    os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when process ``parent_pid`` (its parent) is gone.

    On Linux the kernel kills it (``PR_SET_PDEATHSIG``); everywhere a daemon thread also checks
    once a second that the parent is still this process's parent (which also covers a parent
    that died before this was called).
    """
    set_parent_death_signal()
    if _parent_gone(parent_pid):
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="pgzoo-parent-watch", daemon=True).start()


def preexec_die_with_parent() -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: the child gets SIGKILL when its parent dies."""
    with contextlib.suppress(Exception):
        set_parent_death_signal()


def _start_time(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks after boot; tells a reused pid apart)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> dict[int, int]:
    """Every descendant of ``pid`` now, as pid → start time (Linux ``/proc``; empty elsewhere)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return {p: t for p in found if (t := _start_time(p)) is not None}


def reap(pid: int, pipe: int = 0) -> None:
    """Record ``pid``'s descendants every :data:`POLL_S` until ``pipe`` closes, then SIGKILL
    those that still run (same pid and start time)."""
    seen: dict[int, int] = {}
    while True:
        seen.update(descendants(pid))
        seen.pop(os.getpid(), None)  # the reaper is a child of the bench too
        ready, _, _ = select.select([pipe], [], [], POLL_S)
        if ready and not os.read(pipe, 1024):
            break
    for p in list(seen):  # children started since the last look, under a process already seen
        if _start_time(p) == seen[p]:
            seen.update(descendants(p))
    seen.pop(os.getpid(), None)
    for p, started in seen.items():
        if _start_time(p) == started:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)


class Reaper:
    """Start a reaper of this process's descendants (see the module docstring); :meth:`close`
    ends it (and it kills what is left of them)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        if sys.platform.startswith("linux"):
            self._proc = subprocess.Popen([sys.executable, "-m", "pgzoo.bench.lifeline", str(os.getpid())],
                                          stdin=subprocess.PIPE, start_new_session=True)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.stdin.close()
            proc.wait(timeout=30)


if __name__ == "__main__":
    reap(int(sys.argv[1]))

"""Processes that a bench starts die with it, even when it is killed with SIGKILL (which no
handler sees): a killed bench must not leave workers computing abandoned runs."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

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

"""Reading files a user hands to pgzoo (configs, suites, run folders) and checking folders it
writes to: every problem is one :class:`~pgzoo.errors.UsageError` line naming the file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pgzoo.errors import UsageError


def _reason(err: OSError) -> str:
    if isinstance(err, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(err, NotADirectoryError):
        return "a part of the path is a file, not a folder"
    if isinstance(err, FileNotFoundError):
        return "does not exist"
    return err.strerror or type(err).__name__


def read_user_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of ``path``; raises a one-line :class:`UsageError` (``"PATH: WHAT REASON"``)
    if it is missing, a directory, unreadable or not UTF-8 text."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{p}: {what} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise UsageError(f"{p}: {what} {_reason(e)}") from None


def read_user_json(path: str | Path, what: str = "JSON file") -> Any:
    """The JSON value in ``path``, or a one-line :class:`UsageError` naming the file and the problem."""
    text = read_user_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: {what} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


def writable_folder(path: str | Path, what: str = "output folder") -> Path:
    """Create folder ``path`` (and its parents) if needed and check that files can be written in
    it; raises a one-line :class:`UsageError` if it is a file, lies under a file, or is not writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{p}: {what} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".pgzoo-write-check-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"{p}: cannot write the {what} there: {_reason(e)}") from None
    return p

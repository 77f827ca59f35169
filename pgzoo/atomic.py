"""Atomic file writes: every file pgzoo writes for a user goes through here.

A file is written to a temporary file with a *unique* name in the same folder, then renamed
over the target (:func:`os.replace`, atomic on POSIX and Windows). A reader, a SIGKILL at any
moment, or another process writing the same target at the same time (two ``pgzoo tune``
processes sharing a study write the same report) therefore sees either the old file or the new
one, never a mix, and never loses its own temporary file to the other writer.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a fresh temporary path next to ``path``; on success rename it over ``path``.

    The temporary name ends with ``suffix`` (default: ``path``'s own), for writers that pick the
    format from the file name.

    The temporary file is removed if the block raises. Raises whatever creating a file in
    ``path``'s folder raises (e.g. :class:`FileNotFoundError` if the folder does not exist).
    """
    path = Path(path)
    end = path.suffix if suffix is None else suffix
    # not mkstemp: it creates the file with mode 0600; the writer creates it, honouring the umask
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp{end}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""
    path = Path(path)
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path

"""``results.jsonl``: one JSON line per finished run, appended atomically, read back tolerantly."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line with a single ``write`` to a file opened ``O_APPEND``, then
    fsync: a bench killed at any moment leaves either the whole line or none of it."""
    data = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _heal_partial_tail(fd, path)
        written = os.write(fd, data)
        if written != len(data):  # pragma: no cover - regular files write whole buffers
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def _heal_partial_tail(fd: int, path: Path) -> None:
    """If a previous bench was killed mid-line, end that line so the next one stays whole."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) != b"\n":
            os.write(fd, b"\n")


@dataclass
class Results:
    """The records of a ``results.jsonl`` and the lines that could not be read."""

    records: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)

    def runs(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type", "run") == "run"]

    def random_scores(self) -> dict[str, dict[str, Any]]:
        """The last measured random-policy score of each environment."""
        return {r["env"]: r for r in self.records if r.get("type") == "random-policy"}

    def done_keys(self) -> set[tuple[str, str, int, str]]:
        return {(r["algorithm"], r["env"], r["seed"], r["config_hash"]) for r in self.runs()}


def read_results(path: Path) -> Results:
    """Every complete line of ``path``; partial or corrupt lines are skipped and listed."""
    out = Results()
    if not path.exists():
        return out
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            out.bad_lines.append(number)
            continue
        if isinstance(record, dict):
            out.records.append(record)
        else:
            out.bad_lines.append(number)
    return out

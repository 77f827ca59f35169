"""``results.jsonl``: one JSON line per finished run, appended atomically, read back tolerantly."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pgzoo.config import format_validation_error
from pgzoo.errors import UsageError

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


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class FinalScores(_Record):
    """The final evaluation of a run (NaN is a valid, if alarming, score)."""

    eval_return_mean: float
    eval_return_mean_deterministic: float


class CurvePoint(_Record):
    env_steps: float = Field(ge=0)
    return_mean: float
    return_mean_deterministic: float


class RunRecord(_Record):
    """A finished run (see :func:`pgzoo.bench.task.run_record`); the fields pgzoo reads back."""

    type: Literal["run"] = "run"
    algorithm: str
    env: str
    seed: int = Field(ge=0, strict=True)
    config_hash: str
    entry_hash: str
    final: FinalScores
    curve: list[CurvePoint]
    env_steps: int = Field(ge=0)
    wall_s: float
    env_steps_per_s: float


class RandomPolicyRecord(_Record):
    """The random policy's score on an environment (the 0 of normalised scores)."""

    type: Literal["random-policy"]
    env: str
    return_mean: float


class FailedRecord(_Record):
    """A run that failed (e.g. its loss diverged); a later bench tries it again."""

    type: Literal["failed"]
    algorithm: str
    env: str
    seed: int = Field(ge=0, strict=True)
    config_hash: str
    error: str


def failed_record(spec: Any, error: str) -> dict[str, Any]:
    """The results line of a run that failed (``spec``: its :class:`~pgzoo.bench.suite.RunSpec`)."""
    return {"type": "failed", "algorithm": spec.algorithm, "env": spec.env, "seed": spec.seed,
            "config_hash": spec.config_hash, "entry_hash": spec.entry_hash, "error": error,
            "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


_SCHEMAS: dict[str, type[_Record]] = {"run": RunRecord, "random-policy": RandomPolicyRecord, "failed": FailedRecord}


def check_record(record: Any) -> str | None:
    """What is wrong with a decoded results line (one line of text), or ``None`` if it is a valid record."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    kind = record.get("type", "run")
    schema = _SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        return f"unknown record type {kind!r}"
    try:
        schema.model_validate(record)
    except ValidationError as e:
        return format_validation_error(e, f"not a valid {kind!r} record")
    return None


@dataclass
class Results:
    """The records of a ``results.jsonl`` and the lines that could not be read."""

    records: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)
    problems: dict[int, str] = field(default_factory=dict)
    """Line number → what is wrong with it (unreadable, or not a valid record)."""

    def runs(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type", "run") == "run"]

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == "failed"]

    def random_scores(self) -> dict[str, dict[str, Any]]:
        """The last measured random-policy score of each environment."""
        return {r["env"]: r for r in self.records if r.get("type") == "random-policy"}

    def done_keys(self) -> set[tuple[str, str, int, str]]:
        return {(r["algorithm"], r["env"], r["seed"], r["config_hash"]) for r in self.runs()}

    def describe_bad_lines(self, limit: int = 3) -> str:
        """The bad lines and their problems, in one line."""
        shown = [f"line {n}: {self.problems.get(n, 'unreadable')}" for n in self.bad_lines[:limit]]
        more = f"; and {len(self.bad_lines) - limit} more" if len(self.bad_lines) > limit else ""
        return "; ".join(shown) + more


def read_results(path: Path) -> Results:
    """Every valid line of ``path``; partial, corrupt or invalid lines (checked against
    :class:`RunRecord` and the other record schemas) are skipped and listed with their problem.
    Raises a one-line :class:`UsageError` if ``path`` exists but cannot be read as a file."""
    out = Results()
    if not path.exists():
        return out
    try:
        data = path.read_bytes()
    except OSError as e:
        what = "is a directory, not a file" if isinstance(e, IsADirectoryError) else (e.strerror or str(e))
        raise UsageError(f"{path}: results file {what}") from None
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            problem: str | None = "not a whole JSON line (partial or corrupt)"
        else:
            problem = check_record(record)
        if problem is None:
            out.records.append(record)
        else:
            out.bad_lines.append(number)
            out.problems[number] = problem
    return out

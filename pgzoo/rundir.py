"""The files of a training run: config.json, metrics.csv, model.pt, summary.json."""

from __future__ import annotations

import csv
import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pgzoo import atomic
from pgzoo.config import format_validation_error
from pgzoo.errors import UsageError
from pgzoo.userfiles import read_user_json, writable_folder

METRIC_FIELDS = ("episode", "env_steps", "return", "length", "wall_s")


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a temporary file renamed over the target)."""
    atomic.write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_model(path: Path, state: dict[str, Any]) -> None:
    """Save state dicts atomically; they load back with ``torch.load(weights_only=True)``."""
    with atomic.replacing(path) as tmp:
        torch.save(state, tmp)


class RunMeta(BaseModel):
    """The ``config.json`` of a run directory (what :class:`pgzoo.Trainer` writes)."""

    model_config = ConfigDict(extra="allow")

    algorithm: str
    env_id: str
    seed: int = Field(ge=0)
    config: dict[str, Any]


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``config.json`` and the ``model.pt`` state of a finished run.

    Raises a one-line :class:`UsageError` naming the file and what is wrong with it: not a
    folder, a file missing, malformed or incomplete JSON, a model file that is truncated or not
    a pgzoo model, or one that holds pickled objects other than tensors (never unpickled:
    ``weights_only=True``).
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise UsageError(f"{d}: not a pgzoo run directory ({'a file' if d.exists() else 'no such folder'})")
    for name in ("config.json", "model.pt"):
        if not (d / name).exists():
            raise UsageError(f"{d} is not a pgzoo run directory (missing {name})")
    raw = read_user_json(d / "config.json", "run config")
    try:
        meta = RunMeta.model_validate(raw).model_dump()
    except ValidationError as e:
        raise UsageError(format_validation_error(e, f"{d / 'config.json'}: not a pgzoo run config")) from None
    return meta, load_model(d / "model.pt")


def load_model(path: Path, what: str = "model file") -> dict[str, Any]:
    """The state saved by :func:`save_model` (``{"agent": {name: tensor}, ...}``), loaded with
    ``weights_only=True``; a one-line :class:`UsageError` naming ``path`` (a ``what``) for anything else."""
    if path.is_dir():
        raise UsageError(f"{path}: {what} is a directory, not a file")
    try:
        with warnings.catch_warnings():  # odd bytes make torch warn about pickle protocols: the error says it
            warnings.simplefilter("ignore")
            state = torch.load(path, weights_only=True)
    except pickle.UnpicklingError as e:
        if "unsupported global" in str(e).lower() or "unsupported class" in str(e).lower():
            raise UsageError(f"{path}: the file holds pickled objects other than tensors, which pgzoo will not "
                             "load (it may be unsafe)") from None
        raise UsageError(f"{path}: not a readable {what} (not a saved PyTorch state, or corrupt)") from None
    except Exception as e:  # torch.load on arbitrary bytes raises many kinds (EOFError, IndexError, ...)
        raise UsageError(f"{path}: not a readable {what}, truncated or corrupt ({_first_line(e)})") from None
    agent = state.get("agent") if isinstance(state, dict) else None
    if not isinstance(agent, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in agent.items()):
        raise UsageError(f"{path}: not a pgzoo {what} (expected a dict with an 'agent' state dict of tensors)")
    return state


def load_agent_state(agent: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """Load ``state`` into ``agent``; a one-line :class:`UsageError` if its names or shapes do not
    fit the agent that ``what`` (e.g. "reinforce on CartPole-v1") builds."""
    want = agent.state_dict()
    problems = [f"missing {k}" for k in want if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in want]
    problems += [f"{k} has shape {list(state[k].shape)}, not {list(v.shape)}"
                 for k, v in want.items() if k in state and state[k].shape != v.shape]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UsageError(f"{path}: does not fit {what} as config.json describes it: {'; '.join(problems[:3])}{more}")
    agent.load_state_dict(state)


def claim_run_dir(path: str | Path, algorithm: str, env_id: str, force: bool = False) -> Path:
    """Make ``path`` the run directory of a new run of ``algorithm`` on ``env_id``.

    Creates it (a one-line :class:`UsageError` if it is a file, lies under one or is not
    writable) and, unless ``force``, refuses a folder holding another algorithm's or
    environment's run, files that are no run at all, or a finished run (its ``summary.json``)
    of the same algorithm and environment, rather than mixing two runs' files or replacing
    finished results.
    """
    p = Path(path)
    existing = p.is_dir() and any(p.iterdir())
    p = writable_folder(p, "run directory")
    if not existing or force:
        return p
    try:
        meta = json.loads((p / "config.json").read_text())
        owner = (meta.get("algorithm"), meta.get("env_id")) if isinstance(meta, dict) else None
    except (OSError, ValueError):
        owner = None
    if owner == (algorithm, env_id):
        if not (p / "summary.json").exists():
            return p  # the same experiment again, never finished: its files are replaced
        try:
            steps = f" ({json.loads((p / 'summary.json').read_text())['env_steps']} env steps)"
        except (OSError, ValueError, KeyError, TypeError):
            steps = ""
        raise UsageError(f"{p} holds a finished run of '{algorithm}' on {env_id}{steps}; choose another --out, "
                         "or pass --force to replace it")
    held = f"a run of '{owner[0]}' on {owner[1]}" if owner else "files that are not a pgzoo run"
    raise UsageError(f"{p} holds {held}; choose another --out, or pass --force to overwrite")


def _first_line(err: BaseException) -> str:
    """The first sentence of an exception's message (whole: never cut in the middle), or its type's name."""
    lines = str(err).strip().splitlines()
    if not lines:
        return type(err).__name__
    first, stop, _ = lines[0].partition(". ")
    return first + "." if stop else lines[0]


def read_metrics(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """A run's ``config.json`` and its ``metrics.csv`` as columns (``env_steps``, ``return``, ...).

    Works on a run still training (the rows so far). Raises :class:`UsageError` if ``run_dir``
    is not a run directory or its ``metrics.csv`` is unreadable.
    """
    d = Path(run_dir)
    try:
        config = json.loads((d / "config.json").read_text())
        with open(d / "metrics.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError as e:
        raise UsageError(f"{d} is not a pgzoo run directory (missing {Path(e.filename).name})") from None
    try:
        columns = {k: [float(r[k]) for r in rows] for k in METRIC_FIELDS}
    except (KeyError, TypeError, ValueError) as e:
        raise UsageError(f"{d / 'metrics.csv'}: unreadable row ({e})") from None
    return config, columns


class MetricsWriter:
    """Appends one CSV row per finished episode, flushed as it goes.

    A new file (with its header) unless ``append``: then the rows go after those already in
    ``path`` (a resumed run, :mod:`pgzoo.engine.checkpoint`)."""

    def __init__(self, path: Path | None, append: bool = False) -> None:
        self._fh = open(path, "a" if append else "w", newline="") if path else None  # noqa: SIM115
        self._writer = csv.DictWriter(self._fh, fieldnames=METRIC_FIELDS) if self._fh else None
        if self._writer and not append:
            self._writer.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        if self._writer:
            self._writer.writerow(row)
            self._fh.flush()

    def close(self) -> None:
        if self._fh:
            self._fh.close()

"""The files of a training run: config.json, metrics.csv, model.pt, summary.json."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import torch

from pgzoo.errors import UsageError

METRIC_FIELDS = ("episode", "env_steps", "return", "length", "wall_s")


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a temporary file renamed over the target)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def save_model(path: Path, state: dict[str, Any]) -> None:
    """Save state dicts atomically; they load back with ``torch.load(weights_only=True)``."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``config.json`` and the ``model.pt`` state of a finished run."""
    d = Path(run_dir)
    try:
        config = json.loads((d / "config.json").read_text())
        state = torch.load(d / "model.pt", weights_only=True)
    except FileNotFoundError as e:
        raise UsageError(f"{d} is not a pgzoo run directory (missing {Path(e.filename).name})") from None
    return config, state


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
    """Appends one CSV row per finished episode, flushed as it goes."""

    def __init__(self, path: Path | None) -> None:
        self._fh = open(path, "w", newline="") if path else None  # noqa: SIM115
        self._writer = csv.DictWriter(self._fh, fieldnames=METRIC_FIELDS) if self._fh else None
        if self._writer:
            self._writer.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        if self._writer:
            self._writer.writerow(row)
            self._fh.flush()

    def close(self) -> None:
        if self._fh:
            self._fh.close()

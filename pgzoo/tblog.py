"""Hooks into a training run, and the one that writes TensorBoard event files.

The trainer calls a :class:`TrainLogger` (when it is given one) at three moments:

- ``on_update(env_steps, terms)`` after every optimiser update, with the loss terms and
  diagnostics of the update's last step as floats (what :meth:`Algorithm.update` returns);
- ``on_episode(row)`` for every finished episode (a ``metrics.csv`` row: ``episode``,
  ``env_steps``, ``return``, ``length``, ``wall_s``; on a continuing task one row per window);
- ``on_eval(point)`` at every evaluation point of an :class:`~pgzoo.engine.trainer.EvalSchedule`
  (``env_steps``, ``return_mean``, ``return_mean_deterministic``).

:class:`TensorBoardLogger` writes them with ``torch.utils.tensorboard`` (the ``tensorboard``
package's event-file format), one sub-folder per run, so that ``tensorboard --logdir DIR``
compares runs. Per-update terms are averaged over windows of ``every`` env steps: adding a
handful of floats per update is all the hot loop pays (measured: docs/speed.md).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pgzoo.errors import UsageError


class TrainLogger:
    """The hooks a trainer calls; every method does nothing here. Subclass what you need."""

    def on_update(self, env_steps: int, terms: dict[str, float]) -> None:
        """After an update, at ``env_steps`` env steps: its ``loss_*`` terms and diagnostics."""

    def on_episode(self, row: dict[str, Any]) -> None:
        """A finished episode's ``metrics.csv`` row."""

    def on_eval(self, point: dict[str, float]) -> None:
        """An evaluation point: ``env_steps``, ``return_mean``, ``return_mean_deterministic``."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of the logger (JSON-able) to continue where it was."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (a resumed run)."""

    def close(self) -> None:
        """Flush and release what the logger holds."""

    def __enter__(self) -> TrainLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_name(algorithm: str, env_id: str, seed: int) -> str:
    """The name of a run's folder: ``ALGO-ENV-sSEED``, as ``pgzoo train`` names its run directory."""
    return f"{algorithm}-{env_id}-s{seed}"


class TensorBoardLogger(TrainLogger):
    """Writes a run's scalars to ``log_dir/name`` (TensorBoard event files).

    Tags, all against env steps: ``train/<term>`` (every ``loss_*`` term and diagnostic, mean
    over the updates of each window of ``every`` env steps, plus ``train/update_calls``),
    ``rollout/episode_return`` and ``rollout/episode_length`` (every episode),
    ``eval/return_mean`` and ``eval/return_mean_deterministic`` (every evaluation point),
    ``time/wall_s`` and ``time/env_steps_per_s`` (each window). ``config`` (if given) is stored
    as text. ``purge_step`` (a resumed run: its checkpoint's env steps + 1) hides the events at
    and after that step that the interrupted process wrote (TensorBoard's own purge). Raises
    :class:`UsageError` if the ``tensorboard`` package is missing.
    """

    def __init__(self, log_dir: str | Path, name: str, every: int = 1000, config: dict[str, Any] | None = None,
                 purge_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise UsageError(f"--tensorboard needs the tensorboard package ({e}); install it with: "
                             "pip install 'pgzoo[tensorboard]'") from None
        if every < 1:
            raise UsageError(f"TensorBoard window must be at least 1 env step (got {every})")
        self.path = Path(log_dir) / name
        self.every = every
        self._writer = SummaryWriter(log_dir=str(self.path), purge_step=purge_step)
        self._sums: dict[str, float] = {}
        self._count = 0
        self._updates = 0
        self._next = every
        self._seen = 0
        self._start = time.perf_counter()
        if config is not None and purge_step is None:
            self._writer.add_text("config", "```\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```", 0)

    def on_update(self, env_steps: int, terms: dict[str, float]) -> None:
        sums = self._sums
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        self._count += 1
        self._seen = env_steps
        if env_steps >= self._next:
            self._flush_window(env_steps)

    def _flush_window(self, env_steps: int) -> None:
        self._updates += self._count
        if self._count:
            for k, v in self._sums.items():
                self._writer.add_scalar(f"train/{k}", v / self._count, env_steps)
        self._writer.add_scalar("train/update_calls", self._updates, env_steps)
        wall = time.perf_counter() - self._start
        self._writer.add_scalar("time/wall_s", wall, env_steps)
        self._writer.add_scalar("time/env_steps_per_s", env_steps / max(wall, 1e-9), env_steps)
        self._sums, self._count = {}, 0
        self._next = (env_steps // self.every + 1) * self.every

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self._sums), "count": self._count, "updates": self._updates, "next": self._next,
                "seen": self._seen, "wall_s": time.perf_counter() - self._start}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sums, self._count, self._updates = dict(state["sums"]), state["count"], state["updates"]
        self._next, self._seen = state["next"], state["seen"]
        self._start = time.perf_counter() - state["wall_s"]

    def on_episode(self, row: dict[str, Any]) -> None:
        step = int(row["env_steps"])
        self._writer.add_scalar("rollout/episode_return", float(row["return"]), step)
        self._writer.add_scalar("rollout/episode_length", float(row["length"]), step)

    def on_eval(self, point: dict[str, float]) -> None:
        step = int(point["env_steps"])
        for k, v in point.items():
            if k != "env_steps":
                self._writer.add_scalar(f"eval/{k}", float(v), step)

    def close(self) -> None:
        """Write the last partial window (at the last update's env steps) and close the event file."""
        if self._count:
            self._flush_window(self._seen)
        self._writer.close()

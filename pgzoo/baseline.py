"""Baselines: trainers from other libraries, run under pgzoo's budgets, seeds and evaluation.

A plugin registers a :class:`Baseline` subclass through the ``register_baselines`` hook. The
core never imports the other library: only the plugin does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pgzoo.engine.trainer import EvalSchedule, TrainResult


class Baseline:
    """A baseline algorithm (e.g. Stable-Baselines3 A2C).

    ``run`` trains on ``env_id`` for ``total_steps`` env steps with ``seed`` and returns a
    :class:`~pgzoo.engine.trainer.TrainResult` (``agent`` may be ``None``) whose ``curve`` follows
    ``schedule`` and whose ``summary`` has the same keys as pgzoo's trainer writes
    (``env_steps``, ``wall_s``, ``env_steps_per_s``, ``eval_return_mean``, ...). Evaluation
    must use the environment seeds of :func:`pgzoo.seeding.derive_seeds` (``eval_envs``), so
    that baselines and pgzoo algorithms are evaluated on the same episodes.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    library: ClassVar[str] = ""
    env_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    """Per-environment default hyperparameters (e.g. rl-baselines3-zoo's tuned ones)."""

    def __init__(self, hyperparams: dict[str, Any] | None = None) -> None:
        self.hyperparams = dict(hyperparams or {})

    def check(self, env_id: str) -> None:
        """Raise a one-line :class:`~pgzoo.errors.UsageError` if this baseline, with its
        hyperparameters, cannot train on ``env_id`` (its spaces, a setting its library rejects):
        a suite calls it for every baseline entry and environment before anything trains. The
        default checks nothing."""

    def run(self, env_id: str, seed: int, total_steps: int, schedule: EvalSchedule,
            progress: bool = False) -> TrainResult:  # pragma: no cover - abstract
        raise NotImplementedError

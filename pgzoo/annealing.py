"""A run's progress through its budget, and settings annealed over it.

*Progress* p ∈ [0, 1] is the fraction of the training budget done when a rollout is complete
(:func:`budget_fraction`): env steps taken, counting the rollout's last step, over
``total_steps``; or, with a budget in episodes, episodes finished, counting any the rollout's
last step finished, over ``total_episodes``. The engine hands it to the algorithm with every
rollout (:attr:`pgzoo.Rollout.progress`), in the trainer, in population training and in
``pgzoo verify`` (where the budget is the case's stream of steps: see
:attr:`pgzoo.book.BookCase.progress`), so ``prepare`` and the loss see the same p in all three.

A config's ``anneal`` field (``{"clip_range": "linear"}``) gives a float setting a schedule
over p; a loss or ``prepare`` reads the setting's value at p with :func:`annealed`. The kinds
(:data:`ANNEAL_KINDS`) are those of ``lr_schedule``: ``"constant"`` (its value throughout) and
``"linear"`` (value·(1 − p), decayed to 0 at the end of the budget, as rl-baselines3-zoo's
``lin_<value>`` and SB3's ``get_linear_fn(value, 0, 1)``). Only settings a config marks
:func:`~pgzoo.config.annealable` may be annealed: those its algorithm reads through
:func:`annealed`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

AnnealKind = Literal["constant", "linear"]
ANNEAL_KINDS: tuple[str, ...] = ("constant", "linear")


def budget_fraction(env_steps: int, episodes: int, total_steps: int, total_episodes: int | None) -> float:
    """The fraction of the budget done: ``episodes / total_episodes`` if the budget is in episodes,
    else ``env_steps / total_steps``, capped to [0, 1]. Counts include the rollout's last step."""
    done = episodes / total_episodes if total_episodes else env_steps / total_steps
    return min(max(float(done), 0.0), 1.0)


def budget_fractions(env_steps: np.ndarray, episodes: np.ndarray, total_steps: int,
                     total_episodes: int | None) -> np.ndarray:
    """:func:`budget_fraction` of many runs at once (float64, the same values)."""
    done = episodes / total_episodes if total_episodes else env_steps / total_steps
    return np.clip(np.asarray(done, dtype=np.float64), 0.0, 1.0)


def anneal_factor(kind: str, progress: float) -> float:
    """The factor on a setting at progress p: 1 for ``"constant"``, 1 − p for ``"linear"``."""
    if kind == "linear":
        return max(0.0, 1.0 - progress)
    return 1.0


def progress_tensor(progress: float) -> torch.Tensor:
    """p as the engine hands it to the algorithm (:attr:`pgzoo.Rollout.progress`): a 0-d float64 tensor."""
    return torch.tensor(progress, dtype=torch.float64)


def annealed(config: Any, name: str, progress: torch.Tensor | float | None) -> torch.Tensor | float:
    """The value of the setting ``name`` of ``config`` at progress ``progress`` (p; ``None``
    reads as 0): the setting itself unless ``config.anneal`` schedules it, else its value times
    the schedule's factor at p, as a tensor when p is one (so that compiled and vmapped losses
    take p as an input). Raises ``KeyError`` for a name that is not a setting of ``config``.
    """
    if not hasattr(config, name):  # (plain attribute reads: a compiled loss traces this)
        raise KeyError(f"{type(config).__name__} has no setting {name!r}")
    value = getattr(config, name)
    kind = config.anneal.get(name, "constant") if hasattr(config, "anneal") else "constant"
    if kind == "constant" or progress is None:
        return value
    if isinstance(progress, torch.Tensor):
        return value * (1.0 - progress.clamp(0.0, 1.0))
    return value * anneal_factor(kind, float(progress))

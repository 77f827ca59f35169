"""Update schedules: when the engine hands a rollout to the algorithm, and of what shape.

Two kinds cover the book's boxes and what comes after them:

- ``steps`` (n): a segment of n consecutive env steps of every one of the N environments,
  a rollout ``[n, N]``. n = 1 is the book's per-step actor–critic; n = 5 with N = 8 is A2C's
  schedule. Episodes end inside a segment (``terminated`` / ``truncated`` mark where) and a
  segment ends wherever its n-th step falls; an algorithm bootstraps from ``next_obs`` at
  truncations and at the segment's last step.
- ``episodes`` (K): K finished episodes, pooled across environments in the order they end,
  concatenated along time into one rollout ``[T₁+…+T_K, 1]`` whose ``t`` restarts at 0 at
  every episode's first step. K = 1 is the book's REINFORCE.

The user picks with the settings ``rollout_steps`` or ``rollout_episodes``; an algorithm
declares the kinds it supports and their book defaults in ``Algorithm.schedules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ScheduleKind = Literal["steps", "episodes"]
KINDS: tuple[ScheduleKind, ...] = ("steps", "episodes")
SETTING = {"steps": "rollout_steps", "episodes": "rollout_episodes"}
"""The config setting that picks each kind."""


@dataclass(frozen=True)
class Schedule:
    """``kind`` and ``length``: n env steps of every environment, or K whole episodes."""

    kind: ScheduleKind
    length: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown schedule kind {self.kind!r} (known: {', '.join(KINDS)})")
        if self.length < 1:
            raise ValueError(f"a schedule's length must be >= 1, got {self.length}")

    @property
    def episodic(self) -> bool:
        """Whether rollouts are whole episodes (the algorithm needs episodes to end)."""
        return self.kind == "episodes"

    def describe(self) -> str:
        """E.g. ``"every 5 steps of all envs"`` or ``"every episode"``."""
        if self.kind == "steps":
            return "every step" if self.length == 1 else f"every {self.length} steps of all envs"
        return "every episode" if self.length == 1 else f"every {self.length} episodes"

"""Many short corridors stepped as one NumPy vector (for population training)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pgzoo.population_envs import BatchStep
from pgzoo_book_envs.short_corridor import GOAL, RIGHT


class ShortCorridorBatch:
    """``num_envs`` copies of ``ShortCorridor-v0`` with its time limit, any subset stepped at once.

    Behaves exactly like the same number of ``gymnasium.make("ShortCorridor-v0")`` copies
    (the corridor is deterministic, so seeds do not matter).
    """

    def __init__(self, num_envs: int, max_episode_steps: int | None = None) -> None:
        self.num_envs, self.max_episode_steps = num_envs, max_episode_steps
        self.state = np.zeros(num_envs, dtype=np.int64)
        self.elapsed = np.zeros(num_envs, dtype=np.int64)

    def reset(self, seeds: Sequence[int]) -> np.ndarray:
        self.state[:] = 0
        self.elapsed[:] = 0
        return self.state.copy()

    def step(self, idx: np.ndarray, actions: np.ndarray) -> BatchStep:
        state = self.state[idx]
        move = np.where(np.asarray(actions) == RIGHT, 1, -1)
        move = np.where(state == 1, -move, move)
        state = np.maximum(0, state + move)
        terminated = state == GOAL
        elapsed = self.elapsed[idx] + 1
        limit = self.max_episode_steps
        truncated = elapsed >= limit if limit else np.zeros_like(terminated)
        final = np.where(terminated, 0, state)
        done = terminated | truncated
        obs = np.where(done, 0, final)
        self.state[idx] = obs
        self.elapsed[idx] = np.where(done, 0, elapsed)
        return BatchStep(obs, np.full(len(idx), -1.0), terminated, truncated, final)

    def close(self) -> None:
        pass

"""An environment of your own, for ``pgzoo train ALGO --env my_envs:GoRight-v0``.

``pgzoo`` imports ``my_envs`` (from the current folder too) before it makes the environment, and
the import registers ``GoRight-v0`` with gymnasium. A corridor of ``length`` cells: the agent
starts in cell 0, action 1 moves right and 0 left, every step costs −1, and the episode ends
(terminates) in the last cell; gymnasium's TimeLimit truncates it after 50 steps.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class GoRight(gym.Env):
    def __init__(self, length: int = 5) -> None:
        self.length = length
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), dtype=np.float32)  # position / (length − 1)
        self.action_space = gym.spaces.Discrete(2)
        self.position = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.position / (self.length - 1)], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.position = 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.position = min(max(self.position + (1 if action == 1 else -1), 0), self.length - 1)
        return self._obs(), -1.0, self.position == self.length - 1, False, {}


gym.register("GoRight-v0", entry_point=GoRight, max_episode_steps=50)

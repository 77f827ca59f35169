"""Example 13.1: the short corridor with switched actions.

States 0, 1, 2 are non-terminal, 3 is the goal. Actions: 0 = right, 1 = left. In states 0
and 2 they act normally (left in state 0 stays put); in state 1 they are switched. Every
step, the one into the goal included, gives reward −1. The policy's features do not see the
state: x(s,right) = [1,0], x(s,left) = [0,1]; so a linear soft-max policy is one probability
p of "right", and the start state's value is J(p) = (2p − 4) / (p(1 − p)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from pgzoo.engine.batched_envs import BatchStep
from pgzoo.features import ActionOneHot

RIGHT, LEFT = 0, 1
GOAL = 3


def start_value(p: float) -> float:
    """J(p) = v_π(S0) of the policy that goes right with probability p (closed form)."""
    return (2 * p - 4) / (p * (1 - p))


OPTIMAL_P = 2 - math.sqrt(2)
OPTIMAL_VALUE = -(6 + 4 * math.sqrt(2))


class ShortCorridorEnv(gym.Env):
    """Example 13.1. Observation: the state index (Discrete(3)). Reward −1 per step."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Discrete(3)
        self.action_space = gym.spaces.Discrete(2)
        self.state = 0

    def state_action_features(self) -> ActionOneHot:
        """The book's x(s,right) = [1,0], x(s,left) = [0,1], for linear soft-max policies."""
        return ActionOneHot(2)

    @classmethod
    def make_batch(cls, num_envs: int, max_episode_steps: int | None = None) -> Any:
        """Copies of this environment stepped as one vector (see :mod:`pgzoo.engine.batched_envs`)."""
        return ShortCorridorBatch(num_envs, max_episode_steps)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.state = 0
        return self.state, {}

    def step(self, action: int | np.integer) -> tuple[int, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r} for ShortCorridor-v0 (0 = right, 1 = left)")
        move = 1 if action == RIGHT else -1
        if self.state == 1:
            move = -move
        self.state = max(0, self.state + move)
        if self.state == GOAL:
            return 0, -1.0, True, False, {}
        return self.state, -1.0, False, False, {}


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

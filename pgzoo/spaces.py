"""What an algorithm needs to know about an environment, and observation encoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgzoo.errors import UsageError


def action_space_kind(space: gym.Space) -> str:
    """Name of an action space's kind as plugins declare support for it."""
    if isinstance(space, gym.spaces.Discrete):
        return "discrete"
    if isinstance(space, gym.spaces.Box):
        return "continuous"
    return type(space).__name__.lower()


def obs_dim(space: gym.Space) -> int:
    """Length of the encoded (flat, float) observation vector."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    raise UsageError(f"observation space {space} is not supported (Discrete or Box only)")


def encode_obs(space: gym.Space, obs: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Turn a batch of raw observations into float vectors ``[..., obs_dim]``.

    Discrete observations become one-hot vectors; Box observations are flattened.
    """
    if isinstance(space, gym.spaces.Discrete):
        idx = torch.as_tensor(np.asarray(obs), dtype=torch.long) - int(space.start)
        return torch.nn.functional.one_hot(idx, int(space.n)).to(dtype)
    arr = torch.as_tensor(np.asarray(obs), dtype=dtype)
    lead = arr.shape[: arr.dim() - len(space.shape)]
    return arr.reshape(*lead, -1)


def to_env_actions(space: gym.Space, actions: torch.Tensor) -> np.ndarray:
    """Actions as the environment takes them: continuous ones clipped to the space's bounds.

    The sampled (unclipped) action is what is stored and used in ln π; only the environment
    sees the clipped one.
    """
    arr = actions.numpy()
    if isinstance(space, gym.spaces.Box):
        return np.clip(arr, space.low, space.high).astype(space.dtype)
    return arr


@dataclass(frozen=True)
class EnvSpec:
    """The facts about an environment that building an agent needs.

    ``state_action_features`` is the environment's own x(s,a) (an ``nn.Module``), when the
    unwrapped environment offers a ``state_action_features()`` method that builds one (e.g.
    the book's features of the short corridor); otherwise ``None``.
    """

    env_id: str
    observation_space: gym.Space
    action_space: gym.Space
    state_action_features: torch.nn.Module | None = None
    continuing: bool = False
    """A continuing task (``metadata["continuing"]``): no episodes; scored by reward per step."""

    @property
    def obs_dim(self) -> int:
        return obs_dim(self.observation_space)

    @property
    def action_kind(self) -> str:
        return action_space_kind(self.action_space)

    @property
    def action_dim(self) -> int:
        """Length of a continuous action vector."""
        return int(np.prod(self.action_space.shape))

    @property
    def n_actions(self) -> int:
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise UsageError(f"{self.env_id}: action space {self.action_space} is not discrete")
        return int(self.action_space.n)

    @classmethod
    def from_env(cls, env: gym.Env | gym.vector.VectorEnv, env_id: str) -> EnvSpec:
        """Read the spec off a single or vector environment."""
        if isinstance(env, gym.vector.VectorEnv):
            obs_space, act_space = env.single_observation_space, env.single_action_space
            inner = env.envs[0] if hasattr(env, "envs") else None
        else:
            obs_space, act_space, inner = env.observation_space, env.action_space, env
        make_features = getattr(inner.unwrapped, "state_action_features", None) if inner else None
        continuing = bool(inner.unwrapped.metadata.get("continuing", False)) if inner else False
        return cls(env_id, obs_space, act_space, make_features() if make_features else None, continuing)

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


def is_image_space(space: gym.Space) -> bool:
    """Whether ``space`` holds images: a ``Box`` of ``uint8`` with bounds 0 … 255."""
    return (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8
            and bool(np.all(space.low == 0)) and bool(np.all(space.high == 255)))


def encode_obs(space: gym.Space, obs: Any, dtype: torch.dtype = torch.float32,
               scale_images: bool = True) -> torch.Tensor:
    """Turn a batch of raw observations into float vectors ``[..., obs_dim]``.

    Discrete observations become one-hot vectors; Box observations are flattened. Images
    (:func:`is_image_space`) are divided by 255 into [0, 1] unless ``scale_images`` is false
    (the config setting ``scale_images``).
    """
    if isinstance(space, gym.spaces.Discrete):
        idx = torch.as_tensor(np.asarray(obs), dtype=torch.long) - int(space.start)
        return torch.nn.functional.one_hot(idx, int(space.n)).to(dtype)
    arr = torch.as_tensor(np.asarray(obs), dtype=dtype)
    if scale_images and is_image_space(space):
        arr = arr / 255.0
    lead = arr.shape[: arr.dim() - len(space.shape)]
    return arr.reshape(*lead, -1)


def to_env_actions(space: gym.Space, actions: torch.Tensor) -> np.ndarray:
    """A batch of sampled actions ``[B, ...]`` as the environment takes them, ``[B, *space.shape]``.

    Discrete: the index a ∈ {0 … n−1} becomes ``space.start + a`` (int64). Box: the flat
    action ``[B, prod(shape)]`` is reshaped to the space's shape, clipped to its bounds where
    they are finite and cast to its dtype, so that ``space.contains`` holds for each row.
    The sampled (unclipped, flat) action is what is stored and used in ln π; only the
    environment sees this one.
    """
    arr = actions.numpy()
    if isinstance(space, gym.spaces.Box):
        arr = arr.reshape(arr.shape[0], *space.shape)
        return np.clip(arr, space.low, space.high).astype(space.dtype)
    if isinstance(space, gym.spaces.Discrete) and space.start != 0:
        return arr.astype(np.int64) + np.int64(space.start)
    return arr


@dataclass(frozen=True)
class EnvSpec:
    """The facts about an environment that building an agent needs.

    ``state_action_features`` is the environment's own x(s,a) (a
    :class:`~pgzoo.features.StateActionFeatures`), when the unwrapped environment offers a
    ``state_action_features()`` method that builds one (e.g. the book's features of the short
    corridor); otherwise ``None``. ``state_features`` is likewise its own x(s) for a linear v̂
    (a :class:`~pgzoo.features.StateFeatures`, from a ``state_features()`` method). In your own
    loop, supply either with ``dataclasses.replace(spec, state_features=...)``.
    """

    env_id: str
    observation_space: gym.Space
    action_space: gym.Space
    state_action_features: torch.nn.Module | None = None
    continuing: bool = False
    """A continuing task (``metadata["continuing"]``): no episodes; scored by reward per step."""
    state_features: torch.nn.Module | None = None

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
        make_state_features = getattr(inner.unwrapped, "state_features", None) if inner else None
        continuing = bool(inner.unwrapped.metadata.get("continuing", False)) if inner else False
        return cls(env_id, obs_space, act_space, make_features() if make_features else None, continuing,
                   make_state_features() if make_state_features else None)

"""Feature functions: x(s,a) for linear action preferences, x(s) for linear values.

All take *encoded* observations ``[..., obs_dim]`` (see :func:`pgzoo.spaces.encode_obs`).
"""

from __future__ import annotations

import torch
from torch import nn


class StateActionFeatures(nn.Module):
    """x(s,a): maps observations ``[..., obs_dim]`` to features ``[..., n_actions, dim]``."""

    n_actions: int
    dim: int


class StateFeatures(nn.Module):
    """x(s): maps observations ``[..., obs_dim]`` to features ``[..., dim]``."""

    dim: int


class BoundsScaling(nn.Module):
    """Observations mapped affinely from the observation space's bounds to [−1, 1]:
    x ↦ 2(x − low)/(high − low) − 1 in every dimension whose bounds are finite (the others pass
    unchanged). A fixed part of π and v̂ (buffers ``offset``, ``scale``: saved with the model,
    the same in evaluation), the stateless stand-in for a running normaliser when the space
    is bounded (``obs_scaling="bounds"``). ``low``/``high`` are the flat bounds ``[obs_dim]``."""

    def __init__(self, low: torch.Tensor, high: torch.Tensor) -> None:
        super().__init__()
        finite = torch.isfinite(low) & torch.isfinite(high) & (high > low)
        span = torch.where(finite, high - low, 2.0)
        self.register_buffer("offset", torch.where(finite, (low + high) / 2, 0.0))
        self.register_buffer("scale", 2.0 / span)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.offset.to(obs.dtype)) * self.scale.to(obs.dtype)


class ObsWithBias(StateFeatures):
    """x(s) = [obs, 1] (with ``inputs``, e.g. :class:`BoundsScaling`: [inputs(obs), 1])."""

    def __init__(self, obs_dim: int, inputs: nn.Module | None = None) -> None:
        super().__init__()
        self.dim = obs_dim + 1
        self.inputs = inputs

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.inputs is not None:
            obs = self.inputs(obs)
        return torch.cat([obs, torch.ones_like(obs[..., :1])], dim=-1)


class PerActionObs(StateActionFeatures):
    """x(s,a) = e_a ⊗ [obs, 1]: one block of observation features (with bias) per action.

    With this, h(s,a,θ) = θᵀx(s,a) is an independent linear function of s for every action.
    """

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.state = ObsWithBias(obs_dim)
        self.n_actions = n_actions
        self.dim = n_actions * self.state.dim
        self.register_buffer("eye", torch.eye(n_actions), persistent=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        xs = self.state(obs)  # [..., k]
        eye = self.eye.to(xs.dtype)
        return (eye[:, :, None] * xs[..., None, None, :]).flatten(-2)  # [..., A, A*k]


class ActionOneHot(StateActionFeatures):
    """x(s,a) = e_a: features that do not see the state (Example 13.1's short corridor)."""

    def __init__(self, n_actions: int) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.dim = n_actions
        self.register_buffer("eye", torch.eye(n_actions), persistent=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.eye.to(obs.dtype).expand(*obs.shape[:-1], self.n_actions, self.n_actions)


class StateActionTable(StateActionFeatures):
    """x(s,a) looked up in a table ``[n_states, n_actions, dim]`` by one-hot observations."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.n_actions, self.dim = int(table.shape[1]), int(table.shape[2])
        self.register_buffer("table", table.clone())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...s,sad->...ad", obs.to(self.table.dtype), self.table)


class StateTable(StateFeatures):
    """x(s) looked up in a table ``[n_states, dim]`` by one-hot observations."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.dim = int(table.shape[1])
        self.register_buffer("table", table.clone())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.to(self.table.dtype) @ self.table

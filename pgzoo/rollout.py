"""Rollout: time-major tensors of experience from one or many environments."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Rollout:
    """Experience with a time axis first and an environment axis second: ``[T, N, ...]``.

    Step ``k`` of environment ``n`` is (S_t, A_t, R_{t+1}, S_{t+1}) with t = ``t[k, n]``, the
    time index within its episode (t = 0 at an episode's first step), used for γᵗ and I.

    ``next_obs`` is always the true next observation S_{t+1}, also at the last step of an
    episode (where a vector environment has already reset): a time-limit truncation can then
    bootstrap from it, while a termination ignores it (v̂(terminal) = 0).
    ``returns`` is filled by algorithms that need Monte-Carlo returns G_t over a whole
    episode before they split it (see :meth:`pgzoo.Algorithm.update_batches`).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    next_obs: torch.Tensor
    t: torch.Tensor
    returns: torch.Tensor | None = None

    @property
    def num_steps(self) -> int:
        """T, the length of the time axis."""
        return int(self.rewards.shape[0])

    @property
    def num_envs(self) -> int:
        """N, the number of environments."""
        return int(self.rewards.shape[1])

    @property
    def done(self) -> torch.Tensor:
        """True where an episode ended, by termination or truncation."""
        return self.terminated | self.truncated

    def replace(self, **changes: torch.Tensor | None) -> Rollout:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def __getitem__(self, index: slice | int) -> Rollout:
        """Select time steps (an int keeps the time axis, with length 1)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Rollout(**{
            f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index])
            for f in dataclasses.fields(self)
        })

    def to(self, dtype: torch.dtype) -> Rollout:
        """Cast the floating-point fields (observations, rewards, returns) to ``dtype``."""
        return Rollout(**{
            f.name: (v.to(dtype) if v is not None and v.is_floating_point() else v)
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        })

    @staticmethod
    def cat(parts: list[Rollout]) -> Rollout:
        """Concatenate rollouts along the time axis."""
        out = {}
        for f in dataclasses.fields(Rollout):
            values = [getattr(p, f.name) for p in parts]
            out[f.name] = None if any(v is None for v in values) else torch.cat(values, dim=0)
        return Rollout(**out)

"""Rollout: time-major tensors of experience from one or many environments."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

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
    ``extras`` holds what an algorithm fixes at θ_old before its SGD steps
    (:meth:`pgzoo.Algorithm.prepare`: old log-probabilities, advantages, value targets), each
    ``[T, N, ...]`` like the other fields; indexing, :meth:`cat`, :meth:`transitions` and
    :meth:`select_envs` carry them along.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    next_obs: torch.Tensor
    t: torch.Tensor
    returns: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

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

    def _map(self, fn) -> Rollout:
        """Apply ``fn`` to every tensor field and extra (``None`` stays ``None``)."""
        out = {f.name: (None if getattr(self, f.name) is None else fn(getattr(self, f.name)))
               for f in dataclasses.fields(self) if f.name != "extras"}
        return Rollout(**out, extras={k: fn(v) for k, v in self.extras.items()})

    def __getitem__(self, index: slice | int) -> Rollout:
        """Select time steps (an int keeps the time axis, with length 1)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return self._map(lambda v: v[index])

    def select_envs(self, index: torch.Tensor | slice) -> Rollout:
        """Select along the environment axis N (e.g. a minibatch of a :meth:`transitions` view)."""
        return self._map(lambda v: v[:, index])

    def transitions(self) -> Rollout:
        """The same steps as one step of T·N environments, ``[1, T·N, ...]``: for minibatches of
        transitions once ``prepare`` has fixed everything that needs the time axis."""
        T, N = self.num_steps, self.num_envs
        return self._map(lambda v: v.reshape(1, T * N, *v.shape[2:]))

    def to(self, dtype: torch.dtype) -> Rollout:
        """Cast the floating-point fields (observations, rewards, returns, extras) to ``dtype``."""
        return self._map(lambda v: v.to(dtype) if v.is_floating_point() else v)

    @staticmethod
    def cat(parts: list[Rollout]) -> Rollout:
        """Concatenate rollouts along the time axis (their extras must have the same keys)."""
        out = {}
        for f in dataclasses.fields(Rollout):
            if f.name == "extras":
                continue
            values = [getattr(p, f.name) for p in parts]
            out[f.name] = None if any(v is None for v in values) else torch.cat(values, dim=0)
        keys = parts[0].extras.keys()
        if any(p.extras.keys() != keys for p in parts):
            raise ValueError("cannot concatenate rollouts whose extras differ in their keys")
        return Rollout(**out, extras={k: torch.cat([p.extras[k] for p in parts]) for k in keys})

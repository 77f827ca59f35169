"""Rollout: time-major tensors of experience from one or many environments."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from pgzoo.errors import UsageError

GROUPS = ("policy", "value")
"""The agent's parameter groups a batch can step (:attr:`Rollout.groups`): θ of π, w of v̂."""


class RolloutError(UsageError, ValueError):
    """A rollout breaks its contract (shapes, or the time index ``t``); the message says where."""


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

    ``progress`` is the run's progress when the engine hands the rollout to
    :meth:`pgzoo.Algorithm.update`: the fraction of the training budget done (a 0-d float64
    tensor in [0, 1]; see :func:`pgzoo.annealing.budget_fraction`); ``prepare`` and the loss read
    annealed settings through it (:func:`pgzoo.annealing.annealed`). ``None`` outside the
    engine (read as 0). Indexing and minibatches keep it as it is.

    ``groups`` says which of the agent's parameters the optimiser step on this batch updates:
    ``("policy",)`` (θ), ``("value",)`` (w, and whatever else the critic learns) or ``None``
    (all). The parameters of the other groups keep their values *and* their optimiser state
    (Adam's moments and step counts). Set it in ``update_batches`` with :meth:`stepping`.
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
    progress: torch.Tensor | None = None
    groups: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.groups is not None and (not self.groups or not set(self.groups) <= set(GROUPS)
                                        or len(set(self.groups)) != len(self.groups)):
            raise RolloutError(f"Rollout.groups must name distinct groups among {GROUPS} (or be None: all); "
                               f"got {self.groups!r}")

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

    @classmethod
    def from_transition(cls, obs: Any, action: Any, reward: float, terminated: bool, truncated: bool,
                        next_obs: Any, t: int) -> Rollout:
        """One step of one environment (S_t, A_t, R_{t+1}, terminated, truncated, S_{t+1}, t) as a
        rollout with T = N = 1: observations ``[obs_dim]`` become ``[1, 1, obs_dim]``, the action
        ``[]`` (discrete) or ``[action_dim]`` becomes ``[1, 1, ...]``, the scalars ``[1, 1]``."""
        return cls.from_transitions([(obs, action, reward, terminated, truncated, next_obs, t)])

    @classmethod
    def from_transitions(cls, steps: Sequence[tuple[Any, Any, float, bool, bool, Any, int]]) -> Rollout:
        """Consecutive steps of one environment, each ``(obs, action, reward, terminated,
        truncated, next_obs, t)``, as a rollout ``[T, 1, ...]`` (T = ``len(steps)``).

        Observations and actions may be tensors or array-likes (a tensor keeps its dtype;
        others become torch's default float, actions of integer type ``long``); rewards become
        the observations' float dtype, flags ``bool`` and ``t`` ``long``. Raises
        :class:`RolloutError` for an empty list or a step that is not a 7-tuple.
        """
        if not steps:
            raise RolloutError("from_transitions needs at least one step")
        for k, step in enumerate(steps):
            if len(step) != 7:
                raise RolloutError(f"step {k} has {len(step)} entries; expected (obs, action, reward, terminated, "
                                   f"truncated, next_obs, t)")
        cols = list(zip(*steps, strict=True))

        def stack(values: Sequence[Any], dtype: torch.dtype | None = None) -> torch.Tensor:
            return torch.stack([torch.as_tensor(v, dtype=dtype) for v in values])[:, None]

        obs, next_obs = stack(cols[0]), stack(cols[5])
        float_dtype = obs.dtype if obs.is_floating_point() else torch.get_default_dtype()
        return cls(obs, stack(cols[1]), stack(cols[2], float_dtype), stack(cols[3], torch.bool),
                   stack(cols[4], torch.bool), next_obs, stack(cols[6], torch.long))

    def replace(self, **changes: Any) -> Rollout:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def stepping(self, *groups: str) -> Rollout:
        """This batch, with its optimiser step updating only ``groups`` (``"policy"``, ``"value"``);
        no argument: all of them. E.g. ``yield batch.stepping("value")`` for a critic-only step."""
        return self.replace(groups=tuple(groups) or None)

    def _map(self, fn) -> Rollout:
        """Apply ``fn`` to every per-step tensor field and extra (``None`` stays ``None``);
        ``progress`` and ``groups`` are kept as they are."""
        out = {f.name: (None if getattr(self, f.name) is None else fn(getattr(self, f.name)))
               for f in dataclasses.fields(self) if f.name not in _WHOLE}
        return Rollout(**out, extras={k: fn(v) for k, v in self.extras.items()}, progress=self.progress,
                       groups=self.groups)

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
        transitions once ``prepare`` has fixed everything that needs the time axis.

        Row-major over ``[T, N]``: position k·N + n holds step k of environment n (time-major:
        the N environments' step 0, then their step 1, …), for every field and extra alike;
        ``progress`` and ``groups`` are kept."""
        T, N = self.num_steps, self.num_envs
        return self._map(lambda v: v.reshape(1, T * N, *v.shape[2:]))

    def to(self, dtype: torch.dtype) -> Rollout:
        """Cast the floating-point fields (observations, rewards, returns, extras) to ``dtype``."""
        return self._map(lambda v: v.to(dtype) if v.is_floating_point() else v)

    @staticmethod
    def cat(parts: list[Rollout]) -> Rollout:
        """Concatenate rollouts along the time axis (their extras must have the same keys); the
        result has the last part's ``progress`` and ``groups``."""
        out = {}
        for f in dataclasses.fields(Rollout):
            if f.name in _WHOLE:
                continue
            values = [getattr(p, f.name) for p in parts]
            out[f.name] = None if any(v is None for v in values) else torch.cat(values, dim=0)
        keys = parts[0].extras.keys()
        if any(p.extras.keys() != keys for p in parts):
            raise ValueError("cannot concatenate rollouts whose extras differ in their keys")
        return Rollout(**out, extras={k: torch.cat([p.extras[k] for p in parts]) for k in keys},
                       progress=parts[-1].progress, groups=parts[-1].groups)


_WHOLE = ("extras", "progress", "groups")
"""Fields of a :class:`Rollout` that are not one tensor per step."""


class TimeIndexCheck:
    """Checks the contract of ``Rollout.t`` across the rollouts one learner is given.

    ``t`` is the only episode-boundary signal the losses see (γᵗ, I, trace resets): within an
    environment's column it restarts at 0 after a step with ``terminated | truncated`` and
    increases by 1 otherwise, within a rollout and from one rollout to the next. A call with a
    different number of environments starts afresh. Raises :class:`RolloutError` naming the
    step, the environment and the value ``t`` should have had.
    """

    def __init__(self) -> None:
        self.last_t: torch.Tensor | None = None
        self.last_done: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the previous rollout (the next one may start anywhere)."""
        self.last_t = self.last_done = None

    def __call__(self, rollout: Rollout) -> None:
        t, done = rollout.t, rollout.done
        if t.dim() != 2 or done.shape != t.shape:
            raise RolloutError(f"Rollout.t must be [T, N] like terminated and truncated; got t {tuple(t.shape)}, "
                               f"terminated {tuple(rollout.terminated.shape)}, truncated "
                               f"{tuple(rollout.truncated.shape)}")
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise RolloutError(f"Rollout.t must hold integers (the step within its episode); got {t.dtype}")
        if (t < 0).any():
            k, n = (int(i) for i in (t < 0).nonzero()[0])
            raise RolloutError(f"Rollout.t[{k}, {n}] = {int(t[k, n])}; the time index within an episode is >= 0")
        if self.last_t is not None and self.last_t.shape == t[0].shape:
            prev_t, prev_done = torch.cat([self.last_t[None], t[:-1]]), torch.cat([self.last_done[None], done[:-1]])
            got, first = t, 0
        else:
            prev_t, prev_done, got, first = t[:-1], done[:-1], t[1:], 1
        expected = torch.where(prev_done, 0, prev_t + 1)
        bad = got != expected
        if bad.any():
            k, n = (int(i) for i in bad.nonzero()[0])
            where = f"Rollout.t[{k + first}, {n}] = {int(got[k, n])}"
            if k + first == 0:
                where += " (first step, continuing the previous rollout this algorithm was given)"
            cause = "ended (terminated or truncated)" if bool(prev_done[k, n]) else "did not end"
            raise RolloutError(f"{where}, but the step before it {cause}, so t should be {int(expected[k, n])}: t "
                               f"restarts at 0 after terminated | truncated and increases by 1 otherwise (a global "
                               f"step counter gives wrong γᵗ, I and trace resets)")
        self.last_t, self.last_done = t[-1].clone(), done[-1].clone()

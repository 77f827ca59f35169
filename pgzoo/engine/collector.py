"""From env steps to the rollouts of a schedule: the one collection path of the engine.

:class:`Collector` serves a single run (R = 1) and a population of R runs alike: it keeps the
time index t of every environment (0 at an episode's first step), stores the steps of each
run's N environments, and returns each rollout as soon as the schedule completes it. The
trainer and population training only step environments and act; what an update sees is cut
here, once.
"""

from __future__ import annotations

import numpy as np
import torch

from pgzoo.engine.schedules import Schedule
from pgzoo.rollout import Rollout

STEP_FIELDS = ("obs", "actions", "rewards", "terminated", "truncated", "next_obs", "t")
"""The per-step fields of a :class:`~pgzoo.Rollout`, in its constructor's order."""


class Collector:
    """Cuts the steps of R runs × N environments into rollouts of ``schedule``.

    Environments are numbered run-major (env ``r·N + i`` is environment i of run r). Each call
    of :meth:`add` is one env step of every environment of some runs.
    """

    def __init__(self, schedule: Schedule, runs: int, num_envs: int) -> None:
        self.schedule, self.runs, self.num_envs = schedule, runs, num_envs
        self.t = torch.zeros(runs * num_envs, dtype=torch.long)
        """Time index within its episode of each environment's next step ``[R·N]``."""
        self._store: dict[str, torch.Tensor] = {}
        # steps: [R, n, N, ...] per run; episodes: [R·N, capacity, ...] per environment
        self._fill = np.zeros(runs if schedule.kind == "steps" else runs * num_envs, dtype=np.int64)
        self._pool: list[list[Rollout]] = [[] for _ in range(runs)]
        self._steps: list[tuple[torch.Tensor, ...]] = []

    def add(self, runs: np.ndarray, obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
            terminated: torch.Tensor, truncated: torch.Tensor, next_obs: torch.Tensor) -> list[tuple[int, Rollout]]:
        """Record one step of every environment of ``runs`` (tensors ``[k·N, ...]``, run-major).

        ``next_obs`` is the true S_{t+1} (also where an episode ended). Returns the rollouts
        this step completed as ``(run, rollout)``, in run order, then environment order.
        """
        values = self._values(runs, obs, actions, rewards, terminated, truncated, next_obs)
        if self.schedule.kind == "steps":
            if self.runs == 1:
                return self._add_single(values)
            full, fields = self._add_segments(runs, values)
            return [(int(r), Rollout(*(fields[f][j] for f in STEP_FIELDS))) for j, r in enumerate(full)]
        return self._add_episodes(runs, self._env_idx(runs), values, (terminated | truncated).numpy())

    def _env_idx(self, runs: np.ndarray) -> np.ndarray:
        """The environments of ``runs``, run-major ``[k·N]``."""
        return (runs[:, None] * self.num_envs + np.arange(self.num_envs)).ravel()

    def add_segments(self, runs: np.ndarray, obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                     terminated: torch.Tensor, truncated: torch.Tensor, next_obs: torch.Tensor
                     ) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        """As :meth:`add`, for a schedule of n-step segments: the segments this step completed,
        stacked, as (their runs ``[k]``, fields ``[k, n, N, ...]`` by name, in :data:`STEP_FIELDS`
        order). One tensor per field however many runs complete (a population's runs that
        collect together complete together)."""
        if self.schedule.kind != "steps":
            raise ValueError("add_segments is for a schedule of n-step segments")
        return self._add_segments(runs, self._values(runs, obs, actions, rewards, terminated, truncated, next_obs))

    def _values(self, runs: np.ndarray, obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                terminated: torch.Tensor, truncated: torch.Tensor, next_obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The step's fields in :data:`STEP_FIELDS` order, with each environment's t (then advanced)."""
        done = terminated | truncated
        if len(runs) == self.runs:  # every run (the trainer's one): no indexing
            t = self.t
            self.t = torch.where(done, 0, t + 1)
        else:
            env_idx = torch.from_numpy(self._env_idx(runs))
            t = self.t[env_idx]
            self.t[env_idx] = torch.where(done, 0, t + 1)
        return obs, actions, rewards, terminated, truncated, next_obs, t

    # --- n-step segments of all N environments -------------------------------------------
    def _add_single(self, values: tuple[torch.Tensor, ...]) -> list[tuple[int, Rollout]]:
        """One run's segments (the trainer's hot path)."""
        if self.schedule.length == 1:  # the book's per-step cadence: the step itself
            return [(0, Rollout(*(v[None] for v in values)))]
        self._steps.append(values)  # a list of steps, stacked when the segment is full
        if len(self._steps) < self.schedule.length:
            return []
        steps, self._steps = self._steps, []
        return [(0, Rollout(*(torch.stack(col) for col in zip(*steps, strict=True))))]

    def _add_segments(self, runs: np.ndarray, values: tuple[torch.Tensor, ...]
                      ) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        n, N, k = self.schedule.length, self.num_envs, len(runs)
        if n == 1:  # the book's per-step cadence: no storage at all
            return runs, {f: v.reshape(k, 1, N, *v.shape[1:]) for f, v in zip(STEP_FIELDS, values, strict=True)}
        if not self._store:
            self._store = {f: v.new_zeros((self.runs, n, N, *v.shape[1:])) for f, v in zip(STEP_FIELDS, values,
                                                                                            strict=True)}
        rt, pos = torch.from_numpy(runs), torch.from_numpy(self._fill[runs])
        for f, v in zip(STEP_FIELDS, values, strict=True):
            self._store[f][rt, pos] = v.reshape(k, N, *v.shape[1:])
        self._fill[runs] += 1
        full = runs[self._fill[runs] == n]
        self._fill[full] = 0
        ft = torch.from_numpy(full)
        return full, {f: self._store[f][ft] for f in STEP_FIELDS}  # copies: the store is refilled

    # --- whole episodes ------------------------------------------------------------------
    def _add_episodes(self, runs: np.ndarray, env_idx: np.ndarray, values: tuple[torch.Tensor, ...],
                      done: np.ndarray) -> list[tuple[int, Rollout]]:
        if not self._store:
            self._store = {f: v.new_zeros((len(self._fill), 64, *v.shape[1:])) for f, v in zip(STEP_FIELDS, values,
                                                                                               strict=True)}
        lens = self._fill
        cap = self._store["rewards"].shape[1]
        if lens[env_idx].max() >= cap:
            self._store = {f: torch.cat([v, torch.zeros_like(v)], 1) for f, v in self._store.items()}
        ei, pos = torch.from_numpy(env_idx), torch.from_numpy(lens[env_idx])
        for f, v in zip(STEP_FIELDS, values, strict=True):
            self._store[f][ei, pos] = v
        lens[env_idx] += 1
        out = []
        for e in env_idx[done]:
            T, r = int(lens[e]), int(e // self.num_envs)
            episode = Rollout(*(self._store[f][e, :T].unsqueeze(1).clone() for f in STEP_FIELDS))
            lens[e] = 0
            pool = self._pool[r]
            pool.append(episode)
            if len(pool) == self.schedule.length:
                out.append((r, pool[0] if len(pool) == 1 else Rollout.cat(pool)))
                self._pool[r] = []
        return out

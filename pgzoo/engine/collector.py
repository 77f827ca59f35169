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
        N = self.num_envs
        done = terminated | truncated
        if self.runs == 1:  # a single run: no indexing (the trainer's hot path)
            t = self.t
            self.t = torch.where(done, 0, t + 1)
            env_idx = None
        else:
            env_idx = torch.from_numpy((runs[:, None] * N + np.arange(N)).ravel())
            t = self.t[env_idx]
            self.t[env_idx] = torch.where(done, 0, t + 1)
        values = (obs, actions, rewards, terminated, truncated, next_obs, t)
        if self.schedule.kind == "steps":
            return self._add_segment(runs, values)
        return self._add_episodes(runs, np.arange(N) if env_idx is None else env_idx.numpy(), values, done.numpy())

    # --- n-step segments of all N environments -------------------------------------------
    def _add_segment(self, runs: np.ndarray, values: tuple[torch.Tensor, ...]) -> list[tuple[int, Rollout]]:
        n, N, k = self.schedule.length, self.num_envs, len(runs)
        if n == 1 and self.runs == 1:  # the book's per-step cadence of a single run: the step itself
            return [(0, Rollout(*(v[None] for v in values)))]
        if n == 1:  # the book's per-step cadence: no storage at all
            return [(int(r), Rollout(*(v[j * N:(j + 1) * N][None] for v in values))) for j, r in enumerate(runs)]
        if self.runs == 1:  # a single run: a list of steps, stacked when the segment is full
            self._steps.append(values)
            if len(self._steps) < n:
                return []
            steps, self._steps = self._steps, []
            return [(0, Rollout(*(torch.stack(col) for col in zip(*steps, strict=True))))]
        if not self._store:
            self._store = {f: v.new_zeros((self.runs, n, N, *v.shape[1:])) for f, v in zip(STEP_FIELDS, values,
                                                                                            strict=True)}
        rt, pos = torch.from_numpy(runs), torch.from_numpy(self._fill[runs])
        for f, v in zip(STEP_FIELDS, values, strict=True):
            self._store[f][rt, pos] = v.reshape(k, N, *v.shape[1:])
        self._fill[runs] += 1
        full = runs[self._fill[runs] == n]
        self._fill[full] = 0
        return [(int(r), Rollout(*(self._store[f][r].clone() for f in STEP_FIELDS))) for r in full]

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

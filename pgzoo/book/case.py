"""The book's formulas in float64 NumPy, for closed-form checks of the losses.

A :class:`BookCase` is a small problem with a linear soft-max policy (features x(s,a) from a
table) and a linear value function v̂(s,w) = wᵀx(s) (x(s) from a table; a one-column table of
ones is the scalar baseline v̂ = w), plus experience to learn from. Algorithms implement
``book_update(case)`` by transcribing their box with the helpers here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from pgzoo.engine.collector import Collector
from pgzoo.engine.schedules import Schedule

EVERY_STEP = Schedule("steps", 1)


@dataclass
class BookCase:
    """Parameters, features and time-major experience ``[L, N]`` (states as indices).

    The experience is a connected stream: row k+1 of environment n follows row k (S_{t+1} is
    the next row's state unless the episode ended there, by termination or truncation, and a
    new one starts with t = 0). :meth:`rollouts` cuts it as the engine does for ``schedule``;
    ``update_seed`` seeds the generator the engine passes to ``update_batches``, so a
    ``book_update`` can replay minibatch shuffles with ``torch.Generator().manual_seed(...)``.
    """

    theta: np.ndarray  # [d]
    w: np.ndarray | None  # [k]
    x_sa: np.ndarray  # [S, A, d]
    x_s: np.ndarray  # [S, k]
    states: np.ndarray  # [T, N] int
    actions: np.ndarray  # [T, N] int
    rewards: np.ndarray  # [T, N] float
    terminated: np.ndarray  # [T, N] bool
    truncated: np.ndarray  # [T, N] bool
    next_states: np.ndarray  # [T, N] int
    t: np.ndarray  # [T, N] int, time index within the episode
    schedule: Schedule = EVERY_STEP
    update_seed: int = 0
    progress: float = 0.0
    """A piece's (:meth:`rollouts`) progress: the fraction of the case's stream done when the piece is
    complete, (rows up to and including its last) / L, what :attr:`pgzoo.Rollout.progress` is in
    training with a budget of L·N env steps; 0 for a whole case."""

    def rollouts(self) -> list[BookCase]:
        """The pieces of experience the engine hands to ``update``, in order: segments ``[n, N]``
        or batches of K episodes ``[T₁+…+T_K, 1]`` (cut by :class:`pgzoo.engine.collector.Collector`)."""
        L, N = self.rewards.shape
        collector = Collector(self.schedule, 1, N)
        run = np.zeros(1, dtype=np.int64)
        pieces = []
        for k in range(L):
            row = (torch.as_tensor(self.states[k]), torch.as_tensor(self.actions[k]),
                   torch.as_tensor(self.rewards[k]), torch.as_tensor(self.terminated[k]),
                   torch.as_tensor(self.truncated[k]), torch.as_tensor(self.next_states[k]))
            for _, r in collector.add(run, *row):
                pieces.append(replace(self, states=r.obs.numpy(), actions=r.actions.numpy(), rewards=r.rewards.numpy(),
                                      terminated=r.terminated.numpy(), truncated=r.truncated.numpy(),
                                      next_states=r.next_obs.numpy(), t=r.t.numpy(), progress=(k + 1) / L))
        return pieces

    def pi(self, theta: np.ndarray, s: int) -> np.ndarray:
        """π(·|s,θ), soft-max in linear preferences (13.2–13.3)."""
        h = self.x_sa[s] @ theta
        e = np.exp(h - h.max())
        return e / e.sum()

    def grad_ln_pi(self, theta: np.ndarray, s: int, a: int) -> np.ndarray:
        """∇ln π(a|s,θ) = x(s,a) − Σ_b π(b|s,θ) x(s,b)  (13.9)."""
        return self.x_sa[s, a] - self.pi(theta, s) @ self.x_sa[s]

    def v(self, w: np.ndarray, s: int) -> float:
        """v̂(s,w) = wᵀx(s)."""
        return float(self.x_s[s] @ w)

    def grad_v(self, w: np.ndarray, s: int) -> np.ndarray:
        """∇v̂(s,w) = x(s)."""
        return self.x_s[s]

    def returns(self, gamma: float, n: int = 0) -> np.ndarray:
        """G_t = Σ_{k=t+1..T} γ^(k-t-1) R_k in column ``n``, each episode's sum ending where it ends."""
        r, done = self.rewards[:, n], self.terminated[:, n] | self.truncated[:, n]
        G = np.zeros(len(r))
        for t in range(len(r)):
            for k in range(t, len(r)):
                G[t] += gamma ** (k - t) * r[k]
                if done[k]:
                    break
        return G

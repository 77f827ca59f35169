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
    new one starts with t = 0). :meth:`rollouts` cuts it as the engine does for ``schedule``
    into pieces, each a ``BookCase`` of the same parameters and features (θ and w are the
    case's initial ones in every piece: ``book_update`` carries its own θ, w from piece to
    piece). ``update_seed`` seeds **one** generator that ``pgzoo verify`` passes to
    ``update_batches`` for all of the case's pieces in order, so a ``book_update`` replays the
    minibatch shuffles with one ``torch.Generator().manual_seed(case.update_seed)`` created before
    its loop over :meth:`rollouts` (not one per piece).

    Fields: ``theta`` θ ``[d]`` and ``w`` ``[k]`` (``None`` for an algorithm without v̂), the
    initial parameters; ``x_sa`` x(s,a) ``[S, A, d]`` and ``x_s`` x(s) ``[S, k]``, the feature
    tables (a one-column table of ones is the scalar baseline); ``states``, ``actions``
    ``[L, N]`` indices, ``rewards`` R_{t+1} ``[L, N]``, ``terminated`` / ``truncated`` ``[L, N]``
    bool (an episode ends at most one way), ``next_states`` S_{t+1} ``[L, N]`` (the true next state
    also at a truncation; at a termination some state a book_update must not read: v̂(terminal)
    = 0), ``t`` ``[L, N]`` the time index within the episode; ``schedule`` the algorithm's update
    schedule, ``update_seed`` as above,
    ``progress`` the run's progress p when a piece is complete (below).
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

    def gae(self, w: np.ndarray, gamma: float, lam: float) -> np.ndarray:
        """GAE(λ) advantages ``[T, N]`` of this piece at w: δ_k = R + γ v̂(S′,w) − v̂(S,w) (v̂(S′) = 0 at a
        termination; a truncation bootstraps), Â_k = δ_k + γλ Â_{k+1}, cut at every episode end and
        at the piece's last row (Schulman et al. 2016, eq. 16)."""
        T, N = self.rewards.shape
        adv = np.zeros((T, N))
        for n in range(N):
            a = 0.0
            for k in reversed(range(T)):
                v_next = 0.0 if self.terminated[k, n] else self.v(w, self.next_states[k, n])
                delta = self.rewards[k, n] + gamma * v_next - self.v(w, self.states[k, n])
                ends = self.terminated[k, n] or self.truncated[k, n]
                a = adv[k, n] = delta + (0.0 if ends else gamma * lam * a)
        return adv

    def grad_entropy(self, theta: np.ndarray, s: int) -> np.ndarray:
        """∇H(π(·|s,θ)) = −Σ_b π(b|s,θ) ln π(b|s,θ) ∇ln π(b|s,θ) for the soft-max (13.9; Σ_b π ∇ln π = 0)."""
        pi = self.pi(theta, s)
        return -sum(pi[b] * np.log(pi[b]) * self.grad_ln_pi(theta, s, b) for b in range(len(pi)))

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

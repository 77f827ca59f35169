"""The book's formulas in float64 NumPy, for closed-form checks of the losses.

A :class:`BookCase` is a small problem with a linear soft-max policy (features x(s,a) from a
table) and a linear value function v̂(s,w) = wᵀx(s) (x(s) from a table; a one-column table of
ones is the scalar baseline v̂ = w), plus experience to learn from. Algorithms implement
``book_update(case)`` by transcribing their box with the helpers here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BookCase:
    """Parameters, features and time-major experience ``[T, N]`` (states as indices)."""

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
        """G_t = Σ_{k=t+1..T} γ^(k-t-1) R_k for the episode in column ``n``."""
        r = self.rewards[:, n]
        return np.array([sum(gamma ** (k - t) * r[k] for k in range(t, len(r))) for t in range(len(r))])

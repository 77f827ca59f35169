"""Acting from a table of π(·|s) while θ stays fixed, for small discrete observation spaces.

In the population's lockstep loop (:mod:`pgzoo.engine.population`) every run's θ is fixed for a
whole episode: the book's Monte-Carlo boxes update only after it. If the observations are
``Discrete(n)`` with few states and the policy is a soft-max (``Categorical``), π(·|s,θ) of
every run and every state can be computed once per episode, as the CDF rows that
:func:`pgzoo.sampling.sample_with` inverts, and each step's actions read from that table in
NumPy: one forward pass of the policy per state and episode instead of one per step.

Bit for bit what acting step by step gives: each state's row is computed by the same vmapped
forward pass, on observations of the same shape (one per run), as the step-by-step sampler's,
and the inverse transform compares the same float numbers (:func:`pgzoo.sampling.inverse_cdf`:
U cast to the CDF's dtype, the count of CDF entries ≤ U, clamped to the last action).
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from pgzoo.spaces import encode_obs

MAX_STATES = 64
"""The table is used for observation spaces of at most this many states (one forward pass of
every run's policy per state and episode; an episode rarely takes fewer steps than that)."""


def table_applies(observation_space: gym.Space, action_space: gym.Space, num_envs: int) -> bool:
    """Whether :class:`PolicyTable` can act for runs on these spaces (one environment per run)."""
    return (isinstance(observation_space, gym.spaces.Discrete) and int(observation_space.n) <= MAX_STATES
            and isinstance(action_space, gym.spaces.Discrete) and num_envs == 1)


class PolicyTable:
    """π(·|s,θ_r) of ``runs`` runs for every state s of a ``Discrete(n)`` observation space.

    ``cdf_fn(params, obs)`` is the population's batched policy: stacked parameters ``[R, ...]``
    and encoded observations ``[R, 1, obs_dim]`` to the normalised CDFs ``[R, 1, n_actions]``
    (:func:`pgzoo.sampling.categorical_cdf`), or raises ``TypeError`` for a policy that is not
    a soft-max.
    """

    def __init__(self, cdf_fn: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor],
                 observation_space: gym.spaces.Discrete, runs: int, dtype: torch.dtype, scale_images: bool) -> None:
        self.cdf_fn, self.start = cdf_fn, int(observation_space.start)
        states = np.arange(int(observation_space.n)) + self.start
        # every state's encoded observation, one per run: [n, R, 1, obs_dim]
        self.obs = encode_obs(observation_space, np.repeat(states[:, None, None], runs, 1), dtype, scale_images)
        self.cdf = np.zeros(0)

    def refresh(self, params: dict[str, torch.Tensor]) -> None:
        """Compute every run's CDF rows ``[R, n, n_actions]`` at its current ``params``."""
        with torch.no_grad():
            self.cdf = torch.stack([self.cdf_fn(params, obs)[:, 0] for obs in self.obs], 1).numpy()

    def draw(self, runs: np.ndarray, states: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The actions ``[k]`` (int64) of ``runs`` in raw ``states`` from the uniforms ``u`` ``[k]``."""
        cdf = self.cdf[runs, states - self.start]
        return np.minimum((cdf <= u.astype(cdf.dtype)[:, None]).sum(1), cdf.shape[1] - 1)

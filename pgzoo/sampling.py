"""Action sampling from a per-run stream of uniform numbers.

Training samples A ~ π(·|S,θ) by inverse transform from uniforms U ∈ [0, 1) that come from a
generator of the run's own, drawn in fixed chunks. The single-run trainer and population
training (:mod:`pgzoo.engine.population`) use the same stream and the same transform, so one seed
gives the same actions whether the run is trained alone or as a member of a population.

Supported distributions: ``Categorical`` (inverse CDF), ``Normal`` / ``Independent(Normal)``
(μ + σ·Φ⁻¹(U)) and gSDE's :class:`~pgzoo.exploration.StateDependentNoise` (μ + zᵀ(σ ⊙ Φ⁻¹(U)),
its uniforms held for ``hold`` steps: :class:`ActionStream`). Any other distribution falls back
to its own ``sample()`` on torch's global generator (and such a policy cannot be trained as a
population).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Categorical, Distribution, Independent, Normal

from pgzoo.exploration import StateDependentNoise

CHUNK_STEPS = 256
"""Env steps' worth of uniforms drawn from the generator at a time (part of the stream's definition)."""


def action_seed(torch_seed: int) -> int:
    """The seed of a run's action stream, derived from (and independent of) its torch seed."""
    return int(np.random.SeedSequence([torch_seed, 0xAC7]).generate_state(1, dtype=np.uint64)[0] >> 1)


def draws_per_env(action_space: object, policy: object = None) -> int:
    """How many uniforms one action takes: 1 for a discrete action, the size of a Box action, the
    size of the noise matrix of a gSDE ``policy`` (its ``noise_draws``)."""
    if getattr(policy, "noise_draws", None):
        return int(policy.noise_draws)
    shape = getattr(action_space, "shape", ()) or ()
    return max(1, math.prod(shape)) if shape else 1


def new_chunk(generator: torch.Generator, num_envs: int, draws: int) -> torch.Tensor:
    """The next ``[CHUNK_STEPS, num_envs, draws]`` float64 uniforms of a stream."""
    return torch.rand(CHUNK_STEPS, num_envs, draws, generator=generator, dtype=torch.float64)


class ActionStream:
    """One run's uniforms: ``next()`` gives ``[num_envs, draws]`` for one env step.

    With ``hold`` = k > 1 (gSDE's ``sde_sample_freq``) each row of a chunk serves k consecutive
    steps: the uniforms change at steps 0, k, 2k, … of the run (a chunk lasts CHUNK_STEPS·k steps).
    """

    def __init__(self, torch_seed: int, num_envs: int, draws: int = 1, hold: int = 1) -> None:
        self.generator = torch.Generator().manual_seed(action_seed(torch_seed))
        self.num_envs, self.draws, self.hold = num_envs, draws, hold
        self.chunk = new_chunk(self.generator, num_envs, draws)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos == CHUNK_STEPS * self.hold:
            self.chunk, self.pos = new_chunk(self.generator, self.num_envs, self.draws), 0
        self.pos += 1
        return self.chunk[(self.pos - 1) // self.hold]

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """The stream's position: generator state (``uint8`` tensor), current chunk, index in it."""
        return {"generator": self.generator.get_state(), "chunk": self.chunk.clone(), "pos": self.pos}

    def load_state_dict(self, state: dict[str, torch.Tensor | int]) -> None:
        """Continue exactly where :meth:`state_dict` was taken (a chunk of the same shape)."""
        if tuple(state["chunk"].shape) != tuple(self.chunk.shape):
            raise ValueError(f"action stream chunk of shape {list(state['chunk'].shape)}, "
                             f"not {list(self.chunk.shape)}")
        self.generator.set_state(state["generator"])
        self.chunk, self.pos = state["chunk"].clone(), int(state["pos"])


def inverse_cdf(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The index a ∈ {0, …, n−1} with F(a−1) ≤ U < F(a): the count of CDF entries ≤ U.

    ``cdf`` is ``[..., n]`` (non-decreasing), ``u`` is ``[..., 1]`` in [0, 1). U is cast to the
    CDF's dtype first, and a float64 U close to 1 becomes 1.0 in float32 (any U > 1 − 2⁻²⁵);
    the count then reaches n, as it does when the CDF's last entry rounds below U. Only that
    count is clamped to n − 1 (the last action); every other draw is unchanged.
    Returns a long tensor ``[...]``. Works under ``torch.func.vmap``.
    """
    idx = (cdf <= u.to(cdf.dtype)).sum(-1)
    return idx.clamp_max(cdf.shape[-1] - 1)


def categorical_cdf(dist: Categorical) -> torch.Tensor:
    """F(a) = Σ_{b ≤ a} π(b), normalised so that F(last) = 1: ``[*batch, n]``, what
    :func:`sample_with` inverts. Works under ``torch.func.vmap``."""
    cdf = dist.probs.cumsum(-1)
    return cdf / cdf[..., -1:]


def supports_stream(dist: Distribution) -> bool:
    """Whether :func:`sample_with` can sample ``dist`` from uniforms."""
    base = dist.base_dist if isinstance(dist, Independent) else dist
    return isinstance(base, Categorical | Normal)


def sample_with(dist: Distribution, u: torch.Tensor) -> torch.Tensor:
    """Sample ``dist`` by inverse transform of the uniforms ``u`` (``[*batch, draws]``).

    Categorical: the smallest a with U < F(a) (F the CDF, normalised so F(last) = 1), see
    :func:`inverse_cdf`. Normal: μ + σ Φ⁻¹(U). Works under ``torch.func.vmap``.
    """
    if isinstance(dist, StateDependentNoise):
        return dist.noise_action(u)
    base = dist.base_dist if isinstance(dist, Independent) else dist
    if isinstance(base, Categorical):
        return inverse_cdf(categorical_cdf(base), u[..., :1])
    if isinstance(base, Normal):
        z = torch.special.ndtri(u.clamp_min(1e-300)).to(base.loc.dtype).reshape(base.loc.shape)
        return base.loc + base.scale * z
    return dist.sample()


@torch.no_grad()
def act(policy: torch.nn.Module, obs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """A ~ π(·|obs) sampled from the uniforms ``u`` of an :class:`ActionStream`."""
    return sample_with(policy(obs), u)

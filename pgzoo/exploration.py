"""Generalized state-dependent exploration (gSDE) for Gaussian policies.

Instead of fresh noise at every step, the action is the mean plus a linear function of the
policy's latent features z(s), with a noise matrix E that is held for several steps
(Raffin, Kober & Stulp 2021, "Smooth exploration for robotic reinforcement learning")::

    A = μ(s,θ) + z(s)ᵀ (σ ⊙ E),   E_ij ~ N(0, 1),  σ_ij = exp(θ_σ,ij)   (z: latent_dim, σ, E: latent_dim × action_dim)

For a given state and fresh E, A_j is Gaussian with mean μ_j(s) and variance
v_j(s) = Σ_i z_i(s)² σ_ij²: the policy π(a|s,θ) = N(μ(s,θ), diag v(s,θ)) that ln π, its
gradient and every loss see (:class:`StateDependentNoise`; a floor ``min_std²`` is added to
v). Between resamplings the exploration is a deterministic function of the state, so it is
smooth in time. z(s) is x(s) = [obs, 1] for a linear mean and the last hidden layer of an MLP
mean, held constant in ln π (as SB3's default: the features are learnt by μ only).

E is drawn by the engine from the run's action stream (:mod:`pgzoo.sampling`): the stream
gives ``latent_dim · action_dim`` uniforms per environment and step (E = Φ⁻¹(U)), held for
``sde_sample_freq`` consecutive env steps (:func:`exploration_hold`), so trainer and population
training act alike. The noise scale is the current σ, so at every step the action is drawn from
the current π(·|s,θ). Sources: Raffin et al. 2021; SB3's ``StateDependentNoiseDistribution``
(full σ matrix, ``log_std_init``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Independent, Normal

from pgzoo.errors import UsageError


class StateDependentNoise(Independent):
    """π(·|s) = N(μ, diag(std²)) per action dimension, plus what gSDE samples with: the latent
    features z(s) ``[..., latent_dim]`` and σ ``[latent_dim, action_dim]``."""

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, latent: torch.Tensor, sigma: torch.Tensor) -> None:
        super().__init__(Normal(loc, scale, validate_args=False), 1, validate_args=False)
        self.latent, self.sigma = latent, sigma

    def noise_action(self, u: torch.Tensor) -> torch.Tensor:
        """μ + z ᵀ(σ ⊙ Φ⁻¹(U)) for uniforms ``u`` ``[..., latent_dim · action_dim]``."""
        loc = self.base_dist.loc
        eps = torch.special.ndtri(u.clamp_min(1e-300)).to(loc.dtype).reshape(*loc.shape[:-1], *self.sigma.shape)
        return loc + torch.einsum("...i,...ij->...j", self.latent, self.sigma * eps)


def sde_std(latent: torch.Tensor, log_sigma: torch.Tensor, min_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """σ = exp(θ_σ) and the per-dimension std √(Σ_i z_i² σ_ij² + min_std²) ``[..., action_dim]``."""
    sigma = torch.exp(log_sigma)
    return sigma, torch.sqrt(latent.pow(2) @ sigma.pow(2) + min_std**2)


def exploration_hold(config: Any, schedule: Any) -> int:
    """Env steps a gSDE noise matrix is held for: ``sde_sample_freq``, or with −1 the rollout
    length n of a ``steps`` schedule (a new E at every rollout's start); 1 without gSDE.
    Raises :class:`UsageError` for −1 with an episode schedule (rollouts of no fixed length)."""
    if getattr(config, "gaussian_std", None) != "sde":
        return 1
    freq = config.sde_sample_freq
    if freq == -1:
        if schedule.kind != "steps":
            raise UsageError("sde_sample_freq = -1 (a new noise matrix per rollout) needs rollouts of n steps "
                             "(rollout_steps); give sde_sample_freq >= 1")
        return schedule.length
    return freq

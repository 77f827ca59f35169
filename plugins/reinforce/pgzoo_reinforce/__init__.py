"""REINFORCE: Monte-Carlo Policy-Gradient Control (episodic), Sutton & Barto §13.3.

Box::

    Generate an episode S0, A0, R1, …, S(T−1), A(T−1), RT following π(·|·,θ)
    For t = 0 … T−1:
        G ← Σ_{k=t+1..T} γ^(k−t−1) R_k
        θ ← θ + α γᵗ G ∇ln π(A_t|S_t,θ)

Loss: θ ← θ + α·C·∇g with C = γᵗ G and g = ln π(A_t|S_t,θ), so

    loss_policy = −Σ_t γᵗ G_t · ln π(A_t|S_t,θ)        (γᵗ G_t held constant)

``sequential=True`` (default, the box): one SGD step per t, later t see the updated θ.
``sequential=False``: one step on the sum at the episode's starting θ.
``discount_actor=False`` drops γᵗ, as most libraries do. ``alpha_theta`` is the box's α.
"""

from __future__ import annotations

import numpy as np

from pgzoo import LossTerms, MonteCarloAlgorithm, MonteCarloConfig, Rollout, SurrogateLoss, hookimpl
from pgzoo.book import BookCase
from pgzoo.losses import policy_loss_terms
from pgzoo.policies import Policy
from pgzoo.returns import discount_weights, episode_returns


class ReinforceConfig(MonteCarloConfig):
    """REINFORCE's settings: those of every Monte-Carlo algorithm (γ, α, sequential, γᵗ)."""


class ReinforceLoss(SurrogateLoss):
    """loss_policy = −Σ_t γᵗ G_t ln π(A_t|S_t,θ)  (+ loss_entropy if ``entropy_coef`` > 0)."""

    def forward(self, policy: Policy, value: None, rollout: Rollout) -> LossTerms:
        cfg = self.config
        G = episode_returns(rollout, cfg.gamma)
        gamma_t = discount_weights(rollout.t, cfg.gamma, G.dtype) if cfg.discount_actor else 1.0
        terms = policy_loss_terms(policy(rollout.obs), rollout.actions, gamma_t * G, cfg.entropy_coef)
        return {**terms, "return_mean": G.mean().detach()}


class Reinforce(MonteCarloAlgorithm):
    name = "reinforce"
    section = "13.3"
    summary = "REINFORCE: Monte-Carlo policy gradient"
    Config = ReinforceConfig
    Loss = ReinforceLoss
    action_spaces = ("discrete", "continuous")
    env_defaults = {
        "ShortCorridor-v0": {"gamma": 1.0, "alpha_theta": 2**-13, "init_theta": (-float(np.log(19)), 0.0)},
        "CartPole-v1": {"policy": "mlp", "optimizer": "adam", "alpha_theta": 1e-3, "discount_actor": False,
                        "sequential": False, "total_steps": 150_000},
        "Pendulum-v1": {"policy": "mlp", "optimizer": "adam", "alpha_theta": 1e-3, "gamma": 0.95,
                        "reward_scale": 0.1, "discount_actor": False, "sequential": False, "total_steps": 100_000},
    }
    verify_variants = {**MonteCarloAlgorithm.verify_variants,
                       "3-episodes-2-envs": {"sequential": False, "rollout_episodes": 3, "num_envs": 2}}

    def book_update(self, case: BookCase) -> tuple[np.ndarray, None]:
        cfg = self.config
        theta = case.theta.copy()
        for batch in case.rollouts():  # K whole episodes each, in the order they ended
            G, theta0 = batch.returns(cfg.gamma), theta
            for k in range(batch.rewards.shape[0]):
                s, a, t = batch.states[k, 0], batch.actions[k, 0], batch.t[k, 0]
                at = theta if cfg.sequential else theta0
                gamma_t = cfg.gamma**t if cfg.discount_actor else 1.0
                theta = theta + cfg.alpha_theta * gamma_t * G[k] * batch.grad_ln_pi(at, s, a)
        return theta, None


@hookimpl
def register_algorithms(register) -> None:
    register(Reinforce)


__all__ = ["Reinforce", "ReinforceConfig", "ReinforceLoss"]

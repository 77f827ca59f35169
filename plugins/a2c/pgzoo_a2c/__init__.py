"""Advantage actor–critic (A2C): §13.5's actor–critic on n-step segments with GAE(λ) advantages.

Per segment of n steps of every environment, collected with θ_old, w_old::

    δ_t ← R_{t+1} + γ v̂(S_{t+1},w_old) − v̂(S_t,w_old)     (v̂(terminal) = 0; truncation bootstraps)
    Â_t ← δ_t + γλ Â_{t+1}                                  (cut at episode ends; Â_n = 0)
    w ← w + α^w Σ_t Â_t ∇v̂(S_t,w)                          (Â_t + v̂(S_t) is the λ-return target)
    θ ← θ + α^θ Σ_t I_t Â_t ∇ln π(A_t|S_t,θ)               (I_t = γᵗ, or 1 with discount_actor=false)

Loss (one step on the segment, so w = w_old and θ = θ_old; Â fixed by ``prepare``):

    loss_value  = −Σ Â · v̂(S,w)
    loss_policy = −Σ I Â · ln π(A|S,θ)        (+ loss_entropy with entropy_coef)

n = 1, λ = 0 is the one-step actor–critic of §13.5 (Â = δ); whole episodes with λ = 1 is
REINFORCE with baseline (§13.4, Â = G − v̂). Sources: Mnih et al. 2016 (A2C), Schulman et al.
2016 (GAE, eq. 16); Sutton & Barto §7.1 (n-step returns), §12.1 (λ-returns).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from pgzoo import Agent, Algorithm, CriticConfig, LossTerms, Rollout, SurrogateLoss, hookimpl, tunable
from pgzoo.book import BookCase
from pgzoo.losses import policy_loss_terms, surrogate
from pgzoo.policies import Policy
from pgzoo.returns import discount_weights, gae
from pgzoo.values import ValueFunction


class A2CConfig(CriticConfig):
    """The actor–critic's settings plus λ of GAE(λ); the segment length is ``rollout_steps``."""

    gae_lambda: float = Field(1.0, ge=0.0, le=1.0, description="λ of the GAE(λ) advantages",
                              json_schema_extra=tunable(0.8, 1.0))


class A2CLoss(SurrogateLoss):
    """loss_value = −Σ Â v̂(S,w);  loss_policy = −Σ I Â ln π(A|S,θ);  Â from ``rollout.extras``."""

    def forward(self, policy: Policy, value: ValueFunction, rollout: Rollout) -> LossTerms:
        cfg, adv = self.config, rollout.extras["advantages"]
        i_factor = discount_weights(rollout.t, cfg.gamma, adv.dtype) if cfg.discount_actor else 1.0
        terms = policy_loss_terms(policy(rollout.obs), rollout.actions, i_factor * adv, cfg.entropy_coef)
        return {**terms, "loss_value": surrogate(adv, value(rollout.obs)), "advantage_mean": adv.mean()}


class A2C(Algorithm):
    name = "a2c"
    section = "13.5"
    summary = "Advantage actor-critic: n-step segments, GAE(lambda) advantages"
    Config = A2CConfig
    Loss = A2CLoss
    schedules = {"steps": 5, "episodes": 1}
    uses_value = True
    action_spaces = ("discrete", "continuous")
    verify_variants = {
        "n5-gae": {"num_envs": 3, "rollout_steps": 5, "gae_lambda": 0.7},
        "one-step": {"num_envs": 2, "rollout_steps": 1, "gae_lambda": 0.0},
        "episodes-lambda1": {"rollout_episodes": 2, "gae_lambda": 1.0, "discount_actor": False},
    }
    env_defaults = {  # SB3 A2C's n_steps and n_envs (rl-baselines3-zoo); tuned by hand on seeds 100-102
        "CartPole-v1": {"policy": "mlp", "value": "mlp", "optimizer": "adam", "alpha_theta": 1e-3,
                        "alpha_w": 1e-3, "discount_actor": False, "num_envs": 8},
        "Acrobot-v1": {"policy": "mlp", "value": "mlp", "optimizer": "adam", "alpha_theta": 1e-3,
                       "alpha_w": 1e-3, "discount_actor": False, "num_envs": 16, "reward_scale": 0.1},
    }

    def prepare(self, agent: Agent, rollout: Rollout) -> Rollout:
        adv, _ = gae(agent.value, rollout, self.config.gamma, self.config.gae_lambda)
        return rollout.replace(extras={**rollout.extras, "advantages": adv})

    def book_update(self, case: BookCase) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        theta, w = case.theta.copy(), case.w.copy()
        for seg in case.rollouts():  # what the engine hands to update, in order
            adv = seg.gae(w, cfg.gamma, cfg.gae_lambda)
            d_theta, d_w = np.zeros_like(theta), np.zeros_like(w)
            for k, n in np.ndindex(*adv.shape):
                s, a = seg.states[k, n], seg.actions[k, n]
                i_factor = cfg.gamma ** seg.t[k, n] if cfg.discount_actor else 1.0
                d_w += cfg.alpha_w * adv[k, n] * seg.grad_v(w, s)
                d_theta += cfg.alpha_theta * i_factor * adv[k, n] * seg.grad_ln_pi(theta, s, a)
            theta, w = theta + d_theta, w + d_w
        return theta, w


@hookimpl
def register_algorithms(register) -> None:
    register(A2C)


__all__ = ["A2C", "A2CConfig", "A2CLoss"]

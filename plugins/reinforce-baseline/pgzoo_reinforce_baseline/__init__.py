"""REINFORCE with Baseline (episodic), Sutton & Barto §13.4.

Box, per t with G as in REINFORCE::

    δ ← G − v̂(S_t,w)                    (once, with the old w)
    w ← w + α^w δ ∇v̂(S_t,w)             (no γᵗ here)
    θ ← θ + α^θ γᵗ δ ∇ln π(A_t|S_t,θ)

Loss: both updates have the form θ ← θ + α·C·∇g with C = δ held constant, so

    loss_value  = −Σ_t δ_t · v̂(S_t,w)
    loss_policy = −Σ_t γᵗ δ_t · ln π(A_t|S_t,θ)

and one SGD step (lr α^w for w, α^θ for θ) on their sum is one line of the box: δ is
computed once from the old w, and each loss only reaches its own parameters.
Figure 13.2 uses the scalar baseline v̂(s,w) = w (``value="scalar"``).
"""

from __future__ import annotations

import numpy as np

from pgzoo import CriticConfig, LossTerms, MonteCarloAlgorithm, MonteCarloConfig, Rollout, SurrogateLoss, hookimpl
from pgzoo.book import BookCase
from pgzoo.losses import policy_loss_terms, surrogate
from pgzoo.policies import Policy
from pgzoo.returns import discount_weights, episode_returns
from pgzoo.values import ValueFunction


class ReinforceBaselineConfig(MonteCarloConfig, CriticConfig):
    """REINFORCE's settings plus the baseline's α^w and form of v̂."""


class ReinforceBaselineLoss(SurrogateLoss):
    """loss_value = −Σ δ v̂(S_t,w);  loss_policy = −Σ γᵗ δ ln π(A_t|S_t,θ);  δ = G − v̂ (constant)."""

    def forward(self, policy: Policy, value: ValueFunction, rollout: Rollout) -> LossTerms:
        cfg = self.config
        G = episode_returns(rollout, cfg.gamma)
        v = value(rollout.obs)
        delta = (G - v).detach()
        gamma_t = discount_weights(rollout.t, cfg.gamma, G.dtype) if cfg.discount_actor else 1.0
        terms = policy_loss_terms(policy(rollout.obs), rollout.actions, gamma_t * delta, cfg.entropy_coef)
        return {**terms, "loss_value": surrogate(delta, v), "delta_mean": delta.mean(),
                "value_mean": v.mean().detach()}


class ReinforceBaseline(MonteCarloAlgorithm):
    name = "reinforce-baseline"
    section = "13.4"
    summary = "REINFORCE with a learned state-value baseline"
    Config = ReinforceBaselineConfig
    Loss = ReinforceBaselineLoss
    uses_value = True
    action_spaces = ("discrete", "continuous")
    env_defaults = {
        "ShortCorridor-v0": {"gamma": 1.0, "alpha_theta": 2**-9, "alpha_w": 2**-6, "value": "scalar",
                             "init_theta": (-float(np.log(19)), 0.0)},
        "CartPole-v1": {"policy": "mlp", "value": "mlp", "optimizer": "adam", "alpha_theta": 1e-3,
                        "alpha_w": 1e-3, "discount_actor": False, "sequential": False, "total_steps": 150_000},
        "Pendulum-v1": {"policy": "mlp", "value": "mlp", "optimizer": "adam", "alpha_theta": 1e-3,
                        "alpha_w": 1e-3, "gamma": 0.95, "reward_scale": 0.1, "discount_actor": False,
                        "sequential": False, "total_steps": 100_000},
    }
    verify_variants = {**MonteCarloAlgorithm.verify_variants,
                       "3-episodes-2-envs": {"sequential": False, "rollout_episodes": 3, "num_envs": 2}}

    def book_update(self, case: BookCase) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        theta, w = case.theta.copy(), case.w.copy()
        for batch in case.rollouts():  # K whole episodes each, in the order they ended
            G, theta0, w0 = batch.returns(cfg.gamma), theta, w
            for k in range(batch.rewards.shape[0]):
                s, a, t = batch.states[k, 0], batch.actions[k, 0], batch.t[k, 0]
                at_theta, at_w = (theta, w) if cfg.sequential else (theta0, w0)
                delta = G[k] - batch.v(at_w, s)
                gamma_t = cfg.gamma**t if cfg.discount_actor else 1.0
                w = w + cfg.alpha_w * delta * batch.grad_v(at_w, s)
                theta = theta + cfg.alpha_theta * gamma_t * delta * batch.grad_ln_pi(at_theta, s, a)
        return theta, w


@hookimpl
def register_algorithms(register) -> None:
    register(ReinforceBaseline)


__all__ = ["ReinforceBaseline", "ReinforceBaselineConfig", "ReinforceBaselineLoss"]

"""One-step Actor–Critic (episodic), Sutton & Barto §13.5.

Box, per episode (I ← 1) and per step::

    A ~ π(·|S,θ); take A, observe S′, R
    δ ← R + γ v̂(S′,w) − v̂(S,w)          (v̂(terminal) = 0; no gradient through v̂(S′,w))
    w ← w + α^w δ ∇v̂(S,w)
    θ ← θ + α^θ I δ ∇ln π(A|S,θ)
    I ← γ I ;  S ← S′

Loss: with the TD target held constant (semi-gradient) and C = δ, C = I δ,

    loss_value  = −Σ δ · v̂(S,w)
    loss_policy = −Σ I δ · ln π(A|S,θ)          (I = γᵗ, t the step's index in its episode)

A time-limit truncation is not termination: there v̂(S′,w) is still used. With several
environments stepped together, one SGD step sums their transitions at the same θ and w.
"""

from __future__ import annotations

import numpy as np

from pgzoo import Algorithm, CriticConfig, LossTerms, Rollout, SurrogateLoss, hookimpl
from pgzoo.book import BookCase
from pgzoo.losses import policy_loss_terms, surrogate
from pgzoo.policies import Policy
from pgzoo.returns import discount_weights, td_errors
from pgzoo.values import ValueFunction


class ActorCriticConfig(CriticConfig):
    """One-step actor–critic's settings: γ, α^θ, α^w, v̂, and the I factor (``discount_actor``)."""


class ActorCriticLoss(SurrogateLoss):
    """loss_value = −Σ δ v̂(S,w);  loss_policy = −Σ I δ ln π(A|S,θ);  δ = R + γ v̂(S′) − v̂(S)."""

    def forward(self, policy: Policy, value: ValueFunction, rollout: Rollout) -> LossTerms:
        cfg = self.config
        v, delta = td_errors(value, rollout, cfg.gamma)
        i_factor = discount_weights(rollout.t, cfg.gamma, v.dtype) if cfg.discount_actor else 1.0
        terms = policy_loss_terms(policy(rollout.obs), rollout.actions, i_factor * delta, cfg.entropy_coef)
        return {**terms, "loss_value": surrogate(delta, v), "td_error_mean": delta.mean()}


class ActorCritic(Algorithm):
    name = "actor-critic"
    section = "13.5"
    summary = "One-step actor-critic (semi-gradient TD(0) critic)"
    Config = ActorCriticConfig
    Loss = ActorCriticLoss
    schedules = {"steps": 1}
    uses_value = True
    action_spaces = ("discrete", "continuous")
    verify_variants = {
        "single-env": {"num_envs": 1},
        "batched": {"num_envs": 3},
        "no-I": {"num_envs": 1, "discount_actor": False},
        "segments-4": {"num_envs": 2, "rollout_steps": 4},
    }
    env_defaults = {
        "ShortCorridor-v0": {"gamma": 1.0, "alpha_theta": 2**-9, "alpha_w": 2**-6, "value": "scalar",
                             "init_theta": (-float(np.log(19)), 0.0)},
        "CartPole-v1": {"policy": "mlp", "value": "mlp", "optimizer": "adam", "alpha_theta": 1e-3,
                        "alpha_w": 1e-3, "discount_actor": False, "num_envs": 8, "total_steps": 200_000},
        "Pendulum-v1": {"policy": "mlp", "value": "mlp", "optimizer": "adam", "alpha_theta": 3e-4,
                        "alpha_w": 1e-3, "gamma": 0.95, "reward_scale": 0.1, "discount_actor": False,
                        "num_envs": 8, "total_steps": 100_000},
    }

    def book_update(self, case: BookCase) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        theta, w = case.theta.copy(), case.w.copy()
        for seg in case.rollouts():  # one update per segment (per step: n = 1), summed over its steps and envs
            d_theta, d_w = np.zeros_like(theta), np.zeros_like(w)
            for k, n in np.ndindex(*seg.rewards.shape):
                s, a, s2 = seg.states[k, n], seg.actions[k, n], seg.next_states[k, n]
                v_next = 0.0 if seg.terminated[k, n] else seg.v(w, s2)
                delta = seg.rewards[k, n] + cfg.gamma * v_next - seg.v(w, s)
                i_factor = cfg.gamma ** seg.t[k, n] if cfg.discount_actor else 1.0
                d_w += cfg.alpha_w * delta * seg.grad_v(w, s)
                d_theta += cfg.alpha_theta * i_factor * delta * seg.grad_ln_pi(theta, s, a)
            theta, w = theta + d_theta, w + d_w
        return theta, w


@hookimpl
def register_algorithms(register) -> None:
    register(ActorCritic)


__all__ = ["ActorCritic", "ActorCriticConfig", "ActorCriticLoss"]

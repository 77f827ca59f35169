"""Actor–Critic with Eligibility Traces (episodic), Sutton & Barto §13.5.

Box, per episode (z^θ ← 0, z^w ← 0, I ← 1) and per step, with δ as in one-step actor–critic::

    δ   ← R + γ v̂(S′,w) − v̂(S,w)          (v̂(terminal) = 0; semi-gradient)
    z^w ← γ λ^w z^w + ∇v̂(S,w)
    z^θ ← γ λ^θ z^θ + I ∇ln π(A|S,θ)
    w   ← w + α^w δ z^w
    θ   ← θ + α^θ δ z^θ
    I   ← γ I ;  S ← S′

Loss: δ z is no gradient of anything at the current parameters (z holds gradients taken at
earlier ones), so the update direction is written into the gradient:

    loss_value  = −⟨δ z^w, w⟩          loss_policy = −⟨δ z^θ, θ⟩          (δ z held constant)

The traces are per environment (several environments are stepped together, each with its
own trace, reset when its episode starts) and work for any differentiable π and v̂: their
per-environment gradients come from ``torch.func`` (``pgzoo.traces``).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from pgzoo import CriticConfig, LossTerms, Rollout, hookimpl, tunable
from pgzoo.book import BookCase
from pgzoo.policies import Policy
from pgzoo.returns import discount_weights, td_errors
from pgzoo.traces import ActorCriticTraceLoss, TraceAlgorithm
from pgzoo.values import ValueFunction


class ActorCriticTracesConfig(CriticConfig):
    """One-step actor–critic's settings plus the trace-decay rates λ^θ and λ^w."""

    lambda_theta: float = Field(0.9, ge=0.0, le=1.0, description="trace decay λ^θ of the policy",
                                json_schema_extra=tunable(0.0, 0.99))
    lambda_w: float = Field(0.9, ge=0.0, le=1.0, description="trace decay λ^w of the value function",
                            json_schema_extra=tunable(0.0, 0.99))


class ActorCriticTracesLoss(ActorCriticTraceLoss):
    """loss_value = −⟨δ z^w, w⟩;  loss_policy = −⟨δ z^θ, θ⟩; the traces live in this module."""

    def forward(self, policy: Policy, value: ValueFunction, rollout: Rollout) -> LossTerms:
        cfg = self.config
        _, delta = td_errors(value, rollout, cfg.gamma)
        obs, actions, t = rollout.obs[0], rollout.actions[0], rollout.t[0]  # one step of N environments
        i_factor = discount_weights(t, cfg.gamma, obs.dtype) if cfg.discount_actor else 1.0
        terms = self.trace_terms(policy, value, obs, actions, delta[0], cfg.gamma * cfg.lambda_theta,
                                 cfg.gamma * cfg.lambda_w, scale=i_factor, reset=t == 0)  # t = 0: z ← 0
        return {**terms, "td_error_mean": delta.mean()}


class ActorCriticTraces(TraceAlgorithm):
    name = "actor-critic-traces"
    section = "13.5"
    summary = "Actor-critic with eligibility traces (episodic)"
    Config = ActorCriticTracesConfig
    Loss = ActorCriticTracesLoss
    uses_value = True
    action_spaces = ("discrete", "continuous")
    verify_variants = {
        "single-env": {"num_envs": 1, "lambda_theta": 0.8, "lambda_w": 0.6},
        "batched": {"num_envs": 3, "lambda_theta": 0.8, "lambda_w": 0.6},
        "lambda-0": {"num_envs": 1, "lambda_theta": 0.0, "lambda_w": 0.0},
    }
    env_defaults = {
        "ShortCorridor-v0": {"gamma": 1.0, "alpha_theta": 2**-9, "alpha_w": 2**-6, "value": "scalar",
                             "init_theta": (-float(np.log(19)), 0.0)},
        "CartPole-v1": {"policy": "mlp", "value": "mlp", "optimizer": "adam", "alpha_theta": 1e-3,
                        "alpha_w": 1e-3, "discount_actor": False, "num_envs": 8, "total_steps": 200_000,
                        "lambda_theta": 0.8, "lambda_w": 0.8},
        "Pendulum-v1": {"policy": "mlp", "value": "mlp", "optimizer": "adam", "alpha_theta": 3e-4,
                        "alpha_w": 1e-3, "gamma": 0.95, "reward_scale": 0.1, "discount_actor": False,
                        "num_envs": 8, "total_steps": 100_000, "lambda_theta": 0.8, "lambda_w": 0.8},
    }

    def book_update(self, case: BookCase) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        theta, w = case.theta.copy(), case.w.copy()
        N = case.rewards.shape[1]
        z_theta, z_w = np.zeros((N, *theta.shape)), np.zeros((N, *w.shape))
        for k in range(case.rewards.shape[0]):
            d_theta, d_w = np.zeros_like(theta), np.zeros_like(w)
            for n in range(N):
                s, a, s2, t = case.states[k, n], case.actions[k, n], case.next_states[k, n], case.t[k, n]
                if t == 0:  # a new episode: z ← 0 (and I ← 1)
                    z_theta[n], z_w[n] = 0.0, 0.0
                v_next = 0.0 if case.terminated[k, n] else case.v(w, s2)
                delta = case.rewards[k, n] + cfg.gamma * v_next - case.v(w, s)
                i_factor = cfg.gamma**t if cfg.discount_actor else 1.0
                z_w[n] = cfg.gamma * cfg.lambda_w * z_w[n] + case.grad_v(w, s)
                z_theta[n] = cfg.gamma * cfg.lambda_theta * z_theta[n] + i_factor * case.grad_ln_pi(theta, s, a)
                d_w += cfg.alpha_w * delta * z_w[n]
                d_theta += cfg.alpha_theta * delta * z_theta[n]
            theta, w = theta + d_theta, w + d_w
        return theta, w


@hookimpl
def register_algorithms(register) -> None:
    register(ActorCriticTraces)


__all__ = ["ActorCriticTraces", "ActorCriticTracesConfig", "ActorCriticTracesLoss"]

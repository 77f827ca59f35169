"""Actor–Critic with Eligibility Traces (continuing), Sutton & Barto §13.6.

Box (R̄ ∈ ℝ, e.g. 0; z^θ, z^w ← 0 once; loop forever)::

    A ~ π(·|S,θ); take A, observe S′, R
    δ   ← R − R̄ + v̂(S′,w) − v̂(S,w)
    R̄   ← R̄ + α^R̄ δ
    z^w ← λ^w z^w + ∇v̂(S,w)
    z^θ ← λ^θ z^θ + ∇ln π(A|S,θ)
    w   ← w + α^w δ z^w
    θ   ← θ + α^θ δ z^θ

No γ and no I; traces are never reset. Loss: R̄'s update is θ ← θ + α·C·∇g with C = δ and
g = R̄; the trace updates are directions written into the gradient:

    loss_avg_reward = −Σ δ · R̄          loss_value = −⟨δ z^w, w⟩          loss_policy = −⟨δ z^θ, θ⟩

R̄ lives in the critic (:class:`DifferentialValue`), stepped with its own α^R̄. Should the
environment terminate after all, v̂(terminal) = 0 as everywhere in pgzoo.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

from pgzoo import Agent, CriticConfig, LossTerms, Rollout, hookimpl, tunable
from pgzoo.book import BookCase
from pgzoo.losses import surrogate
from pgzoo.policies import Policy
from pgzoo.returns import td_errors
from pgzoo.traces import ActorCriticTraceLoss, TraceAlgorithm
from pgzoo.values import ValueFunction


class ActorCriticContinuingConfig(CriticConfig):
    """Settings of the average-reward actor–critic: α^θ, α^w, α^R̄, λ^θ, λ^w (γ is unused)."""

    alpha_r: float = Field(2**-6, gt=0.0, le=1.0, description="step size α^R̄ of the average reward",
                            json_schema_extra=tunable(1e-4, 1e-1, log=True))
    lambda_theta: float = Field(0.9, ge=0.0, le=1.0, description="trace decay λ^θ of the policy",
                                json_schema_extra=tunable(0.0, 0.99))
    lambda_w: float = Field(0.9, ge=0.0, le=1.0, description="trace decay λ^w of the value function",
                            json_schema_extra=tunable(0.0, 0.99))
    init_r: float = Field(0.0, description="initial average-reward estimate R̄")


class DifferentialValue(ValueFunction):
    """The critic of the average-reward setting: a differential v̂(s,w) and the estimate R̄."""

    def __init__(self, base: ValueFunction, init_r: float = 0.0) -> None:
        super().__init__()
        self.base = base
        self.r_bar = nn.Parameter(torch.tensor(float(init_r)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.base(obs)


class ActorCriticContinuingLoss(ActorCriticTraceLoss):
    """loss_avg_reward = −Σ δ R̄;  loss_value = −⟨δ z^w, w⟩;  loss_policy = −⟨δ z^θ, θ⟩."""

    def traced_value(self, value: DifferentialValue) -> ValueFunction:
        return value.base  # z^w follows v̂'s w; R̄ has its own update

    def forward(self, policy: Policy, value: DifferentialValue, rollout: Rollout) -> LossTerms:
        cfg = self.config
        _, delta = td_errors(value.base, rollout, 1.0, reward_offset=value.r_bar.detach())
        obs, actions = rollout.obs[0], rollout.actions[0]  # one step of N environments
        terms = self.trace_terms(policy, value, obs, actions, delta[0], cfg.lambda_theta, cfg.lambda_w)
        return {
            **terms,
            "loss_avg_reward": surrogate(delta, value.r_bar.expand_as(delta)),
            "avg_reward": value.r_bar.detach().clone(),
            "td_error_mean": delta.mean(),
        }


class ActorCriticContinuing(TraceAlgorithm):
    name = "actor-critic-continuing"
    section = "13.6"
    summary = "Actor-critic with eligibility traces, average reward (continuing tasks)"
    Config = ActorCriticContinuingConfig
    Loss = ActorCriticContinuingLoss
    uses_time_index = False  # no γᵗ, no I, traces never reset: t plays no part
    uses_value = True
    action_spaces = ("discrete", "continuous")
    verify_variants = {
        "single-env": {"num_envs": 1, "lambda_theta": 0.8, "lambda_w": 0.6, "alpha_r": 0.3},
        "batched": {"num_envs": 3, "lambda_theta": 0.8, "lambda_w": 0.6, "alpha_r": 0.3},
    }
    env_defaults = {
        "AccessControl-v0": {"policy": "linear", "value": "linear", "alpha_theta": 2**-6, "alpha_w": 2**-4,
                             "alpha_r": 2**-8, "lambda_theta": 0.5, "lambda_w": 0.5, "total_steps": 200_000,
                             "eval_episodes": 5, "eval_steps": 5_000},
    }

    def critic(self, value: ValueFunction) -> DifferentialValue:
        return DifferentialValue(value, self.config.init_r)

    def make_optimizer(self, agent: Agent) -> torch.optim.Optimizer:
        """α^θ for θ, α^w for w, α^R̄ for R̄."""
        optimizer = super().make_optimizer(agent)
        value_group = optimizer.param_groups[1]
        value_group["params"] = [p for p in value_group["params"] if p is not agent.value.r_bar]
        optimizer.add_param_group({"params": [agent.value.r_bar], "lr": self.config.alpha_r})
        return optimizer

    def book_update(self, case: BookCase) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        cfg = self.config
        theta, w, r_bar = case.theta.copy(), case.w.copy(), cfg.init_r
        N = case.rewards.shape[1]
        z_theta, z_w = np.zeros((N, *theta.shape)), np.zeros((N, *w.shape))
        for k in range(case.rewards.shape[0]):
            d_theta, d_w, d_r = np.zeros_like(theta), np.zeros_like(w), 0.0
            for n in range(N):
                s, a, s2 = case.states[k, n], case.actions[k, n], case.next_states[k, n]
                v_next = 0.0 if case.terminated[k, n] else case.v(w, s2)
                delta = case.rewards[k, n] - r_bar + v_next - case.v(w, s)
                d_r += cfg.alpha_r * delta
                z_w[n] = cfg.lambda_w * z_w[n] + case.grad_v(w, s)
                z_theta[n] = cfg.lambda_theta * z_theta[n] + case.grad_ln_pi(theta, s, a)
                d_w += cfg.alpha_w * delta * z_w[n]
                d_theta += cfg.alpha_theta * delta * z_theta[n]
            theta, w, r_bar = theta + d_theta, w + d_w, r_bar + d_r
        return theta, w, {"value.r_bar": r_bar}


@hookimpl
def register_algorithms(register) -> None:
    register(ActorCriticContinuing)


__all__ = ["ActorCriticContinuing", "ActorCriticContinuingConfig", "ActorCriticContinuingLoss", "DifferentialValue"]

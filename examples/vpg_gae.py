"""Vanilla policy gradient with GAE (Spinning Up's VPG), written against pgzoo's plugin contract.

Per rollout of n steps of every environment, collected with θ_old, w_old::

    Â_t ← GAE(λ) at w_old;   R̂_t ← Â_t + v̂(S_t,w_old)                    (fixed by prepare)
    θ ← θ + α^θ (1/T) Σ_t Â_t ∇ln π(A_t|S_t,θ)                            (one policy step)
    k times:  w ← w + α^w (1/T) Σ_t (R̂_t − v̂(S_t,w)) ∇v̂(S_t,w)          (value steps, w moving)

(T: the rollout's steps.) Loss on every batch (Â, R̂ constants), means as Spinning Up's:
loss_policy = −mean Â ln π(A|S,θ), loss_value = ½ mean (R̂ − v̂(S,w))². Means, not the book's
sums, because of the k value steps: with sums, k steps of α^w Σ_t on a rollout of T steps
diverge once α^w·T·|∇v̂|² > 2, so α^w would have to shrink with the rollout's length.
The policy's step and the value steps are batches that say which parameters they step
(``batch.stepping("policy")``, ``batch.stepping("value")``): the contract, not a workaround —
the value steps leave θ and its optimiser state alone, the policy step leaves w alone.

Install it as a plugin by pointing a ``pgzoo`` entry point at this module (its
``register_algorithms`` hook), or register the class yourself. Source: Achiam, "Spinning Up in
Deep RL" (2018), VPG (pseudocode: one gradient step on π, then regression of v̂ for
``train_v_iters`` steps); Schulman et al. 2016 (GAE).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from pydantic import Field

from pgzoo import Agent, Algorithm, CriticConfig, LossTerms, Rollout, SurrogateLoss, hookimpl
from pgzoo.book import BookCase
from pgzoo.losses import surrogate
from pgzoo.policies import Policy
from pgzoo.returns import gae
from pgzoo.values import ValueFunction


class VPGConfig(CriticConfig):
    """Critic settings plus λ and k (Spinning Up: λ = 0.97, 80 value steps)."""

    gae_lambda: float = Field(0.97, ge=0.0, le=1.0, description="λ of the GAE(λ) advantages")
    value_steps: int = Field(80, ge=1, le=10_000, description="k: value-function steps per rollout")
    discount_actor: bool = False


class VPGLoss(SurrogateLoss):
    """loss_policy = −mean Â ln π(A|S,θ);  loss_value = ½ mean (R̂ − v̂(S,w))²."""

    def forward(self, policy: Policy, value: ValueFunction, rollout: Rollout) -> LossTerms:
        adv, target = rollout.extras["advantages"], rollout.extras["returns"]
        return {"loss_policy": surrogate(adv, policy(rollout.obs).log_prob(rollout.actions)) / adv.numel(),
                "loss_value": 0.5 * (target - value(rollout.obs)).pow(2).mean(), "advantage_mean": adv.mean()}


class VPG(Algorithm):
    name = "vpg-gae"
    section = "13.5"
    summary = "Vanilla policy gradient with GAE: one policy step, then k value steps per rollout"
    Config = VPGConfig
    Loss = VPGLoss
    schedules = {"steps": 5, "episodes": 1}
    uses_value = True
    uses_time_index = False
    reduction = "mean"
    action_spaces = ("discrete", "continuous")
    verify_variants = {
        "n4-k3": {"num_envs": 2, "rollout_steps": 4, "value_steps": 3, "gae_lambda": 0.8},
        "episodes-k1": {"rollout_episodes": 1, "value_steps": 1, "gae_lambda": 1.0},
    }

    def prepare(self, agent: Agent, rollout: Rollout) -> Rollout:
        adv, v = gae(agent.value, rollout, self.config.gamma, self.config.gae_lambda)
        return rollout.replace(extras={**rollout.extras, "advantages": adv, "returns": adv + v})

    def update_batches(self, rollout: Rollout, generator: torch.Generator | None = None) -> Iterator[Rollout]:
        yield rollout.stepping("policy")
        for _ in range(self.config.value_steps):
            yield rollout.stepping("value")

    def book_update(self, case: BookCase) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        theta, w = case.theta.copy(), case.w.copy()
        for seg in case.rollouts():
            adv = seg.gae(w, cfg.gamma, cfg.gae_lambda)
            cells = list(np.ndindex(*adv.shape))
            target = {c: adv[c] + seg.v(w, seg.states[c]) for c in cells}
            theta = theta + cfg.alpha_theta / len(cells) * sum(
                adv[c] * seg.grad_ln_pi(theta, seg.states[c], seg.actions[c]) for c in cells)
            for _ in range(cfg.value_steps):
                w = w + cfg.alpha_w / len(cells) * sum(
                    (target[c] - seg.v(w, seg.states[c])) * seg.grad_v(w, seg.states[c]) for c in cells)
        return theta, w


@hookimpl
def register_algorithms(register) -> None:
    register(VPG)

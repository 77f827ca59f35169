"""Proximal policy optimisation (PPO-Clip): A2C's advantages, then epochs of minibatch steps on
one rollout, each policy step cut off where π has moved more than ε from the π that collected it.

Per segment of n steps of every environment, collected with θ_old, w_old::

    Â_t ← GAE(λ) at w_old (as in a2c: v̂(terminal) = 0, truncation bootstraps)
    R̂_t ← Â_t + v̂(S_t,w_old)                                     (the λ-return: v̂'s target)
    ρ_t(θ) = π(A_t|S_t,θ) / π(A_t|S_t,θ_old)
    for each of K epochs, each minibatch B of a fresh random partition of the n·N steps:
        Ã_t ← (Â_t − mean_B Â) / (std_B Â + 10⁻⁸)                  (with normalize_advantage)
        θ ← θ + α^θ (1/|B|) Σ_{t∈B} 1_t Ã_t ρ_t(θ) ∇ln π(A_t|S_t,θ)   (+ α^θ c_H (1/|B|) Σ ∇H(π(·|S_t,θ)))
        w ← w + α^w c_v (2/|B|) Σ_{t∈B} (R̂_t − v̂(S_t,w)) ∇v̂(S_t,w)
    1_t = [ρ_t ≤ 1+ε] if Ã_t > 0, [ρ_t ≥ 1−ε] if Ã_t < 0: the gradient of min(ρÃ, clip(ρ,1−ε,1+ε)Ã),
    zero once the clipped term is the smaller. θ and w step together, their joint gradient
    clipped to max_grad_norm; ε = clip_range (annealable over the run's progress).

Loss (each minibatch; Â, R̂ and ln π(A|S,θ_old) fixed by ``prepare``). Means over the
minibatch, as published, so that α, Adam and ``max_grad_norm`` mean what they mean in SB3::

    loss_policy  = −mean_B min(ρ Ã, clip(ρ, 1−ε, 1+ε) Ã)
    loss_value   = c_v mean_B (R̂ − v̂(S,w))²
    loss_entropy = −c_H mean_B H(π(·|S,θ))

K = 1 with one minibatch of the whole segment and ρ = 1 is A2C's step with mean-reduced terms.
Sources: Schulman et al. 2017 (eq. 7, Algorithm 1); Schulman et al. 2016 (GAE); SB3's PPO
(advantage normalisation per minibatch, c_v, clip fraction); rl-baselines3-zoo (settings).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from pgzoo import Agent, Algorithm, CriticConfig, LossTerms, Rollout, SurrogateLoss, hookimpl, tunable
from pgzoo.book import BookCase
from pgzoo.config import annealable
from pgzoo.policies import Policy
from pgzoo.returns import gae
from pgzoo.values import ValueFunction


class PPOConfig(CriticConfig):
    """SB3 PPO's defaults: segments of 2048 steps, 10 epochs of minibatches of 64, Adam 3e-4 (ε 1e-5)."""

    policy: Literal["linear", "mlp"] = Field("mlp", description="linear soft-max or MLP policy")
    value: Literal["scalar", "linear", "mlp"] = Field("mlp", description="v̂ = w, wᵀx(s), or MLP")
    optimizer: Literal["sgd", "adam"] = Field("adam", description="plain SGD or Adam")
    alpha_theta: float = Field(3e-4, gt=0.0, le=1.0, description="policy step size α^θ",
                               json_schema_extra=tunable(1e-5, 1e-2, log=True))
    alpha_w: float = Field(3e-4, gt=0.0, le=1.0, description="value step size α^w",
                           json_schema_extra=tunable(1e-5, 1e-2, log=True))
    adam_eps: float = Field(1e-5, gt=0.0, le=1.0, description="ε of Adam's denominator (SB3's)")
    discount_actor: bool = Field(False, description="γᵗ on the policy update (not in PPO)")
    max_grad_norm: float | None = Field(0.5, gt=0.0, description="clip each step's joint gradient norm")
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0, description="λ of the GAE(λ) advantages",
                              json_schema_extra=tunable(0.8, 1.0))
    n_epochs: int = Field(10, ge=1, le=1000, description="epochs K over each segment")
    batch_size: int = Field(64, ge=1, description="minibatch size (the last of an epoch may be smaller)")
    clip_range: float = Field(0.2, gt=0.0, le=1.0, description="ε of the clipped ratio",
                              json_schema_extra=annealable(tunable(0.05, 0.4)))
    vf_coef: float = Field(0.5, ge=0.0, description="c_v: weight of the value loss")
    normalize_advantage: bool = Field(True, description="standardise Â within each minibatch")


class PPOLoss(SurrogateLoss):
    """loss_policy = −mean min(ρÃ, clip(ρ)Ã);  loss_value = c_v mean (R̂ − v̂)²;  loss_entropy = −c_H mean H."""

    def forward(self, policy: Policy, value: ValueFunction, rollout: Rollout) -> LossTerms:
        cfg, ex = self.config, rollout.extras
        adv = ex["advantages"]
        if cfg.normalize_advantage and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        dist = policy(rollout.obs)
        ratio = torch.exp(dist.log_prob(rollout.actions) - ex["log_prob_old"])
        eps = self.setting("clip_range", rollout)
        clipped = torch.clamp(ratio, 1 - eps, 1 + eps)
        terms = {"loss_policy": -torch.min(ratio * adv, clipped * adv).mean(),
                 "loss_value": cfg.vf_coef * (ex["returns"] - value(rollout.obs)).pow(2).mean()}
        if cfg.entropy_coef:
            terms["loss_entropy"] = -cfg.entropy_coef * dist.entropy().mean()
        ratio = ratio.detach()
        return {**terms, "clip_fraction": ((ratio - 1).abs() > eps).to(ratio.dtype).mean(),
                "approx_kl": ((ratio - 1) - torch.log(ratio)).mean()}


class PPO(Algorithm):
    name = "ppo"
    section = "13.5"
    summary = "Proximal policy optimisation (clipped ratio, epochs of minibatches, GAE)"
    Config = PPOConfig
    Loss = PPOLoss
    schedules = {"steps": 2048}
    uses_value = True
    uses_time_index = False
    action_spaces = ("discrete", "continuous")
    reduction = "mean"
    verify_branches = ("clip_fraction",)
    verify_variants = {
        "tight-clip": {"num_envs": 2, "rollout_steps": 6, "n_epochs": 3, "batch_size": 4, "clip_range": 0.05},
        "uneven-annealed": {"num_envs": 3, "rollout_steps": 3, "n_epochs": 2, "batch_size": 4, "clip_range": 0.1,
                            "anneal": {"clip_range": "linear"}, "max_grad_norm": None, "vf_coef": 1.0},
        "raw-adv-entropy": {"num_envs": 2, "rollout_steps": 4, "n_epochs": 2, "batch_size": 3, "gae_lambda": 0.5,
                            "normalize_advantage": False, "entropy_coef": 0.05, "max_grad_norm": 0.3},
        "one-epoch-wide": {"num_envs": 1, "rollout_steps": 5, "n_epochs": 1, "batch_size": 64, "clip_range": 0.3},
    }
    env_defaults = {  # rl-baselines3-zoo's hyperparams/ppo.yml
        "CartPole-v1": {"num_envs": 8, "rollout_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98,
                        "n_epochs": 20, "alpha_theta": 1e-3, "alpha_w": 1e-3, "lr_schedule": "linear",
                        "clip_range": 0.2, "anneal": {"clip_range": "linear"}},
        "Acrobot-v1": {"num_envs": 16, "rollout_steps": 256, "gae_lambda": 0.94, "gamma": 0.99, "n_epochs": 4,
                       "reward_scale": 0.1},
        "Pendulum-v1": {"num_envs": 4, "rollout_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9, "n_epochs": 10,
                        "alpha_theta": 1e-3, "alpha_w": 1e-3, "clip_range": 0.2, "gaussian_std": "sde",
                        "sde_sample_freq": 4},
        "MountainCarContinuous-v0": {"num_envs": 1, "rollout_steps": 8, "batch_size": 256, "gamma": 0.9999,
                                     "alpha_theta": 7.77e-5, "alpha_w": 7.77e-5, "entropy_coef": 0.00429,
                                     "clip_range": 0.1, "n_epochs": 10, "gae_lambda": 0.9, "max_grad_norm": 5.0,
                                     "vf_coef": 0.19, "gaussian_std": "sde", "init_log_std": -3.29,
                                     "obs_scaling": "running", "normalize_reward": True},
    }
    """rl-baselines3-zoo's settings. Where the zoo normalises (``normalize: true``: SB3's
    ``VecNormalize``), MountainCarContinuous-v0 takes the same running normalisation
    (``obs_scaling="running"``, ``normalize_reward``; pgzoo.engine.normalization); Acrobot-v1 keeps
    the fixed stand-in ``reward_scale = 0.1`` its board lines were trained with (running statistics
    would take its cells out of population training and were not tried there)."""

    def prepare(self, agent: Agent, rollout: Rollout) -> Rollout:
        adv, v = gae(agent.value, rollout, self.config.gamma, self.config.gae_lambda)
        log_prob = agent.policy(rollout.obs).log_prob(rollout.actions)
        return rollout.replace(extras={**rollout.extras, "advantages": adv, "returns": adv + v,
                                       "log_prob_old": log_prob})

    def update_batches(self, rollout: Rollout, generator: torch.Generator | None = None):
        steps = rollout.transitions()  # [1, n·N]: step k of environment i at k·N + i
        size, b = steps.num_envs, self.config.batch_size
        for _ in range(self.config.n_epochs):
            order = torch.randperm(size, generator=generator)
            for start in range(0, size, b):
                yield steps.select_envs(order[start:start + b])

    def book_update(self, case: BookCase) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        theta, w = case.theta.copy(), case.w.copy()
        generator = torch.Generator().manual_seed(case.update_seed)  # the engine's permutations
        for seg in case.rollouts():
            adv = seg.gae(w, cfg.gamma, cfg.gae_lambda).reshape(-1)  # in transitions() order
            s, a = seg.states.reshape(-1), seg.actions.reshape(-1)
            ret = adv + np.array([seg.v(w, x) for x in s])
            pi_old = np.array([seg.pi(theta, x)[y] for x, y in zip(s, a, strict=True)])
            eps = cfg.clip_range * (1 - seg.progress if cfg.anneal.get("clip_range") == "linear" else 1)
            for _ in range(cfg.n_epochs):
                order = torch.randperm(len(s), generator=generator).numpy()
                for start in range(0, len(s), cfg.batch_size):
                    B = order[start:start + cfg.batch_size]
                    A = adv[B]
                    if cfg.normalize_advantage and len(B) > 1:
                        A = (A - A.mean()) / (A.std(ddof=1) + 1e-8)
                    g_theta, g_w = np.zeros_like(theta), np.zeros_like(w)  # gradients of the loss
                    for A_j, j in zip(A, B, strict=True):
                        rho = seg.pi(theta, s[j])[a[j]] / pi_old[j]
                        if (A_j > 0 and rho <= 1 + eps) or (A_j < 0 and rho >= 1 - eps):
                            g_theta -= A_j * rho * seg.grad_ln_pi(theta, s[j], a[j]) / len(B)
                        g_theta -= cfg.entropy_coef * seg.grad_entropy(theta, s[j]) / len(B)
                        g_w -= 2 * cfg.vf_coef * (ret[j] - seg.v(w, s[j])) * seg.grad_v(w, s[j]) / len(B)
                    norm = np.sqrt(g_theta @ g_theta + g_w @ g_w)
                    coef = min(1.0, cfg.max_grad_norm / (norm + 1e-6)) if cfg.max_grad_norm else 1.0
                    theta, w = theta - cfg.alpha_theta * coef * g_theta, w - cfg.alpha_w * coef * g_w
        return theta, w


@hookimpl
def register_algorithms(register) -> None:
    register(PPO)


__all__ = ["PPO", "PPOConfig", "PPOLoss"]

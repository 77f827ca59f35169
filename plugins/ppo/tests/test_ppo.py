"""PPO: conformance, one update by hand (the clipped branch stops the policy's steps), the bugs
``pgzoo verify`` must catch, and population training equal to single runs."""

import math

import pytest
import torch
from pgzoo_ppo import PPO, PPOLoss

from pgzoo.book.verify import verify
from pgzoo.engine.population_check import check_population_matches_single_runs
from pgzoo.testing import AlgorithmConformance, one_step_by_hand


class TestPPO(AlgorithmConformance):
    algorithm = "ppo"
    # from π(right) = 0.05 (J ≈ −82) to near the optimum (J* ≈ −11.6; the uniform policy scores −12)
    learn_overrides = {"total_steps": 4000, "num_envs": 2, "rollout_steps": 64, "batch_size": 32, "n_epochs": 4,
                       "policy": "linear", "value": "scalar", "gamma": 1.0, "alpha_theta": 0.05, "alpha_w": 0.05,
                       "init_theta": (-math.log(19), 0.0)}
    learn_threshold = -14.0
    population_overrides = {"total_steps": 240, "num_envs": 2, "rollout_steps": 20, "batch_size": 16,
                            "n_epochs": 2, "eval_episodes": 1, "policy": "linear", "value": "scalar"}
    reduction_overrides = {"normalize_advantage": False}


def test_one_rollout_by_hand() -> None:
    # θ = 0 (π = ½, ½), v̂ = w = 0, one step A = 0, R = 1, terminated: Â = δ = 1, R̂ = 1; SGD α^θ = 1,
    # α^w = 0.5, c_v = 0.5, ε = 0.1, 3 epochs of the one-step minibatch (no normalisation of one Â)
    algo = PPO(PPO.make_config(overrides={"policy": "linear", "value": "scalar", "optimizer": "sgd",
                                          "alpha_theta": 1.0, "alpha_w": 0.5, "vf_coef": 0.5, "clip_range": 0.1,
                                          "n_epochs": 3, "batch_size": 1, "max_grad_norm": None}))
    agent, rollout = one_step_by_hand(reward=1.0, w=0.0)
    terms = algo.update(agent, algo.make_optimizer(agent), rollout)
    # epoch 1: ρ = 1, θ ← θ + Â ∇ln π(0) = (½, −½); then ρ = σ(1)/½ = 1.462 > 1 + ε with Â > 0: the
    # policy's gradient is 0 in epochs 2 and 3. v̂: w ← w + 0.5·0.5·2(1 − w): 0.5, 0.75, 0.875
    assert agent.policy.theta.detach().tolist() == pytest.approx([0.5, -0.5], abs=1e-15)
    assert agent.value.w.item() == pytest.approx(0.875, abs=1e-15)
    assert terms["optimizer_steps"] == 3.0 and terms["clip_fraction"] == 1.0
    assert terms["approx_kl"] == pytest.approx((1 / (1 + math.exp(-1)) / 0.5 - 1) - math.log(2 / (1 + math.exp(-1))))


class _Max(PPOLoss):  # max for min in the clipped objective
    def forward(self, policy, value, rollout):
        terms = super().forward(policy, value, rollout)
        ex, adv = rollout.extras, rollout.extras["advantages"]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8) if adv.numel() > 1 else adv
        ratio = torch.exp(policy(rollout.obs).log_prob(rollout.actions) - ex["log_prob_old"])
        eps = self.setting("clip_range", rollout)
        terms["loss_policy"] = -torch.max(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv).mean()
        return terms


class _BiasedStd(PPOLoss):  # np.std's default (ddof 0) where SB3 and the docstring use the sample std
    def forward(self, policy, value, rollout):
        adv = rollout.extras["advantages"]
        scaled = adv * (adv.std() + 1e-8) / (adv.std(correction=0) + 1e-8) if adv.numel() > 1 else adv
        return super().forward(policy, value, rollout.replace(extras={**rollout.extras, "advantages": scaled}))


class _CurrentTarget(PPOLoss):  # v̂'s target from the current w instead of w_old
    def forward(self, policy, value, rollout):
        ex = rollout.extras
        target = ex["advantages"] + value(rollout.obs).detach()
        return super().forward(policy, value, rollout.replace(extras={**ex, "returns": target}))


class _LiveOld(PPOLoss):  # ln π(A|S,θ_old) recomputed from the current θ (ρ ≡ 1: nothing is ever clipped)
    def forward(self, policy, value, rollout):
        old = policy(rollout.obs).log_prob(rollout.actions).detach()
        return super().forward(policy, value, rollout.replace(extras={**rollout.extras, "log_prob_old": old}))


def _variant(**changes):
    return type("Mutant", (PPO,), changes)


def _one_permutation(self, rollout, generator=None):  # one shuffle reused by every epoch
    steps = rollout.transitions()
    order = torch.randperm(steps.num_envs, generator=generator)
    for _ in range(self.config.n_epochs):
        for start in range(0, steps.num_envs, self.config.batch_size):
            yield steps.select_envs(order[start:start + self.config.batch_size])


@pytest.mark.parametrize("mutant", [
    _variant(Loss=_Max), _variant(Loss=_BiasedStd), _variant(Loss=_CurrentTarget), _variant(Loss=_LiveOld),
    _variant(update_batches=_one_permutation),
], ids=["max-for-min", "biased-std", "target-from-current-w", "live-old-log-prob", "one-permutation"])
def test_verify_catches_each_bug(mutant) -> None:
    results = verify({"ppo": mutant}, n_random=2)
    assert not all(r.ok for r in results)


def test_verify_fails_when_no_case_clips() -> None:
    wide = _variant(verify_variants={"wide": {"num_envs": 2, "rollout_steps": 4, "n_epochs": 2, "batch_size": 4,
                                              "clip_range": 1.0}})
    results = verify({"ppo": wide}, n_random=1)
    assert all(r.ok for r in results if r.variant == "wide")  # the update matches the book...
    [branch] = [r for r in results if r.case == "branch clip_fraction"]
    assert not branch.ok and "never compared" in branch.note  # ...but the clipped branch was never tried


def test_population_with_gsde_and_annealed_clip_matches_single_runs() -> None:
    assert check_population_matches_single_runs(
        "ppo", "Pendulum-v1", {"total_steps": 96, "num_envs": 2, "rollout_steps": 16, "batch_size": 12,
                               "n_epochs": 2, "eval_episodes": 1, "hidden_sizes": (8,), "sde_sample_freq": 3,
                               "anneal": {"clip_range": "linear"}, "lr_schedule": "linear"},
        seeds=(0, 1)) is None

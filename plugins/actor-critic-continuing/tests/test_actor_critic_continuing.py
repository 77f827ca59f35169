"""Average-reward actor–critic (13.6): conformance, a hand-computed step, the access-control task."""

import pytest
import torch
from pgzoo_actor_critic_continuing import ActorCriticContinuing

from pgzoo.algorithm import Agent
from pgzoo.features import ActionOneHot, StateTable
from pgzoo.policies import LinearSoftmaxPolicy
from pgzoo.rollout import Rollout
from pgzoo.testing import AlgorithmConformance
from pgzoo.values import LinearValue


class TestActorCriticContinuing(AlgorithmConformance):
    algorithm = "actor-critic-continuing"
    learn_env = "AccessControl-v0"
    learn_overrides = {"total_steps": 8_000, "eval_episodes": 2, "eval_steps": 3_000}
    learn_threshold = 2.2  # "always accept" earns ≈ 2.16 per step; the optimum is ≈ 2.75


def test_two_steps_by_hand() -> None:
    algo = ActorCriticContinuing(ActorCriticContinuing.make_config(overrides={
        "alpha_theta": 1.0, "alpha_w": 1.0, "alpha_r": 0.5, "lambda_theta": 0.5, "lambda_w": 0.5}))
    agent = Agent(LinearSoftmaxPolicy(ActionOneHot(2)), algo.critic(LinearValue(StateTable(torch.eye(2))))).double()
    opt = algo.make_optimizer(agent)
    eye = torch.eye(2, dtype=torch.float64)
    def step(s, a, r, s2, t):
        return Rollout(obs=eye[[s]][None], actions=torch.tensor([[a]]), rewards=torch.tensor([[r]]).double(),
                       terminated=torch.tensor([[False]]), truncated=torch.tensor([[False]]),
                       next_obs=eye[[s2]][None], t=torch.tensor([[t]]))
    algo.update(agent, opt, step(0, 0, 1.0, 1, 0))
    # δ = 1 − 0 + 0 − 0 = 1;  R̄ = 0.5;  z^w = [1,0] → w = [1,0];  z^θ = [.5,−.5] → θ = [.5,−.5]
    assert agent.value.r_bar.item() == pytest.approx(0.5)
    assert agent.value.base.w.tolist() == pytest.approx([1.0, 0.0])
    algo.update(agent, opt, step(1, 1, 2.0, 0, 0))  # t = 0 again: continuing traces do NOT reset
    # δ = 2 − 0.5 + v̂(s0)=1 − v̂(s1)=0 = 2.5;  R̄ = 0.5 + 1.25 = 1.75;  z^w = .5[1,0] + [0,1] → w = [1,0] + 2.5[.5,1]
    assert agent.value.r_bar.item() == pytest.approx(1.75)
    assert agent.value.base.w.tolist() == pytest.approx([2.25, 2.5])


def test_r_bar_has_its_own_step_size() -> None:
    algo = ActorCriticContinuing(ActorCriticContinuing.make_config(overrides={"alpha_w": 0.1, "alpha_r": 0.01}))
    agent = Agent(LinearSoftmaxPolicy(ActionOneHot(2)), algo.critic(LinearValue(StateTable(torch.eye(2)))))
    groups = algo.make_optimizer(agent).param_groups
    assert [g["lr"] for g in groups] == [algo.config.alpha_theta, 0.1, 0.01]
    assert groups[2]["params"] == [agent.value.r_bar]
    assert all(p is not agent.value.r_bar for p in groups[1]["params"])

"""REINFORCE with baseline (13.4): conformance checks and a hand-computed episode."""

import math

import pytest
import torch
from pgzoo_reinforce_baseline import ReinforceBaseline

from pgzoo.algorithm import Agent
from pgzoo.features import ActionOneHot
from pgzoo.policies import LinearSoftmaxPolicy
from pgzoo.rollout import Rollout
from pgzoo.testing import AlgorithmConformance
from pgzoo.values import ScalarValue


class TestReinforceBaseline(AlgorithmConformance):
    algorithm = "reinforce-baseline"
    learn_overrides = {"total_episodes": 100}
    learn_threshold = -30.0


def test_sequential_episode_by_hand() -> None:
    # S0 -right-> S1 -left-> S2 -right-> goal, rewards −1 each, γ = 1: G = [−3, −2, −1], v̂ = w = 0.
    eye = torch.eye(3, dtype=torch.float64)
    rollout = Rollout(
        obs=eye[[0, 1, 2]][:, None], actions=torch.tensor([[0], [1], [0]]),
        rewards=-torch.ones(3, 1, dtype=torch.float64),
        terminated=torch.tensor([[False], [False], [True]]), truncated=torch.zeros(3, 1, dtype=torch.bool),
        next_obs=eye[[1, 2, 0]][:, None], t=torch.arange(3)[:, None],
    )
    a_theta, a_w = 0.25, 0.5
    algo = ReinforceBaseline(ReinforceBaseline.make_config(
        overrides={"gamma": 1.0, "alpha_theta": a_theta, "alpha_w": a_w, "value": "scalar"}))
    agent = Agent(LinearSoftmaxPolicy(ActionOneHot(2), init_theta=(-math.log(19), 0.0)), ScalarValue()).double()
    algo.update(agent, algo.make_optimizer(agent), rollout)
    # By hand: δ0 = −3 − 0 = −3, w = −1.5; δ1 = −2 + 1.5 = −0.5, w = −1.75; δ2 = −1 + 1.75 = 0.75, w = −1.375
    assert agent.value.w.item() == pytest.approx(-1.375, abs=1e-6)
    theta = torch.tensor([-math.log(19), 0.0], dtype=torch.float64)
    for delta, a in [(-3.0, 0), (-0.5, 1), (0.75, 0)]:
        theta = theta + a_theta * delta * (torch.eye(2, dtype=torch.float64)[a] - torch.softmax(theta, 0))
    assert torch.allclose(agent.policy.theta.detach(), theta, atol=1e-6)

"""Actor–critic with eligibility traces (13.5): conformance and a hand-computed episode."""

import math

import pytest
import torch
from pgzoo_actor_critic_traces import ActorCriticTraces

from pgzoo.algorithm import Agent
from pgzoo.features import ActionOneHot, StateTable
from pgzoo.policies import LinearSoftmaxPolicy, MLPCategoricalPolicy
from pgzoo.rollout import Rollout
from pgzoo.testing import AlgorithmConformance
from pgzoo.values import LinearValue, MLPValue


class TestActorCriticTraces(AlgorithmConformance):
    algorithm = "actor-critic-traces"
    learn_overrides = {"total_episodes": 100}
    learn_threshold = -30.0


def two_step_episode() -> list[Rollout]:
    """S=s0, A=0, R=1 → s1;  S=s1, A=1, R=2 → terminal."""
    eye = torch.eye(2, dtype=torch.float64)
    def step(s, a, r, s2, term, t):
        return Rollout(obs=eye[[s]][None], actions=torch.tensor([[a]]), rewards=torch.tensor([[r]]).double(),
                       terminated=torch.tensor([[term]]), truncated=torch.tensor([[False]]),
                       next_obs=eye[[s2]][None], t=torch.tensor([[t]]))
    return [step(0, 0, 1.0, 1, False, 0), step(1, 1, 2.0, 0, True, 1)]


def test_two_step_episode_by_hand() -> None:
    algo = ActorCriticTraces(ActorCriticTraces.make_config(overrides={
        "gamma": 0.5, "lambda_theta": 0.5, "lambda_w": 0.5, "alpha_theta": 1.0, "alpha_w": 1.0}))
    agent = Agent(LinearSoftmaxPolicy(ActionOneHot(2)), LinearValue(StateTable(torch.eye(2)))).double()
    opt = algo.make_optimizer(agent)
    for r in two_step_episode():
        algo.update(agent, opt, r)
    # Step 0: δ = 1, z^w = [1,0], z^θ = ∇ln π(0) = [.5,−.5]  →  w = [1,0], θ = [.5,−.5]
    # Step 1: δ = 2 − v̂(s1) = 2, z^w = γλ[1,0] + [0,1] = [.25,1], I = γ = .5,
    #         z^θ = γλ[.5,−.5] + .5(e_1 − π(θ)) with π(0) = p = 1/(1+e^−1)
    #         →  w = [1,0] + 2[.25,1] = [1.5, 2],  θ = [.5,−.5] + 2 z^θ
    p = 1 / (1 + math.exp(-1))
    z0 = 0.25 * 0.5 - 0.5 * p
    assert agent.value.w.tolist() == pytest.approx([1.5, 2.0], abs=1e-12)
    assert agent.policy.theta.tolist() == pytest.approx([0.5 + 2 * z0, -0.5 - 2 * z0], abs=1e-12)


def test_traces_reset_at_a_new_episode() -> None:
    algo = ActorCriticTraces(ActorCriticTraces.make_config(overrides={"gamma": 0.5, "lambda_w": 1.0}))
    agent = Agent(LinearSoftmaxPolicy(ActionOneHot(2)), LinearValue(StateTable(torch.eye(2)))).double()
    opt = algo.make_optimizer(agent)
    algo.check_rollouts = False  # on purpose: a new episode (t = 0) after a step that did not end one
    first = two_step_episode()[0]
    algo.update(agent, opt, first)
    algo.update(agent, opt, first)  # t = 0 again: z^w = x(s0), not γλ x(s0) + x(s0)
    assert algo.loss.z_w.z_w.tolist() == [[1.0, 0.0]]


def test_nonlinear_networks_and_several_envs() -> None:
    algo = ActorCriticTraces(ActorCriticTraces.make_config(overrides={"policy": "mlp", "value": "mlp"}))
    agent = Agent(MLPCategoricalPolicy(3, 2, (8,)), MLPValue(3, (8,))).double()
    g = torch.Generator().manual_seed(0)
    rollout = Rollout(obs=torch.randn(1, 4, 3, generator=g, dtype=torch.float64), actions=torch.tensor([[0, 1, 1, 0]]),
                      rewards=torch.ones(1, 4, dtype=torch.float64), terminated=torch.zeros(1, 4, dtype=torch.bool),
                      truncated=torch.zeros(1, 4, dtype=torch.bool),
                      next_obs=torch.randn(1, 4, 3, generator=g, dtype=torch.float64), t=torch.tensor([[0, 3, 1, 0]]))
    before = [p.clone() for p in agent.parameters()]
    algo.update(agent, algo.make_optimizer(agent), rollout)
    traces = dict(algo.loss.z_theta.named_buffers())
    assert traces["z_net_0_weight"].shape == (4, 8, 3)  # one trace per environment
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.parameters(), strict=True))

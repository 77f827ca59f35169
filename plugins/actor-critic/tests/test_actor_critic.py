"""One-step actor–critic (13.5): conformance, truncation vs termination, the I factor."""

import pytest
import torch
from pgzoo_actor_critic import ActorCritic

from pgzoo.algorithm import Agent
from pgzoo.features import ActionOneHot
from pgzoo.policies import LinearSoftmaxPolicy
from pgzoo.rollout import Rollout
from pgzoo.testing import AlgorithmConformance
from pgzoo.values import ScalarValue


class TestActorCritic(AlgorithmConformance):
    algorithm = "actor-critic"
    learn_overrides = {"total_episodes": 100}
    learn_threshold = -30.0


def one_step(terminated: bool, truncated: bool, t: int = 0, w: float = 5.0, gamma: float = 0.5):
    algo = ActorCritic(ActorCritic.make_config(overrides={"gamma": gamma, "alpha_theta": 1.0, "alpha_w": 1.0,
                                                          "value": "scalar"}))
    agent = Agent(LinearSoftmaxPolicy(ActionOneHot(2)), ScalarValue(w)).double()
    obs = torch.eye(3, dtype=torch.float64)
    rollout = Rollout(obs=obs[[0]][None], actions=torch.tensor([[0]]), rewards=torch.tensor([[-1.0]]).double(),
                      terminated=torch.tensor([[terminated]]), truncated=torch.tensor([[truncated]]),
                      next_obs=obs[[1]][None], t=torch.tensor([[t]]))
    terms = algo.loss(agent.policy, agent.value, rollout)
    terms["loss_value"].backward()
    terms["loss_policy"].backward()
    return agent.value.w.grad.item(), agent.policy.theta.grad


def test_termination_does_not_bootstrap() -> None:
    grad_w, _ = one_step(terminated=True, truncated=False)
    assert grad_w == pytest.approx(-(-1.0 - 5.0))  # δ = R − v̂(S); ∂loss/∂w = −δ


@pytest.mark.parametrize("truncated", [True, False])
def test_truncation_and_continuation_bootstrap(truncated: bool) -> None:
    grad_w, _ = one_step(terminated=False, truncated=truncated)
    assert grad_w == pytest.approx(-(-1.0 + 0.5 * 5.0 - 5.0))  # δ = R + γ v̂(S′) − v̂(S)


def test_i_factor_is_gamma_to_the_t() -> None:
    _, g0 = one_step(False, False, t=0)
    _, g3 = one_step(False, False, t=3)
    assert torch.allclose(g3, g0 * 0.5**3)

"""REINFORCE (13.3): conformance checks and a hand-computed episode on the short corridor."""

import math

import pytest
import torch
from pgzoo_reinforce import Reinforce

from pgzoo.features import ActionOneHot
from pgzoo.policies import LinearSoftmaxPolicy
from pgzoo.rollout import Rollout
from pgzoo.testing import AlgorithmConformance


class TestReinforce(AlgorithmConformance):
    algorithm = "reinforce"
    learn_overrides = {"total_episodes": 200, "alpha_theta": 2**-12}
    learn_threshold = -40.0  # from J(0.05) ≈ −82 at the start


def corridor_episode() -> Rollout:
    """S0 -right-> S1 -left (moves right)-> S2 -right-> goal; rewards −1, −1, −1."""
    eye = torch.eye(3, dtype=torch.float64)
    states, nxt = [0, 1, 2], [1, 2, 0]
    return Rollout(
        obs=eye[states][:, None], actions=torch.tensor([[0], [1], [0]]),
        rewards=-torch.ones(3, 1, dtype=torch.float64),
        terminated=torch.tensor([[False], [False], [True]]), truncated=torch.zeros(3, 1, dtype=torch.bool),
        next_obs=eye[nxt][:, None], t=torch.arange(3)[:, None],
    )


def run(**overrides) -> torch.Tensor:
    algo = Reinforce(Reinforce.make_config(overrides={"gamma": 1.0, "alpha_theta": 0.5, **overrides}))
    policy = LinearSoftmaxPolicy(ActionOneHot(2), init_theta=(-math.log(19), 0.0)).double()
    from pgzoo.algorithm import Agent

    agent = Agent(policy)
    algo.update(agent, algo.make_optimizer(agent), corridor_episode())
    return policy.theta.detach()


def test_batched_episode_by_hand() -> None:
    # p = 0.05; ∇ln π(right) = [0.95, −0.95], ∇ln π(left) = [−0.05, 0.05]; G = [−3, −2, −1]
    # Δθ = α(−3·[.95,−.95] − 2·[−.05,.05] − 1·[.95,−.95]) = α·[−3.7, 3.7]
    theta = run(sequential=False)
    assert theta.tolist() == pytest.approx([-math.log(19) - 0.5 * 3.7, 0.5 * 3.7], abs=1e-6)


def test_sequential_differs_from_batched_and_follows_the_box() -> None:
    seq = run(sequential=True)
    theta = torch.tensor([-math.log(19), 0.0], dtype=torch.float64)
    for G, a in [(-3.0, 0), (-2.0, 1), (-1.0, 0)]:  # the box, line by line, with θ updated in the loop
        p = torch.softmax(theta, 0)
        theta = theta + 0.5 * G * (torch.eye(2, dtype=torch.float64)[a] - p)
    assert torch.allclose(seq, theta, atol=1e-6)
    assert not torch.allclose(seq, run(sequential=False))


def test_gamma_t_weights_the_terms() -> None:
    # γ = 0.5: G = [−1.75, −1.5, −1], γᵗ = [1, .5, .25]
    with_gamma_t = run(sequential=False, gamma=0.5)
    without = run(sequential=False, gamma=0.5, discount_actor=False)
    e = {0: torch.tensor([0.95, -0.95]), 1: torch.tensor([-0.05, 0.05])}
    step_t = 0.5 * (-1.75 * e[0] - 0.5 * 1.5 * e[1] - 0.25 * 1.0 * e[0])
    step = 0.5 * (-1.75 * e[0] - 1.5 * e[1] - 1.0 * e[0])
    theta0 = torch.tensor([-math.log(19), 0.0], dtype=torch.float64)
    assert torch.allclose(with_gamma_t, theta0 + step_t.double(), atol=1e-6)
    assert torch.allclose(without, theta0 + step.double(), atol=1e-6)

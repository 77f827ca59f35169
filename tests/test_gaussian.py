"""Gaussian policies (13.7): ∇ln π against Exercise 13.4, the σ floor, clipping to bounds."""

import gymnasium as gym
import numpy as np
import torch

from pgzoo.engine.trainer import Trainer
from pgzoo.features import ObsWithBias
from pgzoo.policies import GaussianPolicy
from pgzoo.registry import get_algorithm
from pgzoo.spaces import to_env_actions


def linear_gaussian(obs_dim: int = 3) -> GaussianPolicy:
    policy = GaussianPolicy(obs_dim, 1, ObsWithBias(obs_dim), mean="linear", std="linear").double()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        policy.theta_mu.copy_(torch.randn(1, obs_dim + 1, generator=g, dtype=torch.float64))
        policy.theta_sigma.copy_(0.3 * torch.randn(1, obs_dim + 1, generator=g, dtype=torch.float64))
    return policy


def test_grad_log_pi_matches_exercise_13_4() -> None:
    policy = linear_gaussian()
    obs = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    a = torch.tensor([0.7], dtype=torch.float64)
    policy.log_prob(obs, a).backward()
    x = torch.cat([obs, torch.ones(1, dtype=torch.float64)])
    mu = (policy.theta_mu @ x).detach()
    sigma = torch.exp(policy.theta_sigma @ x).detach()
    assert torch.allclose(policy.theta_mu.grad[0], ((a - mu) / sigma**2) * x)
    assert torch.allclose(policy.theta_sigma.grad[0], ((a - mu) ** 2 / sigma**2 - 1) * x)


def test_sigma_has_a_floor() -> None:
    policy = GaussianPolicy(2, 1, ObsWithBias(2), min_std=0.01)
    with torch.no_grad():
        policy.theta_sigma.fill_(-50.0)
    _, std = policy.mean_std(torch.zeros(5, 2))
    assert torch.allclose(std, torch.full_like(std, 0.01))


def test_env_gets_clipped_actions_loss_gets_sampled_ones() -> None:
    space = gym.spaces.Box(-2.0, 2.0, (1,), dtype=np.float32)
    assert to_env_actions(space, torch.tensor([[5.0], [-0.5]])).tolist() == [[2.0], [-0.5]]
    base = get_algorithm("actor-critic")

    class Recording(base):
        seen = []

        def update(self, agent, optimizer, rollout, generator=None):
            Recording.seen.append(rollout.actions)
            return super().update(agent, optimizer, rollout)

    algo = Recording(base.make_config("Pendulum-v1", {"total_steps": 300, "init_log_std": 1.5, "eval_episodes": 1}))
    Trainer(algo, "Pendulum-v1", seed=0, progress=False).run()
    actions = torch.cat(Recording.seen)
    assert actions.shape[-1] == 1 and actions.abs().max() > 2.0  # stored unclipped


def test_every_book_algorithm_supports_continuous_actions() -> None:
    for name in ("reinforce", "reinforce-baseline", "actor-critic", "actor-critic-traces"):
        assert "continuous" in get_algorithm(name).action_spaces


def test_algorithm_space_mismatch_is_a_one_line_error() -> None:
    import pytest

    from pgzoo.errors import UsageError
    from pgzoo.spaces import EnvSpec

    base = get_algorithm("reinforce")

    class DiscreteOnly(base):
        action_spaces = ("discrete",)

    spec = EnvSpec("Pendulum-v1", gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-2, 2, (1,)))
    with pytest.raises(UsageError, match="supports discrete actions; Pendulum-v1 has continuous actions"):
        DiscreteOnly().build_agent(spec)

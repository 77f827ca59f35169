"""gSDE (pgzoo.exploration): ln π and its gradient in closed form, the action from a held noise
matrix by hand, the engine's resampling every ``sde_sample_freq`` steps, one-line config errors;
and the fixed observation scaling from the space's bounds."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgzoo.engine.population_check import check_population_matches_single_runs
from pgzoo.engine.schedules import Schedule
from pgzoo.errors import UsageError
from pgzoo.exploration import StateDependentNoise, exploration_hold
from pgzoo.features import BoundsScaling, ObsWithBias
from pgzoo.policies import GaussianPolicy
from pgzoo.registry import get_algorithm
from pgzoo.rollout import Rollout
from pgzoo.sampling import ActionStream, action_seed, draws_per_env, sample_with
from pgzoo.spaces import EnvSpec


def linear_sde_policy() -> GaussianPolicy:
    # obs [o], x(s) = z(s) = [o, 1]; θ_μ = (0.5, −1); θ_σ = (ln 0.5, ln 1): σ = (0.5, 1)
    policy = GaussianPolicy(1, 1, ObsWithBias(1), std="sde", min_std=1e-9, init_mu=(0.5, -1.0), dtype=torch.float64)
    with torch.no_grad():
        policy.theta_sigma.copy_(torch.tensor([[math.log(0.5)], [0.0]], dtype=torch.float64))
    return policy.double()


def test_log_prob_and_its_gradient_in_closed_form() -> None:
    # o = 2: μ = 2·0.5 − 1 = 0, v = z²·σ² = 4·0.25 + 1·1 = 2; a = 1:
    # ln π = −½ ln(2π·2) − (1 − 0)²/(2·2);  ∂/∂θ_σ,i = z_i² σ_i² ((a − μ)²/v − 1)/v = −0.25 each;
    # ∂/∂θ_μ = (a − μ)/v · x = (1, 0.5)
    policy = linear_sde_policy()
    dist = policy(torch.tensor([[2.0]], dtype=torch.float64))
    assert isinstance(dist, StateDependentNoise)
    logp = dist.log_prob(torch.tensor([[1.0]], dtype=torch.float64))
    assert logp.item() == pytest.approx(-0.5 * math.log(4 * math.pi) - 0.25, abs=1e-12)
    logp.sum().backward()
    assert policy.theta_sigma.grad.reshape(-1).tolist() == pytest.approx([-0.25, -0.25], abs=1e-12)
    assert policy.theta_mu.grad.reshape(-1).tolist() == pytest.approx([1.0, 0.5], abs=1e-12)


def test_the_action_is_the_mean_plus_the_latent_times_the_held_noise() -> None:
    # U = (Φ(1), Φ(−2)): E = (1, −2); a = μ + z·(σ ⊙ E) = 0 + 2·0.5·1 + 1·1·(−2) = −1
    policy = linear_sde_policy()
    u = torch.tensor([[0.5 * (1 + math.erf(1 / math.sqrt(2))), 0.5 * (1 + math.erf(-2 / math.sqrt(2)))]],
                     dtype=torch.float64)
    a = sample_with(policy(torch.tensor([[2.0]], dtype=torch.float64)), u)
    assert a.item() == pytest.approx(-1.0, abs=1e-9)
    # the same E in another state: o = −1: μ = −1.5, z = (−1, 1): a = −1.5 − 0.5 − 2 = −4
    a = sample_with(policy(torch.tensor([[-1.0]], dtype=torch.float64)), u)
    assert a.item() == pytest.approx(-4.0, abs=1e-9)
    assert draws_per_env(gym.spaces.Box(-1, 1, (1,)), policy) == 2  # latent 2 × action 1


def test_the_stream_holds_each_noise_matrix_for_k_steps() -> None:
    rows = torch.rand(256, 2, 3, generator=torch.Generator().manual_seed(action_seed(5)), dtype=torch.float64)
    stream = ActionStream(5, 2, 3, hold=4)
    got = torch.stack([stream.next() for _ in range(256 * 4 + 1)])
    for step in (0, 3, 4, 7, 8, 1023):
        assert torch.equal(got[step], rows[step // 4]), step
    assert not torch.equal(got[1024], rows[0])  # a new chunk after 256 · 4 steps
    plain = ActionStream(5, 2, 3)  # hold 1: the stream as before
    assert torch.equal(torch.stack([plain.next() for _ in range(3)]), rows[:3])


def test_the_trainer_acts_with_the_held_noise() -> None:
    """12 steps of one environment, no update before the last: every action is μ + zᵀ(σ ⊙ E) at the
    initial θ, E changing at steps 0, 3, 6, 9 (sde_sample_freq = 3)."""
    cls = get_algorithm("a2c")
    seen: list[Rollout] = []

    class Recording(cls):
        def update(self, agent, optimizer, rollout, generator=None):
            seen.append(rollout)
            return super().update(agent, optimizer, rollout, generator)

    algo = Recording(cls.make_config(overrides={"gaussian_std": "sde", "sde_sample_freq": 3, "rollout_steps": 12,
                                                "total_steps": 12, "eval_episodes": 1, "policy": "mlp",
                                                "value": "mlp", "hidden_sizes": (5,)}))
    from pgzoo.engine.trainer import Trainer

    result = Trainer(algo, "Pendulum-v1", seed=2, progress=False, dtype=torch.float64).run()
    [rollout] = seen
    from pgzoo.seeding import derive_seeds

    seeds = derive_seeds(2, 1, 1)
    torch.manual_seed(seeds.torch)
    spec = EnvSpec.from_env(gym.make("Pendulum-v1"), "Pendulum-v1")
    start = algo.build_agent(spec, torch.float64).policy
    assert start.noise_draws == 5
    rows = torch.rand(256, 1, 5, generator=torch.Generator().manual_seed(action_seed(seeds.torch)),
                      dtype=torch.float64)
    with torch.no_grad():
        for k in range(12):
            expected = sample_with(start(rollout.obs[k]), rows[k // 3])
            torch.testing.assert_close(rollout.actions[k], expected, rtol=0, atol=1e-12)
    assert result.summary["env_steps"] == 12


def test_gsde_settings_are_checked_in_one_line() -> None:
    cls = get_algorithm("a2c")
    with pytest.raises(UsageError, match="sde_sample_freq: 0 is no frequency"):
        cls.make_config(overrides={"gaussian_std": "sde", "sde_sample_freq": 0})
    with pytest.raises(UsageError, match=r"invalid config for 'a2c': sde_sample_freq = -1 .* needs rollouts of n"):
        cls(cls.make_config(overrides={"gaussian_std": "sde", "rollout_episodes": 1}))
    cfg = cls.make_config(overrides={"gaussian_std": "sde"})
    assert exploration_hold(cfg, Schedule("steps", 5)) == 5 and exploration_hold(cls.make_config(), None) == 1


def test_a_gsde_population_matches_single_runs() -> None:
    assert check_population_matches_single_runs(
        "a2c", "Pendulum-v1", {"total_steps": 60, "num_envs": 2, "rollout_steps": 5, "eval_episodes": 1,
                               "gaussian_std": "sde", "sde_sample_freq": 4, "policy": "mlp", "value": "mlp",
                               "hidden_sizes": (6,), "optimizer": "adam", "obs_scaling": "bounds"},
        seeds=(0, 1)) is None


def test_bounds_scaling_maps_finite_bounds_to_plus_minus_one() -> None:
    scale = BoundsScaling(torch.tensor([-1.2, -0.07, -np.inf]), torch.tensor([0.6, 0.07, np.inf]))
    out = scale(torch.tensor([[-1.2, 0.07, 5.0], [0.6, 0.0, -3.0]]))
    torch.testing.assert_close(out, torch.tensor([[-1.0, 1.0, 5.0], [1.0, 0.0, -3.0]]), rtol=0, atol=1e-6)
    cls = get_algorithm("a2c")
    with pytest.raises(UsageError, match="obs_scaling='bounds' needs a Box observation space with finite bounds"):
        cls(cls.make_config(overrides={"obs_scaling": "bounds"})).build_agent(
            EnvSpec("x", gym.spaces.Box(-np.inf, np.inf, (2,)), gym.spaces.Discrete(2)))

"""A2C: conformance, its special cases (one-step actor–critic, REINFORCE with baseline), GAE by
hand in one update, and population training with clipping and a linear step-size schedule."""

import math

import pytest
import torch
from pgzoo_a2c import A2C

from pgzoo.algorithm import Agent
from pgzoo.engine.population_check import check_population_matches_single_runs
from pgzoo.engine.trainer import Trainer
from pgzoo.features import ActionOneHot
from pgzoo.policies import LinearSoftmaxPolicy
from pgzoo.registry import get_algorithm
from pgzoo.rollout import Rollout
from pgzoo.testing import AlgorithmConformance
from pgzoo.values import ScalarValue


class TestA2C(AlgorithmConformance):
    algorithm = "a2c"
    learn_overrides = {"total_episodes": 150, "num_envs": 2, "rollout_steps": 4, "alpha_theta": 2**-9,
                       "alpha_w": 2**-6, "gamma": 1.0, "value": "scalar", "init_theta": (-math.log(19), 0.0)}
    learn_threshold = -20.0  # from π(right) = 0.05 (J ≈ −82); the uniform policy scores about −12
    population_overrides = {"total_steps": 120, "num_envs": 2, "eval_episodes": 1}


def train_params(name: str, env: str, overrides: dict) -> dict[str, torch.Tensor]:
    cls = get_algorithm(name)
    algo = cls(cls.make_config(env, overrides))
    return dict(Trainer(algo, env, seed=5, progress=False, dtype=torch.float64).run().agent.named_parameters())


def test_one_step_lambda_0_is_the_one_step_actor_critic() -> None:
    shared = {"total_steps": 600, "num_envs": 2, "eval_episodes": 1}
    a2c = train_params("a2c", "CartPole-v1", {**shared, "rollout_steps": 1, "gae_lambda": 0.0,
                                              "max_grad_norm": None})
    ac = train_params("actor-critic", "CartPole-v1", shared)
    for name, p in ac.items():
        torch.testing.assert_close(a2c[name], p, rtol=1e-10, atol=1e-12)


def test_whole_episodes_lambda_1_is_batched_reinforce_with_baseline() -> None:
    shared = {"total_episodes": 6, "eval_episodes": 1, "discount_actor": True, "alpha_theta": 2**-9,
              "alpha_w": 2**-6, "init_theta": (-2.9, 0.0)}
    a2c = train_params("a2c", "ShortCorridor-v0", {**shared, "rollout_episodes": 1, "gae_lambda": 1.0,
                                                   "gamma": 1.0, "value": "scalar"})
    rb = train_params("reinforce-baseline", "ShortCorridor-v0", {**shared, "sequential": False, "gamma": 1.0,
                                                                 "value": "scalar"})
    for name, p in rb.items():
        torch.testing.assert_close(a2c[name], p, rtol=1e-10, atol=1e-12)


def test_one_segment_by_hand() -> None:
    # v̂ = w = 1, γ = 0.5, λ = 0.5, R = (1, 2), one env, termination at the second step:
    # δ1 = 2 − 1 = 1; δ0 = 1 + 0.5·1 − 1 = 0.5; Â1 = 1, Â0 = 0.5 + 0.25·1 = 0.75
    # w ← 1 + α^w (Â0 + Â1) = 1 + 0.1·1.75;  θ ← θ + α^θ Σ Â ∇ln π, ∇ln π(a|·) = e_a − π = e_a − ½
    algo = A2C(A2C.make_config(overrides={"gamma": 0.5, "gae_lambda": 0.5, "alpha_theta": 1.0, "alpha_w": 0.1,
                                          "value": "scalar", "discount_actor": False, "rollout_steps": 2}))
    agent = Agent(LinearSoftmaxPolicy(ActionOneHot(2)), ScalarValue(1.0)).double()
    obs = torch.zeros(2, 1, 3, dtype=torch.float64)
    rollout = Rollout(obs, torch.tensor([[0], [1]]), torch.tensor([[1.0], [2.0]], dtype=torch.float64),
                      torch.tensor([[False], [True]]), torch.zeros(2, 1, dtype=torch.bool), obs,
                      torch.tensor([[0], [1]]))
    algo.update(agent, algo.make_optimizer(agent), rollout)
    assert agent.value.w.item() == pytest.approx(1.175)
    # θ = 0.75·(½, −½) + 1·(−½, ½) = (−0.125, 0.125)
    assert agent.policy.theta.detach().tolist() == pytest.approx([-0.125, 0.125])


def test_population_with_clipping_and_linear_schedule_matches_single_runs() -> None:
    assert check_population_matches_single_runs(
        "a2c", "CartPole-v1", {"total_steps": 200, "num_envs": 2, "eval_episodes": 1, "optimizer": "adam",
                               "max_grad_norm": 0.5, "lr_schedule": "linear", "policy": "mlp", "value": "mlp"},
        seeds=(0, 1)) is None

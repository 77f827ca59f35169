"""Acting from a table of π(·|s) (pgzoo.engine.policy_table): the book's corridor policy by hand,
and the same actions as the step-by-step sampler for any parameters and uniforms."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call, vmap

from pgzoo.engine.policy_table import MAX_STATES, PolicyTable, table_applies
from pgzoo.policies import MLPCategoricalPolicy
from pgzoo.sampling import categorical_cdf, sample_with
from pgzoo.spaces import encode_obs

SPACE = gym.spaces.Discrete(3, start=1)


def _table(policy: torch.nn.Module, params: dict[str, torch.Tensor], runs: int) -> PolicyTable:
    cdf = vmap(lambda p, obs: categorical_cdf(functional_call(policy, p, (obs,))))
    table = PolicyTable(cdf, SPACE, runs, torch.float32, True)
    table.refresh(params)
    return table


def test_the_corridor_policy_by_hand() -> None:
    """p(right) = 0.05 in every state (θ = [−ln 19, 0] on x(s,right) = [1,0], x(s,left) = [0,1],
    Example 13.1): every row is F = [0.05, 1]; U < 0.05 goes right (action 0), else left."""

    class Corridor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.theta = torch.nn.Parameter(torch.tensor([-math.log(19.0), 0.0]))

        def forward(self, obs: torch.Tensor) -> torch.distributions.Categorical:
            return torch.distributions.Categorical(logits=self.theta.expand(*obs.shape[:-1], 2))

    policy = Corridor()
    table = _table(policy, {"theta": policy.theta.detach().unsqueeze(0).repeat(2, 1)}, 2)
    np.testing.assert_allclose(table.cdf, np.tile([0.05, 1.0], (2, 3, 1)), rtol=1e-6)
    runs, states = np.array([0, 1, 1, 0, 1]), np.array([1, 2, 3, 3, 1])
    u = np.array([0.0, 0.049, 0.051, 0.5, 1 - 1e-12])  # the last rounds to 1.0 in float32: clamped to left
    assert table.draw(runs, states, u).tolist() == [0, 0, 1, 1, 1]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), runs=st.integers(1, 5), n_actions=st.integers(2, 4))
def test_the_same_actions_as_the_step_by_step_sampler(seed: int, runs: int, n_actions: int) -> None:
    """An MLP on the one-hot states, random parameters per run, random uniforms: the table's
    action equals :func:`pgzoo.sampling.sample_with` of the policy at that state, bit for bit."""
    torch.manual_seed(seed)
    policy = MLPCategoricalPolicy(3, n_actions, (5,))
    params = {n: torch.randn(runs, *p.shape) * 3 for n, p in policy.named_parameters()}
    table = _table(policy, params, runs)
    g = np.random.default_rng(seed)
    run_idx, states = g.integers(0, runs, 50), g.integers(1, 4, 50)
    u = g.random(50)
    u[:5] = table.cdf[run_idx[:5], states[:5] - 1, 0]  # exactly on a CDF step
    obs = encode_obs(SPACE, states.reshape(50, 1))  # [50, 1, 3]: one observation per draw, as acting has
    one = vmap(lambda p, o, uu: sample_with(functional_call(policy, p, (o,)), uu))
    with torch.no_grad():
        expected = one({n: v[torch.from_numpy(run_idx)] for n, v in params.items()}, obs,
                       torch.from_numpy(u).reshape(50, 1, 1))
    assert table.draw(run_idx, states, u).tolist() == expected.reshape(50).tolist()


def test_it_applies_to_small_discrete_spaces_with_one_env_per_run() -> None:
    two = gym.spaces.Discrete(2)
    assert table_applies(SPACE, two, 1)
    assert not table_applies(SPACE, two, 2)
    assert not table_applies(gym.spaces.Discrete(MAX_STATES + 1), two, 1)
    assert not table_applies(gym.spaces.Box(-1, 1, (3,)), two, 1)
    assert not table_applies(SPACE, gym.spaces.Box(-1, 1, (1,)), 1)

"""AccessControl-v0 is Example 10.2; relative value iteration gives its optimal average reward."""

import gymnasium as gym
import numpy as np
import pytest
from pgzoo_book_envs.access_control import (
    ACCEPT,
    PAYOFFS,
    REJECT,
    encode,
    optimal_average_reward,
    transition_model,
)

from pgzoo.registry import get_registry


@pytest.fixture(scope="module")
def env():
    get_registry()
    e = gym.make("AccessControl-v0")
    yield e
    e.close()


def test_accepting_pays_the_priority_and_takes_a_server(env) -> None:
    env.reset(seed=0)
    u = env.unwrapped
    u.free, u.priority = 10, 3
    obs, r, term, trunc, _ = env.step(ACCEPT)
    assert r == 8.0 and not term and not trunc
    assert obs // len(PAYOFFS) == 9  # no busy server could free yet: 9 free


def test_no_free_server_means_rejection(env) -> None:
    env.reset(seed=0)
    env.unwrapped.free, env.unwrapped.priority = 0, 3
    _, r, _, _, _ = env.step(ACCEPT)
    assert r == 0.0


def test_never_terminates_and_is_marked_continuing(env) -> None:
    env.reset(seed=1)
    assert env.unwrapped.metadata["continuing"] is True
    assert not any(env.step(env.action_space.sample())[2] for _ in range(2000))


def test_transition_model_is_stochastic_and_matches_rewards() -> None:
    P, R = transition_model()
    assert np.allclose(P.sum(axis=2), 1.0)
    assert R[encode(5, 2), ACCEPT] == 4.0 and R[encode(0, 2), ACCEPT] == 0.0 and R[encode(5, 2), REJECT] == 0.0


def test_relative_value_iteration() -> None:
    gain, policy = optimal_average_reward()
    assert 2.16 < gain < 3.0  # better than always accepting (≈ 2.16 per step, simulated)
    # the optimal policy always takes the most valuable customers when a server is free
    assert all(policy[encode(f, 3)] == ACCEPT for f in range(1, 11))


def test_simulated_optimal_policy_earns_the_dp_gain(env) -> None:
    gain, policy = optimal_average_reward()
    obs, _ = env.reset(seed=3)
    total = 0.0
    for _ in range(50_000):
        obs, r, *_ = env.step(int(policy[obs]))
        total += r
    assert total / 50_000 == pytest.approx(gain, abs=0.05)


def test_window_std_is_zero_without_reward_and_matches_simulation() -> None:
    """σ of a window's average reward: 0 for a policy that never earns (always reject); for the optimal
    policy, what simulating the chain gives (1,000 windows of 2,000 steps, the chain's own kernel)."""
    import numpy as np
    from pgzoo_book_envs.access_control import optimal_average_reward, transition_model, window_std

    P, R = transition_model()
    assert window_std(np.zeros(P.shape[0], dtype=int), 2000) == 0.0
    gain, policy = optimal_average_reward()
    states = np.arange(P.shape[0])
    cum, r = np.cumsum(P[states, policy], axis=1), R[states, policy]
    rng = np.random.default_rng(0)
    s = rng.integers(0, len(states), 1000)
    for _ in range(1000):  # burn-in towards the stationary distribution
        s = np.minimum((cum[s] < rng.random(len(s))[:, None]).sum(1), len(states) - 1)
    total = np.zeros(len(s))
    for _ in range(2000):
        total += r[s]
        s = np.minimum((cum[s] < rng.random(len(s))[:, None]).sum(1), len(states) - 1)
    simulated = (total / 2000).std(ddof=1)
    assert abs(window_std(policy, 2000) - simulated) < 0.1 * simulated
    assert abs((total / 2000).mean() - gain) < 3 * simulated / np.sqrt(len(s))

"""ShortCorridor-v0 is Example 13.1: dynamics, rewards, features and J(p)."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from pgzoo_book_envs.short_corridor import LEFT, OPTIMAL_P, OPTIMAL_VALUE, RIGHT, start_value

from pgzoo.registry import get_registry


@pytest.fixture(scope="module")
def env():
    get_registry()
    e = gym.make("ShortCorridor-v0")
    yield e
    e.close()


def walk(env, actions):
    s, _ = env.reset(seed=0)
    seen = [s]
    for a in actions:
        s, r, term, _trunc, _ = env.step(a)
        assert r == -1.0
        seen.append((s, term))
    return seen


def test_first_state_left_stays_put(env) -> None:
    assert walk(env, [LEFT]) == [0, (0, False)]


def test_second_state_is_switched(env) -> None:
    assert walk(env, [RIGHT, RIGHT]) == [0, (1, False), (0, False)]
    assert walk(env, [RIGHT, LEFT]) == [0, (1, False), (2, False)]


def test_third_state_normal_and_goal_terminates(env) -> None:
    seen = walk(env, [RIGHT, LEFT, RIGHT])
    assert seen[-1][1] is True
    assert walk(env, [RIGHT, LEFT, LEFT]) == [0, (1, False), (2, False), (1, False)]


def test_book_features(env) -> None:
    x = env.unwrapped.state_action_features()(torch.eye(3))
    assert torch.equal(x, torch.eye(2).expand(3, 2, 2))


def test_closed_form_values() -> None:
    assert pytest.approx(0.5858, abs=1e-4) == OPTIMAL_P
    assert start_value(OPTIMAL_P) == pytest.approx(OPTIMAL_VALUE)
    assert pytest.approx(-11.657, abs=1e-3) == OPTIMAL_VALUE
    assert start_value(0.95) == pytest.approx(-44.2, abs=0.1)
    assert start_value(0.05) == pytest.approx(-82.1, abs=0.1)


def test_monte_carlo_matches_closed_form(env) -> None:
    rng = np.random.default_rng(0)
    p, totals = 0.5, []
    for _ in range(3000):
        env.reset(seed=int(rng.integers(1 << 30)))
        total, done = 0.0, False
        while not done:
            _, r, term, trunc, _ = env.step(RIGHT if rng.random() < p else LEFT)
            total, done = total + r, term or trunc
        totals.append(total)
    assert np.mean(totals) == pytest.approx(start_value(p), rel=0.05)  # J(0.5) = −12

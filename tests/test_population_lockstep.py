"""The lockstep loop of population training (the book's sequential Monte-Carlo boxes) gives,
run for run, bit for bit, what the general loop gives; and it is taken exactly when it applies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pgzoo.engine import population as pop_module
from pgzoo.engine.population import Population, PopulationResult, lockstep_blocker
from pgzoo.registry import get_algorithm


def _algos(name: str, alphas: list[float], **overrides) -> list:
    cls = get_algorithm(name)
    return [cls(cls.make_config("ShortCorridor-v0", {"alpha_theta": a, "eval_episodes": 1, **overrides}))
            for a in alphas]


def _run(algos: list, seeds: list[int], general: bool, monkeypatch: pytest.MonkeyPatch) -> PopulationResult:
    with monkeypatch.context() as mp:
        if general:
            mp.setattr(pop_module, "lockstep_blocker", lambda *_a, **_k: "the general loop, for comparison")
        return Population([a for a in algos for _ in seeds], "ShortCorridor-v0", seeds * len(algos),
                          snapshot_episodes=[3, 7], stop_on_truncation=True).run()


@pytest.mark.parametrize(("name", "alphas", "policy"), [
    ("reinforce", [2**-12, 2**-13, 2**-9], {}),
    ("reinforce-baseline", [2**-9, 2**-8], {}),
    ("reinforce", [2**-6, 2**-4], {"policy": "mlp", "hidden_sizes": (4,), "init_theta": None}),  # π(·|s) by state
])
def test_lockstep_equals_the_general_loop_bit_for_bit(name: str, alphas: list[float], policy: dict,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of several step sizes, episodes of different lengths, some capped at 30 steps (those
    runs stop there): parameters, snapshots, every episode's return, length and cut, updates and
    env steps are identical. (The corridor's observations are Discrete(3): the lockstep loop
    acts from its table of π(·|s), :mod:`pgzoo.engine.policy_table`.)"""
    algos = _algos(name, alphas, total_episodes=12, max_episode_steps=30, **policy)
    seeds = [0, 1, 2, 3]
    assert lockstep_blocker(algos[0]) is None
    fast, slow = _run(algos, seeds, False, monkeypatch), _run(algos, seeds, True, monkeypatch)
    assert any(len(x) < 12 for x in fast.episode_returns), "some run should have stopped at a capped episode"
    assert len({len(x) for x in fast.episode_lengths}) > 1 or len({int(s) for s in fast.env_steps}) > 1
    for k in fast.params:
        assert torch.equal(fast.params[k], slow.params[k]), k
        for ep in (3, 7):
            assert torch.equal(fast.snapshots[ep][k], slow.snapshots[ep][k]), (k, ep)
    for a, b in zip(fast.episode_returns + fast.episode_lengths + fast.episode_truncated,
                    slow.episode_returns + slow.episode_lengths + slow.episode_truncated, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(fast.updates, slow.updates) and np.array_equal(fast.env_steps, slow.env_steps)
    # sequential REINFORCE takes one update per time step: updates = env steps of finished episodes
    assert np.array_equal(fast.updates, [int(np.sum(x)) for x in fast.episode_lengths])


def test_lockstep_applies_exactly_to_sequential_monte_carlo_with_an_episode_budget() -> None:
    base = {"total_episodes": 5, "eval_episodes": 1}
    cls = get_algorithm("reinforce")
    ok = cls(cls.make_config("ShortCorridor-v0", base))
    assert lockstep_blocker(ok) is None
    assert lockstep_blocker(ok, on_eval=lambda *_: None) == "an evaluation hook"
    cases = {
        "the budget is in env steps": {"total_episodes": None, "total_steps": 500},
        "more than one environment per run": {"num_envs": 2},
        "not one episode per rollout": {"rollout_episodes": 2},
        "not the sequential Monte-Carlo updates": {"sequential": False},
    }
    for why, change in cases.items():
        assert lockstep_blocker(cls(cls.make_config("ShortCorridor-v0", {**base, **change}))) == why
    ac = get_algorithm("actor-critic")
    assert lockstep_blocker(ac(ac.make_config("ShortCorridor-v0", base))) == "not one episode per rollout"

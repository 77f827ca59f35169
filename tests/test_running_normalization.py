"""Running normalisation asked for by an algorithm's settings (``obs_scaling = "running"``,
``normalize_reward``): SB3's ``VecNormalize`` on every environment pgzoo makes for the run,
its observation statistics carried into evaluation (pgzoo.engine.normalization).

The right values are closed forms: gymnasium's running statistics over a stream x_1 … x_n start
from a prior (mean 0, variance 1, count 1e-4), so after n values count = 1e-4 + n, mean = Σx /
count and var = (1e-4 + Σx²) / count − mean² (Chan et al.'s combination of the prior and the
data, multiplied out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pgzoo.cli import main
from pgzoo.engine.envs import make_env
from pgzoo.engine.normalization import CLIP, Normalization, RunningObservation, RunningReward
from pgzoo.engine.population import env_blocker, train_population
from pgzoo.engine.trainer import train
from pgzoo.errors import UsageError


@pytest.fixture(autouse=True)
def _envs_importable(monkeypatch):
    """tests/envs/boundary_envs.py (Alternating-v0, Steady-v0) importable, as gymnasium's "module:id" needs."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "envs"))

ALT = "boundary_envs:Alternating-v0"
# θ for x(s,a) = e_a ⊗ [s, 1]: h(s,0) = 0, h(s,1) = s: greedy takes action 1 iff its observation is positive
HOLD = {"policy": "linear", "init_theta": [0.0, 0.0, 1.0, 0.0], "alpha_theta": 1e-9, "optimizer": "sgd",
        "total_episodes": 4, "eval_episodes": 2}
PRIOR = 1e-4


def running(data: list[float]) -> tuple[float, float, float]:
    """(mean, var, count) of gymnasium's running statistics after ``data`` (see the module)."""
    count = PRIOR + len(data)
    mean = sum(data) / count
    return mean, (PRIOR + sum(x * x for x in data)) / count - mean * mean, count


class Scripted(gym.Env):
    """Hands back ``obs[t]`` and ``rewards[t]`` at step t; an episode ends after the steps listed
    in ``ends`` (terminated if the step is in ``terminal``, else truncated)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, obs: list[float], rewards: list[float], ends: frozenset[int] = frozenset(),
                 terminal: frozenset[int] = frozenset()) -> None:
        self.obs, self.rewards, self.ends, self.terminal = obs, rewards, ends, terminal
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.array([self.obs[self.t]]), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        t = self.t
        self.t += 1
        end = t in self.ends
        terminated = end and t in self.terminal
        return np.array([self.obs[self.t]]), self.rewards[t], terminated, end and not terminated, {}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-100, 100, width=32, allow_subnormal=False), min_size=2, max_size=30))
def test_observations_are_normalised_by_everything_seen_so_far_and_clipped(xs: list[float]) -> None:
    env = RunningObservation(Scripted(xs, [0.0] * len(xs)))
    seen = [env.reset()[0][0]]
    for _ in range(len(xs) - 1):
        seen.append(env.step(0)[0][0])
    expected = []
    for t, x in enumerate(xs):
        mean, var, _ = running(xs[: t + 1])  # the wrapper updates with x before normalising it
        expected.append(np.clip((x - mean) / np.sqrt(max(var, 0.0) + 1e-8), -CLIP, CLIP))
    np.testing.assert_allclose(seen, expected, atol=2e-3, rtol=1e-3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-10, 10, allow_subnormal=False), st.sampled_from(["", "terminated", "truncated"])),
                min_size=1, max_size=30),
       st.sampled_from([0.0, 0.5, 0.99]))
def test_rewards_are_scaled_by_the_discounted_return_started_afresh_every_episode(steps, gamma) -> None:
    rewards = [r for r, _ in steps]
    ends = frozenset(t for t, (_, end) in enumerate(steps) if end)
    terminal = frozenset(t for t, (_, end) in enumerate(steps) if end == "terminated")
    env = RunningReward(Scripted([0.0] * (len(steps) + 1), rewards, ends, terminal), gamma=gamma)
    env.reset()
    scaled = [env.step(0)[1] for _ in steps]
    returns, g, expected = [], 0.0, []
    for t, r in enumerate(rewards):
        g = gamma * g + r
        returns.append(g)
        _, var, _ = running(returns)
        expected.append(float(np.clip(r / np.sqrt(var + 1e-8), -CLIP, CLIP)))
        if t in ends:  # terminated or truncated: VecNormalize's G starts again (gymnasium's keeps it on truncation)
            g = 0.0
    np.testing.assert_allclose(scaled, expected, rtol=1e-9, atol=1e-9)


def test_one_truncation_by_hand() -> None:
    # γ = 0.5, rewards 2, 2 | 2 with the episode truncated after the second: G = 2, 3, then 2 (not 0.5·3 + 2)
    env = RunningReward(Scripted([0.0] * 4, [2.0, 2.0, 2.0], frozenset({1})), gamma=0.5)
    env.reset()
    r = [env.step(0)[1] for _ in range(3)]
    # G = 2: var = (1e-4 + 4)/1.0001 − (2/1.0001)² = 4.9990e-4, 2/√var = 89.45, clipped to 10
    # G = 2, 3: var = (1e-4 + 13)/2.0001 − (5/2.0001)² = 0.25036, 2/√var = 3.99720
    # G = 2, 3, 2: var = (1e-4 + 17)/3.0001 − (7/3.0001)² = 0.222430, 2/√var = 4.24066 (gymnasium's own
    # wrapper would have G = 0.5·3 + 2 = 3.5 here)
    assert r == pytest.approx([CLIP, 3.997203, 4.240662], abs=1e-6)


def test_settings_normalise_as_a_registered_wrapper_and_evaluation_uses_the_training_statistics(
        tmp_path, capsys) -> None:
    out = tmp_path / "alt"
    result = train("reinforce", ALT, 0, {**HOLD, "obs_scaling": "running"}, out_dir=out)
    # 4 episodes and the reset after the last: the steps t = 0, 2, 4 of each see 10 (13 in all), t = 1, 3, 5
    # see 11 (12): mean ≈ 10.48, var ≈ 0.25
    mean, var, count = running([10.0] * 13 + [11.0] * 12)
    saved = torch.load(out / "model.pt", weights_only=True)["obs_norm"]
    assert float(saved["0.count"]) == pytest.approx(count, rel=1e-12)
    assert float(saved["0.mean"][0]) == pytest.approx(mean, rel=1e-6)
    assert float(saved["0.var"][0]) == pytest.approx(var, rel=1e-5)
    # frozen there, 10 → (10 − 10.48)/0.5 < 0 (action 0) and 11 → > 0 (action 1): right at every step; without
    # the training statistics the policy would score 2 (fresh, frozen) or 4 (fresh, updating)
    assert result.summary["eval_return_mean_deterministic"] == 5.0
    assert main(["eval", str(out), "--deterministic", "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["returns"] == [5.0, 5.0]


def test_reward_normalisation_is_for_training_only() -> None:
    # Steady: five rewards of 1 per episode; training sees them scaled (the first clipped to 10)
    result = train("reinforce", "boundary_envs:Steady-v0", 0,
                   {"policy": "linear", "eval_episodes": 1, "total_episodes": 2, "normalize_reward": True})
    assert result.episodes[0]["return"] > 10
    assert result.summary["eval_return_mean"] == result.summary["eval_return_mean_deterministic"] == 5.0  # raw


def test_populations_refuse_normalising_settings_in_one_line() -> None:
    norm = Normalization(True, False, 0.99)
    assert env_blocker("CartPole-v1", None, norm) == ("CartPole-v1 keeps running statistics (RunningObservation), "
                                                      "which evaluation uses as trained")
    assert env_blocker("CartPole-v1", None, None) is None
    with pytest.raises(UsageError, match=r"^cannot train as a population: CartPole-v1 keeps running statistics "
                                         r"\(RunningReward\)"):
        train_population("reinforce", "CartPole-v1", [0, 1], {"normalize_reward": True, "total_steps": 100})


def test_settings_without_normalisation_make_the_plain_environment() -> None:
    from pgzoo.config import AlgorithmConfig

    assert Normalization.of(AlgorithmConfig()) is None
    assert Normalization.of(AlgorithmConfig(obs_scaling="bounds")) is None
    assert Normalization.of(AlgorithmConfig(obs_scaling="running", gamma=0.9)) == Normalization(True, False, 0.9)
    env = make_env("CartPole-v1", None, Normalization(True, True, 0.9))
    assert isinstance(env, RunningReward) and isinstance(env.env, RunningObservation) and env.gamma == 0.9
    assert type(make_env("CartPole-v1")).__name__ == "CheckedEnv"

"""The compiled population update and acting (``compile = "on"``) agree with the eager population."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from pgzoo.engine.population import Population, train_population
from pgzoo.provenance import params_hash
from pgzoo.registry import get_algorithm


def _reinforce_population(compile_: str, alphas: list[float], episodes: int = 8, **overrides) -> Population:
    cls = get_algorithm("reinforce")
    algos = [cls(cls.make_config("ShortCorridor-v0", {"alpha_theta": a, "total_episodes": episodes,
                                                      "eval_episodes": 1, "compile": compile_, **overrides}))
             for a in alphas]
    seeds = [0, 1, 2]
    return Population([a for a in algos for _ in seeds], "ShortCorridor-v0", seeds * len(alphas),
                      snapshot_episodes=[4])


def test_compiled_sequential_reinforce_matches_eager() -> None:
    """The lockstep loop with K-step compiled updates (episodes of every length, so calls with
    padding): the same episodes (the compiled sampler draws the same actions here) and the same
    parameters to float32 rounding; the compile time is reported."""
    eager = _reinforce_population("off", [2**-12, 2**-9]).run()
    comp = _reinforce_population("on", [2**-12, 2**-9]).run()
    assert comp.compiled and not eager.compiled
    assert comp.compile_cpu_s > 0 and eager.compile_cpu_s == 0.0
    for a, b in zip(comp.episode_lengths, eager.episode_lengths, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(comp.updates, eager.updates)
    lengths = {int(x) for run in eager.episode_lengths for x in run}
    assert any(n % 8 for n in lengths) and max(lengths) > 8  # partial K-chunks and several calls per episode
    for k, v in eager.params.items():
        torch.testing.assert_close(comp.params[k], v, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(comp.snapshots[4][k], eager.snapshots[4][k], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["actor-critic"])
def test_compiled_critic_populations_match_eager(name: str) -> None:
    """The general loop on CartPole (MLPs, Adam, n-step segments of 8 environments): every update
    of all runs is one compiled step; same episodes, parameters to float32 rounding."""
    overrides = {"total_steps": 800, "eval_episodes": 1}
    eager = train_population(name, "CartPole-v1", [0, 1], {**overrides, "compile": "off"})
    comp = train_population(name, "CartPole-v1", [0, 1], {**overrides, "compile": "on"})
    assert comp.compiled and comp.compile_cpu_s > 0
    assert np.array_equal(comp.updates, eager.updates) and comp.updates.min() > 10
    for a, b in zip(comp.episode_returns, eager.episode_returns, strict=True):
        assert np.array_equal(a, b)
    for k, v in eager.params.items():
        torch.testing.assert_close(comp.params[k], v, rtol=1e-4, atol=1e-5)
    # the contract: the same code, libraries and command give the same bits in another process, compiled
    # too (the bench trains compile="auto" and a line's recorded path is its recipe); that process loads
    # the compiled kernels from the session's cache (PGZOO_CACHE_DIR, inherited)
    code = ("import json, torch; torch.set_num_threads(1); from pgzoo.engine.population import train_population; "
            "from pgzoo.provenance import params_hash; "
            f"r = train_population({name!r}, 'CartPole-v1', [0, 1], {{**{overrides!r}, 'compile': 'on'}}); "
            "print(json.dumps([r.compiled, params_hash(r.params), [x.tolist() for x in r.episode_returns]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    compiled, fingerprint, returns = json.loads(out.stdout.strip().splitlines()[-1])
    assert compiled and fingerprint == params_hash(comp.params)
    assert returns == [x.tolist() for x in comp.episode_returns]


def test_a_run_that_diverges_stops_as_in_the_eager_population() -> None:
    """Rewards scaled by 10³⁷: an episode of 35 steps or more has G₀ = −inf in float32, so the
    loss of its first update is not finite. Such a run stops before that update with its last
    parameters and the eager population's message; a run whose episodes stay short goes on."""
    eager = _reinforce_population("off", [2**-12, 2**-9], episodes=3, reward_scale=1e37).run()
    comp = _reinforce_population("on", [2**-12, 2**-9], episodes=3, reward_scale=1e37).run()
    assert eager.failed and comp.failed == eager.failed
    assert all("loss_policy is" in why for why in comp.failed.values())
    assert np.array_equal(comp.updates, eager.updates)
    for r in range(6):
        if r in eager.failed:  # no update taken in the failing episode: θ is its value after the last good one
            assert len(comp.episode_returns[r]) == len(eager.episode_returns[r])
    torch.testing.assert_close(comp.params["policy.theta"], eager.params["policy.theta"], rtol=1e-5, atol=1e-5)

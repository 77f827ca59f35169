"""EnvBatch's native vectorised CartPole stepping (gymnasium's CartPoleVectorEnv) takes the same
steps as stepping the environments one at a time: same observations, rewards, terminations,
truncations and same-step resets, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgzoo.engine.envs import EnvBatch
from pgzoo.engine.trainer import train


def pair(n: int, cap: int | None) -> tuple[EnvBatch, EnvBatch]:
    fast, slow = EnvBatch("CartPole-v1", n, cap), EnvBatch("CartPole-v1", n, cap)
    slow.native = None
    assert fast.native is not None
    return fast, slow


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 9), cap=st.one_of(st.none(), st.integers(1, 40)), seed=st.integers(0, 2**31 - 1))
def test_native_cartpole_steps_as_one_environment_at_a_time(n: int, cap: int | None, seed: int) -> None:
    fast, slow = pair(n, cap)
    seeds = [seed + i for i in range(n)]
    assert np.array_equal(fast.reset(seeds), slow.reset(seeds))
    rng = np.random.default_rng(seed)
    ended = 0
    for _ in range(300):
        actions = rng.integers(0, 2, n)
        a, b = fast.step(actions), slow.step(actions)
        for x, y in zip(a, b, strict=True):
            assert x.dtype == y.dtype and x.shape == y.shape and x.strides == y.strides and np.array_equal(x, y)
        ended += int((a[3] | a[4]).sum())
    assert ended > 0  # resets (and, with a cap, truncations) were exercised


def test_truncation_at_the_cap_is_not_termination() -> None:
    fast, _ = pair(2, 3)
    fast.reset([0, 1])
    for _ in range(2):
        _, _, _, term, trunc = fast.step(np.array([0, 1]))
        assert not trunc.any()
    nxt, true_next, _, term, trunc = fast.step(np.array([0, 1]))
    assert trunc.all() and not term.any()
    assert not np.array_equal(nxt, true_next)  # S_{t+1} kept apart from the reset observation


def test_only_plain_cartpole_goes_native() -> None:
    assert EnvBatch("Acrobot-v1", 2).native is None
    assert EnvBatch("CartPole-v1", 2).native is not None


@pytest.mark.parametrize("algorithm", ["actor-critic", "reinforce"])
def test_training_is_bit_identical_either_way(algorithm: str, monkeypatch) -> None:
    over = {"total_steps": 600, "num_envs": 3, "eval_episodes": 1, "policy": "mlp"}
    fast = train(algorithm, "CartPole-v1", 4, over)
    monkeypatch.setattr("pgzoo.engine.envs.NativeCartPole.wrap", classmethod(lambda cls, envs: None))
    slow = train(algorithm, "CartPole-v1", 4, over)
    assert [e["return"] for e in fast.episodes] == [e["return"] for e in slow.episodes]
    for (name, p), q in zip(fast.agent.named_parameters(), slow.agent.parameters(), strict=True):
        assert p.detach().equal(q.detach()), name


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 9), cap=st.one_of(st.none(), st.integers(1, 40)), seed=st.integers(0, 2**31 - 1))
def test_population_cartpole_steps_any_subset_as_the_copies_do(n: int, cap: int | None, seed: int) -> None:
    """A population's CartPole copies (VectorCartPole: one vectorised step of the subset) take the
    steps EnvList takes copy by copy, for any subset of copies in any order, bit for bit."""
    from pgzoo.engine.batched_envs import EnvList, VectorCartPole, make_batched_env

    fast, slow = make_batched_env("CartPole-v1", n, cap), EnvList("CartPole-v1", n, cap)
    assert isinstance(fast, VectorCartPole)
    seeds = [seed + i for i in range(n)]
    assert np.array_equal(fast.reset(seeds), slow.reset(seeds))
    rng = np.random.default_rng(seed)
    ended = 0
    for _ in range(200):
        idx = rng.permutation(n)[: rng.integers(1, n + 1)]
        actions = rng.integers(0, 2, len(idx))
        a, b = fast.step(idx, actions), slow.step(idx, actions)
        for f in ("obs", "reward", "terminated", "truncated", "final_obs"):
            x, y = getattr(a, f), getattr(b, f)
            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), f
        ended += int((a.terminated | a.truncated).sum())
    assert ended > 0

"""Evaluation episodes on environments seeded apart from training."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

from pgzoo.envs import make_env
from pgzoo.policies import Policy
from pgzoo.spaces import encode_obs, to_env_actions


def evaluate(
    policy: Policy,
    env_id: str,
    seeds: Sequence[int],
    deterministic: bool = False,
    max_episode_steps: int | None = None,
    continuing_steps: int | None = None,
    env_factory: Callable[[], gym.Env] | None = None,
) -> list[float]:
    """Total reward of one episode per seed, acting with ``policy`` (greedy if ``deterministic``).

    ``env_factory`` (e.g. an environment wrapped in a video recorder) replaces
    ``make_env(env_id, max_episode_steps)``; the environment is closed at the end either way.

    For a continuing task, pass ``continuing_steps``: each seed then scores the average reward
    per step over that many steps. Runs on a forked torch random stream, so evaluating does
    not change what training samples.
    """
    with torch.random.fork_rng(devices=[]):
        return _evaluate(policy, env_id, seeds, deterministic, max_episode_steps, continuing_steps, env_factory)


@torch.no_grad()
def _evaluate(
    policy: Policy, env_id: str, seeds: Sequence[int], deterministic: bool, max_episode_steps: int | None,
    continuing_steps: int | None, env_factory: Callable[[], gym.Env] | None = None,
) -> list[float]:
    env = env_factory() if env_factory else make_env(env_id, max_episode_steps)
    dtype = next(policy.parameters()).dtype
    returns = []
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=int(seed))
            total, done, steps = 0.0, False, 0
            while not done and (continuing_steps is None or steps < continuing_steps):
                action = policy.act(encode_obs(env.observation_space, obs, dtype), deterministic)
                # as a batch of one, as the trainer's envs see it: a discrete action is then a NumPy
                # scalar (hashable, e.g. for FrozenLake's transition table), not a 0-d array
                obs, reward, terminated, truncated, _ = env.step(to_env_actions(env.action_space, action[None])[0])
                total += float(reward)
                done = terminated or truncated
                steps += 1
            returns.append(total / steps if continuing_steps else total)
    finally:
        env.close()
    return returns


def summarize(returns: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation of evaluation returns."""
    arr = np.asarray(returns, dtype=np.float64)
    return float(arr.mean()), float(arr.std())

"""Evaluation episodes on environments seeded apart from training, each with a step cap.

:func:`play` is the one evaluation loop: pgzoo's own evaluation (:func:`evaluate`: the trainer's
final evaluation and evaluation points, ``pgzoo eval``, the bench, population runs), the
random-policy score of the bench and the Stable-Baselines3 baselines' evaluation all run
through it, so that no evaluation waits for an episode that never ends: an episode still going
after ``step_cap`` steps is cut there, scored with the reward it collected, and counted in
:attr:`Scores.capped`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgzoo.config import DEFAULT_EVAL_STEP_CAP
from pgzoo.engine.envs import make_env
from pgzoo.engine.normalization import Normalization, Statistics, evaluation_env
from pgzoo.errors import UsageError
from pgzoo.policies import Policy
from pgzoo.spaces import encode_obs, to_env_actions


class Scores(list):
    """Evaluation scores, one float per environment seed (a ``list``), and :attr:`capped`:
    how many of those episodes the step cap cut before they ended."""

    capped: int = 0


def play(
    env: gym.Env,
    seeds: Sequence[int],
    choose: Callable[[Any], Any],
    step_cap: int = DEFAULT_EVAL_STEP_CAP,
    continuing_steps: int | None = None,
) -> Scores:
    """One episode per seed on ``env``, acting with ``choose(observation) -> action``.

    Scores are total rewards; for a continuing task (``continuing_steps`` given) each seed
    instead runs that many steps and scores the average reward per step. An episode that has
    neither terminated nor been truncated after ``step_cap`` steps is cut and counted in
    ``capped``.
    """
    scores = Scores()
    limit = continuing_steps if continuing_steps else step_cap
    for seed in seeds:
        obs, _ = env.reset(seed=int(seed))
        total, done, steps = 0.0, False, 0
        while not done and steps < limit:
            obs, reward, terminated, truncated, _ = env.step(choose(obs))
            total += float(reward)
            done = terminated or truncated
            steps += 1
        if not done and not continuing_steps:
            scores.capped += 1
        scores.append(total / steps if continuing_steps else total)
    return scores


def evaluate(
    policy: Policy,
    env_id: str,
    seeds: Sequence[int],
    deterministic: bool = False,
    max_episode_steps: int | None = None,
    continuing_steps: int | None = None,
    step_cap: int = DEFAULT_EVAL_STEP_CAP,
    scale_images: bool = True,
    env_factory: Callable[[], gym.Env] | None = None,
    statistics: Statistics | None = None,
    normalization: Normalization | None = None,
) -> Scores:
    """Total reward of one episode per seed, acting with ``policy`` (greedy if ``deterministic``).

    ``env_factory`` (e.g. an environment wrapped in a video recorder) replaces
    ``make_env(env_id, max_episode_steps, normalization)``; the environment is closed at the end
    either way. ``normalization``: what the run's settings ask of its environments
    (:class:`~pgzoo.engine.normalization.Normalization`; observations then need ``statistics``).
    ``statistics``: the training environments' observation statistics
    (:func:`pgzoo.engine.normalization.training_statistics`), used frozen by an environment that
    normalises its observations (required for one); rewards are scored raw
    (:func:`~pgzoo.engine.normalization.evaluation_env`).

    For a continuing task, pass ``continuing_steps``: each seed then scores the average reward
    per step over that many steps. Episodes are cut after ``step_cap`` steps (see :func:`play`).
    Runs on a forked torch random stream, so evaluating does not change what training samples.
    """
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        env = env_factory() if env_factory else make_env(env_id, max_episode_steps, normalization)
        try:
            env = evaluation_env(env, statistics)
        except UsageError:
            env.close()
            raise
        dtype = next(policy.parameters()).dtype
        obs_space, act_space = env.observation_space, env.action_space

        def choose(obs: Any) -> Any:
            action = policy.act(encode_obs(obs_space, obs, dtype, scale_images), deterministic)
            # as a batch of one, as the trainer's envs see it: a discrete action is then a NumPy
            # scalar (hashable, e.g. for FrozenLake's transition table), not a 0-d array
            return to_env_actions(act_space, action[None])[0]

        try:
            return play(env, seeds, choose, step_cap, continuing_steps)
        finally:
            env.close()


def summarize(returns: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation of evaluation returns."""
    arr = np.asarray(returns, dtype=np.float64)
    return float(arr.mean()), float(arr.std())

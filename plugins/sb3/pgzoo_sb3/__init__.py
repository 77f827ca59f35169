"""Stable-Baselines3 A2C and PPO as pgzoo baselines (``sb3-a2c``, ``sb3-ppo``).

Each trains under pgzoo's budget, seeds and evaluation protocol: the training environments
are reset with :func:`pgzoo.seeding.derive_seeds`' ``train_envs``, torch (and Python, NumPy)
with its ``torch`` seed, and every evaluation runs one episode per ``eval_envs`` seed with the
stochastic and the greedy policy, on a forked random stream so that evaluating does not
change what training samples.

Hyperparameters use rl-baselines3-zoo's vocabulary: SB3's constructor arguments, plus

* ``n_envs``: environments stepped together (``DummyVecEnv``);
* ``normalize``: ``True`` or a dict of ``VecNormalize`` arguments; evaluation then uses the
  training statistics frozen (no update, raw rewards);
* ``lin_X`` strings for ``learning_rate``, ``clip_range`` and ``clip_range_vf``: X decayed
  linearly to 0 over training;
* ``policy`` (default ``"MlpPolicy"``), ``max_episode_steps``, ``eval_episodes``
  (episodes of the final evaluation, default 10) and ``eval_max_steps`` (evaluation episodes
  are cut after that many steps and counted, as pgzoo's own evaluation does; default 10,000).

SB3 acts in ``Discrete(n)`` with actions 0 … n−1 and one-hot-encodes ``Discrete(n)``
observations 0 … n−1: for a ``Discrete(n, start=k)`` space the environment is wrapped so that
it receives actions k … k+n−1, and observations k … k+n−1 reach SB3 as 0 … n−1; a scalar
``Box`` observation (shape ``()``) reaches it as a vector of one. Those are all the spaces
pgzoo's own algorithms accept, except ``Box`` actions with an infinite bound, which SB3 does
not take (it clips every action to the bounds): :func:`spaces_refusal` says so, and
:meth:`SB3Baseline.check` refuses such an environment (or hyperparameters SB3 rejects) in one
line before a suite trains anything.

The module imports Stable-Baselines3 only when a baseline runs, so listing plugins stays fast.
"""

from __future__ import annotations

import copy
import importlib.metadata as md
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from pgzoo import hookimpl
from pgzoo.baseline import Baseline
from pgzoo.config import DEFAULT_EVAL_STEP_CAP
from pgzoo.engine.envs import make_env
from pgzoo.engine.evaluation import Scores, play, summarize
from pgzoo.engine.normalization import Statistics, evaluation_env, training_statistics
from pgzoo.engine.trainer import EvalSchedule, TrainResult
from pgzoo.errors import UsageError
from pgzoo.provenance import params_hash
from pgzoo.registry import check_env_id
from pgzoo.seeding import derive_seeds

if TYPE_CHECKING:
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
    from stable_baselines3.common.vec_env import VecNormalize

SCHEDULED = ("learning_rate", "clip_range", "clip_range_vf")
"""Hyperparameters that accept a ``lin_X`` schedule string."""
OWN_DEFAULTS: dict[str, Any] = {"n_envs": 1, "normalize": False, "policy": "MlpPolicy", "max_episode_steps": None,
                                 "eval_episodes": 10, "eval_max_steps": DEFAULT_EVAL_STEP_CAP}
"""Hyperparameters read by this plugin rather than passed to the SB3 constructor, and their defaults."""


@dataclass(frozen=True)
class LinearDecay:
    """``value · progress_remaining``: from ``value`` at the start of training to 0 at its end
    (rl-baselines3-zoo's ``lin_X``)."""

    value: float

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.value


def parse_schedule(key: str, value: Any) -> Any:
    """Turn a ``lin_X`` string into a :class:`LinearDecay`; other values pass through."""
    if isinstance(value, str) and value.startswith("lin_"):
        try:
            return LinearDecay(float(value[4:]))
        except ValueError:
            raise UsageError(f"{key}: cannot read schedule {value!r} (expected lin_<number>)") from None
    return value


class _SeedFirstReset(gym.Wrapper):
    """Resets with ``seed`` the first time the vector env resets it without one."""

    def __init__(self, env: gym.Env, seed: int) -> None:
        super().__init__(env)
        self._first_seed: int | None = seed

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is None:
            seed, self._first_seed = self._first_seed, None
        return self.env.reset(seed=seed, options=options)


class _StartAtZero(gym.ActionWrapper):
    """``Discrete(n, start=k)`` seen as ``Discrete(n)``: action a reaches the environment as k + a."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.shift = int(env.action_space.start)
        self.action_space = gym.spaces.Discrete(int(env.action_space.n))

    def action(self, action: Any) -> np.int64:
        return np.int64(int(action) + self.shift)


class _ObsStartAtZero(gym.ObservationWrapper):
    """``Discrete(n, start=k)`` observations seen as ``Discrete(n)``: observation s reaches SB3 as s − k."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.shift = int(env.observation_space.start)
        self.observation_space = gym.spaces.Discrete(int(env.observation_space.n))

    def observation(self, observation: Any) -> np.int64:
        return np.int64(int(observation) - self.shift)


class _ScalarObsAsVector(gym.ObservationWrapper):
    """A ``Box`` observation of shape ``()`` seen as one of shape ``(1,)`` (SB3's MLP wants a vector)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(space.low.reshape(1), space.high.reshape(1), (1,), space.dtype)

    def observation(self, observation: Any) -> np.ndarray:
        return np.reshape(np.asarray(observation, dtype=self.observation_space.dtype), (1,))


def spaces_refusal(observation_space: gym.Space, action_space: gym.Space) -> str | None:
    """Why SB3's on-policy algorithms cannot train on these spaces (after this plugin's shifts of
    ``Discrete`` starts and its vector of a scalar ``Box`` observation), or ``None`` if they can."""
    obs_ok = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
    if not isinstance(observation_space, obs_ok):
        return f"its observation space {observation_space} is not one SB3's MlpPolicy takes (Box, Discrete, " \
               "MultiDiscrete or MultiBinary)"
    if isinstance(action_space, gym.spaces.Box):
        if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
            return f"its action space {action_space} has an infinite bound, and SB3 takes Box actions with finite " \
                   "bounds only (it clips every action to them)"
    elif not isinstance(action_space, gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.MultiBinary):
        return f"its action space {action_space} is not one SB3's A2C and PPO take (Box, Discrete, MultiDiscrete " \
               "or MultiBinary)"
    return None


def _make_env(env_id: str, max_episode_steps: int | None) -> gym.Env:
    """:func:`pgzoo.engine.envs.make_env`, with spaces as SB3 takes them: discrete actions and
    observations shifted to start at 0, a scalar Box observation as a vector of one."""
    env = make_env(env_id, max_episode_steps)
    if isinstance(env.action_space, gym.spaces.Discrete) and env.action_space.start != 0:
        env = _StartAtZero(env)
    if isinstance(env.observation_space, gym.spaces.Discrete) and env.observation_space.start != 0:
        env = _ObsStartAtZero(env)
    elif isinstance(env.observation_space, gym.spaces.Box) and env.observation_space.shape == ():
        env = _ScalarObsAsVector(env)
    return env


def _library_versions() -> dict[str, str]:
    out = {}
    for dist in ("stable-baselines3", "torch", "gymnasium", "numpy"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[dist] = "?"
    return out


def evaluate_sb3(
    model: OnPolicyAlgorithm,
    env_id: str,
    seeds: tuple[int, ...],
    deterministic: bool,
    obs_norm: VecNormalize | None = None,
    max_episode_steps: int | None = None,
    step_cap: int = DEFAULT_EVAL_STEP_CAP,
    statistics: Statistics | None = None,
) -> Scores:
    """Total (raw) reward of one episode per seed, acting with ``model``'s policy.

    Observations go through ``obs_norm``'s statistics as they are, without updating them, and
    an environment's own normalising wrappers through the training copies' ``statistics``
    (:func:`pgzoo.engine.normalization.evaluation_env`).
    Episodes are cut after ``step_cap`` steps and counted (:func:`pgzoo.engine.evaluation.play`).
    Runs on forked torch, NumPy and Python random streams, so training samples the same
    actions whether or not it is evaluated.
    """
    env = evaluation_env(_make_env(env_id, max_episode_steps), statistics)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    np_state, py_state = np.random.get_state(), random.getstate()

    def choose(obs: Any) -> Any:
        if obs_norm is not None:
            obs = obs_norm.normalize_obs(obs)
        action, _ = model.predict(obs, deterministic=deterministic)
        return action.item() if discrete else action

    try:
        with torch.random.fork_rng(devices=[]):
            return play(env, seeds, choose, step_cap)
    finally:
        env.close()
        np.random.set_state(np_state)
        random.setstate(py_state)


def _make_callback(run: _Run) -> Any:
    """An SB3 callback that evaluates on pgzoo's schedule and records episodes."""
    from stable_baselines3.common.callbacks import BaseCallback

    class PgzooCallback(BaseCallback):
        def _on_training_start(self) -> None:
            run.evaluate_point(0)

        def _on_rollout_end(self) -> None:
            run.rollouts += 1

        def _on_step(self) -> bool:
            run.on_vector_step(self.num_timesteps, self.locals["infos"])
            return True

    return PgzooCallback()


class _Run:
    """The book-keeping of one baseline run: episodes, evaluation points, evaluation time."""

    def __init__(self, model: OnPolicyAlgorithm, env_id: str, total_steps: int, schedule: EvalSchedule,
                 seeds: tuple[int, ...], obs_norm: VecNormalize | None, max_episode_steps: int | None,
                 bar: tqdm, step_cap: int = DEFAULT_EVAL_STEP_CAP) -> None:
        self.model, self.env_id, self.total_steps, self.schedule = model, env_id, total_steps, schedule
        self.seeds, self.obs_norm, self.max_episode_steps, self.bar = seeds, obs_norm, max_episode_steps, bar
        self.step_cap, self.capped = step_cap, 0
        self.curve: list[dict[str, float]] = []
        self.episodes: list[dict[str, Any]] = []
        self.next_eval = schedule.every
        self.eval_wall, self.rollouts, self.start = 0.0, 0, time.perf_counter()

    def evaluate(self, seeds: tuple[int, ...], deterministic: bool) -> Scores:
        statistics = training_statistics(list(self.model.get_env().unwrapped.envs))
        scores = evaluate_sb3(self.model, self.env_id, seeds, deterministic, self.obs_norm, self.max_episode_steps,
                              self.step_cap, statistics)
        self.capped += scores.capped
        return scores

    def evaluate_point(self, env_steps: int) -> None:
        t0 = time.perf_counter()
        self.curve.append({"env_steps": env_steps,
                           "return_mean": summarize(self.evaluate(self.seeds, False))[0],
                           "return_mean_deterministic": summarize(self.evaluate(self.seeds, True))[0]})
        self.eval_wall += time.perf_counter() - t0

    def on_vector_step(self, env_steps: int, infos: list[dict[str, Any]]) -> None:
        for info in infos:
            if "episode" in info:
                row = {"episode": len(self.episodes) + 1, "env_steps": env_steps,
                       "return": float(info["episode"]["r"]), "length": int(info["episode"]["l"]),
                       "wall_s": round(time.perf_counter() - self.start, 4)}
                self.episodes.append(row)
        self.bar.update(len(infos))
        # a crossing at the end of the budget is evaluated after the last update instead
        if env_steps >= self.next_eval and env_steps < self.total_steps:
            self.evaluate_point(env_steps)
            self.next_eval = (env_steps // self.schedule.every + 1) * self.schedule.every


class SB3Baseline(Baseline):
    """Base of the Stable-Baselines3 on-policy baselines; subclasses name the SB3 class."""

    library: ClassVar[str] = "stable-baselines3"
    sb3_class: ClassVar[str]
    """Name of the algorithm class in ``stable_baselines3`` (``"A2C"``, ``"PPO"``)."""

    def settings(self, env_id: str) -> dict[str, Any]:
        """The tuned ``env_defaults`` of ``env_id``, overridden by the user's hyperparameters."""
        return {**self.env_defaults.get(env_id, {}), **self.hyperparams}

    def gradient_steps(self, model: OnPolicyAlgorithm, rollouts: int) -> int | None:
        """Optimiser steps taken on ``rollouts`` rollouts (``None`` if SB3 may stop early)."""
        return rollouts

    def _split(self, env_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """This plugin's own settings, SB3's constructor arguments, and the user's others as given."""
        params = self.settings(env_id)
        own = {k: params.pop(k, default) for k, default in OWN_DEFAULTS.items()}
        # a deep copy: SB3 edits some arguments in place (A2C adds optimizer_class to policy_kwargs)
        kwargs = {k: parse_schedule(k, v) if k in SCHEDULED else copy.deepcopy(v) for k, v in params.items()}
        kwargs.setdefault("device", "cpu")
        return own, kwargs, params

    def _normalized(self, venv: Any, own: dict[str, Any], kwargs: dict[str, Any]) -> VecNormalize | None:
        """``venv`` in SB3's ``VecNormalize`` if the settings say ``normalize``, else ``None``."""
        from stable_baselines3.common.vec_env import VecNormalize

        if not own["normalize"]:
            return None
        norm_kwargs = dict(own["normalize"]) if isinstance(own["normalize"], dict) else {}
        if "gamma" in kwargs:  # as rl-baselines3-zoo: the algorithm's discount for the returns
            norm_kwargs.setdefault("gamma", kwargs["gamma"])
        try:
            return VecNormalize(venv, **norm_kwargs)
        except (TypeError, ValueError, AssertionError) as e:
            first = str(e).strip().splitlines()
            raise UsageError(f"invalid normalize settings for '{self.name}': "
                             f"{first[0] if first else type(e).__name__}") from None

    def _model(self, venv: Any, own: dict[str, Any], kwargs: dict[str, Any]) -> OnPolicyAlgorithm:
        import stable_baselines3

        algo_cls = getattr(stable_baselines3, self.sb3_class)
        try:
            return algo_cls(own["policy"], venv, seed=None, verbose=0, **kwargs)
        except (TypeError, ValueError, KeyError, AssertionError) as e:  # SB3 checks arguments with all of these
            first = str(e).strip().splitlines()
            raise UsageError(f"invalid hyperparameters for '{self.name}': {first[0] if first else type(e).__name__}"
                             ) from None

    def check(self, env_id: str) -> None:
        """Refuse, in one line, an environment whose spaces SB3 cannot take
        (:func:`spaces_refusal`) or hyperparameters SB3 rejects, by building the model on one copy
        of the environment (nothing is trained). Raises :class:`UsageError`."""
        from stable_baselines3.common.vec_env import DummyVecEnv

        check_env_id(env_id)
        own, kwargs, _ = self._split(env_id)
        env = _make_env(env_id, own["max_episode_steps"])
        try:
            refusal = spaces_refusal(env.observation_space, env.action_space)
            if refusal:
                raise UsageError(f"'{self.name}' cannot train on {env_id}: {refusal}")
            venv = DummyVecEnv([lambda: env])
            self._model(self._normalized(venv, own, kwargs) or venv, own, kwargs)
        finally:
            env.close()

    def run(self, env_id: str, seed: int, total_steps: int, schedule: EvalSchedule,
            progress: bool = False) -> TrainResult:
        """Train on ``env_id`` for ``total_steps`` env steps; evaluate on ``schedule``."""
        from stable_baselines3.common.logger import Logger
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.utils import set_random_seed
        from stable_baselines3.common.vec_env import DummyVecEnv

        check_env_id(env_id)
        own, kwargs, params = self._split(env_id)
        n_envs, max_steps = int(own["n_envs"]), own["max_episode_steps"]
        seeds = derive_seeds(seed, n_envs, max(int(own["eval_episodes"]), schedule.episodes))
        set_random_seed(seeds.torch)

        def factory(env_seed: int):
            return lambda: _SeedFirstReset(Monitor(_make_env(env_id, max_steps)), env_seed)

        venv = DummyVecEnv([factory(s) for s in seeds.train_envs])
        refusal = spaces_refusal(venv.observation_space, venv.action_space)
        if refusal:
            venv.close()
            raise UsageError(f"'{self.name}' cannot train on {env_id}: {refusal}")
        obs_norm = self._normalized(venv, own, kwargs)
        venv = obs_norm or venv
        model = self._model(venv, own, kwargs)

        # SB3 would otherwise create an unused log folder in the temp directory for every run
        model.set_logger(Logger(folder=None, output_formats=[]))
        bar = tqdm(total=total_steps, unit="step", disable=not progress, desc=f"{self.name} {env_id}",
                   dynamic_ncols=True, mininterval=0.5)
        run = _Run(model, env_id, total_steps, schedule, seeds.eval_envs[: schedule.episodes], obs_norm, max_steps,
                   bar, int(own["eval_max_steps"]))
        try:
            model.learn(total_timesteps=total_steps, callback=_make_callback(run))
        finally:
            bar.close()
            venv.close()
        wall = time.perf_counter() - run.start - run.eval_wall
        env_steps = int(model.num_timesteps)
        if not run.curve or run.curve[-1]["env_steps"] != env_steps:
            run.evaluate_point(env_steps)

        stoch = run.evaluate(seeds.eval_envs, False)
        greedy = run.evaluate(seeds.eval_envs, True)
        mean, std = summarize(stoch)
        gmean, gstd = summarize(greedy)
        recent = [e["return"] for e in run.episodes[-20:]]
        summary = {
            "algorithm": self.name, "env_id": env_id, "seed": seed,
            "env_steps": env_steps, "episodes": len(run.episodes),
            "updates": self.gradient_steps(model, run.rollouts),
            "wall_s": round(wall, 3), "env_steps_per_s": round(env_steps / max(wall, 1e-9), 1),
            "train_return_last20": float(np.mean(recent)) if recent else None,
            "eval_episodes": len(stoch),
            "eval_return_mean": mean, "eval_return_std": std,
            "eval_return_mean_deterministic": gmean, "eval_return_std_deterministic": gstd,
            "eval_capped_episodes": run.capped, "eval_max_steps": run.step_cap,
            "hyperparams": {**own, **params},
            "library": self.library, "library_versions": _library_versions(),
            "final_params": params_hash(model.policy),  # the bench's line keeps it: pgzoo reproduce compares it
        }
        return TrainResult(None, summary, run.episodes, run.curve)


class SB3A2C(SB3Baseline):
    """Stable-Baselines3 A2C (synchronous advantage actor-critic, n-step returns)."""

    name = "sb3-a2c"
    summary = "Stable-Baselines3 A2C with rl-baselines3-zoo's tuned settings"
    sb3_class = "A2C"
    env_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "CartPole-v1": {"n_envs": 8, "ent_coef": 0.0},
        "Acrobot-v1": {"n_envs": 16, "normalize": True, "ent_coef": 0.0},
        "Pendulum-v1": {"n_envs": 8, "normalize": True, "ent_coef": 0.0, "max_grad_norm": 0.5, "n_steps": 8,
                        "gae_lambda": 0.9, "vf_coef": 0.4, "gamma": 0.9, "use_rms_prop": True,
                        "normalize_advantage": False, "learning_rate": "lin_7e-4", "use_sde": True,
                        "policy_kwargs": {"log_std_init": -2, "ortho_init": False}},
        "MountainCarContinuous-v0": {"n_envs": 4, "normalize": True, "n_steps": 100, "ent_coef": 0.0,
                                     "use_sde": True, "sde_sample_freq": 16,
                                     "policy_kwargs": {"log_std_init": 0.0, "ortho_init": False}},
    }


class SB3PPO(SB3Baseline):
    """Stable-Baselines3 PPO (clipped surrogate objective, GAE)."""

    name = "sb3-ppo"
    summary = "Stable-Baselines3 PPO with rl-baselines3-zoo's tuned settings"
    sb3_class = "PPO"
    env_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "CartPole-v1": {"n_envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98,
                        "n_epochs": 20, "ent_coef": 0.0, "learning_rate": "lin_0.001", "clip_range": "lin_0.2"},
        "Acrobot-v1": {"n_envs": 16, "normalize": True, "n_steps": 256, "gae_lambda": 0.94, "gamma": 0.99,
                       "n_epochs": 4, "ent_coef": 0.0},
        "Pendulum-v1": {"n_envs": 4, "n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9, "n_epochs": 10,
                        "ent_coef": 0.0, "learning_rate": 1e-3, "clip_range": 0.2, "use_sde": True,
                        "sde_sample_freq": 4},
        "MountainCarContinuous-v0": {"n_envs": 1, "normalize": True, "batch_size": 256, "n_steps": 8,
                                     "gamma": 0.9999, "learning_rate": 7.77e-05, "ent_coef": 0.00429,
                                     "clip_range": 0.1, "n_epochs": 10, "gae_lambda": 0.9, "max_grad_norm": 5,
                                     "vf_coef": 0.19, "use_sde": True,
                                     "policy_kwargs": {"log_std_init": -3.29, "ortho_init": False}},
    }

    def gradient_steps(self, model: OnPolicyAlgorithm, rollouts: int) -> int | None:
        if getattr(model, "target_kl", None) is not None:
            return None
        per_epoch = math.ceil(model.n_steps * model.n_envs / model.batch_size)
        return rollouts * model.n_epochs * per_epoch


@hookimpl
def register_baselines(register) -> None:
    """Register ``sb3-a2c`` and ``sb3-ppo``."""
    register(SB3A2C)
    register(SB3PPO)


__all__ = ["SB3A2C", "SB3PPO", "LinearDecay", "SB3Baseline", "evaluate_sb3", "parse_schedule", "spaces_refusal"]

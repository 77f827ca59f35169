"""Running statistics that environments keep in gymnasium's normalising wrappers, carried from
training into evaluation — as Stable-Baselines3 does with ``VecNormalize(training=False)``.

An environment registered with :class:`gymnasium.wrappers.NormalizeObservation` (e.g. through
``additional_wrappers`` or a plugin's ``register_envs``) normalises every observation with a
running mean and variance it updates as it goes. The policy learns on the training copies'
statistics; a fresh evaluation environment would start from mean 0 and variance 1 and feed the
same policy other inputs. So every evaluation (evaluation points, the final evaluation, ``pgzoo
eval``, the SB3 baselines) uses the training statistics *frozen*: :func:`training_statistics`
merges the training copies' statistics (Chan et al.'s parallel algorithm, gymnasium's own
``update_mean_var_count_from_moments``: the statistics of all their observations together, one
copy's exactly), and :func:`evaluation_env` loads them into the evaluation environment's
wrappers with ``update_running_mean = False``. ``pgzoo train`` saves them next to the model
(``model.pt``'s ``obs_norm``) for ``pgzoo eval``, and each copy's own statistics in its
checkpoint, so that a resumed run continues with them.

:class:`gymnasium.wrappers.NormalizeReward` scales the rewards training sees; evaluation scores
raw rewards (the task's returns, comparable with reward thresholds and other libraries, as SB3
evaluates ``VecNormalize``), so :func:`evaluation_env` takes that wrapper out. Training returns
(``metrics.csv``) are the rewards the environment hands back, scaled ones included.

An algorithm asks for the same normalisation on any environment with its settings
``obs_scaling = "running"`` and ``normalize_reward = true`` (:class:`Normalization`): the
environments pgzoo makes for the run are then wrapped in :class:`RunningObservation` and
:class:`RunningReward`, subclasses of those two wrappers that do what Stable-Baselines3's
``VecNormalize`` does (the normalisation rl-baselines3-zoo's ``normalize: true`` asks for):
observations and rewards clipped to ±10 after normalising, and the discounted return the reward
scale follows started afresh with every episode. Unlike ``VecNormalize`` each environment copy
keeps its own statistics (one gymnasium wrapper per copy); evaluation merges them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers import NormalizeObservation, NormalizeReward
from gymnasium.wrappers.utils import RunningMeanStd, update_mean_var_count_from_moments

from pgzoo.errors import UsageError


@dataclass(frozen=True)
class Moments:
    """The running statistics of one normalising wrapper: ``mean`` and ``var`` (the
    observation's shape) and ``count`` (observations seen, plus gymnasium's prior of 1e-4)."""

    mean: np.ndarray
    var: np.ndarray
    count: float

    @classmethod
    def of(cls, rms: RunningMeanStd) -> Moments:
        return cls(np.array(rms.mean, copy=True), np.array(rms.var, copy=True), float(rms.count))

    def merged(self, other: Moments) -> Moments:
        """The statistics of both streams of observations together."""
        mean, var, count = update_mean_var_count_from_moments(self.mean, self.var, self.count, other.mean, other.var,
                                                              other.count)
        return Moments(np.asarray(mean, dtype=self.mean.dtype), np.asarray(var, dtype=self.var.dtype), float(count))

    def running(self) -> RunningMeanStd:
        rms = RunningMeanStd(shape=self.mean.shape, dtype=self.mean.dtype)
        rms.mean, rms.var, rms.count = self.mean.copy(), self.var.copy(), self.count
        return rms


CLIP = 10.0
"""Normalised observations and rewards are clipped to [-CLIP, CLIP] (``VecNormalize``'s
``clip_obs`` and ``clip_reward``)."""


class RunningObservation(NormalizeObservation):
    """gymnasium's ``NormalizeObservation`` (running mean and variance of every observation
    seen, ε = 1e-8) with the normalised observation clipped to ±:data:`CLIP`."""

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.clip(super().observation(observation), -CLIP, CLIP)


class RunningReward(NormalizeReward):
    """gymnasium's ``NormalizeReward``: the reward divided by the running standard deviation of
    the discounted return G ← γG + R (no mean subtracted), here clipped to ±:data:`CLIP`, with G
    set back to 0 when an episode ends (terminated or truncated, as ``VecNormalize`` does;
    gymnasium's own keeps G across a truncation)."""

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.discounted_reward = self.discounted_reward * self.gamma + float(reward)
        if self._update_running_mean:
            self.return_rms.update(self.discounted_reward)
        scaled = float(np.clip(float(reward) / np.sqrt(self.return_rms.var + self.epsilon), -CLIP, CLIP))
        if terminated or truncated:
            self.discounted_reward = np.zeros_like(self.discounted_reward)
        return obs, scaled, terminated, truncated, info


@dataclass(frozen=True)
class Normalization:
    """What an algorithm's settings ask of every environment made for its run: running
    observation normalisation (``obs_scaling = "running"``) and/or reward normalisation
    (``normalize_reward``, with the run's discount ``gamma``)."""

    observations: bool
    rewards: bool
    gamma: float

    @classmethod
    def of(cls, config: object) -> Normalization | None:
        """The normalisation an algorithm config asks for, or ``None`` for none."""
        observations = getattr(config, "obs_scaling", "none") == "running"
        rewards = bool(getattr(config, "normalize_reward", False))
        if not (observations or rewards):
            return None
        return cls(observations, rewards, float(getattr(config, "gamma", 0.99)))

    def wrap(self, env: gym.Env) -> gym.Env:
        """``env`` in :class:`RunningObservation` then :class:`RunningReward`, as asked."""
        if self.observations:
            env = RunningObservation(env)
        if self.rewards:
            env = RunningReward(env, gamma=self.gamma)
        return env


Statistics = list[Moments]
"""One :class:`Moments` per ``NormalizeObservation`` wrapper of an environment, outermost first."""


def _layers(env: gym.Env) -> Iterator[gym.Env]:
    while isinstance(env, gym.Wrapper):
        yield env
        env = env.env


def obs_normalizers(env: gym.Env) -> list[NormalizeObservation]:
    """The ``NormalizeObservation`` wrappers of ``env``, outermost first."""
    return [w for w in _layers(env) if isinstance(w, NormalizeObservation)]


def normalizers(env: gym.Env) -> list[gym.Wrapper]:
    """Every wrapper of ``env`` that keeps running statistics (``NormalizeObservation``, ``NormalizeReward``)."""
    return [w for w in _layers(env) if isinstance(w, NormalizeObservation | NormalizeReward)]


@contextlib.contextmanager
def frozen(env: gym.Env) -> Iterator[None]:
    """Within the block, ``env``'s normalising wrappers use their statistics without updating them."""
    layers = normalizers(env)
    before = [w.update_running_mean for w in layers]
    for w in layers:
        w.update_running_mean = False
    try:
        yield
    finally:
        for w, was in zip(layers, before, strict=True):
            w.update_running_mean = was


def training_statistics(envs: list[gym.Env]) -> Statistics | None:
    """The observation statistics of the training copies ``envs`` merged, per wrapper (``None``
    if they have no ``NormalizeObservation``): those of all their observations together."""
    per_env = [[Moments.of(w.obs_rms) for w in obs_normalizers(env)] for env in envs]
    if not per_env or not per_env[0]:
        return None
    merged = per_env[0]
    for other in per_env[1:]:
        merged = [a.merged(b) for a, b in zip(merged, other, strict=True)]
    return merged


def evaluation_env(env: gym.Env, statistics: Statistics | None, observations_matter: bool = True) -> gym.Env:
    """``env`` made an evaluation environment: its ``NormalizeReward`` wrappers taken out (raw
    rewards are scored) and its ``NormalizeObservation`` wrappers loaded with ``statistics``,
    frozen. Returns the environment (the same object unless its outermost wrapper was a
    ``NormalizeReward``).

    Raises :class:`UsageError` if ``env`` normalises observations and no ``statistics`` are
    given (unless ``observations_matter`` is false: a random policy ignores them), or they do
    not fit its wrappers.
    """
    outer, parent = env, None
    for layer in list(_layers(env)):
        if isinstance(layer, NormalizeReward):
            if parent is None:
                outer = layer.env
            else:
                parent.env = layer.env
            continue
        parent = layer
    layers = obs_normalizers(outer)
    if not layers or (statistics is None and not observations_matter):
        return outer
    env_id = next((w.env_id for w in _layers(outer) if isinstance(getattr(w, "env_id", None), str)),
                  outer.spec.id if outer.spec is not None else type(outer.unwrapped).__name__)  # CheckedEnv's
    if statistics is None:
        raise UsageError(f"environment '{env_id}' normalises its observations (gymnasium's NormalizeObservation) "
                         "and no training statistics were given to evaluate with (a run trained before pgzoo saved "
                         "them? train it again)")
    if len(statistics) != len(layers) or any(m.mean.shape != w.obs_rms.mean.shape
                                             for m, w in zip(statistics, layers, strict=False)):
        raise UsageError(f"environment '{env_id}': the saved observation statistics do not fit its "
                         f"{len(layers)} NormalizeObservation wrapper(s)")
    for moments, layer in zip(statistics, layers, strict=True):
        layer.obs_rms = moments.running()
        layer.update_running_mean = False
    return outer


# --- saving ------------------------------------------------------------------------------
def _tensors(prefix: str, m: Moments) -> dict[str, torch.Tensor]:
    return {f"{prefix}.mean": torch.from_numpy(np.array(m.mean, copy=True)),
            f"{prefix}.var": torch.from_numpy(np.array(m.var, copy=True)),
            f"{prefix}.count": torch.tensor(m.count, dtype=torch.float64)}


def _moments(state: dict[str, torch.Tensor], prefix: str) -> Moments:
    return Moments(state[f"{prefix}.mean"].numpy().copy(), state[f"{prefix}.var"].numpy().copy(),
                   float(state[f"{prefix}.count"]))


def to_tensors(statistics: Statistics) -> dict[str, torch.Tensor]:
    """``statistics`` as a flat dict of tensors (``"0.mean"``, ``"0.var"``, ``"0.count"``, ...)
    for ``model.pt``, which loads with ``weights_only=True``."""
    return {k: v for i, m in enumerate(statistics) for k, v in _tensors(str(i), m).items()}


def from_tensors(state: dict[str, torch.Tensor] | None, where: str) -> Statistics | None:
    """The statistics :func:`to_tensors` saved (``None`` for none); a one-line
    :class:`UsageError` naming ``where`` if they are malformed."""
    if not state:
        return None
    try:
        return [_moments(state, str(i)) for i in range(len(state) // 3)]
    except (KeyError, TypeError, AttributeError, RuntimeError):
        raise UsageError(f"{where}: malformed observation statistics (obs_norm)") from None


def env_state(env: gym.Env) -> dict[str, torch.Tensor]:
    """One environment's own running statistics (every normalising wrapper, outermost first,
    and ``NormalizeReward``'s discounted return so far), as tensors for a checkpoint."""
    out: dict[str, torch.Tensor] = {}
    for i, w in enumerate(normalizers(env)):
        if isinstance(w, NormalizeObservation):
            out.update(_tensors(str(i), Moments.of(w.obs_rms)))
        else:
            out.update(_tensors(str(i), Moments.of(w.return_rms)))
            out[f"{i}.discounted_reward"] = torch.from_numpy(np.array(w.discounted_reward, copy=True))
    return out


def load_env_state(env: gym.Env, state: dict[str, torch.Tensor]) -> None:
    """Put back what :func:`env_state` saved of ``env``; raises ``KeyError`` if it does not fit."""
    for i, w in enumerate(normalizers(env)):
        if isinstance(w, NormalizeObservation):
            w.obs_rms = _moments(state, str(i)).running()
        else:
            w.return_rms = _moments(state, str(i)).running()
            w.discounted_reward = state[f"{i}.discounted_reward"].numpy().copy()

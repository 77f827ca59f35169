"""Making environments: single, vector or a trainer's batch, with an optional cap on episode length.

Every environment pgzoo steps comes from :func:`make_env`, wrapped in :class:`CheckedEnv`: the
one place where what an environment hands back is checked against gymnasium's API and its
own declared spaces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from pgzoo.engine.normalization import Normalization
from pgzoo.errors import EnvError, UsageError
from pgzoo.registry import check_env_id


def make_env(env_id: str, max_episode_steps: int | None = None, normalization: Normalization | None = None,
             **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` with plugins loaded, a one-line error for unknown ids, and every
    reset and step checked by :class:`CheckedEnv` (which replaces gymnasium's passive checker,
    whose warnings would only precede its one-line error); outside it, the running
    ``normalization`` a run's settings ask for (:class:`~pgzoo.engine.normalization.Normalization`).

    Raises :class:`UsageError` for an id gymnasium cannot make and :class:`EnvError` if the
    environment's own constructor (or a wrapper of its registration) raises.
    """
    check_env_id(env_id)
    kwargs.setdefault("disable_env_checker", True)
    try:
        env: gym.Env = CheckedEnv(gym.make(env_id, max_episode_steps=max_episode_steps, **kwargs), env_id)
    except gym.error.Error as e:
        raise UsageError(f"cannot make environment '{env_id}': {e}") from None
    except Exception as e:  # the environment's own code
        raise EnvError.raised(env_id, "its constructor", e) from e
    return normalization.wrap(env) if normalization else env


def _describe(value: Any) -> str:
    text = repr(value).replace("\n", " ")
    text = text if len(text) <= 60 else text[:57] + "..."
    shape = np.shape(value) if isinstance(value, np.ndarray | list | tuple) else None
    return f"{type(value).__name__} {text}" + (f" of shape {shape}" if shape else "")


def all_finite(arr: np.ndarray) -> bool:
    """Whether every entry of a float array is finite, at the cost of one BLAS dot product: its
    sum of squares is finite then (a NaN or ±inf entry carries into it, and squares cannot cancel);
    where the sum overflows (entries beyond ~1e19 in float32), ``np.isfinite`` decides."""
    kind = arr.dtype.kind
    if kind == "f":
        flat = arr if arr.ndim == 1 else arr.reshape(-1)
        if math.isfinite(flat.dot(flat)):
            return True
    elif kind != "c":
        return True  # integers and booleans
    return bool(np.isfinite(arr).all())


def non_finite_entry(values: Any) -> str | None:
    """Where ``values`` holds its first NaN or ±inf, as ``"nan at index (0,)"``, or ``None`` if
    every entry is finite (or it holds no floats)."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "fc" or all_finite(arr):
        return None
    where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
    return f"{arr[where]} at index {where}"


class CheckedEnv(gym.Wrapper):
    """Checks every ``reset`` and ``step`` against gymnasium's API (≥ 0.26), the spaces and
    finiteness, and turns the environment's own exceptions into one line.

    ``reset`` must return ``(observation, info)`` and ``step`` the 5-tuple ``(observation,
    reward, terminated, truncated, info)``; an observation must have the observation space's
    shape (a Discrete one: an integer in its range) and finite entries; the reward must be a
    finite scalar (a NumPy scalar or a one-element array is turned into a Python float);
    ``terminated`` and ``truncated`` must be scalar booleans. Anything else, and any exception
    the environment's ``reset``, ``step`` or ``close`` raises, is an :class:`EnvError`: one line
    naming the environment, the call, the step of the episode and what is wrong. The checks cost
    a few comparisons and one dot product per step (:func:`all_finite`), no copies (measured by
    ``benchmarks/env_check_overhead.py``).
    """

    def __init__(self, env: gym.Env, env_id: str) -> None:
        super().__init__(env)
        self.env_id = env_id
        space = env.observation_space
        self._discrete = space if isinstance(space, gym.spaces.Discrete) else None
        self._obs_shape = space.shape
        self._episode_step = 0

    def _fail(self, call: str, what: str, step: int | None = None) -> EnvError:
        return EnvError(self.env_id, call, what, step)

    def _check_obs(self, obs: Any, call: str, step: int | None) -> None:
        d = self._discrete
        if d is not None:
            if not (isinstance(obs, int | np.integer) or (isinstance(obs, np.ndarray) and obs.shape == ()
                                                          and obs.dtype.kind in "iu")) \
                    or not d.start <= int(obs) < d.start + d.n:
                raise self._fail(call, f"returned the observation {_describe(obs)}, not in its observation space {d}",
                                 step)
            return
        if np.shape(obs) != self._obs_shape:
            raise self._fail(call, f"returned an observation of shape {np.shape(obs)}; its observation space "
                                   f"{self.observation_space} has shape {self._obs_shape}", step)
        if isinstance(obs, np.ndarray) and all_finite(obs):
            return  # the common case: one dot product over the array
        bad = non_finite_entry(obs)
        if bad:
            raise self._fail(call, f"returned an observation with the non-finite entry {bad}; observations must "
                                   "be finite", step)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        try:
            out = self.env.reset(seed=seed, options=options)
        except Exception as e:  # the environment's own code
            raise EnvError.raised(self.env_id, "reset()", e) from e
        if type(out) is not tuple or len(out) != 2 or not isinstance(out[1], dict):
            raise self._fail("reset()", f"returned {_describe(out)}, not (observation, info) as gymnasium's API "
                                        f"(>= 0.26) has it; is it written for the old gym API?")
        self._check_obs(out[0], "reset()", None)
        self._episode_step = 0
        return out

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        self._episode_step += 1
        step = self._episode_step
        try:
            out = self.env.step(action)
        except Exception as e:  # the environment's own code
            raise EnvError.raised(self.env_id, "step()", e, step) from e
        if type(out) is not tuple or len(out) != 5:
            n = f"a {len(out)}-tuple" if type(out) is tuple else _describe(out)
            raise self._fail("step()", f"returned {n}, not (observation, reward, terminated, truncated, info) as "
                                       f"gymnasium's API (>= 0.26) has it; is it written for the old gym API?", step)
        obs, reward, terminated, truncated, info = out
        if type(reward) is not float:
            reward = self._scalar_reward(reward, step)
        if not math.isfinite(reward):
            raise self._fail("step()", f"returned the reward {reward}; a reward must be finite", step)
        if type(terminated) is not bool:
            terminated = self._flag(terminated, "terminated", step)
        if type(truncated) is not bool:
            truncated = self._flag(truncated, "truncated", step)
        self._check_obs(obs, "step()", step)
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        try:
            self.env.close()
        except Exception as e:  # the environment's own code
            raise EnvError.raised(self.env_id, "close()", e) from e

    def _scalar_reward(self, reward: Any, step: int) -> float:
        if isinstance(reward, int | np.integer | np.floating) and not isinstance(reward, bool):
            return float(reward)
        if isinstance(reward, np.ndarray) and reward.size == 1 and reward.dtype.kind in "iuf":
            return float(reward.reshape(()))
        raise self._fail("step()", f"returned the reward {_describe(reward)}; a reward must be a finite scalar", step)

    def _flag(self, value: Any, name: str, step: int) -> bool:
        if isinstance(value, np.bool_ | np.ndarray) and np.shape(value) == () and value.dtype == bool:
            return bool(value)
        raise self._fail("step()", f"returned {name} = {_describe(value)}; it must be a bool", step)


class EnvBatch:
    """``num_envs`` copies of an environment, stepped one after another in this process.

    What the trainer steps: the semantics of gymnasium's ``SyncVectorEnv`` with
    ``AutoresetMode.SAME_STEP`` (an environment whose episode ends is reset in the same step,
    the same calls to each environment's ``reset`` and ``step`` in the same order), without its
    generic batching of spaces and infos. :meth:`step` returns the observations to act on next
    and, separately, the true next observations S_{t+1} (the final observation where an
    episode ended; the same array object when none did).
    """

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None = None,
                 normalization: Normalization | None = None) -> None:
        self.envs = [make_env(env_id, max_episode_steps, normalization) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self._obs_dtype = self.observation_space.dtype
        self.native = NativeCartPole.wrap(self.envs)
        """Gymnasium's own vectorised stepping of these environments, where it exists (else ``None``)."""

    def reset(self, seeds: Sequence[int]) -> np.ndarray:
        """Reset environment ``i`` with ``seeds[i]``; the stacked first observations."""
        return self.reset_each(lambda i, env: env.reset(seed=int(seeds[i]))[0])

    def reset_each(self, reset: Callable[[int, gym.Env], Any]) -> np.ndarray:
        """Reset every environment with ``reset(i, env)`` (which returns its first observation),
        e.g. with a random generator put back by a resume; the stacked first observations. The
        one way to reset the batch from outside: the vectorised stepping takes the new states."""
        obs = np.array([reset(i, env) for i, env in enumerate(self.envs)], dtype=self._obs_dtype)
        if self.native is not None:
            self.native.reset()
        return obs

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step every environment with its action: (next observations to act on, true next
        observations S_{t+1}, rewards, terminated, truncated)."""
        if self.native is not None:
            return self.native.step(actions)
        nxt, rewards, terminated, truncated = [], [], [], []
        final: list | None = None
        for env, action in zip(self.envs, actions, strict=True):
            obs, reward, term, trunc, _ = env.step(action)
            rewards.append(reward)
            terminated.append(term)
            truncated.append(trunc)
            if term or trunc:
                final = final if final is not None else list(nxt)
                final.append(obs)
                obs, _ = env.reset()
            elif final is not None:
                final.append(obs)
            nxt.append(obs)
        next_obs = np.array(nxt, dtype=self._obs_dtype)
        true_next = next_obs if final is None else np.array(final, dtype=self._obs_dtype)
        return (next_obs, true_next, np.array(rewards, dtype=np.float64), np.array(terminated, dtype=bool),
                np.array(truncated, dtype=bool))

    def close(self) -> None:
        """Close every environment."""
        for env in self.envs:
            env.close()


class NativeCartPole:
    """Steps N CartPole environments at once with gymnasium's ``CartPoleVectorEnv``, the same
    steps :class:`EnvBatch` takes one environment at a time, bit for bit.

    Each step loads the N states and episode step counts into the vector environment, takes its
    one vectorised physics step (the same float64 arithmetic as ``CartPoleEnv.step``, the same
    termination test, truncation at the same step count as the ``TimeLimit`` wrapper), and
    resets the environments whose episode ended through their own ``reset()`` (their own random
    generators, their :class:`CheckedEnv` checks): the semantics of ``AutoresetMode.SAME_STEP``.
    The vector environment's own autoreset (``NEXT_STEP``, one shared generator) is never used.
    """

    def __init__(self, envs: list[gym.Env], vector: Any, max_steps: int) -> None:
        self.envs, self.vector = envs, vector
        vector.max_episode_steps = max_steps
        self._subset_vectors: dict[int, Any] = {}
        self.state = np.zeros((4, len(envs)))
        self.elapsed = np.zeros(len(envs), dtype=vector.steps.dtype)

    @classmethod
    def wrap(cls, envs: list[gym.Env]) -> NativeCartPole | None:
        """A :class:`NativeCartPole` for ``envs`` if they are plain CartPole environments as
        ``make_env`` builds them (CheckedEnv → TimeLimit → OrderEnforcing → CartPoleEnv, default
        physics and rewards, no rendering); else ``None``."""
        from gymnasium.envs.classic_control.cartpole import CartPoleEnv, CartPoleVectorEnv
        from gymnasium.wrappers import OrderEnforcing, TimeLimit

        first = envs[0]
        limit = first.env if isinstance(first, CheckedEnv) else None
        if not (isinstance(limit, TimeLimit) and type(limit.env) is OrderEnforcing
                and type(limit.env.env) is CartPoleEnv):
            return None
        base = limit.env.env
        if base.render_mode is not None or base._sutton_barto_reward or base.kinematics_integrator != "euler":
            return None
        vector = CartPoleVectorEnv(num_envs=len(envs))
        physics = ("gravity", "masscart", "masspole", "length", "force_mag", "tau", "theta_threshold_radians",
                   "x_threshold")
        if any(getattr(vector, k) != getattr(base, k) for k in physics):
            return None
        return cls(envs, vector, limit._max_episode_steps)

    def reset(self) -> None:
        """Take the states of the environments just reset (their own ``reset``)."""
        for i, env in enumerate(self.envs):
            self.state[:, i] = env.unwrapped.state
        self.elapsed[:] = 0

    def step(self, actions: np.ndarray, idx: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`EnvBatch.step`; with ``idx``, only the environments ``idx`` take a step (with
        ``actions``, one per index; the others keep their states), the results in ``idx``'s order."""
        if idx is None:
            vec = self.vector
            vec.state, vec.steps = self.state, self.elapsed
        else:  # a vector environment as long as idx, loaded with those environments' states
            vec = self._subset_vectors.get(len(idx))
            if vec is None:
                from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

                vec = self._subset_vectors[len(idx)] = CartPoleVectorEnv(num_envs=len(idx))
                vec.max_episode_steps = self.vector.max_episode_steps
            vec.state, vec.steps = self.state[:, idx], self.elapsed[idx]
        vec.prev_done[:] = False
        true_next, reward, terminated, truncated, _ = vec.step(actions)
        true_next = np.ascontiguousarray(true_next)  # row-major, as stacked observations are (same matmuls)
        if not all_finite(true_next):  # CartPole's physics never do this; one check per batch
            j = int(np.argwhere(~np.isfinite(true_next))[0][0])
            i = j if idx is None else int(idx[j])
            raise EnvError(self.envs[i].env_id, "step()", f"returned an observation with the non-finite entry "
                           f"{non_finite_entry(true_next[j])}; observations must be finite", int(vec.steps[j]))
        if idx is None:
            self.state, self.elapsed = vec.state, vec.steps
        else:
            self.state[:, idx], self.elapsed[idx] = vec.state, vec.steps
        next_obs = true_next
        done = np.flatnonzero(terminated | truncated)
        if len(done):
            next_obs = true_next.copy()
            for j in done:
                i = j if idx is None else idx[j]
                next_obs[j] = self.envs[i].reset()[0]
                self.state[:, i] = self.envs[i].unwrapped.state
                self.elapsed[i] = 0
        return next_obs, true_next, reward.astype(np.float64), terminated, truncated

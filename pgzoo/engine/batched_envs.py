"""Many copies of one environment, any subset of which can be stepped at a time.

Population training steps the environments of the runs that are collecting experience while
the others are busy updating, so it needs what a gymnasium vector environment cannot do: step
a subset. :class:`EnvList` does that for any gymnasium environment, one copy after another.
An environment can offer a vectorised version: if its unwrapped class has a
``make_batch(num_envs, max_episode_steps)`` class method returning a :class:`BatchedEnv`, that
is used instead (it must behave exactly like the copies, time limit included). Plain CartPole
copies step their physics as one vector (:class:`VectorCartPole`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pgzoo.engine.envs import NativeCartPole, all_finite, make_env, non_finite_entry
from pgzoo.errors import EnvError


@dataclass
class BatchStep:
    """The outcome of stepping the environments ``idx``, in the order of ``idx``.

    ``obs`` is the observation to act on next (a fresh episode's first one where an episode
    ended); ``final_obs`` is the true S_{t+1} (equal to ``obs`` where no episode ended).
    """

    obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray


class BatchedEnv(Protocol):
    """``num_envs`` copies of an environment; ended episodes restart in the same step."""

    num_envs: int

    def reset(self, seeds: Sequence[int]) -> np.ndarray:
        """Reset copy i with seed ``seeds[i]``; return all first observations."""
        ...

    def step(self, idx: np.ndarray, actions: np.ndarray) -> BatchStep:
        """Step copies ``idx`` with ``actions`` (one per index); the others do not move."""
        ...

    def close(self) -> None: ...


class EnvList:
    """:class:`BatchedEnv` for any gymnasium environment: a list of copies stepped in turn."""

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None = None) -> None:
        self.envs = [make_env(env_id, max_episode_steps) for _ in range(num_envs)]
        self.num_envs = num_envs

    def reset(self, seeds: Sequence[int]) -> np.ndarray:
        return np.stack([np.asarray(env.reset(seed=int(s))[0]) for env, s in zip(self.envs, seeds, strict=True)])

    def step(self, idx: np.ndarray, actions: np.ndarray) -> BatchStep:
        obs, rew, term, trunc, final = [], [], [], [], []
        for i, a in zip(idx, actions, strict=True):
            env = self.envs[i]
            o, r, te, tr, _ = env.step(a)
            final.append(np.asarray(o))
            if te or tr:
                o, _ = env.reset()
            obs.append(np.asarray(o))
            rew.append(r)
            term.append(te)
            trunc.append(tr)
        return BatchStep(np.stack(obs), np.asarray(rew, dtype=np.float64), np.asarray(term, dtype=bool),
                         np.asarray(trunc, dtype=bool), np.stack(final))

    def close(self) -> None:
        for env in self.envs:
            env.close()


class VectorCartPole:
    """:class:`BatchedEnv` for plain CartPole copies (as :meth:`NativeCartPole.wrap` accepts them):
    the subset's physics taken as one vectorised step by :class:`NativeCartPole`, episodes that
    end reset through each copy's own ``reset`` — the steps of :class:`EnvList`, bit for bit."""

    def __init__(self, copies: EnvList, native: NativeCartPole) -> None:
        self.copies, self.native, self.num_envs = copies, native, copies.num_envs

    def reset(self, seeds: Sequence[int]) -> np.ndarray:
        obs = self.copies.reset(seeds)
        self.native.reset()
        return obs

    def step(self, idx: np.ndarray, actions: np.ndarray) -> BatchStep:
        obs, final, reward, terminated, truncated = self.native.step(actions, np.asarray(idx))
        return BatchStep(obs, reward, terminated, truncated, final)

    def close(self) -> None:
        self.copies.close()


class CheckedBatch:
    """An environment's own :class:`BatchedEnv` (its ``make_batch``), checked as
    :class:`~pgzoo.engine.envs.CheckedEnv` checks a single environment: an exception of its code
    and a non-finite observation or reward are an :class:`EnvError` naming the environment and
    the step of the episode. (:class:`EnvList`'s copies are checked one by one already.)"""

    def __init__(self, inner: BatchedEnv, env_id: str) -> None:
        self.inner, self.env_id, self.num_envs = inner, env_id, inner.num_envs
        self._t = np.zeros(inner.num_envs, dtype=np.int64)
        """The step of each copy's episode."""

    def _call(self, call: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except EnvError:
            raise
        except Exception as e:  # the environment's own code (which copy's step, the batch does not say)
            raise EnvError.raised(self.env_id, f"its batch's {call}", e) from e

    def _check(self, call: str, what: str, values: np.ndarray, steps: np.ndarray | None) -> None:
        if not all_finite(values):
            j = int(np.argwhere(~np.isfinite(values))[0][0])
            raise EnvError(self.env_id, call, f"returned {what} with the non-finite entry "
                                              f"{non_finite_entry(values[j])}; it must be finite",
                           None if steps is None else int(steps[j]))

    def reset(self, seeds: Sequence[int]) -> np.ndarray:
        obs = self._call("reset()", lambda: self.inner.reset(seeds))
        self._t[:] = 0
        self._check("reset()", "an observation", np.asarray(obs), None)
        return obs

    def step(self, idx: np.ndarray, actions: np.ndarray) -> BatchStep:
        steps = self._t[idx] + 1
        out = self._call("step()", lambda: self.inner.step(idx, actions))
        self._check("step()", "a reward", np.asarray(out.reward), steps)
        self._check("step()", "an observation", np.asarray(out.final_obs), steps)
        self._check("reset()", "an observation", np.asarray(out.obs), None)
        self._t[idx] = np.where(out.terminated | out.truncated, 0, steps)
        return out

    def close(self) -> None:
        self._call("close()", self.inner.close)


def make_batched_env(env_id: str, num_envs: int, max_episode_steps: int | None = None) -> BatchedEnv:
    """The environment's own vectorised :class:`BatchedEnv` if it has one, else an :class:`EnvList`."""
    probe = make_env(env_id, max_episode_steps)
    try:
        make_batch = getattr(type(probe.unwrapped), "make_batch", None)
        limit = max_episode_steps or (probe.spec.max_episode_steps if probe.spec else None)
    finally:
        probe.close()
    if make_batch is not None:
        return CheckedBatch(make_batch(num_envs, limit), env_id)
    copies = EnvList(env_id, num_envs, max_episode_steps)
    native = NativeCartPole.wrap(copies.envs)
    return copies if native is None else VectorCartPole(copies, native)

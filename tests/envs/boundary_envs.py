"""Small environments that misbehave in one way each (issue 19), registered at import, so that
the real CLI reaches them as ``boundary_envs:Id`` (the module is imported first; put this folder
on ``sys.path`` or ``PYTHONPATH``). Every one is :class:`Steady` unless it says otherwise: five
steps of reward 1 (return 5 whatever the actions), observations ``[t, 1]`` at step t."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import NormalizeObservation, NormalizeReward


class Steady(gym.Env):
    """Five steps of reward 1; observation ``[t, 1]`` (``nan`` in place of t at step ``nan_at``);
    ``step`` raises ``RuntimeError("simulator lost connection")`` on its ``fail_at``-th call (0:
    never); renders ``side`` × ``side`` frames, one pixel larger at every step if ``grow``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, render_mode: str | None = None, fail_at: int = 0, nan_at: int = 0, grow: bool = False,
                 side: int = 16) -> None:
        self.render_mode = render_mode
        self.fail_at, self.nan_at, self.grow, self.side = fail_at, nan_at, grow, side
        self.calls = self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0, 1.0]), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("simulator lost connection")
        self.t += 1
        obs = np.array([np.nan if self.t == self.nan_at else float(self.t), 1.0])
        return obs, 1.0, self.t >= 5, False, {}

    def render(self) -> np.ndarray:
        side = self.side + (self.t if self.grow else 0)
        frame = np.zeros((side, side, 3), np.uint8)
        frame[: self.t + 1, :, 0] = 255
        return frame


class NoRenderMode(Steady):
    """Declares ``rgb_array`` in its metadata, but its constructor takes no ``render_mode``."""

    def __init__(self) -> None:
        super().__init__()


class Alternating(gym.Env):
    """Observation ``[10]`` at even steps and ``[11]`` at odd ones (t = 0 … 5); reward 1 for action
    1 in state 11 and action 0 in state 10; five steps. A policy that takes action 1 iff its
    (normalised) observation is positive scores 5 on observations normalised with the training
    statistics (mean 10.5, std 0.5: ∓1), and 4 on fresh statistics, whose first state 10 is its
    own mean so far and comes out slightly positive (see tests/test_env_boundary.py)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.array([10.0], np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = float(int(action) == self.t % 2)
        self.t += 1
        return np.array([10.0 + self.t % 2], np.float32), reward, self.t >= 5, False, {}


class DiscreteStart(gym.Env):
    """Observations ``Discrete(3, start=-1)``: −1, 0, 1, −1, 0 at t = 0 … 4 (then 1); Discrete(2)
    actions; five steps of reward 1."""

    observation_space = gym.spaces.Discrete(3, start=-1)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.t = 0
        return -1, {}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict]:
        self.t += 1
        return self.t % 3 - 1, 1.0, self.t >= 5, False, {}


class InfiniteAction(Steady):
    """Actions in ``Box(-inf, inf, (1,))``: pgzoo's algorithms take them, SB3 does not."""

    action_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)


class NanBatch(Steady):
    """A :class:`Steady` with its own vectorised batch (``make_batch``), whose copy 1 hands back
    ``[nan, 1]`` at step 3 of its episodes (the others stay :class:`Steady`)."""

    @classmethod
    def make_batch(cls, num_envs: int, max_episode_steps: int | None = None) -> Any:
        return _NanBatchCopies(num_envs)


class _NanBatchCopies:
    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self.t = np.zeros(num_envs, dtype=np.int64)

    def _obs(self, idx: np.ndarray) -> np.ndarray:
        obs = np.stack([self.t[idx].astype(np.float64), np.ones(len(idx))], axis=1)
        obs[(idx == 1) & (self.t[idx] == 3), 0] = np.nan
        return obs

    def reset(self, seeds: Any) -> np.ndarray:
        self.t[:] = 0
        return self._obs(np.arange(self.num_envs))

    def step(self, idx: np.ndarray, actions: np.ndarray) -> Any:
        from pgzoo.engine.batched_envs import BatchStep

        idx = np.asarray(idx)
        self.t[idx] += 1
        final = self._obs(idx)
        done = self.t[idx] >= 5
        self.t[idx[done]] = 0
        return BatchStep(self._obs(idx), np.ones(len(idx)), done, np.zeros(len(idx), bool), final)

    def close(self) -> None:
        pass


def _register(env_id: str, entry_point: Any, **kwargs: Any) -> None:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry_point, **kwargs)


_register("Steady-v0", Steady)
_register("myns/Five-v0", Steady)
_register("Flaky-v0", Steady, kwargs={"fail_at": 250})
_register("FlakyEarly-v0", Steady, kwargs={"fail_at": 7})
_register("NanObs-v0", Steady, kwargs={"nan_at": 2})
_register("Growing-v0", Steady, kwargs={"grow": True})
_register("OddFrames-v0", Steady, kwargs={"side": 17})
_register("NoRenderMode-v0", NoRenderMode)
_register("Alternating-v0", Alternating)
_register("AlternatingNorm-v0", Alternating, additional_wrappers=(NormalizeObservation.wrapper_spec(),))
_register("SteadyRewardNorm-v0", Steady, additional_wrappers=(NormalizeReward.wrapper_spec(),))
_register("DiscreteStart-v0", DiscreteStart)
_register("InfiniteAction-v0", InfiniteAction)
_register("NanBatch-v0", NanBatch)
_register("CartPoleNormalised-v0", "gymnasium.envs.classic_control.cartpole:CartPoleEnv", max_episode_steps=500,
          additional_wrappers=(NormalizeObservation.wrapper_spec(), NormalizeReward.wrapper_spec()))

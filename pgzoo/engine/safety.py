"""Population safety: does an algorithm keep per-run state where the engine cannot copy it?

Population training keeps one copy per run of everything the engine owns (parameters,
optimiser state, the loss's ``init_state`` buffers, rollouts); one algorithm object serves all
runs. An algorithm that stores anything on itself or on its loss between updates (a list of
held-back episodes, a counter, a running mean) would share it across runs and silently train
them wrong. :func:`state_leak` detects this by running three real updates on a copy and
comparing the algorithm's and loss's attributes before and after each.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgzoo.rollout import Rollout
from pgzoo.spaces import EnvSpec

IGNORED = frozenset({"config", "loss", "schedule", "training"})


def _snapshot(obj: object) -> dict[str, Any]:
    """The plain attributes of ``obj`` (not torch's module internals), deep-copied."""
    out = {}
    for k, v in vars(obj).items():
        if k.startswith("_") or k in IGNORED:
            continue
        try:
            out[k] = copy.deepcopy(v)
        except Exception:  # not copyable: compare by identity
            out[k] = ("<id>", id(v))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and bool(
            torch.equal(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b):
        return False
    if hasattr(a, "__dict__") and not isinstance(a, type):  # plain objects: by their attributes
        return _same(vars(a), vars(b))
    try:
        return bool(a == b)
    except Exception:
        return a is b


def probe_rollout(algo: Any, obs_dim: int, discrete: bool, seed: int = 0) -> Rollout:
    """A small random rollout of the shape ``algo``'s schedule hands to ``update``: a segment
    ``[n, N]`` with an episode end inside, or K episodes of 4 steps ``[4K, 1]``."""
    g = torch.Generator().manual_seed(seed)
    sched, N = algo.schedule, algo.config.num_envs
    T, N = (sched.length, N) if sched.kind == "steps" else (4 * sched.length, 1)
    terminated = torch.zeros(T, N, dtype=torch.bool)
    if sched.kind == "episodes":
        terminated[3::4] = True
    else:
        terminated[T // 2, 0] = True
    t = torch.zeros(T, N, dtype=torch.long)
    for k in range(1, T):
        t[k] = torch.where(terminated[k - 1], 0, t[k - 1] + 1)
    actions = (torch.randint(0, 2, (T, N), generator=g) if discrete
               else torch.randn(T, N, 1, generator=g))
    return Rollout(torch.randn(T, N, obs_dim, generator=g), actions, torch.randn(T, N, generator=g), terminated,
                   torch.zeros(T, N, dtype=torch.bool), torch.randn(T, N, obs_dim, generator=g), t)


def state_leak(algo: Any) -> str | None:
    """Which attributes of ``algo`` or its loss three updates changed (a one-line reason), or
    ``None``. Runs on a copy with a small agent (3 observations, 2 actions or a 1-d Box; the
    config's initial parameters and environment features, made for another environment, left
    out); ``algo`` itself is untouched."""
    cfg = algo.config
    fresh: dict[str, Any] = {k: None for k in type(cfg).model_fields if k.startswith("init_")
                             and getattr(cfg, k) is not None and type(cfg).model_fields[k].default is None}
    if getattr(cfg, "features", None) == "env":  # the environment's own x(s,a): the probe has none
        fresh["features"] = "obs"
    algo = type(algo)(cfg.model_copy(update=fresh)) if fresh else copy.deepcopy(algo)
    algo.check_rollouts = False  # the probe's rollouts are independent pieces, not one stream
    discrete = "discrete" in algo.action_spaces
    action_space = gym.spaces.Discrete(2) if discrete else gym.spaces.Box(-1.0, 1.0, (1,))
    spec = EnvSpec("probe", gym.spaces.Box(-1.0, 1.0, (3,)), action_space)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        agent = algo.build_agent(spec)
        optimizer = algo.make_optimizer(agent)
        algo.loss.init_state(agent, algo.config.num_envs)
        before = {"algorithm": _snapshot(algo), "loss": _snapshot(algo.loss)}
        generator = torch.Generator().manual_seed(0)
        changed: set[str] = set()
        for seed in (0, 1, 2):  # compared after every update: state that empties itself periodically shows too
            algo.update(agent, optimizer, probe_rollout(algo, 3, discrete, seed), generator)
            after = {"algorithm": _snapshot(algo), "loss": _snapshot(algo.loss)}
            changed |= {f"{owner}.{k}" for owner in before for k in before[owner].keys() | after[owner].keys()
                        if k not in before[owner] or k not in after[owner]
                        or not _same(before[owner][k], after[owner][k])}
    if not changed:
        return None
    return (f"'{algo.name}' keeps state between updates in {', '.join(sorted(changed))}, which a population would "
            "share across its runs (keep per-run state in Loss.init_state buffers or in rollout.extras)")

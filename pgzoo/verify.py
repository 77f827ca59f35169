"""``pgzoo verify``: one plain-SGD step on each loss equals the book's update, in float64.

For every algorithm and each of its ``verify_variants``, on random small problems (random
state-action and state features, parameters and experience) and on the short corridor when
it is installed, the algorithm's own :meth:`~pgzoo.Algorithm.update` (the code the trainer
runs) is applied with SGD (lr = α) to a linear soft-max policy and a linear v̂, and compared
with its closed-form :meth:`~pgzoo.Algorithm.book_update`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgzoo.algorithm import Agent, Algorithm
from pgzoo.book import BookCase
from pgzoo.features import StateActionTable, StateTable
from pgzoo.policies import LinearSoftmaxPolicy
from pgzoo.rollout import Rollout
from pgzoo.values import LinearValue

TOLERANCE = 1e-6
# Step sizes and discount used by the checks (large enough that mistakes show).
CHECK_SETTINGS = {"gamma": 0.9, "alpha_theta": 0.1, "alpha_w": 0.2, "optimizer": "sgd", "policy": "linear",
                  "value": "linear", "entropy_coef": 0.0}


@dataclass
class VerifyResult:
    algorithm: str
    variant: str
    case: str
    max_abs_diff: float
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "variant": self.variant, "case": self.case,
                "max_abs_diff": self.max_abs_diff, "ok": self.ok}


def random_case(rng: np.random.Generator, cadence: str, num_envs: int, with_w: bool) -> BookCase:
    """A random problem: S states, A actions, d- and k-dimensional features, T steps."""
    S, A, d, k = int(rng.integers(3, 6)), int(rng.integers(2, 4)), int(rng.integers(2, 5)), int(rng.integers(2, 4))
    T = int(rng.integers(3, 7))
    N = 1 if cadence == "episode" else num_envs
    states = rng.integers(0, S, size=(T, N))
    next_states = rng.integers(0, S, size=(T, N))
    if cadence == "episode":  # one episode: S_{t+1} is the next row; it ends at T by termination
        next_states[:-1] = states[1:]
    terminated = np.zeros((T, N), dtype=bool)
    truncated = np.zeros((T, N), dtype=bool)
    terminated[-1] = True
    if cadence == "step":  # transitions anywhere in episodes, some ending by either cause
        terminated = rng.random((T, N)) < 0.3
        truncated = ~terminated & (rng.random((T, N)) < 0.3)
    t = np.tile(np.arange(T)[:, None], (1, N)) if cadence == "episode" else rng.integers(0, 6, size=(T, N))
    return BookCase(
        theta=rng.normal(size=d), w=rng.normal(size=k) if with_w else None,
        x_sa=rng.normal(size=(S, A, d)), x_s=rng.normal(size=(S, k)),
        states=states, actions=rng.integers(0, A, size=(T, N)), rewards=rng.normal(size=(T, N)),
        terminated=terminated, truncated=truncated, next_states=next_states, t=t,
    )


def short_corridor_case(rng: np.random.Generator, cadence: str, num_envs: int, with_w: bool) -> BookCase | None:
    """An episode (or N of them, step by step) of the real ShortCorridor-v0, capped at 12 steps."""
    if "ShortCorridor-v0" not in gym.registry:
        return None
    N = 1 if cadence == "episode" else num_envs
    env = gym.make("ShortCorridor-v0", max_episode_steps=12)
    feats = env.unwrapped.state_action_features()
    x_sa = feats(torch.eye(3, dtype=torch.float64)).numpy()  # [S, A, d] from the env's own features
    cols = []
    for _n in range(N):
        s, _ = env.reset(seed=int(rng.integers(1 << 30)))
        rows, t, done = [], 0, False
        while not done:
            a = int(rng.integers(2))
            s2, r, term, trunc, _ = env.step(a)
            rows.append((s, a, r, term, trunc, s2 if not term else 0, t))
            s, t, done = s2, t + 1, term or trunc
        cols.append(rows)
    T = min(len(c) for c in cols) if N > 1 else len(cols[0])
    arr = np.array([[c[k] for c in cols] for k in range(T)], dtype=np.float64)  # [T, N, 7]
    return BookCase(
        theta=rng.normal(size=2), w=rng.normal(size=1) if with_w else None, x_sa=x_sa, x_s=np.ones((3, 1)),
        states=arr[..., 0].astype(int), actions=arr[..., 1].astype(int), rewards=arr[..., 2],
        terminated=arr[..., 3].astype(bool), truncated=arr[..., 4].astype(bool),
        next_states=arr[..., 5].astype(int), t=arr[..., 6].astype(int),
    )


def agent_for(case: BookCase, algo: Algorithm) -> Agent:
    """The torch agent of a case: linear soft-max on its x(s,a), linear v̂ on its x(s), float64."""
    x_sa = torch.as_tensor(case.x_sa, dtype=torch.float64)
    policy = LinearSoftmaxPolicy(StateActionTable(x_sa)).double()
    value = LinearValue(StateTable(torch.as_tensor(case.x_s, dtype=torch.float64))).double()
    with torch.no_grad():
        policy.theta.copy_(torch.as_tensor(case.theta))
        if case.w is not None:
            value.w.copy_(torch.as_tensor(case.w))
    return Agent(policy, algo.critic(value).double() if case.w is not None else None)


def rollouts_for(case: BookCase, cadence: str) -> Iterator[Rollout]:
    """What the trainer would hand to ``update``: the episode at once, or one step at a time."""
    S = case.x_sa.shape[0]
    eye = torch.eye(S, dtype=torch.float64)
    full = Rollout(
        obs=eye[torch.as_tensor(case.states)], actions=torch.as_tensor(case.actions),
        rewards=torch.as_tensor(case.rewards, dtype=torch.float64),
        terminated=torch.as_tensor(case.terminated), truncated=torch.as_tensor(case.truncated),
        next_obs=eye[torch.as_tensor(case.next_states)], t=torch.as_tensor(case.t),
    )
    if cadence == "episode":
        yield full
    else:
        for k in range(full.num_steps):
            yield full[k]


def check(algo_cls: type[Algorithm], variant: str, overrides: dict[str, Any], case_name: str,
          make_case: Any, seed: int) -> VerifyResult | None:
    """Run one algorithm/variant/case and compare its parameters with the box's."""
    settings = {k: v for k, v in CHECK_SETTINGS.items() if k in algo_cls.Config.model_fields}
    algo = algo_cls(algo_cls.make_config(overrides={**settings, **overrides}))
    num_envs = getattr(algo.config, "num_envs", 1)
    case = make_case(np.random.default_rng(seed), algo.cadence, num_envs, algo.uses_value)
    if case is None:
        return None
    agent = agent_for(case, algo)
    optimizer = algo.make_optimizer(agent)
    algo.check_rollouts = False  # the random cases' transitions are independent, with random t
    for rollout in rollouts_for(case, algo.cadence):
        algo.update(agent, optimizer, rollout)
    theta_book, w_book, *extras = algo.book_update(case)
    state = agent.state_dict()
    diffs = [np.abs(agent.policy.theta.detach().numpy() - theta_book).max()]
    if agent.value is not None:
        [w_name] = [k for k in state if k.startswith("value.") and k.endswith(".w")]
        diffs.append(np.abs(state[w_name].numpy() - w_book).max())
    for name, book_value in (extras[0] if extras else {}).items():  # e.g. the average reward R̄
        diffs.append(np.abs(state[name].numpy() - book_value).max())
    diff = float(max(diffs))
    return VerifyResult(algo_cls.name, variant, case_name, diff, diff <= TOLERANCE)


def verify(algorithms: dict[str, type[Algorithm]], n_random: int = 3) -> list[VerifyResult]:
    """All checks of the given algorithms: random cases and the short corridor, every variant."""
    results = []
    for _name, cls in sorted(algorithms.items()):
        for variant, overrides in cls.verify_variants.items():
            cases = [(f"random-{i}", random_case, 1000 + i) for i in range(n_random)]
            cases.append(("short-corridor", short_corridor_case, 7))
            for case_name, make_case, seed in cases:
                res = check(cls, variant, overrides, case_name, make_case, seed)
                if res is not None:
                    results.append(res)
    return results

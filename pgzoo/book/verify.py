"""``pgzoo verify``: one plain-SGD step on each loss equals the book's update, in float64.

For every algorithm and each of its ``verify_variants``, on random small problems (random
state-action and state features, parameters and experience) and on the short corridor when
it is installed, the algorithm's own :meth:`~pgzoo.Algorithm.update` (the code the trainer
runs) is applied with SGD (lr = α) to a linear soft-max policy and a linear v̂, and compared
with its closed-form :meth:`~pgzoo.Algorithm.book_update`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgzoo.algorithm import Agent, Algorithm
from pgzoo.annealing import progress_tensor
from pgzoo.book.case import BookCase
from pgzoo.engine.schedules import Schedule
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
    note: str = ""
    """Why a check failed other than by a difference (e.g. the parameters did not change)."""
    branches: dict[str, float] = field(default_factory=dict)
    """The largest |value| each of the algorithm's :attr:`~pgzoo.Algorithm.verify_branches`
    diagnostics took over the case's optimiser steps."""

    def as_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "variant": self.variant, "case": self.case,
                "max_abs_diff": self.max_abs_diff, "ok": self.ok, "note": self.note, "branches": self.branches}


def _stream_rows(schedule: Schedule, rng: np.random.Generator) -> int:
    """Rows of a connected stream long enough for at least two updates of ``schedule``."""
    return 2 * schedule.length + 1 if schedule.kind == "steps" else 8 * schedule.length + 6


def random_case(rng: np.random.Generator, schedule: Schedule, num_envs: int, with_w: bool) -> BookCase:
    """A random problem: S states, A actions, d- and k-dimensional features, and a connected
    stream of L rows × N environments in which about a quarter of the steps end an episode
    (by termination or time-limit truncation), so that segments and batches hold several
    episodes and cut some of them."""
    S, A, d, k = int(rng.integers(3, 6)), int(rng.integers(2, 4)), int(rng.integers(2, 5)), int(rng.integers(2, 4))
    N, L = num_envs, _stream_rows(schedule, rng)
    while True:
        states, next_states = np.zeros((L, N), dtype=int), rng.integers(0, S, size=(L, N))
        terminated, truncated = np.zeros((L, N), dtype=bool), np.zeros((L, N), dtype=bool)
        t = np.zeros((L, N), dtype=int)
        s, tt = rng.integers(0, S, size=N), np.zeros(N, dtype=int)
        for row in range(L):
            states[row], t[row] = s, tt
            ends = rng.random(N) < 0.25
            terminated[row] = ends & (rng.random(N) < 0.6)
            truncated[row] = ends & ~terminated[row]
            s = np.where(ends, rng.integers(0, S, size=N), next_states[row])  # a new episode's S_0
            tt = np.where(ends, 0, tt + 1)
        case = BookCase(
            theta=rng.normal(size=d), w=rng.normal(size=k) if with_w else None,
            x_sa=rng.normal(size=(S, A, d)), x_s=rng.normal(size=(S, k)),
            states=states, actions=rng.integers(0, A, size=(L, N)), rewards=rng.normal(size=(L, N)),
            terminated=terminated, truncated=truncated, next_states=next_states, t=t,
            schedule=schedule, update_seed=int(rng.integers(1 << 31)),
        )
        if len(case.rollouts()) >= 2 and (terminated.any() and truncated.any()):
            return case


def short_corridor_case(rng: np.random.Generator, schedule: Schedule, num_envs: int,
                        with_w: bool) -> BookCase | None:
    """A connected stream of the real ShortCorridor-v0 (random actions, episodes capped at 12
    steps, so some end by truncation), N environments reset as the engine resets them."""
    if "ShortCorridor-v0" not in gym.registry:
        return None
    N, L = num_envs, max(_stream_rows(schedule, rng), 40 if schedule.kind == "episodes" else 0)
    envs = [gym.make("ShortCorridor-v0", max_episode_steps=12) for _ in range(N)]
    feats = envs[0].unwrapped.state_action_features()
    x_sa = feats(torch.eye(3, dtype=torch.float64)).numpy()  # [S, A, d] from the env's own features
    cols = []
    for env in envs:
        s, _ = env.reset(seed=int(rng.integers(1 << 30)))
        rows, t = [], 0
        for _ in range(L):
            a = int(rng.integers(2))
            s2, r, term, trunc, _ = env.step(a)
            rows.append((s, a, r, term, trunc, s2 if not term else 0, t))
            s, t = (env.reset()[0], 0) if term or trunc else (s2, t + 1)
        cols.append(rows)
    arr = np.array([[c[k] for c in cols] for k in range(L)], dtype=np.float64)  # [L, N, 7]
    return BookCase(
        theta=rng.normal(size=2), w=rng.normal(size=1) if with_w else None, x_sa=x_sa, x_s=np.ones((3, 1)),
        states=arr[..., 0].astype(int), actions=arr[..., 1].astype(int), rewards=arr[..., 2],
        terminated=arr[..., 3].astype(bool), truncated=arr[..., 4].astype(bool),
        next_states=arr[..., 5].astype(int), t=arr[..., 6].astype(int),
        schedule=schedule, update_seed=int(rng.integers(1 << 31)),
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


def rollouts_for(case: BookCase) -> Iterator[Rollout]:
    """What the engine hands to ``update`` for this case: its :meth:`BookCase.rollouts` as
    tensors, states one-hot ``[T, N, S]`` (the features tables index them), float64."""
    eye = torch.eye(case.x_sa.shape[0], dtype=torch.float64)
    for piece in case.rollouts():
        yield Rollout(
            obs=eye[torch.as_tensor(piece.states)], actions=torch.as_tensor(piece.actions),
            rewards=torch.as_tensor(piece.rewards, dtype=torch.float64),
            terminated=torch.as_tensor(piece.terminated), truncated=torch.as_tensor(piece.truncated),
            next_obs=eye[torch.as_tensor(piece.next_states)], t=torch.as_tensor(piece.t),
            progress=progress_tensor(piece.progress),
        )


def check(algo_cls: type[Algorithm], variant: str, overrides: dict[str, Any], case_name: str,
          make_case: Any, seed: int) -> VerifyResult | None:
    """Run one algorithm/variant/case through the engine's path and compare with the box.

    The case's stream is cut by the algorithm's schedule (:meth:`BookCase.rollouts`), each
    piece goes through :meth:`~pgzoo.Algorithm.update` (prepare → update_batches → loss →
    SGD step with lr = α) with a generator seeded by ``case.update_seed``; ``book_update(case)``
    gets the whole case. A check also fails if the updates left every parameter unchanged.
    """
    settings = {k: v for k, v in CHECK_SETTINGS.items() if k in algo_cls.Config.model_fields}
    algo = algo_cls(algo_cls.make_config(overrides={**settings, **overrides}))
    num_envs = getattr(algo.config, "num_envs", 1)
    case = make_case(np.random.default_rng(seed), algo.schedule, num_envs, algo.uses_value)
    if case is None:
        return None
    agent = agent_for(case, algo)
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    optimizer = algo.make_optimizer(agent)
    algo.loss.init_state(agent, num_envs)
    generator = torch.Generator().manual_seed(case.update_seed)  # one generator for all the case's pieces
    branches = dict.fromkeys(algo_cls.verify_branches, 0.0)

    def seen(_module: Any, _args: Any, terms: dict[str, torch.Tensor]) -> None:
        for name in branches:
            if name in terms:
                branches[name] = max(branches[name], float(terms[name].detach().abs().max()))

    hook = algo.loss.register_forward_hook(seen)
    try:
        for rollout in rollouts_for(case):
            algo.update(agent, optimizer, rollout, generator)
    finally:
        hook.remove()
    theta_book, w_book, *extras = algo.book_update(case)
    state = agent.state_dict()
    diffs = [np.abs(agent.policy.theta.detach().numpy() - theta_book).max()]
    if agent.value is not None:
        [w_name] = [k for k in state if k.startswith("value.") and k.endswith(".w")]
        diffs.append(np.abs(state[w_name].numpy() - w_book).max())
    for name, book_value in (extras[0] if extras else {}).items():  # e.g. the average reward R̄
        diffs.append(np.abs(state[name].numpy() - book_value).max())
    diff = float(max(diffs))
    changed = any(not torch.equal(before[k], state[k]) for k in before)
    note = "" if changed else "the updates left every parameter unchanged"
    return VerifyResult(algo_cls.name, variant, case_name, diff, diff <= TOLERANCE and changed, note, branches)


def verify(algorithms: dict[str, type[Algorithm]], n_random: int = 3) -> list[VerifyResult]:
    """All checks of the given algorithms: random cases and the short corridor, every variant.

    For an algorithm that names :attr:`~pgzoo.Algorithm.verify_branches`, one more result per
    name fails unless that diagnostic was non-zero in at least one case (a nonlinear branch
    that never fired was never compared with the book)."""
    results = []
    for _name, cls in sorted(algorithms.items()):
        mine = []
        for variant, overrides in cls.verify_variants.items():
            cases = [(f"random-{i}", random_case, 1000 + i) for i in range(n_random)]
            cases.append(("short-corridor", short_corridor_case, 7))
            for case_name, make_case, seed in cases:
                res = check(cls, variant, overrides, case_name, make_case, seed)
                if res is not None:
                    mine.append(res)
        for name in cls.verify_branches:
            fired = [r for r in mine if r.branches.get(name, 0.0) > 0.0]
            note = "" if fired else (f"'{name}' was 0 in every case: the branch it measures was never compared "
                                     f"with book_update (add a verify variant that makes it fire)")
            mine.append(VerifyResult(cls.name, "(all)", f"branch {name}", 0.0, bool(fired), note,
                                     {name: max((r.branches.get(name, 0.0) for r in mine), default=0.0)}))
        results.extend(mine)
    return results

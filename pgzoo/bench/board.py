"""The numbers of a leaderboard, computed from a suite and its ``results.jsonl`` (no training)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pgzoo.bench import stats
from pgzoo.bench.results import Results
from pgzoo.bench.stale import Staleness, check_runs
from pgzoo.bench.suite import Suite, stable_hash


def score_key(mode: str) -> str:
    """The ``final`` / curve key of the policy that ranks: deterministic or stochastic."""
    return "eval_return_mean_deterministic" if mode == "deterministic" else "eval_return_mean"


def curve_key(mode: str) -> str:
    return "return_mean_deterministic" if mode == "deterministic" else "return_mean"


@dataclass
class Board:
    """Rows per (environment, algorithm), the aggregate over environments, and notes."""

    suite: Suite
    runs: dict[tuple[str, str], list[dict[str, Any]]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    aggregate: list[dict[str, Any]] = field(default_factory=list)
    random_scores: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, list[str]] = field(default_factory=dict)
    staleness: Staleness = field(default_factory=Staleness)
    """The lines used, checked against the installed code (:mod:`pgzoo.bench.stale`)."""


def entry_hash(suite: Suite, algorithm: str, env_id: str) -> str:
    """The hash a run of this suite entry carries (see :attr:`RunSpec.entry_hash`)."""
    p = suite.protocol(env_id)
    return stable_hash({"plugin": suite.plugin(algorithm), "hyperparams": suite.hyperparams(algorithm, env_id),
                        "steps": suite.model.envs[env_id].steps, "every": p.every, "episodes": p.episodes})


def select_runs(suite: Suite, results: Results) -> tuple[dict[tuple[str, str], list[dict[str, Any]]], int]:
    """For each (algorithm, env) of the suite, the latest result of each seed whose settings
    match the suite's current entry; also how many results matched no entry."""
    wanted = {(a, e): entry_hash(suite, a, e) for a in suite.model.algorithms for e in suite.model.envs}
    chosen: dict[tuple[str, str], dict[int, dict[str, Any]]] = {k: {} for k in wanted}
    stale = 0
    for r in results.runs():
        k = (r.get("algorithm"), r.get("env"))
        if wanted.get(k) == r.get("entry_hash"):
            chosen[k][r["seed"]] = r
        else:
            stale += 1
    return {k: [v[s] for s in sorted(v)] for k, v in chosen.items() if v}, stale


def select_keys(suite: Suite) -> set[tuple[str, str]]:
    """The (algorithm, environment) pairs of the suite."""
    return {(a, e) for a in suite.model.algorithms for e in suite.model.envs}


def _row(suite: Suite, algorithm: str, env_id: str, runs: list[dict[str, Any]], reps: int) -> dict[str, Any]:
    mode = suite.model.score
    other = "stochastic" if mode == "deterministic" else "deterministic"
    finals = np.array([r["final"][score_key(mode)] for r in runs], dtype=np.float64)
    others = np.array([r["final"][score_key(other)] for r in runs], dtype=np.float64)
    est = stats.iqm_ci(finals, reps=reps)
    threshold = suite.reward_threshold(env_id)
    budget = suite.model.envs[env_id].steps
    aucs, reach = [], []
    for r in runs:
        steps = [p["env_steps"] for p in r["curve"]]
        rets = [p[curve_key(mode)] for p in r["curve"]]
        aucs.append(stats.area_under_curve(steps, rets, budget))
        reach.append(stats.steps_to_threshold(steps, rets, threshold))
    median, reached = stats.median_steps_to_threshold(reach)
    return {
        "env": env_id, "algorithm": algorithm, "kind": runs[0].get("kind"), "seeds": len(runs),
        "seed_list": [r["seed"] for r in runs], "score": mode,
        "final_iqm": est.value, "ci_low": est.low, "ci_high": est.high,
        "final_mean": float(finals.mean()), "final_std": float(finals.std(ddof=1)) if len(finals) > 1 else 0.0,
        f"final_mean_{other}": float(others.mean()),
        "final_per_seed": finals.tolist(),
        "auc": float(np.mean(aucs)),
        "steps_to_threshold_median": median, "seeds_reaching_threshold": reached,
        "steps_to_threshold_per_seed": reach,
        "wall_s": float(np.mean([r["wall_s"] for r in runs])),
        "env_steps": float(np.mean([r["env_steps"] for r in runs])),
        "env_steps_per_s": float(np.mean([r["env_steps_per_s"] for r in runs])),
    }


def _aggregate(board: Board, reps: int) -> None:
    suite = board.suite
    envs = [e for e in suite.model.envs if board.thresholds.get(e) is not None and e in board.random_scores]
    left_out = [e for e in suite.model.envs if e not in envs]
    if left_out:
        board.notes.append(f"not in the aggregate (no reward threshold or random-policy score): {', '.join(left_out)}")
    if not envs:
        return
    matrices: dict[str, np.ndarray] = {}
    for algorithm in suite.model.algorithms:
        per_env = {e: {r["seed"]: r["final"][score_key(suite.model.score)] for r in board.runs.get((algorithm, e), [])}
                   for e in envs}
        seeds = sorted(set.intersection(*(set(v) for v in per_env.values())))
        if not seeds:
            if any(per_env.values()):
                board.notes.append(f"{algorithm}: not in the aggregate (no seed finished on every environment)")
            continue
        matrices[algorithm] = np.array(
            [[stats.normalised(per_env[e][s], board.random_scores[e], board.thresholds[e]) for e in envs]
             for s in seeds], dtype=np.float64)
    ref = suite.model.compare_to
    for algorithm, m in matrices.items():
        est = stats.iqm_ci(m, reps=reps)
        row: dict[str, Any] = {"algorithm": algorithm, "envs": envs, "seeds": m.shape[0],
                               "normalised_iqm": est.value, "ci_low": est.low, "ci_high": est.high,
                               "compare_to": ref, "prob_improvement": None, "poi_ci_low": None, "poi_ci_high": None}
        if ref in matrices and algorithm != ref:
            poi = stats.probability_of_improvement(m, matrices[ref], reps=reps)
            row.update(prob_improvement=poi.value, poi_ci_low=poi.low, poi_ci_high=poi.high)
        board.aggregate.append(row)
    if ref not in matrices:
        board.notes.append(f"no results of {ref}: no probability of improvement over it")


def build_board(suite: Suite, results: Results) -> Board:
    """Every number of the leaderboard of ``suite`` from ``results``."""
    runs, stale = select_runs(suite, results)
    board = Board(suite, runs)
    reps = suite.model.bootstrap_reps
    board.random_scores = {e: r["return_mean"] for e, r in results.random_scores().items()}
    board.thresholds = {e: suite.reward_threshold(e) for e in suite.model.envs}
    if stale:
        board.notes.append(f"{stale} result line(s) of other settings in results.jsonl were not used")
    if results.bad_lines:
        board.notes.append(f"line(s) of results.jsonl ignored (their runs are redone by the next bench): "
                           f"{results.describe_bad_lines()}")
    key = score_key(suite.model.score)
    for (algorithm, env_id), group in runs.items():
        bad = [f"seed {r['seed']} ({r['final'][key]})" for r in group if not math.isfinite(r["final"][key])]
        if bad:
            board.notes.append(f"{algorithm} on {env_id}: final score not finite for {', '.join(bad)}; "
                               "its statistics are NaN")
    finished = {(r["algorithm"], r["env"], r["seed"]) for group in runs.values() for r in group}
    for f in results.failures():
        if (f["algorithm"], f["env"], f["seed"]) not in finished and (f["algorithm"], f["env"]) in select_keys(suite):
            board.notes.append(f"{f['algorithm']} on {f['env']} seed {f['seed']} failed: {f['error']}")
    for env_id in suite.model.envs:
        for algorithm in suite.model.algorithms:
            if (algorithm, env_id) in runs:
                board.rows.append(_row(suite, algorithm, env_id, runs[(algorithm, env_id)], reps))
    _aggregate(board, reps)
    board.staleness = check_runs([r for group in runs.values() for r in group])
    for group in runs.values():
        for r in group:
            v = r.get("versions", {})
            for name in ("pgzoo", "torch", "gymnasium", "stable_baselines3", "numpy", "python"):
                if v.get(name) and v[name] not in board.versions.setdefault(name, []):
                    board.versions[name].append(v[name])
            plugin = v.get("plugin") or {}
            if plugin.get("dist"):
                label = f"{plugin['dist']} {plugin.get('version')}"
                if label not in board.versions.setdefault("plugins", []):
                    board.versions["plugins"].append(label)
    return board

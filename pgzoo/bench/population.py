"""The seeds of one bench cell (algorithm × environment × settings) trained as one population.

:func:`run_cell` is the population twin of :func:`pgzoo.bench.task.run_task`: it takes the
cell's run specs (one per seed, same settings), trains them with :class:`pgzoo.engine.population.
Population` and returns one results line per seed, evaluated as the trainer evaluates a seed
alone (same evaluation seeds, same torch random state); the parameters are the trainer's in
float64, not bit for bit in float32, so a line records its population (``population_seeds`` and
``provenance.path``) and is retrained in it. Wall times in the lines are the population's, shared evenly between its
members (``"population"`` in a line gives the member count).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Any

import torch

from pgzoo.algorithm import Agent
from pgzoo.config import AlgorithmConfig
from pgzoo.engine.evaluation import Scores, evaluate, summarize
from pgzoo.engine.normalization import Normalization
from pgzoo.engine.population import Population, env_blocker, population_blocker
from pgzoo.seeding import Seeds, derive_seeds


def cell_key(spec: Any) -> tuple:
    """What the seeds of one population share: everything in a run spec but the seed."""
    return (spec.kind, spec.algorithm, spec.env, spec.config_hash)


def population_refusal(spec: Any) -> str | None:
    """Why the run's algorithm cannot train as a population on its environment (``None``: it can)."""
    if spec.kind != "algorithm":
        return "not a pgzoo algorithm"
    from pgzoo.registry import get_registry

    cls = get_registry().algorithm(spec.registered_name)
    algo = cls(cls.make_config(overrides=spec.config))
    cfg = algo.config
    return population_blocker(algo) or env_blocker(spec.env, cfg.max_episode_steps, Normalization.of(cfg))


def can_run_as_population(spec: Any) -> bool:
    """Whether the run's algorithm trains as a population on its (episodic) environment."""
    return population_refusal(spec) is None


def _evaluate_both(agent: Agent, env_id: str, seeds: tuple[int, ...], cfg: AlgorithmConfig,
                   rng_state: torch.Tensor) -> tuple[Scores, Scores]:
    """Stochastic and greedy evaluation returns, from the random state the trainer evaluates from."""
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(rng_state)
        return tuple(evaluate(agent.policy, env_id, seeds, greedy, cfg.max_episode_steps,
                              step_cap=cfg.eval_max_steps, scale_images=cfg.scale_images) for greedy in (False, True))


def run_cell(specs: list[dict[str, Any]], executor: str = "local", compile_: str | None = None) -> list[dict[str, Any]]:
    """Train the runs ``specs`` (one cell, one per seed) as a population; their results lines.

    ``compile_``: the ``compile`` setting to train with (default: the runs' config's)."""
    from pgzoo import provenance
    from pgzoo.bench.suite import RunSpec
    from pgzoo.bench.task import _crash_once, limit_threads, run_record
    from pgzoo.registry import get_registry

    runs = [RunSpec(**s) for s in specs]
    for run in runs:  # the executors' retry test hook, once per member
        _crash_once(f"{run.algorithm}-{run.env}-{run.seed}-{run.config_hash}")
    limit_threads()
    registry = get_registry()
    first = runs[0]
    cls = registry.algorithm(first.registered_name)
    origin = registry.algorithm_origin[first.registered_name]
    algo = cls(cls.make_config(overrides={**first.config, **({"compile": compile_} if compile_ else {})}))
    cfg = algo.config
    seeds: list[Seeds] = [derive_seeds(r.seed, cfg.num_envs, max(cfg.eval_episodes, r.episodes)) for r in runs]
    curves: list[list[dict[str, float]]] = [[] for _ in runs]
    capped = [0] * len(runs)
    population: Population

    def on_eval(r: int, env_steps: int, agent: Agent) -> None:
        stoch, greedy = _evaluate_both(agent, first.env, seeds[r].eval_envs[: first.episodes], cfg,
                                       population.rng_states[r])
        capped[r] += stoch.capped + greedy.capped
        curves[r].append({"env_steps": env_steps, "return_mean": summarize(stoch)[0],
                          "return_mean_deterministic": summarize(greedy)[0]})

    start = time.perf_counter()
    population = Population(algo, first.env, [r.seed for r in runs], eval_every=first.every, on_eval=on_eval)
    result = population.run()
    records: list[dict[str, Any]] = []
    share = result.wall_s / len(runs)
    path = provenance.trainer_path({"compile": cfg.compile, "compiled": result.compiled}, population.dtype,
                                   [r.seed for r in runs])
    recorded = provenance.describe(cls.__module__, first.env, path)
    for r, run in enumerate(runs):
        if r in result.failed:  # diverged: reported alone, the other members' results stand
            records.append({"type": "failed", "error": result.failed[r]})
            continue
        stoch, greedy = _evaluate_both(result.agent(r), run.env, seeds[r].eval_envs, cfg, population.rng_states[r])
        (mean, std), (gmean, gstd) = summarize(stoch), summarize(greedy)
        steps = int(result.env_steps[r])
        summary = {"env_steps": steps, "wall_s": round(share, 3), "env_steps_per_s": round(steps / max(share, 1e-9), 1),
                   "eval_episodes": len(stoch), "eval_return_mean": mean, "eval_return_std": std,
                   "eval_return_mean_deterministic": gmean, "eval_return_std_deterministic": gstd,
                   "eval_capped_episodes": capped[r] + stoch.capped + greedy.capped}
        record = run_record(run, summary, curves[r], origin, (time.perf_counter() - start) / len(runs), executor,
                            recorded)
        record["final_params"] = provenance.params_hash(result.agent(r))
        record["population"] = len(runs)
        record["population_seeds"] = [x.seed for x in runs]  # to retrain this very group if a line is lost
        records.append(record)
    return records


def group_cells(specs: list[Any], enabled: bool = True, done: list[dict[str, Any]] | None = None,
                grid: list[Any] | None = None) -> list[list[Any]]:
    """The specs as work items: all seeds of a population-capable cell together, others alone.

    A seed whose cell was trained before (``done``: the results lines there are) is retrained in
    the population it was first trained in, with the seeds that population had (its lines'
    ``population_seeds``; for lines without it, the cell's seeds in ``grid`` if their number is
    the line's ``population``), so that it reproduces its lost number bit for bit: float32
    batched kernels round differently for other groups. The caller keeps only the missing lines.
    """
    items: dict[tuple, list[Any]] = {}
    singles: list[list[Any]] = []
    capable: dict[tuple, bool] = {}
    original = _original_groups(done or [], grid or specs)
    redo: dict[tuple, list[Any]] = {}
    for spec in specs:
        key = cell_key(spec)
        if enabled and key not in capable:
            refusal = population_refusal(spec)
            capable[key] = refusal is None
            if refusal and spec.kind == "algorithm":
                print(f"pgzoo bench: {spec.algorithm} on {spec.env}: seeds trained one by one: {refusal}",
                      file=sys.stderr)
        if enabled and capable.get(key):
            seeds = original.get((*key, spec.seed))
            if seeds is None:
                items.setdefault(key, []).append(spec)
            elif (*key, tuple(seeds)) not in redo:
                redo[(*key, tuple(seeds))] = [replace(spec, seed=s) for s in seeds]
        else:
            singles.append([spec])
    return [*items.values(), *redo.values(), *singles]


def _original_groups(done: list[dict[str, Any]], grid: list[Any]) -> dict[tuple, list[int]]:
    """(cell key…, seed) → the seeds of the population that seed was trained in, from results lines."""
    cell_seeds: dict[tuple, list[int]] = {}
    for spec in grid:
        cell_seeds.setdefault(cell_key(spec), []).append(spec.seed)
    out: dict[tuple, list[int]] = {}
    for r in done:
        if r.get("population", 1) < 2:
            continue
        key = (r.get("kind", "algorithm"), r["algorithm"], r["env"], r["config_hash"])
        seeds = r.get("population_seeds")
        if seeds is None and len(cell_seeds.get(key, ())) == r["population"]:
            seeds = sorted(cell_seeds[key])
        for s in seeds or ():
            out.setdefault((*key, s), list(seeds))
    return out


def run_item(specs: list[dict[str, Any]], executor: str = "local", compile_: str | None = None) -> list[dict[str, Any]]:
    """A bench work item: one run alone (:func:`~pgzoo.bench.task.run_task`) or a cell's seeds together.
    ``compile_``: the ``compile`` setting (default: the bench's, see :func:`~pgzoo.bench.task.bench_config`)."""
    if len(specs) == 1:
        from pgzoo.bench.task import run_task

        return [run_task(specs[0], executor, compile_)]
    return run_cell(specs, executor, compile_)

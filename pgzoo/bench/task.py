"""One run of the grid, as executed inside a worker process (local pool or Ray task)."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import json
import os
import platform
import signal
import time
from dataclasses import asdict
from typing import Any

import torch

from pgzoo import provenance
from pgzoo.names import run_name, safe_name

CRASH_ONCE_ENV = "PGZOO_BENCH_CRASH_ONCE"
"""Test hook: a directory; the first attempt of each run creates a marker there and SIGKILLs its
own process, so that executors' retrying of killed workers is exercised for real."""


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _crash_once(run_id: str) -> None:
    folder = os.environ.get(CRASH_ONCE_ENV)
    if not folder:
        return
    marker = os.path.join(folder, safe_name(run_id) + ".crashed")
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def limit_threads() -> None:
    """One torch thread per worker, so workers do not fight over the cores (and runs are
    reproducible whichever executor runs them)."""
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set in this process
        torch.set_num_interop_threads(1)


def bench_config(config: dict[str, Any], compile_: str | None = None) -> dict[str, Any]:
    """The settings a bench run trains with: ``config``, its ``compile`` setting replaced by
    ``compile_`` when given (a recorded line's path, see :mod:`pgzoo.bench.reproduce`).

    ``compile = "auto"`` (the default) follows the trainer's rule (:func:`pgzoo.engine.compiled.decide`,
    which reads the config only) alone and as a population alike; each line records the setting and
    whether it compiled (``provenance.path``), so the recipe of a line is its own path. (The bench used
    to resolve "auto" to "off" so that a cell's seeds gave the same parameters alone or as a
    population; they do not bit for bit in float32 either way, see the README.)"""
    return {**config, "compile": compile_} if compile_ is not None else dict(config)


def run_task(spec: dict[str, Any], executor: str = "local", compile_: str | None = None) -> dict[str, Any]:
    """Train one run described by ``spec`` (a :class:`RunSpec` as a dict); return its results line.

    ``compile_``: the ``compile`` setting to train with, as a line's recorded path says (default:
    :func:`bench_config`'s)."""
    from pgzoo.bench.suite import RunSpec
    from pgzoo.engine.trainer import EvalSchedule, Trainer
    from pgzoo.registry import get_registry
    from pgzoo.tblog import TensorBoardLogger, TrainLogger

    run = RunSpec(**spec)
    _crash_once(f"{run.algorithm}-{run.env}-{run.seed}-{run.config_hash}")
    limit_threads()
    registry = get_registry()
    schedule = EvalSchedule(run.every, run.episodes)
    start = time.perf_counter()
    logger = (TensorBoardLogger(run.tensorboard, run_name(run.algorithm, run.env, run.seed),
                                config={"algorithm": run.algorithm, "env_id": run.env, "seed": run.seed,
                                        "config": run.config})
              if run.tensorboard else TrainLogger())
    with logger:
        if run.kind == "algorithm":
            cls = registry.algorithm(run.registered_name)
            origin = registry.algorithm_origin[run.registered_name]
            algorithm = cls(cls.make_config(overrides=bench_config(run.config, compile_)))
            result = Trainer(algorithm, run.env, run.seed, progress=False, schedule=schedule, logger=logger).run()
        else:
            cls = registry.baseline(run.registered_name)
            origin = registry.baseline_origin[run.registered_name]
            result = cls(dict(run.config)).run(run.env, run.seed, run.steps, schedule)
            for point in result.curve:  # a baseline trains on its own: its evaluation points only
                logger.on_eval(point)
    recorded = result.summary.get("provenance") or provenance.describe(
        cls.__module__, run.env, provenance.trainer_path({}, torch.float32))
    record = run_record(run, result.summary, result.curve, origin, time.perf_counter() - start, executor, recorded)
    if result.agent is not None:
        record["final_params"] = provenance.params_hash(result.agent)
    elif result.summary.get("final_params"):  # a baseline's own fingerprint of its model
        record["final_params"] = str(result.summary["final_params"])
    return record


def run_record(run: Any, s: dict[str, Any], curve: list[dict[str, float]], origin: Any, total_wall: float,
               executor: str, recorded: dict[str, Any]) -> dict[str, Any]:
    """The results line of a finished run (``s``: its trainer summary; ``curve``: its evaluations;
    ``recorded``: its :mod:`pgzoo.provenance`).

    Checked to be JSON here, in the worker, so that a plugin returning something else fails
    its own run with a message instead of stopping the bench when the line is written.
    """
    record = {
        "type": "run", "algorithm": run.algorithm, "plugin": run.registered_name, "kind": run.kind,
        "env": run.env, "seed": run.seed,
        "config_hash": run.config_hash, "entry_hash": run.entry_hash,
        "spec": asdict(run),
        "versions": {
            "pgzoo": _version("pgzoo"), "plugin": {"dist": origin.dist, "version": origin.version},
            "torch": torch.__version__, "gymnasium": _version("gymnasium"),
            "stable_baselines3": _version("stable_baselines3"), "numpy": _version("numpy"),
            "python": platform.python_version(),
        },
        "curve": [{k: float(v) for k, v in point.items()} for point in curve],
        "final": {k: s.get(k) for k in ("eval_episodes", "eval_return_mean", "eval_return_std",
                                         "eval_return_mean_deterministic", "eval_return_std_deterministic",
                                         "eval_capped_episodes")},
        "env_steps": int(s["env_steps"]),
        "train_wall_s": float(s["wall_s"]),
        "env_steps_per_s": float(s["env_steps_per_s"]),
        "wall_s": round(total_wall, 3),
        "executor": executor,
        "host": platform.node(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "provenance": recorded,
    }
    try:
        json.dumps(record)
    except (TypeError, ValueError) as e:
        where = f"{run.algorithm} on {run.env} (seed {run.seed})"
        raise TypeError(f"the results line of {where} is not JSON: {e}") from None
    return record

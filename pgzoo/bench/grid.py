"""Expanding a suite into its grid of runs, with each name looked up among the installed plugins."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from pgzoo.algorithm import Algorithm
from pgzoo.bench.suite import RunSpec, Suite
from pgzoo.engine.envs import make_env
from pgzoo.engine.normalization import Normalization
from pgzoo.errors import UsageError
from pgzoo.registry import Registry
from pgzoo.resources import check_loss_state_memory
from pgzoo.spaces import EnvSpec


@dataclass
class Grid:
    """The runs of a suite, and notes about what was left out."""

    runs: list[RunSpec]
    skipped: list[str] = field(default_factory=list)
    algorithms: list[str] = field(default_factory=list)


def _kind(registry: Registry, name: str) -> str | None:
    if name in registry.conflicts:
        registry.algorithm(name)  # raises: two plugins claim the name
    if name in registry.algorithms:
        return "algorithm"
    if name in registry.baselines:
        return "baseline"
    return None


def _resolve(
    suite: Suite, registry: Registry, name: str, kind: str, env_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The full configuration of a run, and its values that differ from the defaults."""
    hp = suite.hyperparams(name, env_id)
    protocol = suite.protocol(env_id)
    plugin = suite.plugin(name)
    key = f"algorithms.{name}.envs.{env_id}" if suite.model.algorithms[name].envs.get(env_id) else f"algorithms.{name}"
    if kind == "baseline":
        baseline = registry.baselines[plugin]
        try:
            with warnings.catch_warnings():  # the check builds the model on one env copy: SB3's advice
                warnings.simplefilter("ignore")  # about batch sizes for that copy is not the run's
                baseline(hp).check(env_id)
        except UsageError as e:
            raise suite.error(key, str(e)) from None
        config = {**baseline.env_defaults.get(env_id, {}), **hp}
        return config, config
    cls = registry.algorithms[plugin]
    budget = {"total_steps": suite.model.envs[env_id].steps, "total_episodes": None,
              "eval_episodes": protocol.episodes}
    try:
        cfg = cls.make_config(env_id, {**hp, **budget})
        check_buildable(cls(cfg), env_id)
    except UsageError as e:
        raise suite.error(key, str(e)) from None
    config = cfg.model_dump(mode="json")
    defaults = cls.make_config().model_dump(mode="json")
    return config, {k: v for k, v in config.items() if k not in defaults or defaults[k] != v}


def check_buildable(algo: Algorithm, env_id: str) -> None:
    """Build ``algo``'s agent for ``env_id`` and its loss state, as training would, so that a
    mismatch (action space, features, network size) is a :class:`UsageError` before any run starts."""
    env = make_env(env_id, algo.config.max_episode_steps, Normalization.of(algo.config))
    try:
        spec = EnvSpec.from_env(env, env_id)
    finally:
        env.close()
    check_loss_state_memory(algo, algo.build_agent(spec))


def build_grid(suite: Suite, registry: Registry, only: list[str] | None = None,
               seeds: int | None = None) -> Grid:
    """Every (algorithm, env, seed) run of ``suite``; ``only`` keeps some algorithms, ``seeds``
    the first N seeds. An unknown name is a one-line error naming the suite file and key,
    unless the entry is ``optional`` (then it is skipped with a note)."""
    names = list(suite.model.algorithms)
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise UsageError(f"--only: {', '.join(unknown)} not in {suite.path} (has: {', '.join(names)})")
        names = [n for n in names if n in only]
    seed_list = suite.seeds[:seeds] if seeds else suite.seeds
    if seeds and seeds > len(suite.seeds):
        seed_list = suite.seeds + [max(suite.seeds) + 1 + i for i in range(seeds - len(suite.seeds))]
    grid = Grid([])
    tensorboard = str(suite.tensorboard_dir) if suite.tensorboard_dir else None
    kinds: dict[str, str] = {}
    for name in names:
        plugin = suite.plugin(name)
        kind = _kind(registry, plugin)
        if kind is None:
            known = ", ".join(sorted([*registry.algorithms, *registry.baselines])) or "none installed"
            if suite.model.algorithms[name].optional:
                grid.skipped.append(f"{name}: not installed (optional in the suite), skipped")
                continue
            key = f"algorithms.{name}.plugin" if plugin != name else f"algorithms.{name}"
            raise suite.error(key, f"no installed algorithm or baseline is called '{plugin}' (installed: {known})")
        kinds[name] = kind
        grid.algorithms.append(name)
    for env_id, entry in suite.model.envs.items():  # environment by environment: each completes in turn
        protocol = suite.protocol(env_id)
        for name, kind in kinds.items():
            config, settings = _resolve(suite, registry, name, kind, env_id)
            for seed in seed_list:
                grid.runs.append(RunSpec(name, kind, env_id, seed, entry.steps, protocol.every, protocol.episodes,
                                         suite.hyperparams(name, env_id), config, suite.plugin(name), settings,
                                         tensorboard))
    return grid

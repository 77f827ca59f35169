"""Suites: a folder with a ``suite.toml``, validated by pydantic, expanded into a grid of runs."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pgzoo.config import format_validation_error
from pgzoo.errors import UsageError
from pgzoo.registry import check_env_id, env_name
from pgzoo.userfiles import read_user_text

SUITE_FILE = "suite.toml"


class Protocol(BaseModel):
    """Evaluate every ``every`` env steps on ``episodes`` episodes (stochastic and greedy policy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: int = Field(gt=0, description="env steps between evaluations")
    episodes: int = Field(10, gt=0, description="episodes per evaluation")


class EnvEntry(BaseModel):
    """One environment of a suite: its training budget and, optionally, its own protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(gt=0, description="training budget in env steps")
    evaluation: Protocol | None = Field(None, description="overrides the suite's evaluation protocol")
    reward_threshold: float | None = Field(None, description="default: gymnasium's spec")


class AlgorithmEntry(BaseModel):
    """A pgzoo algorithm or a baseline, by registered name, with its hyperparameters. The entry's
    key is the name shown in the leaderboard; ``plugin`` (default: the key) is the registered
    name, so that one algorithm can appear with several settings (e.g. while tuning)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plugin: str | None = Field(None, description="registered algorithm or baseline name (default: the key)")
    config: str | None = Field(None, description="a TOML file of settings (e.g. pgzoo tune's best.toml), relative "
                                                 "to the suite's folder; hyperparams and envs override it")
    hyperparams: dict[str, Any] = Field(default_factory=dict, description="for every environment")
    envs: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-environment hyperparameters")
    optional: bool = Field(False, description="skip with a note (instead of an error) when not installed")


class SuiteModel(BaseModel):
    """The contents of ``suite.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    seeds: int | list[int] = Field(5, description="a count (seeds 0..N-1) or a list of seeds")
    evaluation: Protocol
    score: Literal["deterministic", "stochastic"] = Field(
        "deterministic", description="which policy's evaluation return ranks the leaderboard"
    )
    compare_to: str = Field("sb3-a2c", description="probability of improvement is over this algorithm")
    bootstrap_reps: int = Field(2000, ge=100, description="stratified-bootstrap replications")
    tuning: str = Field("", description="what was tuned, and how (printed in the leaderboard)")
    population: bool = Field(True, description="train the seeds of a cell as one population where the algorithm can")
    curves: Literal["auto", "overlay", "panels"] = Field(
        "auto", description="curves.png: all algorithms on one plot per environment, or one small panel per "
                            "algorithm (auto: panels when more than four)")
    tensorboard: str | None = Field(
        None, description="folder (relative to the suite's) for TensorBoard event files, one sub-folder per run; "
                          "the seeds then train one by one, not as a population")
    envs: dict[str, EnvEntry] = Field(min_length=1)
    algorithms: dict[str, AlgorithmEntry] = Field(min_length=1)

    @field_validator("seeds")
    @classmethod
    def _seeds_ok(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be at least 1")
        if isinstance(v, list) and (not v or len(set(v)) != len(v) or min(v) < 0):
            raise ValueError("must be distinct non-negative integers")
        return v


@dataclass(frozen=True)
class RunSpec:
    """One (algorithm, environment, seed) run, everything a worker needs to do it."""

    algorithm: str
    kind: Literal["algorithm", "baseline"]
    env: str
    seed: int
    steps: int
    every: int
    episodes: int
    hyperparams: dict[str, Any]
    """The suite's hyperparameters for this environment (before the plugin's own defaults)."""
    config: dict[str, Any]
    """The resolved configuration the run trains with."""
    plugin: str = ""
    """The registered name (``algorithm`` is the suite's label for it); default: ``algorithm``."""
    settings: dict[str, Any] | None = None
    """The values of ``config`` that differ from the algorithm's defaults (default: all of it):
    what the resume key hashes, so that a new config field with a default keeps old runs valid."""
    tensorboard: str | None = None
    """Folder for the run's TensorBoard event files (not part of what identifies the run)."""

    @property
    def registered_name(self) -> str:
        return self.plugin or self.algorithm

    @property
    def entry_hash(self) -> str:
        """Identifies what the suite asked for (no plugin needed to compute it)."""
        return stable_hash({"plugin": self.registered_name, "hyperparams": self.hyperparams, "steps": self.steps,
                            "every": self.every, "episodes": self.episodes})

    @property
    def config_hash(self) -> str:
        """Identifies what was trained: the resume key with algorithm, env and seed."""
        settings = self.config if self.settings is None else self.settings
        return stable_hash({"kind": self.kind, "plugin": self.registered_name, "config": settings,
                            "steps": self.steps, "every": self.every, "episodes": self.episodes})

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.algorithm, self.env, self.seed, self.config_hash)

    @property
    def label(self) -> str:
        return f"{self.algorithm} {self.env} seed {self.seed}"


def stable_hash(data: Any) -> str:
    """A short hash of JSON-able ``data`` that does not depend on key order."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Suite:
    """A validated suite and where it lives."""

    path: Path
    """The ``suite.toml`` file."""
    model: SuiteModel
    config_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The settings read from each algorithm entry's ``config`` file."""

    @property
    def tensorboard_dir(self) -> Path | None:
        """Where the suite's runs write TensorBoard event files (None: nowhere)."""
        return self.path.parent / self.model.tensorboard if self.model.tensorboard else None

    @property
    def seeds(self) -> list[int]:
        s = self.model.seeds
        return list(range(s)) if isinstance(s, int) else list(s)

    def protocol(self, env_id: str) -> Protocol:
        return self.model.envs[env_id].evaluation or self.model.evaluation

    def reward_threshold(self, env_id: str) -> float | None:
        own = self.model.envs[env_id].reward_threshold
        return own if own is not None else gym.spec(env_name(env_id)).reward_threshold

    def plugin(self, algorithm: str) -> str:
        """The registered name behind the suite's entry ``algorithm``."""
        return self.model.algorithms[algorithm].plugin or algorithm

    def hyperparams(self, algorithm: str, env_id: str) -> dict[str, Any]:
        entry = self.model.algorithms[algorithm]
        return {**self.config_files.get(algorithm, {}), **entry.hyperparams, **entry.envs.get(env_id, {})}

    def error(self, key: str, problem: str) -> UsageError:
        """A one-line error naming this suite's file and ``key``."""
        return UsageError(f"{self.path}: {key}: {problem}")


def load_suite(suite_dir: str | Path) -> Suite:
    """Read and validate ``SUITE_DIR/suite.toml``; any problem is a one-line :class:`UsageError`."""
    d = Path(suite_dir)
    path = d / SUITE_FILE if d.is_dir() or not d.suffix else d
    if not path.exists():
        raise UsageError(f"{path}: no such suite file (a suite is a folder with a {SUITE_FILE})")
    try:
        data = tomllib.loads(read_user_text(path, "suite file"))
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: invalid TOML: {e}") from None
    try:
        model = SuiteModel(**data)
    except ValidationError as e:
        raise UsageError(format_validation_error(e, str(path), SuiteModel)) from None
    suite = Suite(path, model)
    for name, entry in model.algorithms.items():
        if entry.config:
            from pgzoo.config import load_toml

            try:
                suite.config_files[name] = load_toml(path.parent / entry.config)
            except UsageError as e:
                raise suite.error(f"algorithms.{name}.config", str(e)) from None
    for env_id in model.envs:
        try:
            check_env_id(env_id)
        except UsageError as e:
            raise suite.error(f"envs.{env_id}", str(e)) from None
    for name, entry in model.algorithms.items():
        for env_id in entry.envs:
            if env_id not in model.envs:
                raise suite.error(f"algorithms.{name}.envs.{env_id}", "not one of the suite's [envs]")
    return suite


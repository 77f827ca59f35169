"""Pydantic configs of algorithms, ``--set key=value`` parsing, TOML files, error messages."""

from __future__ import annotations

import difflib
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from pgzoo.errors import UsageError
from pgzoo.userfiles import read_user_text

MAX_ENVS = 4096
"""Most environments one run steps together (memory grows with it: per-env traces, batches)."""
MAX_HIDDEN = 4096
"""Most units in one hidden layer of an MLP (a 4096×4096 layer is 16.8M parameters, 67 MB)."""
MAX_LAYERS = 8

DEFAULT_EVAL_STEP_CAP = 10_000
"""Steps after which an evaluation episode is cut and counted as capped (``eval_max_steps``)."""


TUNE_KEY = "tune"
"""The key of a field's ``json_schema_extra`` that holds its search range for ``pgzoo tune``."""


def tunable(
    low: float | None = None, high: float | None = None, *, log: bool = False, choices: tuple[Any, ...] | None = None
) -> dict[str, Any]:
    """A field's search range for ``pgzoo tune``, to pass as ``Field(..., json_schema_extra=tunable(...))``.

    Either a numeric range ``[low, high]`` (sampled on a log scale with ``log=True``; integers
    for an ``int`` field) or a tuple of ``choices`` (bool, int, float or str). A plugin's config
    field declared this way is tuned by ``pgzoo tune`` with no further code.

    Raises ValueError for a range that is empty, or log-scaled with ``low <= 0``.
    """
    if choices is not None:
        if low is not None or high is not None or not choices:
            raise ValueError("give either choices or low and high")
        return {TUNE_KEY: {"choices": list(choices)}}
    if low is None or high is None or not low < high or (log and low <= 0):
        raise ValueError(f"bad search range [{low}, {high}] (log={log})")
    return {TUNE_KEY: {"low": low, "high": high, "log": log}}


ANNEAL_MARK = "annealable"
"""The key of a field's ``json_schema_extra`` that lets ``anneal`` schedule it (:func:`annealable`)."""


def annealable(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mark a float setting as one the config's ``anneal`` may schedule over the run's progress:
    ``Field(0.2, json_schema_extra=annealable())`` (or ``annealable(tunable(...))`` for both).
    The algorithm must read it with :func:`pgzoo.annealing.annealed`."""
    return {**(extra or {}), ANNEAL_MARK: True}


class AlgorithmConfig(BaseModel):
    """Settings shared by every algorithm. Unknown keys are rejected.

    Step sizes are the book's α (``alpha_theta`` for the policy); with ``optimizer="sgd"`` one
    update is exactly the book's, with ``"adam"`` they are Adam's learning rates.
    The book's losses sum over the steps of a batch (they do not average), so that one SGD step
    equals the sum of the book's per-step updates; algorithms published with minibatch means
    (PPO) average, and say so (:attr:`pgzoo.Algorithm.reduction`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    gamma: float = Field(0.99, ge=0.0, le=1.0, description="discount γ",
                          json_schema_extra=tunable(choices=(0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)))
    alpha_theta: float = Field(2**-10, gt=0.0, le=1.0, description="policy step size α^θ",
                                json_schema_extra=tunable(1e-5, 1e-1, log=True))
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="plain SGD (the book) or Adam",
                                              json_schema_extra=tunable(choices=("sgd", "adam")))
    policy: Literal["linear", "mlp"] = Field("linear", description="linear soft-max or MLP policy")
    features: Literal["auto", "env", "obs"] = Field(
        "auto", description="x(s,a) of a linear policy: the env's own, per-action obs, or auto"
    )
    hidden_sizes: tuple[Annotated[int, Field(ge=1, le=MAX_HIDDEN)], ...] = Field(
        (64, 64), min_length=1, max_length=MAX_LAYERS,
        description=f"hidden layers of MLPs (1 to {MAX_LAYERS} layers of 1 to {MAX_HIDDEN} units: bounded "
                    "so that a network and its optimiser state fit in memory)",
    )
    init_theta: tuple[float, ...] | None = Field(None, description="initial θ of a linear soft-max policy")
    init_mu: tuple[float, ...] | None = Field(
        None, description="initial θ_μ of a Gaussian policy's linear mean, row-major [action_dim, obs_dim + 1]"
    )
    gaussian_std: Literal["state-independent", "linear", "sde"] = Field(
        "state-independent", description="σ of a Gaussian policy: exp(θ_σ), exp(θ_σᵀx(s)), or gSDE's "
                                         "state-dependent exploration (pgzoo.exploration)"
    )
    obs_scaling: Literal["none", "bounds", "running"] = Field(
        "none", description="'bounds': observations mapped from the observation space's finite bounds to [-1, 1] "
                            "by a fixed first layer of π and v̂ (MLPs, Gaussian policies, linear v̂ on [obs, 1]); "
                            "'running': normalised by the running mean and std of the training observations, "
                            "clipped to ±10, and evaluated with those statistics frozen (SB3's VecNormalize)",
    )
    normalize_reward: bool = Field(
        False, description="divide rewards by the running std of the discounted return (γ), clipped to ±10, "
                           "before learning (SB3's VecNormalize; reported returns stay raw)",
    )
    sde_sample_freq: int = Field(
        -1, ge=-1, description="with gaussian_std='sde': env steps each noise matrix is held for (-1: one per "
                               "rollout of rollout_steps steps)"
    )
    init_log_std: float = Field(0.0, ge=-10.0, le=5.0, description="initial ln σ of a Gaussian policy")
    min_std: float = Field(1e-3, gt=0.0, description="floor of σ of a Gaussian policy")
    reward_scale: float = Field(
        1.0, gt=0.0, description="rewards are multiplied by this before learning (reported returns stay raw)",
        json_schema_extra=tunable(1e-2, 1.0, log=True),
    )
    entropy_coef: float = Field(0.0, ge=0.0, description="entropy bonus (0: none, as in the book)",
                                 json_schema_extra=tunable(0.0, 0.02))
    discount_actor: bool = Field(True, description="γᵗ (the I of actor–critic) on the policy update, as in the book",
                                  json_schema_extra=tunable(choices=(True, False)))
    num_envs: int = Field(1, ge=1, le=MAX_ENVS, description=f"environments stepped together (at most {MAX_ENVS})",
                          json_schema_extra=tunable(choices=(1, 2, 4, 8, 16)))
    max_episode_steps: int | None = Field(None, ge=1, description="cap on episode length")
    total_steps: int = Field(100_000, ge=1, description="training budget in env steps")
    total_episodes: int | None = Field(None, ge=1, description="budget in episodes (wins over steps)")
    eval_episodes: int = Field(10, ge=1, description="evaluation episodes at the end")
    eval_steps: int = Field(10_000, ge=1, description="steps of one evaluation run on a continuing task")
    eval_max_steps: int = Field(
        DEFAULT_EVAL_STEP_CAP, ge=1,
        description="an evaluation episode still running after this many steps is cut (and counted)",
    )
    scale_images: bool = Field(True, description="divide image observations (Box of uint8, 0…255) by 255")
    reward_window: int = Field(1_000, ge=1, description="env steps per metrics row on a continuing task")
    rollout_steps: int | None = Field(
        None, ge=1, le=100_000,
        description="update on segments of n steps of every environment (None: the algorithm's default schedule)",
    )
    rollout_episodes: int | None = Field(
        None, ge=1, le=100_000,
        description="update on batches of K finished episodes (None: the algorithm's default schedule)",
    )
    max_grad_norm: float | None = Field(
        None, gt=0.0, description="clip the global gradient norm of each optimiser step to this (None: no clipping)"
    )
    adam_eps: float = Field(1e-8, gt=0.0, le=1.0, description="ε of Adam's denominator (torch's default; SB3's "
                                                              "actor-critic policies use 1e-5)")
    lr_schedule: Literal["constant", "linear"] = Field(
        "constant", description="step sizes constant, or decayed linearly to 0 over the budget (fraction done)"
    )
    anneal: dict[str, Literal["constant", "linear"]] = Field(
        default_factory=dict,
        description="schedules of settings over the run's progress p (fraction of the budget done), e.g. "
                    "{clip_range = 'linear'}: value·(1 − p); only settings the algorithm marks annealable "
                    "(pgzoo.annealing)",
    )
    checkpoint_every: int | None = Field(
        None, ge=0,
        description="pgzoo train saves a checkpoint at the first update after every this many env steps (None: a "
                    "tenth of total_steps; 0: none), at the end of training and on Ctrl-C/SIGTERM; training results "
                    "do not depend on it",
    )
    compile: Literal["auto", "on", "off"] = Field(
        "auto", description="compile the update (loss, gradient, optimiser step; in population training "
                            "also acting) with torch.compile: on, off, or auto (when a run is long enough to "
                            "pay; pgzoo.engine.compiled.decide)",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """``true``/``false`` only where a setting is a switch: pydantic would read them as 1/0."""
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key)
                if isinstance(value, bool) and field is not None and not _accepts_bool(field.annotation):
                    raise PydanticCustomError("no_bool", "{key}: expected a number, not a boolean",
                                              {"key": key})
        return data

    @model_validator(mode="after")
    def _init_theta_needs_linear_policy(self) -> AlgorithmConfig:
        if self.init_theta is not None and self.policy != "linear":
            raise ValueError("init_theta applies only to policy='linear'")
        if self.rollout_steps is not None and self.rollout_episodes is not None:
            raise ValueError("set rollout_steps or rollout_episodes, not both")
        if self.init_mu is not None and self.policy != "linear":
            raise ValueError("init_mu applies only to policy='linear' (a Gaussian policy's linear mean)")
        if self.features == "env" and self.policy != "linear":
            raise ValueError("features='env' (the environment's x(s,a)) applies only to policy='linear'")
        if self.sde_sample_freq == 0:
            raise ValueError("sde_sample_freq: 0 is no frequency (>= 1 steps, or -1: once per rollout)")
        marked = sorted(k for k, f in type(self).model_fields.items()
                        if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get(ANNEAL_MARK))
        for key in self.anneal:
            if key not in marked:
                hint = " (step sizes follow lr_schedule)" if key.startswith("alpha_") else ""
                raise ValueError(f"anneal: {key!r} is not a setting this algorithm anneals{hint}; "
                                 f"annealable: {', '.join(marked) or 'none'}")
        return self


def _accepts_bool(annotation: Any) -> bool:
    return annotation is bool or bool in get_args(annotation)


class CriticConfig(AlgorithmConfig):
    """Settings of algorithms that also learn a state-value function v̂(s,w)."""

    alpha_w: float = Field(2**-6, gt=0.0, le=1.0, description="value step size α^w",
                            json_schema_extra=tunable(1e-5, 1e-1, log=True))
    value: Literal["scalar", "linear", "mlp"] = Field("linear", description="v̂ = w, wᵀx(s), or MLP")
    init_w: tuple[float, ...] | None = Field(None, description="initial w of a scalar or linear v̂")

    @model_validator(mode="after")
    def _init_w_needs_linear_value(self) -> CriticConfig:
        if self.init_w is not None and self.value == "mlp":
            raise ValueError("init_w applies only to value='scalar' or 'linear'")
        return self


class MonteCarloConfig(AlgorithmConfig):
    """Settings of algorithms that learn from whole episodes (REINFORCE and friends)."""

    sequential: bool = Field(
        True, description="the book's in-episode updates (θ changes at every t) vs one update per episode"
    )


def unknown_key(key: str, known: list[str] | dict[str, Any]) -> str:
    """``"unknown key"``, with the known keys ``key`` may have meant (``did you mean alpha_theta?``)."""
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    return "unknown key" + (f" (did you mean {' or '.join(close)}?)" if close else "")


def check_keys(model: type[BaseModel], values: dict[str, Any], where: str) -> None:
    """A one-line :class:`UsageError` naming ``where`` (e.g. a config file) and every key of
    ``values`` that ``model`` does not have, each with its close matches."""
    bad = [f"{k}: {unknown_key(k, model.model_fields)}" for k in values if k not in model.model_fields]
    if bad and model.model_config.get("extra") == "forbid":
        raise UsageError(f"{where}: " + "; ".join(bad))


def format_validation_error(err: ValidationError, where: str, model: type[BaseModel] | None = None) -> str:
    """One line naming each bad field and what is wrong with it (an unknown key with the
    ``model``'s fields it may have meant)."""
    parts = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "config"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "no_bool":
            parts.append(msg)
            continue
        if e["type"] == "extra_forbidden":
            msg = unknown_key(str(e["loc"][-1]), model.model_fields if model is not None and len(e["loc"]) == 1
                              else [])
        elif "input" in e and e["type"] != "missing" and e["loc"]:  # not for the whole config
            msg = f"{msg} (got {e['input']!r})"
        parts.append(f"{field}: {msg}")
    return f"{where}: " + "; ".join(parts)


def parse_value(text: str) -> Any:
    """Read a ``--set`` value: JSON if it parses (numbers, lists, true/false/null), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_sets(items: list[str]) -> dict[str, Any]:
    """Turn ``["alpha_theta=0.01", "hidden_sizes=[32,32]"]`` into a dict."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected key=value")
        out[key.strip()] = parse_value(value.strip())
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file, with a one-line error if it is missing or malformed."""
    p = Path(path)
    try:
        return tomllib.loads(read_user_text(p, "config file"))
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{p}: invalid TOML: {e}") from None


def build_config(model: type[BaseModel], values: dict[str, Any], where: str) -> BaseModel:
    """Validate ``values`` against ``model``, raising a one-line :class:`UsageError`."""
    try:
        return model(**values)
    except ValidationError as e:
        raise UsageError(format_validation_error(e, where, model)) from None

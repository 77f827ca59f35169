"""``pgzoo tune``: hyperparameter search with Optuna, from the ranges the config fields declare.

The search space is read from the algorithm's pydantic config: every field declared with
``json_schema_extra=tunable(...)`` (:func:`pgzoo.config.tunable`) is searched, unless the user
fixes it (``--set``/``--config``) or names the fields to search (``--params``). A plugin whose
config declares its ranges is tunable with no further code.

Each trial trains once, on seed ``TUNE_SEED_BASE + trial number`` (apart from every
leaderboard's seeds 0..k), evaluating every ``eval_every`` env steps; each evaluation point is
reported to Optuna's median pruner, which stops trials that fall behind. The objective is the
final evaluation return (``final``) or the mean evaluation return over training (``auc``), of
the deterministic or stochastic policy. The study lives in an Optuna RDB storage (SQLite by
default): a killed tune resumes where it stopped (a trial that was running is failed after its
heartbeat goes stale and retried once), and several processes started with the same
``--storage`` and ``--study`` share the study, together stopping at ``trials`` finished trials.

Outputs in ``out_dir``: ``best.toml`` (settings for ``pgzoo train --config`` or a suite entry's
``config``), ``report.md`` (best trials, importances) and ``importances.png``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pgzoo import atomic
from pgzoo.config import TUNE_KEY
from pgzoo.errors import UsageError
from pgzoo.tblog import TrainLogger

TUNE_SEED_BASE = 10_000
"""Trial ``n`` trains on seed ``TUNE_SEED_BASE + n``: never one of a leaderboard's seeds."""
BUDGET_KEYS = ("total_steps", "total_episodes", "eval_episodes")
"""Settings of the tuning run itself, left out of ``best.toml``."""
HEARTBEAT_ENV = "PGZOO_TUNE_HEARTBEAT_S"
"""Seconds between a running trial's heartbeats (default 60); a trial whose heartbeat is two
intervals old counts as dead. Tests shorten it to see a killed trial retried."""


@dataclass(frozen=True)
class Param:
    """One searched setting: a numeric range (``log``: on a log scale; ``integer``) or choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in this parameter's range (is one of its choices)."""
        if self.choices is not None:
            return value in self.choices
        return isinstance(value, int | float) and self.low <= value <= self.high

    def describe(self) -> str:
        if self.choices is not None:
            return "{" + ", ".join(map(str, self.choices)) + "}"
        return f"[{self.low:g}, {self.high:g}]{' log' if self.log else ''}"


def tunable_fields(config_cls: type[BaseModel]) -> dict[str, Param]:
    """Every field of ``config_cls`` that declares a search range, as :class:`Param`."""
    out = {}
    for name, field in config_cls.model_fields.items():
        extra = field.json_schema_extra
        spec = extra.get(TUNE_KEY) if isinstance(extra, dict) else None
        if not spec:
            continue
        if "choices" in spec:
            out[name] = Param(name, choices=tuple(spec["choices"]))
        else:
            out[name] = Param(name, spec["low"], spec["high"], bool(spec.get("log")), field.annotation is int)
    return out


def search_space(config_cls: type[BaseModel], params: list[str] | None, fixed: set[str]) -> dict[str, Param]:
    """The fields to search: ``params`` (each must declare a range), else every declared one not in ``fixed``.

    Raises :class:`UsageError` for a name that declares no range, a name also fixed, or an empty space.
    """
    fields = tunable_fields(config_cls)
    if params:
        bad = [p for p in params if p not in fields]
        if bad:
            raise UsageError(f"--params: {', '.join(bad)} declare(s) no search range "
                             f"(tunable: {', '.join(fields) or 'none'})")
        clash = [p for p in params if p in fixed]
        if clash:
            raise UsageError(f"--params: {', '.join(clash)} also fixed by --set/--config")
        space = {p: fields[p] for p in params}
    else:
        space = {k: v for k, v in fields.items() if k not in fixed}
    if not space:
        raise UsageError("nothing to tune: no config field with a search range is left free")
    return space


def suggest(trial: Any, space: dict[str, Param]) -> dict[str, Any]:
    """Sample one value per parameter from an Optuna trial."""
    values = {}
    for p in space.values():
        if p.choices is not None:
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.integer:
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
    return values


def curve_objective(curve: list[dict[str, float]], key: str, objective: str) -> float:
    """``final``: the last evaluation's return; ``auc``: the trapezoidal mean of the evaluation
    returns over the env steps evaluated so far (one point: that point)."""
    from pgzoo.bench.stats import area_under_curve

    if objective == "final":
        return float(curve[-1][key])
    return area_under_curve([p["env_steps"] for p in curve], [p[key] for p in curve])


class _Pruning(TrainLogger):
    """Reports each evaluation point to the trial and stops it when the pruner says so."""

    def __init__(self, trial: Any, key: str, objective: str) -> None:
        self.trial, self.key, self.objective = trial, key, objective
        self.curve: list[dict[str, float]] = []

    def on_eval(self, point: dict[str, float]) -> None:
        import optuna

        self.curve.append(point)
        step = int(point["env_steps"])
        self.trial.report(curve_objective(self.curve, self.key, self.objective), step)
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at", step)
            raise optuna.TrialPruned(f"pruned at {step} env steps")


@dataclass
class TuneSettings:
    """What a tune trains and how it scores (see :func:`tune`)."""

    algorithm: str
    env_id: str
    overrides: dict[str, Any]
    """The fixed settings: ``--config`` and ``--set`` values (and the budget)."""
    space: dict[str, Param]
    eval_every: int
    eval_episodes: int
    objective: str = "final"
    score: str = "deterministic"

    @property
    def curve_key(self) -> str:
        return "return_mean_deterministic" if self.score == "deterministic" else "return_mean"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as e:
        raise UsageError(f"pgzoo tune needs optuna ({e}); install it with: pip install 'pgzoo[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(storage: str, study_name: str, seed: int | None = None, n_startup: int = 8,
               warmup_steps: int = 0) -> Any:
    """Create or load the study ``study_name`` in the Optuna RDB ``storage`` URL (maximising).

    Trials whose process died are failed once their heartbeat is two intervals stale (2 minutes;
    see :data:`HEARTBEAT_ENV`) and retried once. Raises :class:`UsageError` for a storage URL that
    cannot be opened.
    """
    optuna = _optuna()
    beat = int(os.environ.get(HEARTBEAT_ENV, "60"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # heartbeats and multivariate TPE are "experimental"
            # SQLite: wait up to a minute for another process's write (its default is 5 s)
            engine = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else None
            rdb = optuna.storages.RDBStorage(
                storage, engine_kwargs=engine, heartbeat_interval=beat, grace_period=2 * beat,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
            sampler = optuna.samplers.TPESampler(n_startup_trials=n_startup, seed=seed, multivariate=True)
            pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup_steps)
            return optuna.create_study(storage=rdb, study_name=study_name, direction="maximize",
                                       sampler=sampler, pruner=pruner, load_if_exists=True)
    except Exception as e:  # SQLAlchemy's and Optuna's many kinds of "cannot open this URL"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"--storage {storage}: cannot open the study: {first}") from None


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def run_trial(trial: Any, settings: TuneSettings) -> float:
    """Train one trial's settings on its own seed; the objective (or ``TrialPruned``)."""
    import optuna

    from pgzoo.engine.trainer import EvalSchedule, Trainer, TrainingError
    from pgzoo.registry import get_algorithm

    cls = get_algorithm(settings.algorithm)
    values = suggest(trial, settings.space)
    seed = TUNE_SEED_BASE + trial.number
    trial.set_user_attr("seed", seed)
    trial.set_user_attr("worker", f"{platform.node()}:{os.getpid()}")
    overrides = {**settings.overrides, **values, "eval_episodes": settings.eval_episodes}
    try:
        config = cls.make_config(settings.env_id, overrides)
    except UsageError as e:  # a sampled combination the config rejects
        trial.set_user_attr("error", str(e))
        raise optuna.TrialPruned(str(e)) from None
    logger = _Pruning(trial, settings.curve_key, settings.objective)
    try:
        result = Trainer(cls(config), settings.env_id, seed, progress=False,
                         schedule=EvalSchedule(settings.eval_every, settings.eval_episodes), logger=logger).run()
    except TrainingError as e:  # diverged: a bad trial, ranked by its last report
        trial.set_user_attr("error", str(e))
        raise optuna.TrialPruned(str(e)) from None
    return curve_objective(result.curve, settings.curve_key, settings.objective)


def _say(message: str) -> None:
    print(f"pgzoo tune: {message}", file=sys.stderr, flush=True)


def _trial_line(t: Any) -> str:
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
    if t.state.name == "COMPLETE":
        what = f"value {t.value:.2f}"
    else:
        what = t.state.name.lower() + (f" at {t.user_attrs['pruned_at']:,} env steps" if "pruned_at" in t.user_attrs
                                       else "")
    return f"trial {t.number} (seed {t.user_attrs.get('seed', '-')}): {what}; {params}"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def tune(settings: TuneSettings, trials: int, storage: str, study_name: str, out_dir: Path,
         sampler_seed: int | None = None, progress: bool = True) -> Any:
    """Run trials until the study has ``trials`` finished (complete or pruned) ones, then write
    ``best.toml``, ``report.md`` and ``importances.png`` into ``out_dir``; return the study.

    With a new study, the first trial is the algorithm's current settings for the environment
    (its ``env_defaults`` and the fixed overrides), so the report compares against them.
    """
    optuna = _optuna()
    budget = _budget(settings)
    study = open_study(storage, study_name, sampler_seed, n_startup=max(5, trials // 3),
                       warmup_steps=budget // 3)
    study.set_user_attr("settings", _settings_json(settings))
    done = _finished(study)
    if not study.trials:
        current = _current_values(settings)
        if current:
            study.enqueue_trial(current, user_attrs={"baseline": True})
    if done < trials:
        _say(f"study {study_name!r} in {storage}: {done} finished trial(s), running until {trials}; "
             f"searching {', '.join(f'{p.name} {p.describe()}' for p in settings.space.values())}")

        def report(study: Any, t: Any) -> None:
            if progress:
                _say(f"[{_finished(study)}/{trials}] " + _trial_line(t))

        study.optimize(lambda trial: run_trial(trial, settings), n_trials=trials - done,
                       callbacks=[optuna.study.MaxTrialsCallback(
                           trials, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)),
                           report], gc_after_trial=False)
    write_outputs(study, settings, storage, out_dir)
    return study


def _budget(settings: TuneSettings) -> int:
    from pgzoo.registry import get_algorithm

    cls = get_algorithm(settings.algorithm)
    return cls.make_config(settings.env_id, settings.overrides).total_steps


def _current_values(settings: TuneSettings) -> dict[str, Any]:
    """The algorithm's present settings for the searched fields (those inside their ranges)."""
    from pgzoo.registry import get_algorithm

    cls = get_algorithm(settings.algorithm)
    config = cls.make_config(settings.env_id, settings.overrides)
    return {name: getattr(config, name) for name, p in settings.space.items() if p.contains(getattr(config, name))}


def _settings_json(settings: TuneSettings) -> dict[str, Any]:
    return {"algorithm": settings.algorithm, "env_id": settings.env_id, "overrides": settings.overrides,
            "space": {p.name: p.describe() for p in settings.space.values()}, "eval_every": settings.eval_every,
            "eval_episodes": settings.eval_episodes, "objective": settings.objective, "score": settings.score,
            "seeds": f"{TUNE_SEED_BASE} + trial number"}


# --- outputs ----------------------------------------------------------------------------
def toml_value(v: Any) -> str:
    """One TOML value: bool, int, float, string, or a list of those. Raises ValueError otherwise."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
        return repr(v)
    if isinstance(v, str):  # JSON's escapes are TOML's, but TOML also wants DEL escaped
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise ValueError(f"cannot write {v!r} as TOML")


def best_settings(study: Any, settings: TuneSettings) -> dict[str, Any]:
    """The fixed overrides (minus the tuning budget) and the best trial's parameters."""
    keep = {k: v for k, v in settings.overrides.items() if k not in BUDGET_KEYS and v is not None}
    return {**keep, **study.best_trial.params}


def write_best_toml(path: Path, values: dict[str, Any], header: list[str]) -> None:
    """``values`` as a flat TOML file (``pgzoo train --config``), with ``header`` as comments."""
    lines = [f"# {h}" for h in header] + [f"{k} = {toml_value(v)}" for k, v in values.items()]
    atomic.write_text(path, "\n".join(lines) + "\n")


FEW_TRIALS = 20
"""Under this many completed trials, parameter importances carry a caveat: they are fitted to the trials,
and from a handful of points their ranking changes from one study to the next."""


def importance_caveat(completed: int) -> str:
    """What parameter importances from ``completed`` trials are worth, in one sentence."""
    if completed < FEW_TRIALS:
        return (f"from only {completed} completed trials: a rough hint, not a ranking (they are fitted to the "
                f"trials; below ~{FEW_TRIALS} they change from one study to the next)")
    return f"from {completed} completed trials"


def importances(study: Any) -> dict[str, float] | str:
    """Optuna's parameter importances over the completed trials (its default evaluator: PED-ANOVA from
    Optuna 5, fANOVA before), or why there are none."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return f"needs at least 2 completed trials (has {len(complete)})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as e:
        return str(e)


def plot_importances(values: dict[str, float], path: Path, title: str, completed: int,
                     method: str = "Optuna's default evaluator") -> Path:
    """A horizontal bar chart of parameter importances (largest on top), saying how many completed
    trials they come from and, under :data:`FEW_TRIALS`, what that is worth."""
    import textwrap

    from pgzoo import plotting

    names = list(values)[::-1]
    with plotting.styled():
        fig, axes = plotting.figure(size=(7.5, 0.5 * len(names) + 2.2))
        ax = axes[0][0]
        ax.barh(names, [values[n] for n in names], color=plotting.palette()[0])
        for y, n in enumerate(names):
            ax.text(values[n], y, f" {values[n]:.2f}", va="center")
        ax.set_xlabel(f"importance ({method}, normalised to sum 1)")
        ax.set_xlim(0, max(values.values()) * 1.2 or 1)
        ax.grid(axis="y", visible=False)
        ax.set_title(title)
        caveat = "Importances " + importance_caveat(completed) + "."
        fig.text(0.5, 0.0, textwrap.fill(caveat, 95), ha="center", va="bottom", fontsize=9, color="0.3")
        bottom = 0.1 if completed < FEW_TRIALS else 0.06
        fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))  # (left, bottom, width, height)
        return plotting.save(fig, path)


def _trials_table(trials: list[Any], names: list[str]) -> list[str]:
    lines = ["| trial | seed | state | value | " + " | ".join(names) + " |",
             "|---:|---:|---|---:|" + "---:|" * len(names)]
    for t in trials:
        value = "—" if t.value is None else f"{t.value:.2f}"
        state = t.state.name.lower() + (" (current settings)" if t.user_attrs.get("baseline") else "")
        if "pruned_at" in t.user_attrs:
            state += f" at {t.user_attrs['pruned_at']:,}"
        lines.append(f"| {t.number} | {t.user_attrs.get('seed', '—')} | {state} | {value} | "
                     + " | ".join(_fmt(t.params.get(n, "—")) for n in names) + " |")
    return lines


def write_outputs(study: Any, settings: TuneSettings, storage: str, out_dir: Path) -> None:
    """``best.toml``, ``report.md`` and (with at least 2 completed trials) ``importances.png``."""
    import optuna

    out_dir.mkdir(parents=True, exist_ok=True)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    counts = {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,)))
              for s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                        optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING)}
    names = list(settings.space)
    what = (f"{settings.objective} evaluation return of the {settings.score} policy"
            if settings.objective == "final" else
            f"mean evaluation return over training (AUC) of the {settings.score} policy")
    budget = _budget(settings)
    lines = [f"# Tuning {settings.algorithm} on {settings.env_id}\n",
             f"Study `{study.study_name}` in `{_redact(storage)}`: "
             + ", ".join(f"{v} {k}" for k, v in counts.items()) + " trials. Objective: " + what
             + f", after {budget:,} env steps, evaluated every "
             f"{settings.eval_every:,} env steps on {settings.eval_episodes} episodes (median pruner on those "
             f"points). Trial n trains on seed {TUNE_SEED_BASE} + n (no leaderboard uses these seeds). "
             "Searched: " + "; ".join(f"`{p.name}` {p.describe()}" for p in settings.space.values()) + ". Fixed: "
             + (", ".join(f"`{k}` = {_fmt(v)}" for k, v in settings.overrides.items()) or "nothing")
             + f" (over the plugin's defaults for {settings.env_id}).\n"]
    if not complete:
        lines.append("No completed trial yet: no best settings.\n")
        atomic.write_text(out_dir / "report.md", "\n".join(lines))
        return
    best = study.best_trial
    values = best_settings(study, settings)
    header = [f"pgzoo tune {settings.algorithm} --env {settings.env_id}: best of {counts['complete']} completed "
              f"trials of study {study.study_name!r}",
              f"trial {best.number} (seed {best.user_attrs.get('seed')}): {what} = {best.value:.3f} "
              f"after {budget:,} env steps",
              f"use: pgzoo train {settings.algorithm} --env {settings.env_id} --config best.toml"]
    write_best_toml(out_dir / "best.toml", values, header)
    ranked = sorted(complete, key=lambda t: -t.value)
    baseline = [t for t in study.trials if t.user_attrs.get("baseline")]
    lines.append(f"Best: trial {best.number}, value {best.value:.2f}; settings in `best.toml` "
                 f"(`pgzoo train {settings.algorithm} --env {settings.env_id} --config best.toml`).\n")
    lines.append("## Best trials\n")
    lines += _trials_table(ranked[:10], names)
    if baseline and baseline[0] not in ranked[:10]:
        lines += _trials_table(baseline, names)[2:]
    lines.append("")
    imp = importances(study)
    lines.append("## Parameter importances\n")
    if isinstance(imp, str):
        lines.append(f"Not computed: {imp}.\n")
    else:
        plot_importances(imp, out_dir / "importances.png", f"{settings.algorithm} on {settings.env_id}",
                         len(complete))
        lines.append("Parameter importances (Optuna's default evaluator), " + importance_caveat(len(complete)) + ": " +
                     ", ".join(f"`{k}` {v:.2f}" for k, v in imp.items()) + ".\n")
        lines.append("![parameter importances](importances.png)\n")
    atomic.write_text(out_dir / "report.md", "\n".join(lines))


def _redact(url: str) -> str:
    """A storage URL without its password."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, cred = head.partition("://")
    user = cred.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"


def parse_params(text: str | None) -> list[str] | None:
    """``"a,b"`` → ``["a", "b"]`` (None stays None)."""
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


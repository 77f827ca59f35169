"""pgzoo tune: search spaces from config fields, seeds apart from leaderboards, pruning on
evaluation points, a study in SQLite that resumes and is shared, best.toml and the report."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field

from pgzoo import CriticConfig, tunable
from pgzoo.bench.suite import load_suite
from pgzoo.cli import main
from pgzoo.errors import UsageError
from pgzoo.registry import get_registry
from pgzoo.tune import (
    HEARTBEAT_ENV,
    TUNE_SEED_BASE,
    Param,
    _Pruning,
    curve_objective,
    search_space,
    toml_value,
    tunable_fields,
)

REPO = Path(__file__).resolve().parents[1]
# a quick tune: REINFORCE on the short corridor, 3 evaluation points of 2 episodes
QUICK = ["reinforce", "--env", "ShortCorridor-v0", "--steps", "300", "--eval-every", "100", "--eval-episodes", "2",
         "--set", "max_episode_steps=50", "--params", "alpha_theta,gamma", "--quiet"]


def _trials(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    rdb = optuna.storages.RDBStorage(storage, skip_table_creation=True, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.load_study(study_name=study, storage=rdb).get_trials(deepcopy=False)


def _finished(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]


def test_core_fields_declare_their_ranges() -> None:
    fields = tunable_fields(CriticConfig)
    assert fields["alpha_theta"] == Param("alpha_theta", 1e-5, 1e-1, log=True)
    assert fields["alpha_w"] == Param("alpha_w", 1e-5, 1e-1, log=True)
    assert fields["gamma"].choices == (0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
    assert fields["entropy_coef"] == Param("entropy_coef", 0.0, 0.02)
    assert fields["num_envs"].choices == (1, 2, 4, 8, 16)
    assert "total_steps" not in fields and "hidden_sizes" not in fields


def test_a_plugin_field_with_a_range_is_tuned_with_no_other_code() -> None:
    class MyConfig(CriticConfig):
        beta: float = Field(0.5, ge=0, le=1, json_schema_extra=tunable(0.1, 0.9))
        width: int = Field(8, json_schema_extra=tunable(2, 64, log=True))

    space = search_space(MyConfig, None, fixed={"alpha_w", "gamma"})
    assert space["beta"] == Param("beta", 0.1, 0.9) and space["width"] == Param("width", 2, 64, log=True, integer=True)
    assert "alpha_w" not in space and "gamma" not in space and "alpha_theta" in space
    assert list(search_space(MyConfig, ["width"], set())) == ["width"]


@pytest.mark.parametrize(("params", "fixed", "needle"), [
    (["alpha_theta", "hidden_sizes"], set(), "hidden_sizes declare(s) no search range"),
    (["gamma"], {"gamma"}, "gamma also fixed"),
])
def test_bad_params_are_usage_errors(params, fixed, needle) -> None:
    with pytest.raises(UsageError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        search_space(CriticConfig, params, fixed)


@given(st.floats(-10, 10, allow_subnormal=False), st.floats(-10, 10, allow_subnormal=False), st.booleans())
def test_tunable_rejects_empty_and_nonpositive_log_ranges(low, high, log) -> None:
    if low < high and (not log or low > 0):
        assert tunable(low, high, log=log) == {"tune": {"low": low, "high": high, "log": log}}
    else:
        with pytest.raises(ValueError, match="bad search range"):
            tunable(low, high, log=log)


def test_every_installed_algorithms_ranges_are_valid_settings() -> None:
    """Every bound and choice of every declared range, of every installed algorithm, validates."""
    reg = get_registry()
    checked = 0
    for name, cls in reg.algorithms.items():
        for p in tunable_fields(cls.Config).values():
            for value in p.choices if p.choices is not None else (p.low, p.high):
                cls.make_config(None, {p.name: value})  # raises UsageError if out of the field's bounds
                checked += 1
        assert "alpha_theta" in tunable_fields(cls.Config), name
    assert checked > 0


def test_tuning_seeds_are_apart_from_every_leaderboards_seeds() -> None:
    suites = list((REPO / "leaderboards").rglob("suite.toml"))
    assert len(suites) >= 5
    for path in suites:
        data = tomllib.loads(path.read_text())
        if "kind" in data:  # book figures: runs 0..N-1; the book example: one seed
            top = max(int(data.get("runs", 0)) - 1, int(data.get("seed", 0)))
        else:
            top = max(load_suite(path.parent).seeds)
        assert top < TUNE_SEED_BASE, path


def test_curve_objectives_by_hand() -> None:
    curve = [{"env_steps": 0, "r": 0.0}, {"env_steps": 10, "r": 10.0}, {"env_steps": 30, "r": 4.0}]
    assert curve_objective(curve, "r", "final") == 4.0
    # trapezoids: 10·(0+10)/2 + 20·(10+4)/2 = 50 + 140 = 190 over 30 env steps
    assert curve_objective(curve, "r", "auc") == pytest.approx(190 / 30)
    assert curve_objective(curve[:1], "r", "auc") == 0.0


def test_evaluation_points_feed_the_pruner() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=3.0))
    trial = study.ask()
    hook = _Pruning(trial, "r", "auc")
    hook.on_eval({"env_steps": 0, "r": 4.0})  # auc so far 4.0: above the threshold
    with pytest.raises(optuna.TrialPruned):
        hook.on_eval({"env_steps": 10, "r": 0.0})  # auc (4+0)/2 = 2.0 < 3
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {0: 4.0, 10: 2.0}
    assert trial.storage.get_trial(trial._trial_id).user_attrs["pruned_at"] == 10


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
                       st.one_of(st.booleans(), st.integers(-10**6, 10**6),
                                 st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False),
                                 st.text(max_size=8),
                                 st.lists(st.integers(1, 512), max_size=3)), max_size=6))
def test_toml_values_read_back(values) -> None:
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items())
    assert tomllib.loads(text) == values


def test_tune_writes_best_toml_and_report_and_resumes(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    storage = "sqlite:///t.db"
    assert main(["tune", *QUICK, "--trials", "3", "--storage", storage, "--study", "s", "--out", "out"]) == 0
    trials = _trials(storage, "s")
    assert len(_finished(trials)) == 3
    assert [t.user_attrs["seed"] for t in trials] == [TUNE_SEED_BASE + t.number for t in trials]
    # trial 0 is the current settings: the plugin's hand-tuned env_defaults (α = 2⁻¹³, γ = 1)
    assert trials[0].user_attrs["baseline"] and trials[0].params == {"alpha_theta": 2**-13, "gamma": 1.0}
    best = tomllib.loads((tmp_path / "out" / "best.toml").read_text())
    study = optuna.load_study(study_name="s", storage=storage)
    assert best == {"max_episode_steps": 50, **study.best_trial.params}
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.count("| complete") + report.count("| pruned") == 3 and "10000 + n" in report
    assert (tmp_path / "out" / "importances.png").stat().st_size > 0
    # best.toml is accepted by pgzoo train --config
    assert main(["train", "reinforce", "--env", "ShortCorridor-v0", "--config", "out/best.toml", "--episodes", "1",
                 "--set", "eval_episodes=1", "--quiet", "--out", "r"]) == 0
    # resume: the same command with more trials adds to the study, numbering on
    assert main(["tune", *QUICK, "--trials", "5", "--storage", storage, "--study", "s", "--out", "out"]) == 0
    trials = _trials(storage, "s")
    assert [t.number for t in trials] == [0, 1, 2, 3, 4] and len(_finished(trials)) == 5
    assert "best of" in capsys.readouterr().out


def test_best_toml_is_accepted_by_a_suite(tmp_path) -> None:
    (tmp_path / "best.toml").write_text("alpha_theta = 0.002\ngamma = 0.9\n")
    (tmp_path / "suite.toml").write_text("""
name = "s"
[evaluation]
every = 100
[envs.CartPole-v1]
steps = 200
[algorithms.tuned]
plugin = "reinforce"
config = "best.toml"
hyperparams = { gamma = 0.95 }
""")
    suite = load_suite(tmp_path)
    assert suite.hyperparams("tuned", "CartPole-v1") == {"alpha_theta": 0.002, "gamma": 0.95}
    (tmp_path / "best.toml").unlink()
    with pytest.raises(UsageError, match=r"algorithms\.tuned\.config: .*best\.toml: config file does not exist"):
        load_suite(tmp_path)


def test_bad_storage_is_one_line_exit_2(tmp_path, capsys) -> None:
    assert main(["tune", *QUICK, "--trials", "1", "--storage", "nosuchdb://x/y", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pgzoo tune: error: --storage nosuchdb://x/y: cannot open the study")


BEAT_S = 3
"""The tune processes' heartbeat in seconds: short, so that a killed trial is retried soon, but not
so short that a live trial's heartbeat counts as stale on a loaded machine (at 1 s, with a load
average of ~9 on 2 cores, a live trial was failed by the other process now and then)."""


def _spawn(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pgzoo.cli", "tune", *args], cwd=tmp_path,
                            env={**os.environ, HEARTBEAT_ENV: str(BEAT_S)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def test_a_killed_tune_resumes_and_two_processes_share_a_study(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'k.db'}"  # absolute: the test and the processes share it
    slow = ["--set", "max_episode_steps=200", "--steps", "1500", "--eval-every", "500"]  # trials of a few seconds
    proc = _spawn(tmp_path, *QUICK, *slow, "--trials", "50", "--storage", storage, "--study", "k")
    started = proc.stderr.readline()  # printed once the study exists
    assert "running until 50" in started, started + proc.stderr.read()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill it mid-trial, after at least one trial finished
        time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read()
        trials = _trials(storage, "k")
        if _finished(trials) and trials[-1].state == optuna.trial.TrialState.RUNNING and trials[-1].params:
            break  # a trial is training: it has drawn its parameters (not just been created)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _trials(storage, "k")
    assert before[-1].state == optuna.trial.TrialState.RUNNING  # left behind by the kill
    target = len(_finished(before)) + 3
    time.sleep(2 * BEAT_S + 0.5)  # past the killed trial's grace period (2 heartbeats)
    # two processes resume the study together
    procs = [_spawn(tmp_path, *QUICK, *slow, "--trials", str(target), "--storage", storage, "--study", "k")
             for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read()
    after = _trials(storage, "k")
    killed = after[before[-1].number]
    assert killed.state == optuna.trial.TrialState.FAIL  # failed by its stale heartbeat ...
    retried = [t for t in after if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1 and retried[0].params == killed.params  # ... and retried once
    # the study stops at the target; each process may finish the trial it had started
    assert target <= len(_finished(after)) <= target + 1
    assert len({t.user_attrs["worker"] for t in after[len(before):]}) == 2  # both processes ran trials
    assert len({t.user_attrs["seed"] for t in after}) == len(after)
    assert not any(math.isnan(t.value) for t in after if t.value is not None)

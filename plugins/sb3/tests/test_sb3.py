"""The SB3 baselines: registered, scheduled curves, pgzoo's summary keys, reproducible."""

import json

import pytest
from pgzoo_sb3 import SB3A2C, SB3PPO, LinearDecay, parse_schedule

from pgzoo.cli import main
from pgzoo.engine.trainer import EvalSchedule
from pgzoo.errors import UsageError
from pgzoo.registry import get_registry

SUMMARY_KEYS = {
    "algorithm", "env_id", "seed", "env_steps", "episodes", "updates", "wall_s", "env_steps_per_s",
    "train_return_last20", "eval_episodes", "eval_return_mean", "eval_return_std",
    "eval_return_mean_deterministic", "eval_return_std_deterministic", "hyperparams", "library_versions",
}
SCHEDULE = EvalSchedule(every=400, episodes=2)
TINY = {"eval_episodes": 2, "max_episode_steps": 50}  # short evaluation episodes keep the tests fast


def test_registered_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    reg = get_registry()
    assert reg.baseline("sb3-a2c") is SB3A2C and reg.baseline("sb3-ppo") is SB3PPO
    assert main(["list", "--json"]) == 0
    listed = {b["name"]: b["dist"] for b in json.loads(capsys.readouterr().out)["baselines"]}
    assert listed["sb3-a2c"] == listed["sb3-ppo"] == "pgzoo-sb3"


@pytest.fixture(scope="module")
def a2c_runs():
    return [SB3A2C(TINY).run("CartPole-v1", seed=3, total_steps=1000, schedule=SCHEDULE) for _ in range(2)]


def test_curve_follows_the_schedule(a2c_runs) -> None:
    result = a2c_runs[0]
    assert result.agent is None
    assert [p["env_steps"] for p in result.curve] == [0, 400, 800, 1000]  # 8 envs × 5 steps divide 400
    assert all(set(p) == {"env_steps", "return_mean", "return_mean_deterministic"} for p in result.curve)


def test_summary_has_pgzoo_keys(a2c_runs) -> None:
    s = a2c_runs[0].summary
    assert set(s) >= SUMMARY_KEYS
    assert (s["algorithm"], s["env_id"], s["seed"], s["env_steps"]) == ("sb3-a2c", "CartPole-v1", 3, 1000)
    assert s["updates"] == 1000 // 40 and s["eval_episodes"] == 2
    assert s["hyperparams"]["n_envs"] == 8 and s["hyperparams"]["ent_coef"] == 0.0  # the zoo's, under TINY
    assert s["episodes"] == len(a2c_runs[0].episodes) > 0
    assert "stable-baselines3" in s["library_versions"]


def test_same_seed_same_curve(a2c_runs) -> None:
    assert a2c_runs[0].curve == a2c_runs[1].curve
    assert [e["return"] for e in a2c_runs[0].episodes] == [e["return"] for e in a2c_runs[1].episodes]


def test_ppo_with_normalisation_ends_after_the_last_update() -> None:
    hp = {**TINY, "n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "normalize": True}
    result = SB3PPO(hp).run("CartPole-v1", seed=0, total_steps=300, schedule=SCHEDULE)
    assert [p["env_steps"] for p in result.curve] == [0, 384]  # rollouts of 128 steps: the budget rounds up
    assert result.summary["updates"] == 3 * 2  # 3 rollouts × 1 epoch × 2 minibatches
    assert result.summary["hyperparams"]["normalize"] is True


def test_user_hyperparams_override_zoo_defaults() -> None:
    assert SB3PPO({"n_epochs": 3}).settings("CartPole-v1")["n_epochs"] == 3
    assert SB3PPO().settings("CartPole-v1")["n_epochs"] == 20
    assert SB3A2C().settings("Acrobot-v1")["normalize"] is True


def test_lin_schedules() -> None:
    lr = parse_schedule("learning_rate", "lin_0.001")
    assert lr == LinearDecay(0.001) and lr(1.0) == 0.001 and lr(0.5) == 0.0005
    assert parse_schedule("learning_rate", 3e-4) == 3e-4
    with pytest.raises(UsageError):
        parse_schedule("clip_range", "lin_x")


@pytest.mark.parametrize("baseline", [SB3A2C, SB3PPO])
def test_continuous_zoo_settings_run_gsde_and_leave_no_log_folder(baseline, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # SB3's default logger would create SB3-<date> folders here
    monkeypatch.setattr("tempfile.tempdir", None)
    hp = {**TINY, "n_steps": 16, "batch_size": 32} if baseline is SB3PPO else TINY
    result = baseline(hp).run("Pendulum-v1", seed=0, total_steps=200, schedule=EvalSchedule(every=1000, episodes=1))
    s = result.summary
    assert s["hyperparams"]["use_sde"] is True and s["hyperparams"]["gamma"] == 0.9  # the zoo's Pendulum-v1 settings
    assert all(map(lambda x: x == x, (s["eval_return_mean"], s["eval_return_mean_deterministic"])))  # not NaN
    assert s["eval_return_mean"] < 0 and s["env_steps"] >= 200
    assert list(tmp_path.glob("SB3-*")) == []
    # SB3's A2C adds optimizer_class to the policy_kwargs it is given: neither the plugin's defaults
    # nor the summary may see it (the bench writes the summary as JSON)
    assert baseline.env_defaults["Pendulum-v1"].get("policy_kwargs", {}).keys() <= {"log_std_init", "ortho_init"}
    json.dumps(s)

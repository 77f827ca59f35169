"""The command line: a run's files, evaluation, and one-line errors for bad input."""

import csv
import json

import pytest
import torch

from pgzoo.testing import run_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "ac"
    res = run_cli("train", "actor-critic", "--env", "ShortCorridor-v0", "--episodes", "30", "--seed", "1",
                  "--set", "alpha_w=0.01", "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out


def test_train_writes_the_run_files(run_dir) -> None:
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algorithm"] == "actor-critic" and config["config"]["alpha_w"] == 0.01
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert len(rows) == 30 and {"episode", "env_steps", "return", "length"} <= rows[0].keys()
    assert all(float(r["return"]) == -float(r["length"]) for r in rows)  # −1 per step in the corridor
    state = torch.load(run_dir / "model.pt", weights_only=True)
    assert "policy.theta" in state["agent"] and "value.w" in state["agent"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {"eval_return_mean", "eval_return_std", "env_steps", "wall_s"} <= summary.keys()
    assert summary["env_steps"] == int(rows[-1]["env_steps"])


def test_eval_of_a_run(run_dir) -> None:
    res = run_cli("eval", str(run_dir), "--episodes", "5", "--deterministic", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["episodes"] == 5 and data["deterministic"] is True and data["eval_return_mean"] < 0


def test_config_file_and_set(tmp_path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("alpha_theta = 0.001\ngamma = 0.9\n")
    out = tmp_path / "r"
    res = run_cli("train", "reinforce", "--env", "ShortCorridor-v0", "--episodes", "2", "--config", str(cfg),
                  "--set", "gamma=0.8", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    conf = json.loads((out / "config.json").read_text())["config"]
    assert conf["alpha_theta"] == 0.001 and conf["gamma"] == 0.8


@pytest.mark.parametrize(("args", "needle"), [
    (["train", "nope", "--env", "CartPole-v1"], "unknown algorithm 'nope'"),
    (["train", "reinforce", "--env", "NoSuchEnv-v9"], "unknown environment 'NoSuchEnv-v9'"),
    (["train", "reinforce", "--env", "CartPole-v1", "--set", "alpha_theta=-1"], "alpha_theta"),
    (["train", "reinforce", "--env", "CartPole-v1", "--set", "gamma=1.5"], "gamma"),
    (["train", "reinforce", "--env", "CartPole-v1", "--set", "lambda=0.5"], "lambda: unknown key"),
    (["train", "reinforce", "--env", "CartPole-v1", "--set", "nonsense"], "expected key=value"),
    (["train", "reinforce", "--env", "CartPole-v1", "--config", "/nonexistent.toml"], "does not exist"),
    (["train", "reinforce", "--env", "CartPole-v1", "--set", "init_theta=[1,2]"], "only to policy='linear'"),
    (["train", "reinforce", "--env", "ShortCorridor-v0", "--set", "init_theta=[1,2,3]"], "init_theta has 3"),
    (["train", "reinforce"], "--env"),
    (["eval", "/nonexistent-run"], "not a pgzoo run directory"),
    (["new-plugin", "Bad Name"], "must be lower-case"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_are_one_line_with_exit_code_2(args, needle) -> None:
    res = run_cli(*args)
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr


def test_verify_json_reports_every_algorithm() -> None:
    res = run_cli("verify", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert {r["algorithm"] for r in rows} >= {"reinforce", "reinforce-baseline", "actor-critic"}
    assert all(r["ok"] and r["max_abs_diff"] <= 1e-6 for r in rows)
    assert {"short-corridor", "random-0"} <= {r["case"] for r in rows}

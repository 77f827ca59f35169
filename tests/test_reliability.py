"""Untrusted files and nonsense settings: one line on stderr, exit code 2, no traceback, nothing
accepted silently (issue 12, sections 1-3 and 6). Each case goes through ``pgzoo.cli.main``
(the real command line, in this process so that the family stays fast); a traceback would fail
the test as an exception."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pgzoo.bench.grid import build_grid
from pgzoo.bench.results import read_results
from pgzoo.bench.runner import default_suite_folder
from pgzoo.bench.suite import load_suite
from pgzoo.cli import main
from pgzoo.config import AlgorithmConfig, CriticConfig, build_config
from pgzoo.engine.trainer import train
from pgzoo.errors import UsageError
from pgzoo.registry import env_suggestions, get_registry, load_registry
from pgzoo.testing import fake_distribution, run_cli


class _MultiDiscreteEnv(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


if "TestMultiDiscrete-v0" not in gym.registry:
    gym.register("TestMultiDiscrete-v0", entry_point=_MultiDiscreteEnv)


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys, *args: str, needle: str) -> str:
    code, _, err = _cli(capsys, *args)
    lines = [ln for ln in err.strip().splitlines() if "warning" not in ln]
    assert code == 2 and len(lines) == 1 and needle in lines[0], (code, err)
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny finished runs: a linear reinforce on CartPole and an MLP actor-critic on Acrobot."""
    root = tmp_path_factory.mktemp("runs")
    train("reinforce", "CartPole-v1", 0, {"total_steps": 60, "eval_episodes": 1}, out_dir=root / "rb")
    train("actor-critic", "Acrobot-v1", 0, {"total_steps": 20, "eval_episodes": 1, "policy": "mlp",
                                             "value": "mlp", "hidden_sizes": [8]}, out_dir=root / "ac")
    return root


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _model_cases(runs: Path, marker: Path) -> dict[str, tuple]:
    whole = (runs / "rb" / "model.pt").read_bytes()
    return {
        "truncated": (lambda p: p.write_bytes(whole[: len(whole) // 2]), "truncated or corrupt"),
        "empty": (lambda p: p.write_bytes(b""), "truncated or corrupt"),
        "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "not a readable model"),
        "random bytes 2": (lambda p: p.write_bytes(np.random.default_rng(7).bytes(97)), "not a readable model"),
        "pickle opcodes": (lambda p: p.write_bytes(b"\x80\x02]q\x00(K\x01e."[:9]), "not a readable model"),
        "a directory": (lambda p: p.mkdir(), "is a directory"),
        "another algorithm's": (lambda p: shutil.copyfile(runs / "ac" / "model.pt", p), "unexpected value.net.0"),
        "wrong structure": (lambda p: torch.save({"agent": [1, 2]}, p), "not a pgzoo model file"),
        "not a dict": (lambda p: torch.save([1, 2], p), "not a pgzoo model file"),
        "malicious": (lambda p: torch.save({"agent": _Evil(marker)}, p), "pgzoo will not load"),
    }


@pytest.mark.parametrize("case", ["truncated", "empty", "random bytes", "random bytes 2", "pickle opcodes",
                                  "a directory", "another algorithm's",
                                  "wrong structure", "not a dict", "malicious"])
def test_eval_refuses_a_bad_model_file_in_one_line(runs, tmp_path, capsys, case) -> None:
    marker = tmp_path / "EVIL_RAN"
    run = tmp_path / "run"
    shutil.copytree(runs / "rb", run)
    (run / "model.pt").unlink()
    write, needle = _model_cases(runs, marker)[case]
    write(run / "model.pt")
    line = _refused(capsys, "eval", str(run), needle=needle)
    assert str(run / "model.pt") in line
    assert not marker.exists()  # weights_only=True: the pickle never ran


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=3000))
def test_any_bytes_as_a_model_file_are_one_usage_error(tmp_path_factory, data) -> None:
    from pgzoo.rundir import load_model

    path = tmp_path_factory.mktemp("m") / "model.pt"
    path.write_bytes(data)
    with pytest.raises(UsageError, match=f"^{re.escape(str(path))}: (not a|the file holds pickled objects)"):
        load_model(path)


def test_eval_refuses_a_model_of_another_environment(runs, tmp_path, capsys) -> None:
    # reinforce on CartPole is a 64-64 MLP over 4 observations; on Acrobot its first layer takes 6
    run = tmp_path / "run"
    shutil.copytree(runs / "rb", run)
    meta = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**meta, "env_id": "Acrobot-v1"}))
    _refused(capsys, "eval", str(run), needle="policy.net.0.weight has shape [64, 4], not [64, 6]")


@pytest.mark.parametrize(("text", "needle"), [
    ("{not json", "not valid JSON"),
    ("{}", "algorithm: Field required"),
    ("[1, 2]", "not a pgzoo run config"),
    (b"\xff\xfe{", "not UTF-8"),
    ('{"algorithm": "reinforce", "env_id": "CartPole-v1", "seed": -1, "config": {}}', "seed"),
])
def test_eval_refuses_a_bad_config_json(runs, tmp_path, capsys, text, needle) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs / "rb", run)
    (run / "config.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    assert str(run / "config.json") in _refused(capsys, "eval", str(run), needle=needle)


def test_eval_refuses_a_file_and_a_bad_episode_count(runs, tmp_path, capsys) -> None:
    (tmp_path / "f").write_text("x")
    _refused(capsys, "eval", str(tmp_path / "f"), needle="not a pgzoo run directory (a file)")
    _refused(capsys, "eval", str(runs / "rb"), "--episodes", "-3", needle="--episodes must be at least 1 (got -3)")
    _refused(capsys, "eval", str(runs / "rb"), "--episodes", "0", needle="--episodes must be at least 1 (got 0)")


TRAIN = ("train", "reinforce", "--env", "CartPole-v1", "--steps", "20", "--quiet")


@pytest.mark.parametrize(("extra", "needle"), [
    (("--seed", "-1"), "--seed must be a non-negative integer (got -1)"),
    (("--set", "policy=mlp", "--set", "hidden_sizes=[-4]"), "hidden_sizes.0: Input should be greater than or equal"),
    (("--set", "policy=mlp", "--set", "hidden_sizes=[0]"), "hidden_sizes.0"),
    (("--set", "policy=mlp", "--set", "hidden_sizes=[1000000,1000000]"), "less than or equal to 4096"),
    (("--set", "policy=mlp", "--set", "features=env"), "features='env'"),
    (("--set", "num_envs=true"), "num_envs: expected a number, not a boolean"),
    (("--set", "reward_scale=Infinity"), "reward_scale: Input should be a finite number"),
    (("--set", "min_std=Infinity"), "min_std: Input should be a finite number"),
])
def test_train_refuses_nonsense_settings_before_training(tmp_path, capsys, extra, needle) -> None:
    _refused(capsys, *TRAIN, "--out", str(tmp_path / "r"), *extra, needle=needle)
    assert not (tmp_path / "r" / "metrics.csv").exists()


@pytest.mark.parametrize(("policy", "needle"), [("mlp", "features='env' (the environment's x(s,a)) applies only"),
                                                ("linear", "a Gaussian policy's mean is linear in [obs, 1]")])
def test_train_features_env_with_a_gaussian_policy_is_refused(tmp_path, capsys, policy, needle) -> None:
    line = _refused(capsys, "train", "reinforce", "--env", "Pendulum-v1", "--steps", "20", "--set", "features=env",
                    "--set", f"policy={policy}", "--out", str(tmp_path / "r"), needle=needle)
    assert "(got {" not in line  # no dump of the whole config


def test_train_refuses_bad_output_and_config_paths(tmp_path, capsys) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "bin.toml").write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    _refused(capsys, *TRAIN, "--out", str(tmp_path / "f"), needle="run directory is a file")
    _refused(capsys, *TRAIN, "--out", str(tmp_path / "f" / "r"), needle="cannot write the run directory")
    _refused(capsys, *TRAIN, "--out", "/proc/pgzoo-test-run", needle="cannot write the run directory")
    _refused(capsys, *TRAIN, "--config", str(tmp_path / "bin.toml"), needle="config file is not UTF-8 text")
    _refused(capsys, *TRAIN, "--config", str(tmp_path), needle="config file is a directory")


def test_train_does_not_overwrite_another_algorithms_run_without_force(runs, tmp_path, capsys) -> None:
    other = tmp_path / "ac"
    shutil.copytree(runs / "ac", other)
    _refused(capsys, *TRAIN, "--out", str(other), needle="holds a run of 'actor-critic' on Acrobot-v1")
    assert json.loads((other / "config.json").read_text())["algorithm"] == "actor-critic"
    code, _, err = _cli(capsys, *TRAIN, "--out", str(other), "--force")
    assert code == 0, err
    assert json.loads((other / "config.json").read_text())["algorithm"] == "reinforce"
    # the same experiment again, finished: refused too (issue 19), replaced with --force
    _refused(capsys, *TRAIN, "--out", str(other), needle=f"{other} holds a finished run of 'reinforce' on "
                                                          "CartPole-v1 (20 env steps); choose another --out, or pass "
                                                          "--force to replace it")
    code, _, err = _cli(capsys, *TRAIN, "--out", str(other), "--force")
    assert code == 0, err


NUMBER_FIELDS = sorted(k for k, f in CriticConfig.model_fields.items() if f.annotation in (int, float, int | None))
FLOAT_FIELDS = sorted(k for k, f in CriticConfig.model_fields.items() if f.annotation in (float,))


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(NUMBER_FIELDS), value=st.booleans())
def test_no_numeric_setting_takes_a_boolean(key, value) -> None:
    with pytest.raises(UsageError, match=f"{key}: expected a number, not a boolean"):
        build_config(CriticConfig, {key: value}, "cfg")


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(FLOAT_FIELDS), value=st.sampled_from([math.inf, -math.inf, math.nan]))
def test_no_float_setting_takes_inf_or_nan(key, value) -> None:
    with pytest.raises(UsageError, match=f"{key}: Input should be a finite number"):
        build_config(CriticConfig, {key: value}, "cfg")


def test_numeric_and_boolean_settings_still_read() -> None:
    cfg = build_config(AlgorithmConfig, {"num_envs": 3, "gamma": 1, "discount_actor": False}, "cfg")
    assert (cfg.num_envs, cfg.gamma, cfg.discount_actor) == (3, 1.0, False)


def test_env_suggestions_match_the_whole_id() -> None:
    known = ["CartPole-v0", "CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1"]
    assert env_suggestions("CartPoel-v1", known)[0] == "CartPole-v1"
    assert env_suggestions("pendulum-v1", known) == ["Pendulum-v1"]
    assert env_suggestions("Zzz-v9", known) == []


def test_plugin_calling_sys_exit_is_named_and_skipped(tmp_path) -> None:
    fake_distribution(tmp_path, "pgzoo-exits", {"pgzoo_exits": "import sys\nsys.exit(3)\n"},
                      {"exits": "pgzoo_exits"})
    res = run_cli("list", env={"PYTHONPATH": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    assert "plugin 'exits' (pgzoo-exits 1.0) failed to import and was skipped: SystemExit" in res.stderr
    assert "reinforce" in res.stdout


def test_quiet_plugins_env_silences_registry_warnings(tmp_path, monkeypatch, capsys) -> None:
    fake_distribution(tmp_path, "pgzoo-broken", {"pgzoo_broken": "raise ImportError('broken')\n"},
                      {"broken": "pgzoo_broken"})
    monkeypatch.syspath_prepend(str(tmp_path))
    load_registry()
    assert len(capsys.readouterr().err.splitlines()) == 1  # one warning line
    monkeypatch.setenv("PGZOO_QUIET_PLUGINS", "1")
    reg = load_registry()
    assert capsys.readouterr().err == "" and [e["plugin"] for e in reg.errors] == ["broken"]


# --- suites and results -----------------------------------------------------------------------
SUITE = """
name = "t"
seeds = [0]
bootstrap_reps = 100
evaluation = { every = 100, episodes = 1 }
envs = { CartPole-v1 = { steps = 100 } }
algorithms = { reinforce = { } }
"""


def test_suite_refuses_an_action_space_mismatch_before_any_run(tmp_path) -> None:
    (tmp_path / "suite.toml").write_text(SUITE.replace("CartPole-v1", "TestMultiDiscrete-v0"))
    with pytest.raises(UsageError, match=r"algorithms.reinforce: 'reinforce' supports discrete, continuous actions"):
        build_grid(load_suite(tmp_path), get_registry())


def test_suite_refuses_features_env_for_a_gaussian_policy(tmp_path) -> None:
    (tmp_path / "suite.toml").write_text(SUITE.replace("CartPole-v1", "Pendulum-v1").replace(
        "reinforce = { }", 'reinforce = { hyperparams = { features = "env", policy = "linear" } }'))
    with pytest.raises(UsageError, match=r"algorithms\.reinforce: .*a Gaussian policy's mean is linear"):
        build_grid(load_suite(tmp_path), get_registry())


def test_bench_refuses_an_algorithm_claimed_by_two_plugins(tmp_path) -> None:
    site, folder = tmp_path / "site", tmp_path / "suite"
    folder.mkdir()
    (folder / "suite.toml").write_text(SUITE)
    fake_distribution(site, "pgzoo-dup", {"pgzoo_dup": (
        "from pgzoo import hookimpl\nfrom pgzoo_reinforce import Reinforce\n\n"
        "class Dup(Reinforce):\n    pass\n\n@hookimpl\ndef register_algorithms(register):\n    register(Dup)\n")},
        {"dup": "pgzoo_dup"})
    res = run_cli("bench", str(folder), "--quiet", env={"PYTHONPATH": str(site)})
    errors = [ln for ln in res.stderr.splitlines() if "warning" not in ln]
    assert res.returncode == 2 and len(errors) == 1, res.stderr
    assert "registered by both" in errors[0] and "pgzoo-dup" in errors[0]
    assert not (folder / "results.jsonl").exists()


def _line(**changes) -> str:
    base = {"type": "run", "algorithm": "a", "env": "E-v0", "seed": 0, "config_hash": "h", "entry_hash": "e",
            "final": {"eval_return_mean": 1.0, "eval_return_mean_deterministic": 2.0},
            "curve": [{"env_steps": 0, "return_mean": 0.0, "return_mean_deterministic": 0.0}],
            "env_steps": 10, "wall_s": 1.0, "env_steps_per_s": 10.0}
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def test_results_lines_are_checked_against_the_schema(tmp_path) -> None:
    lines = [
        _line(),                                   # 1 good
        '{"type":"run"}',                          # 2 no fields
        _line(final=None),                         # 3 no final
        _line(final="high"),                       # 4 final a string
        _line(seed="zero"),                        # 5 seed a string
        _line(seed=True),                          # 6 seed a boolean
        _line(curve=3),                            # 7 curve a number
        '{"type":"random-policy","env":"E-v0","return_mean":-1.5}',  # 8 good
        '{"type":"mystery"}',                      # 9 unknown type
        '[1, 2]',                                  # 10 not an object
        '{"type":"run", "algo',                    # 11 partial
        _line(seed=1, final={"eval_return_mean": float("nan"), "eval_return_mean_deterministic": 0.0}),  # 12 good
    ]
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(lines) + "\n")
    res = read_results(path)
    assert res.bad_lines == [2, 3, 4, 5, 6, 7, 9, 10, 11]
    assert [r.get("seed") for r in res.runs()] == [0, 1] and list(res.random_scores()) == ["E-v0"]
    assert "final: Field required" in res.problems[3] and "seed" in res.problems[5]
    assert res.describe_bad_lines(2).startswith("line 2: not a valid 'run' record")


def test_results_file_that_is_a_directory_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "suite.toml").write_text(SUITE)
    (tmp_path / "results.jsonl").mkdir()
    _refused(capsys, "leaderboard", str(tmp_path), needle="results file is a directory")
    _refused(capsys, "bench", str(tmp_path), "--quiet", needle="results file is a directory")


def test_leaderboard_reports_bad_lines_and_non_finite_scores(tmp_path, capsys) -> None:
    (tmp_path / "suite.toml").write_text(SUITE)
    suite = load_suite(tmp_path)
    grid = build_grid(suite, get_registry())
    spec = grid.runs[0]
    good = json.loads(_line(algorithm="reinforce", env="CartPole-v1", entry_hash=spec.entry_hash,
                            config_hash=spec.config_hash))
    good["final"]["eval_return_mean_deterministic"] = float("nan")
    (tmp_path / "results.jsonl").write_text('{"type":"run"}\n' + json.dumps(good) + "\n")
    code, out, err = _cli(capsys, "leaderboard", str(tmp_path))
    assert code == 0, err
    assert "ignoring 1 bad line(s)" in err and "line 1: not a valid 'run' record" in err
    assert "reinforce on CartPole-v1: final score not finite for seed 0 (nan)" in out


def test_suite_and_book_figure_files_that_cannot_be_read(tmp_path, capsys) -> None:
    (tmp_path / "suite.toml").write_bytes(b'name = "\xff\xfe"\n')
    _refused(capsys, "bench", str(tmp_path), "--quiet", needle="suite.toml: config file is not UTF-8 text")
    _refused(capsys, "leaderboard", str(tmp_path), needle="suite.toml: config file is not UTF-8 text")
    fig = tmp_path / "fig"
    fig.mkdir()
    shutil.copyfile(Path(__file__).parents[1] / "leaderboards" / "book-13.1" / "suite.toml", fig / "suite.toml")
    _refused(capsys, "leaderboard", str(fig), needle="no saved runs (runs.json is missing)")
    (tmp_path / "f").write_text("x")
    _refused(capsys, "new-plugin", "my-algo", "--dir", str(tmp_path / "f"), needle="--dir folder is a file")


def test_default_suite_folder_keeps_an_edited_suite(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    folder = default_suite_folder("quick")
    packaged = (folder / "suite.toml").read_text()
    (folder / "suite.toml").write_text("# edited\n" + packaged)
    default_suite_folder("quick")
    assert (folder / "suite.toml").read_text() == "# edited\n" + packaged
    assert "keeping the existing" in capsys.readouterr().err

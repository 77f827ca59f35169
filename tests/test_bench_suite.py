"""Suite validation: a bad suite is one line naming the file, the key and the problem (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pgzoo.bench.grid import build_grid
from pgzoo.bench.suite import load_suite
from pgzoo.errors import UsageError
from pgzoo.registry import get_registry

GOOD = """
name = "t"
seeds = 2
[evaluation]
every = 1000
episodes = 2
[envs.CartPole-v1]
steps = 2000
[algorithms.reinforce]
[algorithms.actor-critic]
hyperparams = { num_envs = 4 }
[algorithms.actor-critic.envs.CartPole-v1]
alpha_theta = 0.002
"""


def _suite(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir(exist_ok=True)
    (folder / "suite.toml").write_text(text)
    return folder


def _error(tmp_path: Path, text: str) -> str:
    folder = _suite(tmp_path, text)
    with pytest.raises(UsageError) as info:
        build_grid(load_suite(folder), get_registry())
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(folder / "suite.toml"))
    return message


def test_a_good_suite_expands_into_its_grid(tmp_path):
    grid = build_grid(load_suite(_suite(tmp_path, GOOD)), get_registry())
    assert [(r.algorithm, r.seed) for r in grid.runs] == [("reinforce", 0), ("reinforce", 1),
                                                          ("actor-critic", 0), ("actor-critic", 1)]
    ac = grid.runs[2]
    assert ac.kind == "algorithm" and ac.steps == 2000 and (ac.every, ac.episodes) == (1000, 2)
    assert ac.config["num_envs"] == 4 and ac.config["alpha_theta"] == 0.002
    assert ac.config["total_steps"] == 2000 and ac.config["total_episodes"] is None
    assert ac.config["policy"] == "mlp"  # the plugin's CartPole-v1 default, under the suite's own values
    assert ac.config_hash != grid.runs[3].config_hash or ac.seed != grid.runs[3].seed


@pytest.mark.parametrize(("edit", "key", "problem"), [
    (("steps = 2000", "steps = -5"), "envs.CartPole-v1.steps", "greater than 0"),
    (("every = 1000", "evry = 1000"), "evaluation.evry", "unknown key"),
    (("[algorithms.reinforce]", "[algorithms.no-such-algo]"), "algorithms.no-such-algo", "no installed algorithm"),
    (("[envs.CartPole-v1]\nsteps = 2000", "[envs.NoSuchEnv-v9]\nsteps = 2000"), "envs.NoSuchEnv-v9",
     "unknown environment"),
    (("alpha_theta = 0.002", "alpha_theta = -1"), "algorithms.actor-critic.envs.CartPole-v1", "alpha_theta"),
    (("seeds = 2", "seeds = 0"), "seeds", "at least 1"),
])
def test_bad_suites_name_file_key_and_problem(tmp_path, edit, key, problem):
    message = _error(tmp_path, GOOD.replace(*edit))
    assert key in message and problem in message


def test_invalid_toml_and_missing_suite(tmp_path):
    assert "invalid TOML" in _error(tmp_path, GOOD + "\n[[[")
    with pytest.raises(UsageError, match="no such suite file"):
        load_suite(tmp_path / "nowhere")


def test_an_optional_entry_that_is_not_installed_is_skipped(tmp_path):
    text = GOOD + "\n[algorithms.not-installed-baseline]\noptional = true\n"
    grid = build_grid(load_suite(_suite(tmp_path, text)), get_registry())
    assert grid.algorithms == ["reinforce", "actor-critic"]
    assert grid.skipped and "not-installed-baseline" in grid.skipped[0]


def test_only_and_seeds_select_runs(tmp_path):
    suite = load_suite(_suite(tmp_path, GOOD))
    grid = build_grid(suite, get_registry(), only=["actor-critic"], seeds=3)
    assert [(r.algorithm, r.seed) for r in grid.runs] == [("actor-critic", 0), ("actor-critic", 1), ("actor-critic", 2)]
    with pytest.raises(UsageError, match="--only"):
        build_grid(suite, get_registry(), only=["nope"])


def test_cli_bad_suite_is_one_line_and_exit_2(tmp_path):
    folder = _suite(tmp_path, GOOD.replace("steps = 2000", "steps = 0"))
    proc = subprocess.run([sys.executable, "-m", "pgzoo.cli", "bench", str(folder)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(folder / "suite.toml") in lines[0] and "envs.CartPole-v1.steps" in lines[0]


def test_labelled_entries_run_a_registered_algorithm_under_another_name(tmp_path):
    text = GOOD + '\n[algorithms."reinforce fast"]\nplugin = "reinforce"\nhyperparams = { alpha_theta = 0.01 }\n'
    grid = build_grid(load_suite(_suite(tmp_path, text)), get_registry())
    fast = [r for r in grid.runs if r.algorithm == "reinforce fast"]
    assert len(fast) == 2 and all(r.registered_name == "reinforce" for r in fast)
    assert fast[0].config["alpha_theta"] == 0.01
    message = _error(tmp_path, text.replace('plugin = "reinforce"', 'plugin = "nope"'))
    assert 'algorithms.reinforce fast.plugin' in message


def test_the_resume_key_ignores_settings_equal_to_the_defaults(tmp_path):
    plain = build_grid(load_suite(_suite(tmp_path, GOOD)), get_registry()).runs
    explicit = GOOD.replace("[algorithms.reinforce]", "[algorithms.reinforce]\nhyperparams = { gamma = 0.99 }")
    same = build_grid(load_suite(_suite(tmp_path, explicit)), get_registry()).runs
    assert plain[0].key == same[0].key
    changed = GOOD.replace("[algorithms.reinforce]", "[algorithms.reinforce]\nhyperparams = { gamma = 0.9 }")
    assert build_grid(load_suite(_suite(tmp_path, changed)), get_registry()).runs[0].key != plain[0].key

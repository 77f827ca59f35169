"""What a newcomer meets (issue 10, sections 4–5): the example config, Rollout constructors and
the t contract, exact float64 initial values, the CLI's help, notices, progress lines and pipes,
``module:EnvName-v0`` ids, the bench header."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from pgzoo import EnvSpec, Rollout, cli, get_algorithm
from pgzoo.bench.progress import GridProgress
from pgzoo.config import load_toml
from pgzoo.engine.trainer import train
from pgzoo.features import StateTable
from pgzoo.progress import LineProgress
from pgzoo.rollout import RolloutError, TimeIndexCheck
from pgzoo.testing import run_cli

ROOT = Path(__file__).parents[1]
BOX2 = gym.spaces.Box(-1.0, 1.0, (2,))


def test_example_config_is_valid_for_the_readme_command() -> None:
    values = load_toml(ROOT / "examples" / "cartpole.toml")
    assert "--config examples/cartpole.toml" in (ROOT / "README.md").read_text()
    cfg = get_algorithm("reinforce-baseline").make_config("CartPole-v1", values)
    assert cfg.policy == "mlp" and cfg.num_envs == 8 and cfg.total_steps == 50_000


# --- Rollout ------------------------------------------------------------------------------------

def test_from_transition_and_from_transitions_shapes() -> None:
    one = Rollout.from_transition([0.5, 1.0], torch.tensor(1), 2.0, False, True, [0.0, 1.0], 7)
    assert one.obs.shape == (1, 1, 2) and one.actions.shape == (1, 1) and one.rewards.tolist() == [[2.0]]
    assert one.truncated.dtype == torch.bool and one.t.dtype == torch.long and one.t.tolist() == [[7]]
    cont = Rollout.from_transitions([([0.0], [0.1, 0.2], 1.0, False, False, [1.0], 0),
                                     ([1.0], [0.3, 0.4], -1.0, True, False, [2.0], 1)])
    assert cont.obs.shape == (2, 1, 1) and cont.actions.shape == (2, 1, 2) and cont.done.tolist() == [[False], [True]]
    with pytest.raises(RolloutError, match="expected \\(obs, action, reward"):
        Rollout.from_transitions([([0.0], 1, 1.0, False, False, [1.0])])


def test_time_index_contract_within_and_across_rollouts() -> None:
    check = TimeIndexCheck()
    step = lambda t, done: Rollout.from_transition([0.0], 0, 1.0, done, False, [0.0], t)  # noqa: E731
    check(step(0, False))
    check(step(1, True))
    check(step(0, False))  # a new episode
    with pytest.raises(RolloutError, match=r"Rollout.t\[0, 0\] = 3 .*did not end, so t should be 1"):
        check(step(3, False))  # a global step counter
    bad = Rollout.from_transitions([([0.0], 0, 1.0, True, False, [0.0], 4), ([0.0], 0, 1.0, False, False, [0.0], 5)])
    with pytest.raises(RolloutError, match=r"Rollout.t\[1, 0\] = 5, but the step before it ended .* should be 0"):
        TimeIndexCheck()(bad)


def test_update_refuses_a_global_step_counter_as_t() -> None:
    cls = get_algorithm("actor-critic")
    algo = cls(cls.make_config(overrides={"policy": "linear", "value": "linear"}))
    agent = algo.build_agent(EnvSpec("probe", BOX2, gym.spaces.Discrete(2)))
    opt = algo.make_optimizer(agent)
    s = torch.zeros(2)
    algo.update(agent, opt, Rollout.from_transition(s, 0, 1.0, False, False, s, 0))
    algo.update(agent, opt, Rollout.from_transition(s, 1, 1.0, True, False, s, 1))  # the episode ends
    before = [p.detach().clone() for p in agent.parameters()]
    with pytest.raises(RolloutError, match="should be 0"):
        algo.update(agent, opt, Rollout.from_transition(s, 0, 1.0, False, False, s, 2))
    assert all(torch.equal(a, b) for a, b in zip(before, agent.parameters(), strict=True))  # no step taken
    algo.check_rollouts = False  # rollouts that do not continue each other, on purpose
    algo.update(agent, opt, Rollout.from_transition(s, 0, 1.0, False, False, s, 9))


# --- initial values, features, dtype ---------------------------------------------------------------

def test_initial_values_are_exact_in_float64() -> None:
    spec = EnvSpec("probe", BOX2, gym.spaces.Discrete(2))
    cls = get_algorithm("reinforce-baseline")
    theta = [0.1] * 6  # x(s,a) = e_a ⊗ [obs, 1]: 2 × 3
    algo = cls(cls.make_config(overrides={"init_theta": theta, "init_w": [0.1, 0.2, 0.3]}))
    agent = algo.build_agent(spec, torch.float64)
    assert agent.policy.theta.dtype == torch.float64
    assert agent.policy.theta.tolist() == theta  # 0.1 exactly, not 0.10000000149011612
    assert agent.value.w.tolist() == [0.1, 0.2, 0.3]
    assert algo.build_agent(spec).policy.theta[0].item() == 0.10000000149011612  # float32 as before


def test_gaussian_mean_starts_at_init_mu() -> None:
    spec = EnvSpec("probe", BOX2, gym.spaces.Box(-1.0, 1.0, (2,)))
    cls = get_algorithm("actor-critic")
    mu = [0.1, 0.2, 0.3, -0.1, -0.2, -0.3]  # θ_μ: 2 actions × [obs, 1]
    policy = cls(cls.make_config(overrides={"init_mu": mu})).build_agent(spec, torch.float64).policy
    assert policy.theta_mu.tolist() == [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]]
    # μ(s) = θ_μ [s, 1] at s = (1, 2): 0.1 + 0.4 + 0.3 = 0.8 and −0.8
    mean, _ = policy.mean_std(torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert mean.tolist() == pytest.approx([0.8, -0.8], abs=1e-15)
    with pytest.raises(Exception, match="init_mu has 2 entries, θ_μ has 2 × 3"):
        cls(cls.make_config(overrides={"init_mu": [0.0, 0.0]})).build_agent(spec)


def test_linear_value_uses_supplied_state_features() -> None:
    table = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 2.0]])  # x(s) of 2 states, 3 features
    spec = EnvSpec("probe", gym.spaces.Discrete(2), gym.spaces.Discrete(2), state_features=StateTable(table))
    cls = get_algorithm("actor-critic")
    algo = cls(cls.make_config(overrides={"init_w": [1.0, 2.0, 3.0], "policy": "linear", "value": "linear"}))
    value = algo.build_agent(spec).value
    # v̂(s1) = wᵀx(s1) = 0 + 2 + 6 = 8
    assert value(torch.tensor([0.0, 1.0])).item() == 8.0
    obs_only = cls(cls.make_config(overrides={"features": "obs", "policy": "linear", "value": "linear"}))
    assert obs_only.build_agent(spec).value.w.shape == (3,)  # [one-hot(2), 1]


def test_train_takes_a_dtype() -> None:
    result = train("reinforce", "CartPole-v1", overrides={"total_steps": 50, "eval_episodes": 1}, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in result.agent.parameters())


# --- the command line --------------------------------------------------------------------------------

def test_every_argument_has_help() -> None:
    parser = cli.build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert all(helps.values()) and set(helps) == set(sub.choices)
    missing = [(name, a.dest) for name, p in sub.choices.items() for a in p._actions if not a.help]
    assert not missing
    assert "total_steps" in sub.choices["train"].format_help()  # where the default budget comes from


def test_train_names_the_tuned_defaults_it_used(tmp_path, capsys) -> None:
    assert cli.main(["train", "actor-critic", "--env", "CartPole-v1", "--steps", "64", "--quiet",
                     "--set", "eval_episodes=1", "--set", "num_envs=2", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err == ("pgzoo train: trained with the tuned defaults of 'actor-critic' for CartPole-v1 (not the book's "
                   "plain algorithm; --set overrides them): policy=\"mlp\", value=\"mlp\", optimizer=\"adam\", "
                   "alpha_theta=0.001, alpha_w=0.001, discount_actor=false\n")


def test_progress_into_a_file_is_whole_lines() -> None:
    out = io.StringIO()
    bar = LineProgress(100, "step", "algo Env-v0", out, every_s=0.0)
    bar.update(40)
    bar.set_postfix(ret="12.5")
    bar.update(60)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].startswith("algo Env-v0: 40/100 step [")
    assert lines[1].startswith("algo Env-v0: 100/100 step, ret=12.5")


def test_a_closed_pipe_is_no_traceback() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pgzoo.cli", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head` does once it has its lines
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_module_colon_ids_work_and_typos_still_get_a_hint(tmp_path) -> None:
    (tmp_path / "my_envs.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('Tiny-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv', max_episode_steps=20)\n")
    ok = run_cli("train", "reinforce", "--env", "my_envs:Tiny-v0", "--steps", "40", "--quiet", "--out", "r",
                 "--set", "eval_episodes=1", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "reinforce on my_envs:Tiny-v0 (seed 0): 4" in ok.stdout
    typo = run_cli("train", "reinforce", "--env", "my_envs:Tinny-v0", cwd=tmp_path)
    assert typo.returncode == 2
    assert typo.stderr == ("pgzoo train: error: unknown environment 'Tinny-v0' (module 'my_envs' did not register it) "
                           "(did you mean: Tiny-v0?)\n")
    assert "(did you mean: CartPole-v1, CartPole-v0?)" in run_cli("train", "reinforce", "--env", "CartPol-v1").stderr
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "suite.toml").write_text(
        'name = "m"\nseeds = 1\n[evaluation]\nevery = 20\nepisodes = 1\n[envs."my_envs:Tiny-v0"]\nsteps = 40\n'
        'reward_threshold = 20\n[algorithms.reinforce]\n')
    bench = run_cli("bench", "s", "--quiet", cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr
    assert "suite m: 1 run (1 algorithm x 1 env x 1 seed)" in bench.stderr
    assert "on the local executor with 1 worker\n" in bench.stderr


def test_first_time_estimate_counts_runs_that_ran_side_by_side(monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    out = io.StringIO()
    bar = GridProgress(8, 0, stream=out)
    bar.set_running(2)
    now[0] += 60.0
    bar.finished(True)  # 2 ran side by side for a minute: 2 a minute, 7 left → 3.5 minutes, not 7
    assert out.getvalue().splitlines()[-1].endswith("[01:00 elapsed, 03:30 left]")

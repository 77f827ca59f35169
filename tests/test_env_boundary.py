"""The environment boundary, round two (issue 19): a failing environment fails alone, non-finite
observations are named, rendering and baselines are checked before work starts, evaluation sees
the training statistics, nothing is overwritten or mixed silently.

The environments are real gymnasium environments in ``tests/envs/boundary_envs.py``, reached as
``boundary_envs:Id`` the way a user's are; the right values are worked out in the comments.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgzoo.bench.grid import build_grid
from pgzoo.bench.random_policy import random_policy_record
from pgzoo.bench.results import read_results
from pgzoo.bench.suite import load_suite
from pgzoo.cli import main
from pgzoo.engine.batched_envs import make_batched_env
from pgzoo.engine.envs import CheckedEnv, EnvBatch, make_env
from pgzoo.engine.evaluation import evaluate, play
from pgzoo.engine.normalization import Moments, from_tensors, training_statistics
from pgzoo.engine.population import env_blocker, train_population
from pgzoo.engine.trainer import train
from pgzoo.errors import EnvError, UsageError
from pgzoo.names import md_row, run_name, safe_name
from pgzoo.registry import get_registry
from pgzoo.rundir import _first_line
from pgzoo.spaces import encode_obs
from pgzoo.testing import run_cli

ENVS = Path(__file__).parent / "envs"
M = "boundary_envs"
LOST = "raised RuntimeError: simulator lost connection"
QUICK = {"eval_episodes": 1, "policy": "linear"}


@pytest.fixture(autouse=True)
def _envs_importable(monkeypatch):
    """``boundary_envs`` importable here, in bench workers and in CLI subprocesses."""
    monkeypatch.syspath_prepend(str(ENVS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ENVS), os.environ.get("PYTHONPATH")) if p))


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def steady_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "steady"
    sys.path.insert(0, str(ENVS))
    try:
        train("reinforce", f"{M}:Steady-v0", 0, {"total_steps": 20, **QUICK}, out_dir=out)
    finally:
        sys.path.remove(str(ENVS))
    return out


def run_on(steady_run: Path, tmp_path: Path, env: str) -> Path:
    """A copy of the Steady run whose config.json names ``env`` (same spaces, another behaviour)."""
    run = tmp_path / "run"
    run.mkdir(parents=True)
    (run / "model.pt").write_bytes((steady_run / "model.pt").read_bytes())
    meta = json.loads((steady_run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**meta, "env_id": f"{M}:{env}"}))
    return run


# --- 1. an environment that raises is that run's failure ------------------------------------

def test_an_env_that_raises_in_training_is_one_line_and_keeps_a_checkpoint(tmp_path, capsys) -> None:
    out = tmp_path / "r"
    code, _, err = cli(capsys, "train", "reinforce", "--env", f"{M}:Flaky-v0", "--steps", "400", "--quiet",
                       "--out", str(out), "--set", "eval_episodes=1")
    # the training env's 250th step: the 5th of its 50th episode, after 249 env steps and 49 whole episodes
    assert code == 1
    assert one_line(err) == (f"pgzoo train: environment '{M}:Flaky-v0': step() (step 5 of an episode) {LOST}; "
                             f"checkpoint saved at env step 249: continue with pgzoo train --resume {out}")
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 49
    # resumed, a new process's environment gets 151 more steps (< 250): the run finishes
    code, _, err = cli(capsys, "train", "--resume", str(out), "--quiet")
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["env_steps"] == 400


def test_an_env_that_raises_in_evaluation_population_and_random_scoring(steady_run, tmp_path, capsys) -> None:
    # FlakyEarly raises at its 7th step: the 2nd step of its 2nd episode
    want = f"environment '{M}:FlakyEarly-v0': step() (step 2 of an episode) {LOST}"
    with pytest.raises(EnvError) as e:
        random_policy_record(f"{M}:FlakyEarly-v0", episodes=3)
    assert str(e.value) == want and (e.value.step, e.value.call) == (2, "step()")
    with pytest.raises(EnvError, match=re.escape(want)):  # each copy of a population is its own environment
        train_population("reinforce", f"{M}:FlakyEarly-v0", seeds=[0, 1], overrides={"total_steps": 40, **QUICK})
    run = run_on(steady_run, tmp_path, "FlakyEarly-v0")
    for extra in ((), ("--deterministic",)):
        code, out, err = cli(capsys, "eval", str(run), "--episodes", "3", *extra)
        assert code == 1 and one_line(err) == f"pgzoo eval: {want}" and out == ""
    # 5 training steps (one episode) stay below the 7th; the final evaluation's 2 episodes reach it
    out = tmp_path / "final"
    code, _, err = cli(capsys, "train", "reinforce", "--env", f"{M}:FlakyEarly-v0", "--steps", "5", "--quiet",
                       "--set", "eval_episodes=2", "--out", str(out))
    assert code == 1 and one_line(err) == (f"pgzoo train: {want}; the checkpoint at the end of training is kept: "
                                           f"continue with pgzoo train --resume {out}")


def test_env_error_pickles_for_the_bench_workers() -> None:
    e = EnvError("E-v0", "step()", f"{LOST}", 5).keeping("kept")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is EnvError and str(back) == str(e)
    assert str(e) == f"environment 'E-v0': step() (step 5 of an episode) {LOST}; kept"


def test_a_bench_with_a_failing_env_trains_the_others(tmp_path, capsys) -> None:
    from pgzoo.bench.runner import run_bench

    (tmp_path / "suite.toml").write_text(f"""
name = "flaky"
seeds = [0]
bootstrap_reps = 100
evaluation = {{ every = 300, episodes = 1 }}
[envs."{M}:Steady-v0"]
steps = 300
reward_threshold = 5
[envs."{M}:Flaky-v0"]
steps = 300
reward_threshold = 5
[algorithms.reinforce]
hyperparams = {{ policy = "linear" }}
""")
    report = run_bench(tmp_path, workers=1, progress=False)  # its worker is a real process of the local pool
    # random scoring: 100 episodes on one Flaky env reach its 250th step (episode 50, step 5); training: the
    # Flaky run's env reaches it at env step 250 of 300; the Steady env scores 5 and trains
    err = f"environment '{M}:Flaky-v0': step() (step 5 of an episode) {LOST}"
    assert report.random_failed == [f"random policy on {M}:Flaky-v0: {err}"]
    assert report.finished == 1 and report.failed == [f"reinforce {M}:Flaky-v0 seed 0: {err}"]
    assert f"no random-policy score for {M}:Flaky-v0 (measured again by the next bench): {err}" in \
        capsys.readouterr().err
    results = read_results(tmp_path / "results.jsonl")
    assert {k: v["return_mean"] for k, v in results.random_scores().items()} == {f"{M}:Steady-v0": 5.0}
    lines = [json.loads(ln) for ln in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted((r["type"], r["env"]) for r in lines if r["type"] != "random-policy") == [
        ("failed", f"{M}:Flaky-v0"), ("run", f"{M}:Steady-v0")]
    (failed,) = [r for r in lines if r["type"] == "failed"]
    assert failed["error"] == err


def test_an_env_that_raises_under_the_sb3_baseline() -> None:
    from pgzoo_sb3 import SB3A2C

    from pgzoo.engine.trainer import EvalSchedule

    with pytest.raises(EnvError) as e:  # SB3's vector env steps pgzoo's checked env: its 250th step fails
        SB3A2C({"n_steps": 5, "eval_episodes": 1}).run(f"{M}:Flaky-v0", 0, 300, EvalSchedule(1000, 1))
    assert str(e.value) == f"environment '{M}:Flaky-v0': step() (step 5 of an episode) {LOST}"


# --- 2. non-finite observations are the environment's fault ------------------------------------

class Returns(gym.Env):
    """Hands back ``obs`` from every reset and step."""

    action_space = gym.spaces.Discrete(2)

    def __init__(self, obs: np.ndarray) -> None:
        self.obs = obs
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, obs.shape, obs.dtype if obs.dtype.kind == "f"
                                                else np.float64)

    def reset(self, *, seed=None, options=None):
        return self.obs, {}

    def step(self, action):
        return self.obs, 0.0, False, False, {}


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       dtype=st.sampled_from([np.float16, np.float32, np.float64]), data=st.data())
def test_a_non_finite_entry_is_named_by_its_index(shape, dtype, data) -> None:
    size = int(np.prod(shape))
    entries = st.floats(-1e3, 1e3, width=16, allow_subnormal=False)
    obs = np.asarray(data.draw(st.lists(entries, min_size=size, max_size=size)), dtype=dtype).reshape(shape)
    env = CheckedEnv(Returns(obs.copy()), "E-v0")
    env.reset()
    env.step(0)  # finite: passes
    flat = data.draw(st.integers(0, obs.size - 1))
    bad = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    obs.reshape(-1)[flat] = bad
    index = tuple(int(i) for i in np.unravel_index(flat, shape))
    env = CheckedEnv(Returns(obs), "E-v0")
    with pytest.raises(EnvError) as e:
        env.reset()
    assert str(e.value) == (f"environment 'E-v0': reset() returned an observation with the non-finite entry "
                            f"{dtype(bad)} at index {index}; observations must be finite")


def test_integer_observations_and_finite_rewards_pass_and_an_infinite_reward_does_not() -> None:
    env = CheckedEnv(Returns(np.array([3, 4], dtype=np.int64)), "E-v0")
    assert env.reset()[0].tolist() == [3, 4]

    class InfReward(Returns):
        def step(self, action):
            return self.obs, float("-inf"), False, False, {}

    env = CheckedEnv(InfReward(np.zeros(2)), "E-v0")
    env.reset()
    with pytest.raises(EnvError, match=r"^environment 'E-v0': step\(\) \(step 1 of an episode\) returned the reward "
                                       r"-inf; a reward must be finite$"):
        env.step(0)


def test_nan_observations_fail_train_and_eval_naming_the_env(steady_run, tmp_path, capsys) -> None:
    # NanObs hands back [nan, 1] at step 2 of an episode: one env step has been taken
    nan = f"environment '{M}:NanObs-v0': step() (step 2 of an episode) returned an observation with the non-finite " \
          "entry nan at index (0,); observations must be finite"
    code, _, err = cli(capsys, "train", "reinforce", "--env", f"{M}:NanObs-v0", "--steps", "50", "--quiet",
                       "--out", str(tmp_path / "t"))
    assert code == 1 and one_line(err) == f"pgzoo train: {nan}; checkpoint saved at env step 1: continue with " \
                                          f"pgzoo train --resume {tmp_path / 't'}"
    run = run_on(steady_run, tmp_path, "NanObs-v0")
    for extra in ((), ("--deterministic",)):  # the stochastic policy would sample from NaN; the greedy act on it
        code, out, err = cli(capsys, "eval", str(run), *extra)
        assert code == 1 and one_line(err) == f"pgzoo eval: {nan}" and out == ""


def test_batched_paths_check_too() -> None:
    # an environment's own make_batch: copy 1 hands back NaN at step 3
    batch = make_batched_env(f"{M}:NanBatch-v0", 2)
    batch.reset([0, 1])
    idx = np.arange(2)
    batch.step(idx, np.zeros(2, dtype=np.int64))
    batch.step(idx, np.zeros(2, dtype=np.int64))
    with pytest.raises(EnvError) as e:
        batch.step(idx, np.zeros(2, dtype=np.int64))
    assert str(e.value) == (f"environment '{M}:NanBatch-v0': step() (step 3 of an episode) returned an observation "
                            "with the non-finite entry nan at index (0,); it must be finite")
    with pytest.raises(EnvError, match="step 3 of an episode"):
        train_population("reinforce", f"{M}:NanBatch-v0", seeds=[0, 1], overrides={"total_steps": 40, **QUICK})
    # gymnasium's vector CartPole, which the trainer steps in place of the copies
    envs = EnvBatch("CartPole-v1", 2)
    assert envs.native is not None
    envs.reset([0, 1])
    envs.native.state[2, 1] = np.nan  # θ of copy 1
    # Euler's step: x ← x + τẋ stays finite, ẋ ← ẋ + τẍ with ẍ of sin θ: the first NaN is ẋ, entry 1
    with pytest.raises(EnvError, match=r"^environment 'CartPole-v1': step\(\) \(step 1 of an episode\) returned an "
                                       r"observation with the non-finite entry nan at index \(1,\)"):
        envs.step(np.zeros(2, dtype=np.int64))


# --- 3. videos: the rendering contract ---------------------------------------------------------

def test_video_refusals_before_and_while_recording(steady_run, tmp_path, capsys) -> None:
    code, out, err = cli(capsys, "eval", str(steady_run), "--video", str(tmp_path / "v.avi"))
    assert code == 2 and out == "" and one_line(err) == (
        f"pgzoo eval: error: --video {tmp_path / 'v.avi'}: pgzoo writes .mp4 or .gif videos (H.264 or GIF); name "
        "the file v.mp4 or v.gif")
    code, out, err = cli(capsys, "eval", str(run_on(steady_run, tmp_path / "a", "NoRenderMode-v0")), "--video",
                         str(tmp_path / "v.mp4"))
    assert code == 1 and out == "" and one_line(err) == (
        f"pgzoo eval: environment '{M}:NoRenderMode-v0': its constructor takes no render_mode argument, though its "
        "metadata declares the render mode rgb_array: no video")
    # Growing renders 16 + t pixels a side: the video's 2nd frame (after step 1) is 17 × 17
    (tmp_path / "b").mkdir()
    code, _, err = cli(capsys, "eval", str(run_on(steady_run, tmp_path / "b", "Growing-v0")), "--video",
                       str(tmp_path / "b" / "v.mp4"))
    assert code == 1 and one_line(err) == (
        f"pgzoo eval: environment '{M}:Growing-v0': render() (step 1 of an episode) returned an array of shape "
        "(17, 17, 3) and dtype uint8 as frame 2 of the video, whose frames are (16, 16, 3) of uint8 (its first): "
        "a video's frames must all have one size; no video written")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["run"]  # no half video, no scratch file


@pytest.mark.parametrize(("env", "name", "size"), [("Steady-v0", "v.gif", (16, 16)),
                                                   ("OddFrames-v0", "v.mp4", (18, 18))])  # H.264: sides padded even
def test_videos_have_exactly_their_frames(steady_run, tmp_path, capsys, env, name, size) -> None:
    video = tmp_path / name
    code, _, err = cli(capsys, "eval", str(run_on(steady_run, tmp_path, env)), "--episodes", "2", "--video",
                       str(video))
    # 2 episodes of 5 steps: (5 + 1) frames each
    assert code == 0 and f"wrote 2 episodes (12 frames) to {video}" in err
    assert imageio_ffmpeg.count_frames_and_secs(str(video))[0] == 12
    assert tuple(next(imageio_ffmpeg.read_frames(str(video)))["size"]) == size


# --- 4. output names --------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_safe_name_is_one_safe_path_component(text) -> None:
    name = safe_name(text)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", name) and name not in (".", "..")
    assert Path(name).name == name and safe_name(name) == name
    if re.fullmatch(r"[A-Za-z0-9_.-]+", text) and text.strip("."):
        assert name == text  # what is safe stays as it is


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=6))
def test_a_markdown_row_keeps_its_columns(cells) -> None:
    row = md_row(cells)
    assert "\n" not in row and "\r" not in row
    # the cell separators: pipes not escaped by an odd number of backslashes
    separators = re.findall(r"(?<!\\)(?:\\\\)*\|", row)
    assert len(separators) == len(cells) + 1


def test_a_namespaced_env_id_names_one_folder_per_run_and_algorithm(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = f"{M}:myns/Five-v0"
    assert safe_name(env) == "boundary_envs_myns_Five-v0"
    for algo in ("reinforce", "actor-critic"):
        assert main(["train", algo, "--env", env, "--steps", "20", "--quiet", "--tensorboard", "tb",
                     "--set", "eval_episodes=1"]) == 0
    names = ["actor-critic-boundary_envs_myns_Five-v0-s0", "reinforce-boundary_envs_myns_Five-v0-s0"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == names == sorted(
        run_name(a, env, 0) for a in ("reinforce", "actor-critic"))
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == names  # two algorithms, two TensorBoard runs


def test_a_label_with_a_pipe_keeps_its_leaderboard_row(tmp_path) -> None:
    from pgzoo.bench.board import build_board, entry_hash
    from pgzoo.bench.render import write_leaderboard
    from pgzoo.bench.results import append_line

    (tmp_path / "suite.toml").write_text("""
name = "pipes"
seeds = 1
bootstrap_reps = 100
compare_to = "a|b"
evaluation = { every = 50, episodes = 1 }
envs = { CartPole-v1 = { steps = 100 } }
algorithms = { "a|b" = { plugin = "reinforce" } }
""")
    suite = load_suite(tmp_path)
    path = tmp_path / "results.jsonl"
    append_line(path, {"type": "random-policy", "env": "CartPole-v1", "return_mean": 20.0})
    append_line(path, {"type": "run", "algorithm": "a|b", "env": "CartPole-v1", "seed": 0, "config_hash": "x",
                       "entry_hash": entry_hash(suite, "a|b", "CartPole-v1"),
                       "curve": [{"env_steps": 0, "return_mean": 20.0, "return_mean_deterministic": 20.0},
                                 {"env_steps": 100, "return_mean": 30.0, "return_mean_deterministic": 30.0}],
                       "final": {"eval_return_mean": 30.0, "eval_return_mean_deterministic": 30.0},
                       "env_steps": 100, "wall_s": 1.0, "env_steps_per_s": 100.0})
    text = write_leaderboard(build_board(suite, read_results(path)), tmp_path)
    tables = [ln for ln in text.splitlines() if ln.startswith("|")]
    cells = [len(re.findall(r"(?<!\\)(?:\\\\)*\|", ln)) - 1 for ln in tables]
    assert cells == [9, 9, 9, 5, 5, 5]  # header, rule, row: the env table's 9 columns, the aggregate's 5
    assert "| a\\|b | 1 |" in text


# --- 5. baselines are checked before anything trains -------------------------------------------

def _suite(tmp_path: Path, env: str, entry: str) -> Path:
    (tmp_path / "suite.toml").write_text(f"""
name = "sb3"
seeds = [0]
evaluation = {{ every = 20, episodes = 1 }}
[envs."{env}"]
steps = 20
reward_threshold = 5
[algorithms.sb3-a2c]
{entry}
""")
    return tmp_path


def test_sb3_spaces_and_settings_are_refused_before_any_run(tmp_path) -> None:
    pytest.importorskip("stable_baselines3")
    with pytest.raises(UsageError) as e:
        build_grid(load_suite(_suite(tmp_path, f"{M}:InfiniteAction-v0", "")), get_registry())
    assert str(e.value) == (f"{tmp_path / 'suite.toml'}: algorithms.sb3-a2c: 'sb3-a2c' cannot train on "
                            f"{M}:InfiniteAction-v0: its action space Box(-inf, inf, (1,), float32) has an infinite "
                            "bound, and SB3 takes Box actions with finite bounds only (it clips every action to them)")
    with pytest.raises(UsageError, match=r"algorithms\.sb3-a2c: invalid hyperparameters for 'sb3-a2c': .*n_step"):
        build_grid(load_suite(_suite(tmp_path, "CartPole-v1", "hyperparams = { n_step = 5 }")), get_registry())
    assert not (tmp_path / "results.jsonl").exists()


def test_sb3_sees_discrete_observations_from_zero_and_trains() -> None:
    pytest.importorskip("stable_baselines3")
    from pgzoo_sb3 import SB3A2C, _make_env

    from pgzoo.engine.trainer import EvalSchedule

    env = _make_env(f"{M}:DiscreteStart-v0", None)
    # the environment's −1, 0, 1, −1 at t = 0 … 3 reach SB3 as 0, 1, 2, 0
    assert [int(env.reset(seed=0)[0])] + [int(env.step(0)[0]) for _ in range(3)] == [0, 1, 2, 0]
    assert env.observation_space == gym.spaces.Discrete(3)
    result = SB3A2C({"n_steps": 5, "eval_episodes": 1}).run(f"{M}:DiscreteStart-v0", 0, 20, EvalSchedule(20, 1))
    assert result.summary["eval_return_mean"] == 5.0  # five steps of reward 1, whatever the actions


@st.composite
def space_pairs(draw: st.DrawFn) -> tuple[gym.Space, gym.Space]:
    if draw(st.booleans()):
        obs: gym.Space = gym.spaces.Discrete(draw(st.integers(1, 4)), start=draw(st.integers(-3, 3)))
    else:
        obs = gym.spaces.Box(-1.0, 1.0, tuple(draw(st.lists(st.integers(1, 3), max_size=2))),
                             draw(st.sampled_from([np.float32, np.float64])))
    if draw(st.booleans()):
        act: gym.Space = gym.spaces.Discrete(draw(st.integers(1, 3)), start=draw(st.integers(-3, 3)))
    else:
        low = draw(st.sampled_from([-1.0, -np.inf]))
        high = draw(st.sampled_from([1.0, np.inf]))
        act = gym.spaces.Box(low, high, tuple(draw(st.lists(st.integers(1, 2), max_size=2))), np.float32)
    return obs, act


class SpacesEnv(gym.Env):
    def __init__(self, obs_space: gym.Space, act_space: gym.Space) -> None:
        self.observation_space, self.action_space = obs_space, act_space
        self.sent: list = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        SENT.append((self.action_space, action))
        self.t += 1
        return self.observation_space.sample(), 1.0, self.t >= 3, False, {}


SENT: list = []


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space_pairs())
def test_sb3_takes_every_space_pgzoo_takes_but_infinite_action_bounds(spaces) -> None:
    pytest.importorskip("stable_baselines3")
    from pgzoo_sb3 import SB3A2C, spaces_refusal

    from pgzoo.engine.trainer import EvalSchedule

    obs, act = spaces
    infinite = isinstance(act, gym.spaces.Box) and not (np.isfinite(act.low).all() and np.isfinite(act.high).all())
    assert (spaces_refusal(obs, act) is not None) == infinite
    env_id = f"Spaces{len(gym.registry)}-v0"
    gym.register(env_id, entry_point=SpacesEnv, kwargs={"obs_space": obs, "act_space": act})
    SENT.clear()
    if infinite:
        with pytest.raises(UsageError, match="infinite bound"):
            SB3A2C({"n_steps": 3}).run(env_id, 0, 6, EvalSchedule(6, 1))
        return
    SB3A2C({"n_steps": 3, "eval_episodes": 1}).run(env_id, 0, 6, EvalSchedule(6, 1))
    assert SENT and all(space.contains(a if not isinstance(space, gym.spaces.Box) else np.asarray(a, space.dtype))
                        for space, a in SENT)


# --- 6. evaluation sees what training saw ------------------------------------------------------

ALT = f"{M}:AlternatingNorm-v0"
# θ for x(s,a) = e_a ⊗ [s, 1]: h(s,0) = 0, h(s,1) = s: greedy takes action 1 iff its observation is positive
HOLD = {"policy": "linear", "init_theta": [0.0, 0.0, 1.0, 0.0], "alpha_theta": 1e-9, "optimizer": "sgd",
        "total_episodes": 4, "eval_episodes": 2}


def prior_and_data(data: list[float], priors: int = 1) -> tuple[float, float, float]:
    """(mean, var, count) of gymnasium's running statistics over ``data``, each copy starting from its
    prior (mean 0, var 1, count 1e-4): Chan et al.'s parallel combination of the priors and the data."""
    c0, n = 1e-4 * priors, len(data)
    d_mean, d_var = float(np.mean(data)), float(np.var(data))
    count = c0 + n
    mean = d_mean * n / count
    var = (c0 * 1.0 + n * d_var + d_mean**2 * c0 * n / count) / count
    return mean, var, count


def test_evaluation_uses_the_training_statistics_frozen(tmp_path, capsys) -> None:
    out = tmp_path / "alt"
    result = train("reinforce", ALT, 0, HOLD, out_dir=out)
    # 4 episodes and the reset after the last: 5 resets and the steps t = 2, 4 of each episode see 10 (13 of
    # them); t = 1, 3, 5 see 11 (12): mean ≈ 10.48, var ≈ 0.25
    mean, var, count = prior_and_data([10.0] * 13 + [11.0] * 12)
    saved = torch.load(out / "model.pt", weights_only=True)["obs_norm"]
    assert float(saved["0.count"]) == pytest.approx(count, rel=1e-12)
    assert float(saved["0.mean"][0]) == pytest.approx(mean, rel=1e-6)
    assert float(saved["0.var"][0]) == pytest.approx(var, rel=1e-5)
    # frozen there, state 10 → (10 − 10.48)/0.5 < 0 (action 0) and 11 → > 0 (action 1): right at every step
    assert result.summary["eval_return_mean_deterministic"] == 5.0
    code, stdout, _ = cli(capsys, "eval", str(out), "--deterministic", "--episodes", "2", "--json")
    assert code == 0 and json.loads(stdout)["returns"] == [5.0, 5.0]
    policy = result.agent.policy
    trained = from_tensors(saved, "model.pt")
    assert list(evaluate(policy, ALT, [7], True, statistics=trained)) == [5.0]
    # the statistics an evaluation environment starts with (mean 0, var 1), frozen: every state is positive,
    # action 1 everywhere, right in the states 11 of t = 1, 3: 2
    fresh = [Moments(np.zeros(1, np.float32), np.ones(1, np.float32), 1e-4)]
    assert list(evaluate(policy, ALT, [7], True, statistics=fresh)) == [2.0]
    # and updating as they go, as every evaluation had them before: the first state 10 is its own mean so far,
    # (10 − 10/1.0001)/√var > 0: action 1, wrong; every later state lies on its side of the running mean: 4
    env = make_env(ALT)
    choose = lambda obs: int(policy.act(encode_obs(env.observation_space, obs[None]), True)[0])  # noqa: E731
    assert list(play(env, [7], choose)) == [4.0]


def test_statistics_of_several_copies_are_those_of_all_their_observations() -> None:
    # two copies, as num_envs = 2 trains them; merged: the statistics of the two streams together
    a, b = make_env(ALT), make_env(ALT)
    for env, steps in ((a, 3), (b, 7)):
        env.reset(seed=0)
        for _ in range(steps):
            env.step(0)
    (merged,) = training_statistics([a, b])
    # a saw 10, 11, 10, 11; b saw 10, 11, 10, 11, 10, 11, 10, 11 (on past its episode's end): 6 tens, 6 elevens
    mean, var, count = prior_and_data([10.0] * 6 + [11.0] * 6, priors=2)
    assert merged.count == pytest.approx(count, rel=1e-12)
    assert float(merged.mean[0]) == pytest.approx(mean, rel=1e-6) and float(merged.var[0]) == pytest.approx(var,
                                                                                                         rel=1e-5)


def test_reward_normalisation_is_training_only(tmp_path) -> None:
    result = train("reinforce", f"{M}:SteadyRewardNorm-v0", 0, {"total_episodes": 2, **QUICK})
    # training sees scaled rewards: the first is 1/√(var + 1e-8) with var ≈ 1e-4 after one return: ≈ 100
    assert result.episodes[0]["return"] > 50
    assert result.summary["eval_return_mean"] == result.summary["eval_return_mean_deterministic"] == 5.0  # raw


def test_a_normalised_env_without_saved_statistics_is_one_line(tmp_path, capsys) -> None:
    out = tmp_path / "alt"
    train("reinforce", ALT, 0, HOLD, out_dir=out)
    state = torch.load(out / "model.pt", weights_only=True)
    del state["obs_norm"]
    torch.save(state, out / "model.pt")
    code, _, err = cli(capsys, "eval", str(out))
    assert code == 2 and one_line(err) == (
        f"pgzoo eval: error: environment '{ALT}' normalises its observations (gymnasium's NormalizeObservation) "
        "and no training statistics were given to evaluate with (a run trained before pgzoo saved them? train it "
        "again)")


@pytest.mark.parametrize("env, settings", [
    (f"{M}:CartPoleNormalised-v0", {}),  # the env's own wrappers
    ("CartPole-v1", {"obs_scaling": "running", "normalize_reward": True}),  # those the settings ask for
])
def test_a_resumed_normalised_run_is_the_uninterrupted_run(tmp_path, capsys, env, settings) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("checkpoint_helpers", Path(__file__).with_name("test_checkpoint.py"))
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)  # its run-and-stop helpers (tests/ is no package: --import-mode=importlib)
    agent_state, resume, rows, same_parameters = helpers.agent_state, helpers.resume, helpers.rows, \
        helpers.same_parameters
    without_wall, train_to = helpers.without_wall, helpers.train

    cfg = {"total_steps": 1000, "eval_episodes": 1, **settings}
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train_to(whole, "reinforce", env, cfg)
    train_to(cut, "reinforce", env, cfg, stop_at=12)
    resume(cut, capsys)  # each copy's NormalizeObservation and NormalizeReward statistics came back
    assert same_parameters(agent_state(cut), agent_state(whole))
    assert without_wall(rows(cut)) == without_wall(rows(whole))


def test_populations_and_sb3_leave_no_statistics_behind() -> None:
    assert env_blocker(ALT) == f"{ALT} keeps running statistics (NormalizeObservation), which evaluation uses as " \
                               "trained"
    pytest.importorskip("stable_baselines3")
    from pgzoo_sb3 import SB3A2C, evaluate_sb3

    from pgzoo.engine.trainer import EvalSchedule

    # every evaluation of the run needs the statistics (it would refuse without them): the run finishes
    result = SB3A2C({"n_steps": 5, "eval_episodes": 1}).run(ALT, 0, 10, EvalSchedule(10, 1))
    assert len(result.curve) == 2
    with pytest.raises(UsageError, match="normalises its observations"):
        evaluate_sb3(None, ALT, (0,), True)


# --- 7. nothing overwritten or mixed silently; whole messages -----------------------------------

def test_tune_refuses_a_study_of_other_settings_and_a_failing_env_fails_its_trial(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["tune", "reinforce", "--env", f"{M}:myns/Five-v0", "--eval-every", "10", "--eval-episodes", "1",
            "--params", "alpha_theta", "--trials", "1", "--storage", "sqlite:///t.db", "--quiet"]
    code, _, err = cli(capsys, *args, "--steps", "20")
    assert code == 0, err
    assert (tmp_path / "tune-reinforce-boundary_envs_myns_Five-v0" / "report.md").exists()
    code, _, err = cli(capsys, *args, "--steps", "40")
    assert code == 2 and one_line(err) == (
        f"pgzoo tune: error: study 'reinforce-{M}:myns/Five-v0' in sqlite:///t.db was run with other settings "
        "(overrides.total_steps 20 there, 40 here), and its trials cannot be compared with these: name a new study "
        "with --study NAME (or repeat its settings to continue it)")
    code, _, err = cli(capsys, *args, "--steps", "20", "--trials", "2")  # the same settings continue it
    assert code == 0, err
    code, _, err = cli(capsys, "tune", "reinforce", "--env", f"{M}:FlakyEarly-v0", "--steps", "20", "--eval-every",
                       "10", "--eval-episodes", "2", "--params", "alpha_theta", "--trials", "1", "--storage",
                       "sqlite:///t.db", "--quiet")
    # the first evaluation (2 episodes at 0 env steps) reaches the 7th step of its environment
    failing = f"trial 0 (seed 10000): environment '{M}:FlakyEarly-v0': step() (step 2 of an episode) {LOST}"
    assert code == 1 and f"pgzoo tune: [0/1] {failing}" in err
    assert f"1 trial(s) failed because the environment did; the first: {failing}" in err and "Traceback" not in err


def test_whole_messages(capsys, tmp_path) -> None:
    assert _first_line(RuntimeError("PytorchStreamReader failed: no directory. If you see this, ...")) == \
        "PytorchStreamReader failed: no directory."
    (tmp_path / "c.toml").write_text("alpha_thetaa = 0.01\ngama = 0.9\n")
    code, _, err = cli(capsys, "train", "reinforce", "--env", "CartPole-v1", "--config", str(tmp_path / "c.toml"))
    assert code == 2 and one_line(err) == (f"pgzoo train: error: --config {tmp_path / 'c.toml'}: alpha_thetaa: "
                                           "unknown key (did you mean alpha_theta?); gama: unknown key (did you mean "
                                           "gamma?)")
    code, _, err = cli(capsys, "train", "reinforce", "--env", "CartPole-v1", "--set", "alpha_thetaa=1")
    assert code == 2 and one_line(err).endswith("--set: alpha_thetaa: unknown key (did you mean alpha_theta?)")
    code, out, err = cli(capsys)
    assert code == 0 and out.startswith("usage: pgzoo") and err == ""


def test_list_says_when_no_plugin_loaded(tmp_path, monkeypatch, capsys) -> None:
    from pgzoo import registry
    from pgzoo.registry import Registry

    broken = Registry(errors=[{"plugin": "p", "dist": "d", "version": "1", "stage": "import", "error": "E"}])
    monkeypatch.setattr(registry, "_REGISTRY", broken)
    code, out, err = cli(capsys, "list")
    assert code == 1 and "p (d 1): import: E" in out
    assert one_line(err) == "pgzoo list: no algorithm loaded; 1 plugin(s) failed to load (listed above)"
    (tmp_path / "pgzoo").mkdir()  # a clone's root, which Python takes for the package
    res = run_cli("list", cwd=tmp_path)
    assert res.returncode == 2 and one_line(res.stderr) == (
        f"pgzoo: error: Python takes the folder {tmp_path / 'pgzoo'} for the pgzoo package (a clone of its "
        "repository?), so no plugin can import pgzoo: run pgzoo from another folder")


def test_ctrl_c_on_a_bench_is_one_line(tmp_path) -> None:
    assert _interrupt_a_bench(tmp_path / "bench") == (130, ["pgzoo bench: interrupted"])


SIGINT_BIT = 1 << (signal.SIGINT - 1)  # SIGINT's bit in /proc/PID/status's SigBlk and SigIgn masks


def _masks(pid: int | str) -> tuple[int, int]:
    """(SigBlk, SigIgn) of process ``pid`` (its main thread), from /proc."""
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if line.startswith(("SigBlk", "SigIgn")))
    return int(status["SigBlk"], 16), int(status["SigIgn"], 16)


def test_bench_workers_are_born_deaf_to_ctrl_c(tmp_path) -> None:
    """A Ctrl-C while a worker is still starting (importing pgzoo, before its initializer sets
    SIGINT to ignored) once printed the worker's KeyboardInterrupt traceback under the bench's
    one line. Workers are now born with SIGINT blocked: every look at a starting worker (its
    /proc status, polled every few ms from its birth) finds SIGINT blocked or ignored."""
    (tmp_path / "suite.toml").write_text("""
name = "tiny"
seeds = [0, 1]
evaluation = { every = 1000, episodes = 1 }
envs = { CartPole-v1 = { steps = 200 } }
algorithms = { actor-critic = { hyperparams = { num_envs = 1 } } }
""")
    bench = subprocess.Popen([sys.executable, "-m", "pgzoo.cli", "bench", str(tmp_path), "--quiet", "--no-population",
                              "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=_as_from_a_terminal)
    looks: dict[int, list[tuple[int, int]]] = {}
    while bench.poll() is None:
        for pid in _children(bench.pid):
            try:
                if "spawn_main" not in Path(f"/proc/{pid}/cmdline").read_text():
                    continue  # not a worker (yet: between fork and exec it runs the bench's command line)
                looks.setdefault(pid, []).append(_masks(pid))
            except (OSError, ValueError, KeyError):
                continue
        time.sleep(0.002)
    seen = {pid: [(hex(b), hex(i)) for b, i in masks[:3]] + [len(masks)] for pid, masks in looks.items()}
    assert bench.returncode == 0, bench.stderr.read()
    assert looks, "no worker was seen starting"
    early = [pid for pid, masks in looks.items() if masks[0][1] & SIGINT_BIT == 0]  # seen before its initializer
    assert early, f"every worker was first seen after its initializer, the start-up window unobserved: {seen}"
    deaf = [all((blk | ign) & SIGINT_BIT for blk, ign in masks) for masks in looks.values()]
    assert all(deaf), seen


def _as_from_a_terminal() -> None:
    """In the child, before exec: SIGINT handled and unblocked, as for a command typed at a terminal,
    whatever this test process inherited (a shell starts background jobs, e.g. ``pytest &``, with
    SIGINT ignored, and Python then leaves it ignored in every child)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _children(pid: int) -> list[int]:
    """The children of ``pid`` now (Linux's /proc/PID/task/TID/children, every thread's)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _interrupt_a_bench(folder: Path) -> tuple[int | None, list[str]]:
    """Ctrl-C a bench training one long run: its exit code and its stderr after the first line (the
    expected: 130 and one line, no "leaked semaphore" warning)."""
    folder.mkdir()
    (folder / "suite.toml").write_text("""
name = "long"
seeds = [0]
evaluation = { every = 100000, episodes = 1 }
envs = { CartPole-v1 = { steps = 200000 } }
algorithms = { actor-critic = { hyperparams = { num_envs = 1 } } }
""")
    bench = subprocess.Popen([sys.executable, "-m", "pgzoo.cli", "bench", str(folder), "--quiet", "--no-population",
                              "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, preexec_fn=_as_from_a_terminal)
    try:
        deadline = time.monotonic() + 120
        while _training(bench.pid) < 1 and time.monotonic() < deadline:  # the worker has torch loaded
            assert bench.poll() is None, bench.communicate()[1]
            time.sleep(0.5)
        time.sleep(2)  # and are training: their progress bars' locks are made
        os.killpg(bench.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        err = bench.communicate(timeout=120)[1]
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
    return bench.returncode, err.splitlines()[1:]


def _training(pid: int) -> int:
    """How many descendants of ``pid`` have loaded pgzoo's trainer (their /proc maps name torch's library)."""
    n = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid and "libtorch_cpu" in (entry / "maps").read_text():
                n += 1
        except (OSError, ValueError):
            continue
    return n

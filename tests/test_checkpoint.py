"""Checkpoints and `pgzoo train --resume` (issue 13 §2): a SIGKILL in the middle loses nothing
that a checkpoint holds, SIGTERM/SIGINT save and exit, bad checkpoints are one line, and a resume
from an episode boundary is the uninterrupted run bit for bit where that is achievable."""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pgzoo.cli import main
from pgzoo.engine.checkpoint import CHECKPOINT, Checkpointer, checkpoint_interval
from pgzoo.engine.trainer import EvalSchedule, Trainer
from pgzoo.errors import Interrupted
from pgzoo.registry import get_algorithm
from pgzoo.tblog import TensorBoardLogger, TrainLogger


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def agent_state(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "model.pt", weights_only=True)["agent"]


def same_parameters(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def without_wall(table: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return [(r["episode"], r["env_steps"], r["return"], r["length"]) for r in table]


class StopAtEpisode(TrainLogger):
    """Sends this process a real signal when episode ``k`` ends (the checkpoint then falls at the
    end of that env step: an episode boundary for one environment)."""

    def __init__(self, k: int, signum: int = signal.SIGTERM) -> None:
        self.k, self.signum = k, signum

    def on_episode(self, row: dict[str, Any]) -> None:
        if row["episode"] == self.k:
            os.kill(os.getpid(), self.signum)


def train(out: Path, algorithm: str, env_id: str, settings: dict[str, Any], logger: TrainLogger | None = None,
          stop_at: int | None = None, eval_every: int | None = None) -> Interrupted | None:
    """What `pgzoo train ALGO --env ENV --set ... --out OUT [--eval-every N]` does, optionally
    stopped by SIGTERM when episode ``stop_at`` ends, or by ``logger`` (then it must raise
    Interrupted with exit code 143, which is returned)."""
    cls = get_algorithm(algorithm)
    config = cls.make_config(env_id, settings)
    ckpt = Checkpointer(out, checkpoint_interval(config), {"eval_every": eval_every, "tensorboard": None})
    schedule = EvalSchedule(eval_every, config.eval_episodes) if eval_every else None
    stopping = stop_at is not None or logger is not None
    logger = logger or (StopAtEpisode(stop_at) if stop_at else TrainLogger())
    with ckpt.signals():
        trainer = Trainer(cls(config), env_id, 0, out, progress=False, logger=logger, checkpoints=ckpt,
                          schedule=schedule)
        if not stopping:
            trainer.run()
            return None
        with pytest.raises(Interrupted) as info:
            trainer.run()
    assert info.value.exit_code == 128 + signal.SIGTERM
    assert (out / CHECKPOINT).exists() and not (out / "summary.json").exists()
    return info.value


def resume(out: Path, capsys: pytest.CaptureFixture) -> str:
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    return capsys.readouterr().err


# --- exact resume ------------------------------------------------------------------------
EXACT = [
    # REINFORCE, one environment: its update falls at the episode's end, right before the checkpoint
    ("reinforce", "CartPole-v1", {"total_steps": 3000, "eval_episodes": 2}, 17),
    # per-step actor-critics: the checkpoint falls at the end of the step in which an episode ended
    ("actor-critic", "CartPole-v1", {"total_steps": 1000, "num_envs": 1, "eval_episodes": 2}, 9),
    # the compiled update step holds the optimiser's state tensors: a resume loads into them
    ("actor-critic", "CartPole-v1", {"total_steps": 1000, "num_envs": 1, "eval_episodes": 2, "compile": "on"}, 9),
    ("actor-critic-traces", "Acrobot-v1", {"total_steps": 700, "num_envs": 1, "eval_episodes": 1,
                                           "max_episode_steps": 200}, 2),
]


EXACT_IDS = [e[0] + "-" + e[1] + ("-compiled" if e[2].get("compile") == "on" else "") for e in EXACT]


@pytest.mark.parametrize(("algorithm", "env_id", "settings", "k"), EXACT, ids=EXACT_IDS)
def test_resume_from_an_episode_boundary_is_the_uninterrupted_run(tmp_path, capsys, algorithm, env_id, settings,
                                                                  k) -> None:
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train(whole, algorithm, env_id, settings)
    train(cut, algorithm, env_id, settings, stop_at=k)
    assert len(rows(cut)) == k
    resume(cut, capsys)
    assert same_parameters(agent_state(cut), agent_state(whole))
    assert without_wall(rows(cut)) == without_wall(rows(whole))
    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, cut))
    for key in ("env_steps", "episodes", "updates", "rollouts", "eval_return_mean", "eval_return_mean_deterministic"):
        assert a[key] == b[key], key
    assert not (cut / CHECKPOINT).exists()  # a finished run keeps no checkpoint


class StopInFinalEvaluation(TrainLogger):
    def __init__(self, budget: int) -> None:
        self.budget = budget

    def on_eval(self, point: dict[str, float]) -> None:
        if point["env_steps"] == self.budget:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_during_the_final_evaluation_resumes_straight_to_it(tmp_path, capsys) -> None:
    settings = {"total_steps": 1000, "eval_episodes": 2, "checkpoint_every": 0}
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train(whole, "reinforce", "CartPole-v1", settings, eval_every=400)
    stopped = train(cut, "reinforce", "CartPole-v1", settings, logger=StopInFinalEvaluation(1000), eval_every=400)
    assert str(stopped) == (f"stopped by SIGTERM during the final evaluation; checkpoint at the end of training saved "
                            f"to {cut / CHECKPOINT}; continue with: pgzoo train --resume {cut}")
    meta = json.loads(torch.load(cut / CHECKPOINT, weights_only=True)["meta"])
    assert meta["progress"]["env_steps"] == 1000 and [p["env_steps"] for p in meta["curve"]] == [0, 400, 800]
    resume(cut, capsys)
    assert same_parameters(agent_state(cut), agent_state(whole))
    assert without_wall(rows(cut)) == without_wall(rows(whole))
    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, cut))
    assert a["eval_return_mean"] == b["eval_return_mean"] and a["env_steps"] == b["env_steps"] == 1000


CORRIDOR = {"total_episodes": 30, "max_episode_steps": 100, "eval_episodes": 1, "alpha_theta": 2**-9}


@pytest.fixture(scope="module")
def corridor_whole(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corridor") / "whole"
    train(out, "reinforce", "ShortCorridor-v0", CORRIDOR)
    return out


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(1, 29))
def test_resume_after_any_episode_of_reinforce_is_exact(tmp_path_factory, corridor_whole, k) -> None:
    # Example 13.1 (pgzoo's own environment): stopped after episode k, resumed, it ends where
    # the uninterrupted run ends, bit for bit, with the same rows.
    cut = tmp_path_factory.mktemp("cut") / "run"
    train(cut, "reinforce", "ShortCorridor-v0", CORRIDOR, stop_at=k)
    assert main(["train", "--resume", str(cut), "--quiet"]) == 0
    assert same_parameters(agent_state(cut), agent_state(corridor_whole))
    assert without_wall(rows(cut)) == without_wall(rows(corridor_whole))


def test_not_exact_but_complete_with_several_envs_and_n_step_segments(tmp_path, capsys) -> None:
    # a2c, 2 envs, 5-step segments: the other environment is mid-episode and the segment half
    # collected at the checkpoint; both are dropped. The resumed run still reaches its budget
    # and counts every finished episode once.
    settings = {"total_steps": 2000, "num_envs": 2, "rollout_steps": 5}
    out = tmp_path / "a2c"
    train(out, "a2c", "CartPole-v1", settings, stop_at=6)
    saved = torch.load(out / CHECKPOINT, weights_only=True)
    at = json.loads(saved["meta"])["progress"]
    resume(out, capsys)
    table = rows(out)
    assert [int(r["episode"]) for r in table] == list(range(1, len(table) + 1))
    steps = [int(r["env_steps"]) for r in table]
    assert steps == sorted(steps) and steps[5] == at["env_steps"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == 2000 and summary["episodes"] == len(table)


def test_continuing_task_keeps_its_average_reward_traces_and_window(tmp_path, capsys) -> None:
    # actor-critic-continuing on AccessControl-v0: R̄ (a critic parameter) and the traces z are
    # saved; metrics rows stay one per reward_window env steps across the resume, because the
    # window in progress is saved too.
    settings = {"total_steps": 1500, "reward_window": 300, "eval_steps": 100, "eval_episodes": 1}
    out = tmp_path / "acc"
    train(out, "actor-critic-continuing", "AccessControl-v0", settings, stop_at=2)
    saved = torch.load(out / CHECKPOINT, weights_only=True)
    assert "value.r_bar" in saved["agent"] and float(saved["agent"]["value.r_bar"]) != 0.0
    traces = {k: v for k, v in saved["loss"].items() if ".z_" in k or k.startswith("z_")}
    assert traces and all(v.shape[0] == 1 for v in traces.values()) and any(v.abs().sum() > 0 for v in traces.values())
    resume(out, capsys)
    assert [int(r["env_steps"]) for r in rows(out)] == [300 * i for i in range(1, 6)]
    assert [int(r["length"]) for r in rows(out)] == [300] * 5


# --- a real process: SIGKILL, SIGTERM, SIGINT ----------------------------------------------
def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pgzoo.cli", "train", *args, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, ready: Any, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"the run ended before the test could stop it: {proc.communicate()}"
        assert time.monotonic() < end, "the run did not get there in time"
        time.sleep(0.01)


def test_sigkill_in_the_middle_then_resume_finishes_with_every_episode_once(tmp_path) -> None:
    args = ["reinforce", "--env", "CartPole-v1", "--steps", "3000", "--set", "checkpoint_every=600",
            "--set", "eval_episodes=1"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert subprocess.run([sys.executable, "-m", "pgzoo.cli", "train", *args, "--out", str(whole), "--quiet"],
                          capture_output=True).returncode == 0
    proc = spawn(*args, "--out", str(cut))
    wait_for(proc, lambda: (cut / CHECKPOINT).exists())
    time.sleep(0.1)  # somewhere after the first checkpoint
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    saved = torch.load(cut / CHECKPOINT, weights_only=True)  # no pickled objects
    assert torch.load(cut / "model.pt", weights_only=True)["agent"].keys() == saved["agent"].keys()
    assert not (cut / "summary.json").exists()
    res = subprocess.run([sys.executable, "-m", "pgzoo.cli", "train", "--resume", str(cut), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    table = rows(cut)
    assert [int(r["episode"]) for r in table] == list(range(1, len(table) + 1))
    # REINFORCE with one environment: every checkpoint is at an episode's end, so the resume is exact
    assert without_wall(table) == without_wall(rows(whole))
    assert same_parameters(agent_state(cut), agent_state(whole))
    again = subprocess.run([sys.executable, "-m", "pgzoo.cli", "train", "--resume", str(cut)], capture_output=True,
                           text=True)
    assert again.returncode == 0
    assert again.stderr == f"pgzoo train: {cut} is finished (3000 env steps, summary.json); nothing to resume\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_a_checkpoint_and_exits_cleanly(tmp_path, signum) -> None:
    out = tmp_path / "run"
    proc = spawn("actor-critic-traces", "--env", "CartPole-v1", "--steps", "100000", "--set", "num_envs=2",
                 "--set", "checkpoint_every=0", "--out", str(out))
    wait_for(proc, lambda: len((out / "metrics.csv").read_text().splitlines()) > 3
             if (out / "metrics.csv").exists() else False)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    name = signal.Signals(signum).name
    assert err.startswith(f"pgzoo train: stopped by {name} at env step ") and err.count("\n") == 1
    assert err.endswith(f"; checkpoint saved to {out / CHECKPOINT}; continue with: pgzoo train --resume {out}\n")
    saved = torch.load(out / CHECKPOINT, weights_only=True)
    meta = json.loads(saved["meta"])
    assert meta["progress"]["episodes"] == len(rows(out))
    traces = [v for k, v in saved["loss"].items() if "z_" in k]
    assert traces and all(v.shape[0] == 2 for v in traces)  # one trace per environment
    assert torch.load(out / "model.pt", weights_only=True)["agent"].keys() == saved["agent"].keys()


# --- metrics.csv and TensorBoard after the checkpoint -------------------------------------
def test_rows_written_after_the_checkpoint_are_dropped(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    settings = {"total_steps": 1500}
    train(out, "reinforce", "CartPole-v1", settings, stop_at=5)
    whole = tmp_path / "whole"
    train(whole, "reinforce", "CartPole-v1", settings)
    # what a process SIGKILLed after its checkpoint leaves: later rows, and half a row
    with open(out / "metrics.csv", "a") as fh:
        fh.write("6,999,12.0,12,9.5\n7,1011,3.0,3,9.6\n8,10")
    resume(out, capsys)
    assert without_wall(rows(out)) == without_wall(rows(whole))


def test_tensorboard_hides_what_the_stopped_process_logged_after_its_checkpoint(tmp_path, capsys) -> None:
    out, tb = tmp_path / "run", tmp_path / "tb"
    cls = get_algorithm("reinforce")
    config = cls.make_config("CartPole-v1", {"total_steps": 1500})
    ckpt = Checkpointer(out, 0, {"eval_every": None, "tensorboard": [str(tb), "run"]})
    stop = StopAtEpisode(4)
    with TensorBoardLogger(tb, "run") as logger, ckpt.signals(), pytest.raises(Interrupted):
        logger.on_episode = lambda row, log=logger.on_episode: (log(row), stop.on_episode(row))  # type: ignore
        Trainer(cls(config), "CartPole-v1", 0, out, progress=False, logger=logger, checkpoints=ckpt).run()
    at = json.loads(torch.load(out / CHECKPOINT, weights_only=True)["meta"])["progress"]["env_steps"]
    with TensorBoardLogger(tb, "run") as late:  # events a SIGKILLed process flushed after its checkpoint
        late.on_episode({"env_steps": at + 7, "return": -1.0, "length": 7})
    resume(out, capsys)
    acc = EventAccumulator(str(tb / "run"), size_guidance={"scalars": 0})
    acc.Reload()
    steps = [e.step for e in acc.Scalars("rollout/episode_return")]
    assert steps == [int(r["env_steps"]) for r in rows(out)]
    assert -1.0 not in [e.value for e in acc.Scalars("rollout/episode_return")]


# --- refusals: one line, exit code 2 ----------------------------------------------------
@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ck") / "run"
    train(out, "reinforce", "CartPole-v1", {"total_steps": 1000}, stop_at=3)
    return out


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


class Pickled:
    pass


def corrupt(kind: str, path: Path) -> None:
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_bytes(b"\x00not a checkpoint\xff" * 10)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "pickled-object":
        torch.save({"agent": {}, "x": Pickled()}, path)
    elif kind == "model-not-checkpoint":
        torch.save({"agent": {"w": torch.zeros(2)}}, path)
    elif kind == "bad-meta":
        state = torch.load(path, weights_only=True)
        state["meta"] = "{not json"
        torch.save(state, path)
    elif kind == "wrong-shapes":
        state = torch.load(path, weights_only=True)
        state["agent"] = {k: torch.zeros(3) for k in state["agent"]}
        torch.save(state, path)


@pytest.mark.parametrize(("kind", "says"), [
    ("truncated", "checkpoint.pt: not a readable checkpoint, truncated or corrupt"),
    ("garbage", "checkpoint.pt: not a readable checkpoint"),
    ("empty", "checkpoint.pt: not a readable checkpoint"),
    ("pickled-object", "checkpoint.pt: the file holds pickled objects other than tensors"),
    ("model-not-checkpoint", "checkpoint.pt: not a pgzoo checkpoint (missing optimizer, loss"),
    ("bad-meta", "checkpoint.pt: not a pgzoo checkpoint (its metadata lacks run"),
    ("wrong-shapes", "checkpoint.pt: does not fit 'reinforce' on CartPole-v1 as config.json describes it"),
])
def test_a_bad_checkpoint_is_one_line(stopped, tmp_path, capsys, kind, says) -> None:
    run = copy_run(stopped, tmp_path / "run")
    corrupt(kind, run / CHECKPOINT)
    before = (run / "model.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pgzoo train: error: ") and says in err, err
    assert (run / "model.pt").read_bytes() == before  # nothing overwritten


def test_refusals(stopped, tmp_path, capsys) -> None:
    def refused(*argv: str) -> str:
        capsys.readouterr()
        assert main(["train", *argv, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        return err.removeprefix("pgzoo train: error: ").rstrip("\n")

    assert refused("--resume", str(stopped), "reinforce", "--env", "CartPole-v1", "--set", "gamma=0.9") == (
        f"--resume continues {stopped} with its saved settings; drop ALGO, --env, --set")
    assert refused("--resume", str(stopped), "--steps", "10") == (
        f"--resume continues {stopped} with its saved settings; drop --steps")
    assert refused("--resume", str(stopped), "--eval-every", "100") == (
        f"--eval-every 100: the run in {stopped} evaluates every never (drop --eval-every to keep it)")
    assert refused("--resume", str(stopped), "--tensorboard", str(tmp_path)) == (
        f"--tensorboard {tmp_path}: the run in {stopped} logs to no TensorBoard folder (drop --tensorboard to keep it)")
    empty = copy_run(stopped, tmp_path / "no-checkpoint")
    (empty / CHECKPOINT).unlink()
    assert refused("--resume", str(empty)) == (
        f"--resume {empty}: no checkpoint to resume from (no checkpoint.pt: the run stopped before its first "
        "checkpoint)")
    assert refused("--resume", str(tmp_path / "nowhere")) == f"--resume {tmp_path / 'nowhere'}: no such folder"
    other = copy_run(stopped, tmp_path / "edited")
    meta = json.loads((other / "config.json").read_text())
    meta["config"]["gamma"] = 0.5
    (other / "config.json").write_text(json.dumps(meta))
    assert refused("--resume", str(other)) == (
        f"{other}: config.json and checkpoint.pt describe different runs (config differ)")
    assert refused("--env", "CartPole-v1") == "the following arguments are required: ALGO (or --resume DIR)"


def test_a_new_run_into_a_stopped_one_needs_force_and_removes_its_checkpoint(stopped, tmp_path, capsys) -> None:
    run = copy_run(stopped, tmp_path / "run")
    again = ["train", "reinforce", "--env", "CartPole-v1", "--steps", "300", "--out", str(run), "--quiet"]
    capsys.readouterr()
    assert main(again) == 2
    assert capsys.readouterr().err == (f"pgzoo train: error: {run} holds a stopped run with a checkpoint; continue it "
                                       f"with: pgzoo train --resume {run} (or pass --force to start over)\n")
    assert main([*again, "--force"]) == 0
    assert not (run / CHECKPOINT).exists() and (run / "summary.json").exists()
    assert json.loads((run / "summary.json").read_text())["env_steps"] == 300


def test_checkpoint_every_is_validated(capsys) -> None:
    assert main(["train", "reinforce", "--env", "CartPole-v1", "--set", "checkpoint_every=-5"]) == 2
    assert "checkpoint_every: Input should be greater than or equal to 0 (got -5)" in capsys.readouterr().err
    cfg = get_algorithm("reinforce").make_config("CartPole-v1", {"total_steps": 55_555})
    assert checkpoint_interval(cfg) == 5_555
    assert checkpoint_interval(cfg.model_copy(update={"checkpoint_every": 0})) == 0


@pytest.mark.parametrize("algorithm", ["reinforce", "actor-critic"])
def test_taking_checkpoints_does_not_change_training(tmp_path, algorithm) -> None:
    from pgzoo.engine.trainer import train as plain_train

    settings = {"total_steps": 1200, "num_envs": 2, "eval_episodes": 1}
    train(tmp_path / "ck", algorithm, "CartPole-v1", {**settings, "checkpoint_every": 100})
    alone = plain_train(algorithm, "CartPole-v1", 0, settings)  # no folder, no checkpoints (as the bench trains)
    assert same_parameters(agent_state(tmp_path / "ck"), alone.agent.state_dict())


def test_optimizer_state_is_loaded_into_the_tensors_that_already_exist() -> None:
    # whoever holds the optimiser's state tensors (a compiled update step) sees the loaded values
    from pgzoo.engine.checkpoint import _load_optimizer_in_place

    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.Adam([w], lr=0.1)
    w.grad = torch.tensor([0.5, -0.5])
    opt.step()
    held = opt.state[w]["exp_avg"]  # (1 − 0.9) · g = [0.05, −0.05]
    saved = copy.deepcopy(opt.state_dict())  # as torch.load gives it: tensors of its own
    saved["state"][0]["exp_avg"] = torch.tensor([3.0, 4.0])
    _load_optimizer_in_place(opt, saved)
    assert opt.state[w]["exp_avg"] is held and held.tolist() == [3.0, 4.0]

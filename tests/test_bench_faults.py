"""Faults around a bench (issue 12 §4): two benches on one folder, a SIGKILLed bench's workers,
one diverging member of a population, a lost line of a population, a wrong Ray address."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgzoo.bench.lock import bench_lock
from pgzoo.bench.results import read_results
from pgzoo.engine.population import Population
from pgzoo.engine.trainer import Trainer, TrainingError
from pgzoo.registry import get_algorithm
from pgzoo.testing import run_cli

LONG = """
name = "long"
seeds = [0, 1]
bootstrap_reps = 100
evaluation = { every = 100000, episodes = 1 }
envs = { CartPole-v1 = { steps = 200000 } }
algorithms = { actor-critic = { hyperparams = { num_envs = 1 } } }
"""


def _children() -> dict[int, int]:
    """pid → parent pid of every process (from /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _descendants(pid: int) -> set[int]:
    parents = _children()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited


def _kill_bench_and_count_survivors(folder: Path, *extra: str, ready: int, wait_s: float = 240) -> int:
    bench = subprocess.Popen([sys.executable, "-m", "pgzoo.cli", "bench", str(folder), "--quiet", *extra],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + wait_s
        while len(_descendants(bench.pid)) < ready and time.monotonic() < deadline:
            assert bench.poll() is None, "the bench ended before its workers started"
            time.sleep(0.5)
        time.sleep(3)  # the workers are training now
        family = _descendants(bench.pid)
        assert len(family) >= ready, family
        os.kill(bench.pid, signal.SIGKILL)
        bench.wait()
        deadline = time.monotonic() + 60  # generous: a loaded machine is slow to let processes go
        while any(_alive(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.5)
        return sum(_alive(p) for p in family)
    finally:
        for p in _descendants(bench.pid) if bench.poll() is None else ():
            os.kill(p, signal.SIGKILL)


def test_a_sigkilled_bench_takes_its_pool_workers_with_it(tmp_path) -> None:
    (tmp_path / "suite.toml").write_text(LONG)
    # 2 workers (and multiprocessing's resource tracker) must be gone within 60 s
    assert _kill_bench_and_count_survivors(tmp_path, "--workers", "2", "--no-population", ready=3) == 0


def test_a_sigkilled_ray_bench_takes_its_local_cluster_with_it(tmp_path) -> None:
    pytest.importorskip("ray")
    (tmp_path / "suite.toml").write_text(LONG)
    # the local cluster: gcs_server, raylet, agents and the task workers
    assert _kill_bench_and_count_survivors(tmp_path, "--executor", "ray", "--workers", "2", "--no-population",
                                           ready=6) == 0


def test_a_second_bench_on_a_folder_says_who_holds_it(tmp_path) -> None:
    (tmp_path / "suite.toml").write_text(LONG)
    with bench_lock(tmp_path):
        res = run_cli("bench", str(tmp_path), "--quiet")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "another pgzoo bench is running on this folder" in lines[0] and f"pid {os.getpid()} on " in lines[0]
    assert not (tmp_path / "results.jsonl").exists()
    with bench_lock(tmp_path):  # released, and free again
        pass


def test_a_wrong_ray_address_fails_in_one_line_quickly(tmp_path) -> None:
    pytest.importorskip("ray")
    (tmp_path / "suite.toml").write_text(LONG)
    start = time.monotonic()
    res = run_cli("bench", str(tmp_path), "--quiet", "--executor", "ray", "--address", "127.0.0.1:1", timeout=120)
    assert time.monotonic() - start < 30
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "--address 127.0.0.1:1: cannot reach a Ray cluster there (Connection refused)" in lines[0]


# --- one diverging member ------------------------------------------------------------------------
class _Blowup(gym.Env):
    """One observation, any real action; reward −a², −10³⁰⁸ once |a| ≥ 50 (episodes of 5 steps).

    The reward stays finite (an environment may not return NaN), but the loss overflows: a policy
    that learns with a huge step size throws its mean far out and diverges there; a small step
    size never gets near it (σ = 1)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1e6, 1e6, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        a = float(np.asarray(action).reshape(-1)[0])
        reward = -a * a if abs(a) < 50 else -1e308
        return np.zeros(1, np.float32), reward, self.t >= 5, False, {}


if "TestBlowup-v0" not in gym.registry:
    gym.register("TestBlowup-v0", entry_point=_Blowup)


def _reinforce(alpha: float):
    cls = get_algorithm("reinforce")
    return cls(cls.make_config("TestBlowup-v0", {"alpha_theta": alpha, "sequential": False, "policy": "linear",
                                                 "total_episodes": 12, "eval_episodes": 1}))


def test_one_diverging_member_fails_alone(tmp_path) -> None:
    # The right values: each seed trained alone by the trainer (the population's contract).
    algos = [_reinforce(1.0), _reinforce(1e-3), _reinforce(1e-3)]
    with pytest.raises(TrainingError) as alone_error:
        Trainer(algos[0], "TestBlowup-v0", 0, tmp_path / "s0", progress=False, dtype=torch.float64).run()
    last_good = torch.load(tmp_path / "s0" / "model.pt", weights_only=True)["agent"]
    alone = [Trainer(algos[i], "TestBlowup-v0", i, progress=False, dtype=torch.float64).run().agent
             for i in (1, 2)]
    pop = Population(algos, "TestBlowup-v0", [0, 1, 2], dtype=torch.float64).run()
    assert list(pop.failed) == [0]
    # same loss term, env step and update as the trainer reports for seed 0 alone
    where = str(alone_error.value).split(": ", 1)[1].split(";")[0]  # "loss_policy is inf at env step S (update U)"
    assert re.match(r"(loss_policy is (nan|-?inf)|a gradient of the total loss is not finite) at env step ", where)
    assert pop.failed[0] == f"'reinforce' on TestBlowup-v0 (seed 0): {where}"
    for name, value in last_good.items():  # stopped with its last good parameters
        torch.testing.assert_close(pop.params[name][0], value.double(), rtol=0, atol=1e-12)
    for r, agent in zip((1, 2), alone, strict=True):  # the others finished, as alone
        assert pop.updates[r] == 12
        for name, p in agent.named_parameters():
            torch.testing.assert_close(pop.params[name][r], p, rtol=0, atol=1e-10)
    with pytest.raises(TrainingError, match="seed 0"):
        pop.check()


def test_a_bench_cell_records_the_other_seeds_and_the_diverged_one_as_failed() -> None:
    from pgzoo.bench.population import run_cell
    from pgzoo.bench.suite import RunSpec

    algo = _reinforce(0.03)  # at this step size seed 1 diverges (env step 35) and seeds 0 and 2 do not
    config = algo.config.model_dump(mode="json")
    specs = [RunSpec("reinforce", "algorithm", "TestBlowup-v0", s, 60, 30, 1, {}, config).__dict__ for s in range(3)]
    alone = {}
    for s in range(3):
        try:
            Trainer(algo, "TestBlowup-v0", s, progress=False).run()
            alone[s] = None
        except TrainingError as e:
            alone[s] = str(e).split(": ", 1)[1]
    assert any(alone.values()) and not all(alone.values()), alone  # the seeds chosen have both outcomes
    records = run_cell(specs)
    for s, rec in enumerate(records):
        if alone[s]:
            assert rec == {"type": "failed", "error": f"'reinforce' on TestBlowup-v0 (seed {s}): {alone[s]}"}
        else:
            assert rec["type"] == "run" and rec["seed"] == s and rec["population_seeds"] == [0, 1, 2]


# --- a lost line of a population -------------------------------------------------------------------
GROUP = """
name = "group"
seeds = [0, 1, 2]
bootstrap_reps = 100
evaluation = { every = 500, episodes = 2 }
envs = { CartPole-v1 = { steps = 1000 } }
algorithms = { actor-critic-traces = { hyperparams = { num_envs = 2 } } }
"""


def test_a_redone_population_seed_reproduces_its_lost_line_bit_for_bit(tmp_path) -> None:
    (tmp_path / "suite.toml").write_text(GROUP)
    res = run_cli("bench", str(tmp_path), "--quiet", "--workers", "1")
    assert res.returncode == 0, res.stderr
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines()
    runs = {json.loads(ln)["seed"]: ln for ln in lines if json.loads(ln).get("type") == "run"}
    assert sorted(runs) == [0, 1, 2] and json.loads(runs[1])["population_seeds"] == [0, 1, 2]
    kept = [ln for ln in lines if ln != runs[1]]
    path.write_text("\n".join(kept) + "\n{\"type\":\"run\"}\n")  # seed 1's line lost, a bad line instead
    res = run_cli("bench", str(tmp_path), "--quiet", "--workers", "1")
    assert res.returncode == 0, res.stderr
    assert "1 bad line(s)" in res.stderr
    redone = [r for r in read_results(path).runs() if r["seed"] == 1]
    old = json.loads(runs[1])
    assert len(redone) == 1 and len(read_results(path).runs()) == 3  # seeds 0 and 2 not written twice
    for key in ("final", "curve", "env_steps", "config_hash", "population_seeds"):
        assert redone[0][key] == old[key], key

"""The Ray executor on a real local cluster: joined by address, same results as the local pool,
and a worker killed mid-task is retried so the leaderboard is complete."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

TINY = """
name = "tiny-ray"
seeds = [0, 1]
bootstrap_reps = 200
evaluation = { every = 1000, episodes = 2 }
envs = { CartPole-v1 = { steps = 2000 }, "boundary_envs:FlakyEarly-v0" = { steps = 40, reward_threshold = 5 } }
algorithms = { actor-critic = { hyperparams = { num_envs = 8 } } }
"""
# FlakyEarly (tests/envs/boundary_envs.py) raises at its 7th step: the 2nd step of its 2nd episode
FLAKY = ("environment 'boundary_envs:FlakyEarly-v0': step() (step 2 of an episode) raised RuntimeError: simulator "
         "lost connection")
ENVS = {"PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).parent / "envs"), os.environ.get("PYTHONPATH"))
                                      if p)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_bin() -> str:
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    """A Ray head of this test's own (its own port and temp dir), stopped by stopping it: never
    `ray stop`, which would stop every Ray cluster of the user on this machine."""
    port = _free_port()
    temp_dir = tmp_path_factory.mktemp("ray")
    log = open(temp_dir / "ray-start.log", "w")  # noqa: SIM115 (open while the head runs)
    # --block: the command runs until it gets SIGTERM, then stops the processes it started
    start = [_ray_bin(), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"]
    head = subprocess.Popen(start, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **ENVS})  # its workers import the test's environments
    try:
        deadline = time.monotonic() + 180
        while not _accepts(port):
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start failed: {(temp_dir / 'ray-start.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()
        try:
            head.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)  # its own session: this head's processes only
            head.wait()
        log.close()


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _bench(folder: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgzoo.cli", "bench", str(folder), "--quiet", *extra],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **ENVS, **(env or {})})


def _failed(folder: Path) -> list[tuple[str, int, str]]:
    lines = (folder / "results.jsonl").read_text().splitlines()
    return sorted((r["env"], r["seed"], r["error"]) for r in map(json.loads, lines) if r.get("type") == "failed")


def _runs(folder: Path) -> dict[tuple[str, int], dict]:
    lines = (folder / "results.jsonl").read_text().splitlines()
    return {(r["algorithm"], r["seed"]): r for r in map(json.loads, lines) if r.get("type") == "run"}


def test_ray_cluster_gives_local_results_and_retries_killed_workers(tmp_path, ray_address):
    local, on_ray, crashes = tmp_path / "local", tmp_path / "ray", tmp_path / "crashes"
    for folder in (local, on_ray, crashes):
        folder.mkdir()
    for folder in (local, on_ray):
        (folder / "suite.toml").write_text(TINY)

    proc = _bench(local, "--workers", "2")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr  # the flaky env's runs failed
    # Every task's first attempt SIGKILLs its own worker process; Ray must retry it.
    proc = _bench(on_ray, "--executor", "ray", "--address", ray_address,
                  env={"PGZOO_BENCH_CRASH_ONCE": str(crashes)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert len(list(crashes.iterdir())) == 4  # each seed of each cell once
    # an environment that raises fails its own runs on either executor, in one line, and the others finish
    flaky = [("boundary_envs:FlakyEarly-v0", seed, FLAKY) for seed in (0, 1)]
    assert _failed(local) == _failed(on_ray) == flaky

    expected, got = _runs(local), _runs(on_ray)
    assert set(got) == set(expected) == {("actor-critic", 0), ("actor-critic", 1)}
    for key, run in expected.items():
        assert got[key]["executor"] == "ray"
        assert got[key]["curve"] == run["curve"]
        assert got[key]["final"] == run["final"]
        assert got[key]["env_steps"] == run["env_steps"]
    (row,) = json.loads((on_ray / "leaderboard.json").read_text())["rows"]
    assert row["seeds"] == 2

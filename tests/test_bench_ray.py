"""The Ray executor on a real local cluster: joined by address, same results as the local pool,
and a worker killed mid-task is retried so the leaderboard is complete."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")

TINY = """
name = "tiny-ray"
seeds = [0, 1]
bootstrap_reps = 200
evaluation = { every = 1000, episodes = 2 }
envs = { CartPole-v1 = { steps = 2000 } }
algorithms = { actor-critic = { hyperparams = { num_envs = 8 } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_bin() -> str:
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


@pytest.fixture(scope="module")
def ray_address():
    port = _free_port()
    start = [_ray_bin(), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats"]
    proc = subprocess.run(start, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        subprocess.run([_ray_bin(), "stop", "--force"], capture_output=True, timeout=120)
        pytest.fail(f"ray start failed: {proc.stderr[-2000:]}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([_ray_bin(), "stop", "--force"], capture_output=True, timeout=120)


def _bench(folder: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgzoo.cli", "bench", str(folder), "--quiet", *extra],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


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
    assert proc.returncode == 0, proc.stderr
    # Every task's first attempt SIGKILLs its own worker process; Ray must retry it.
    proc = _bench(on_ray, "--executor", "ray", "--address", ray_address,
                  env={"PGZOO_BENCH_CRASH_ONCE": str(crashes)})
    assert proc.returncode == 0, proc.stderr
    assert len(list(crashes.iterdir())) == 2

    expected, got = _runs(local), _runs(on_ray)
    assert set(got) == set(expected) == {("actor-critic", 0), ("actor-critic", 1)}
    for key, run in expected.items():
        assert got[key]["executor"] == "ray"
        assert got[key]["curve"] == run["curve"]
        assert got[key]["final"] == run["final"]
        assert got[key]["env_steps"] == run["env_steps"]
    (row,) = json.loads((on_ray / "leaderboard.json").read_text())["rows"]
    assert row["seeds"] == 2

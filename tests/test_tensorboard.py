"""TensorBoard event files of `pgzoo train --tensorboard` and of a bench suite, read back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pgzoo.cli import main
from pgzoo.tblog import TensorBoardLogger, run_name
from pgzoo.testing import run_cli


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of the event files in ``folder``: [(step, value), ...]."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_update_terms_are_averaged_over_windows_of_env_steps(tmp_path) -> None:
    # updates at env steps 4, 8, ..., 24 with loss_x = 1..6; windows of 10 env steps close at
    # the first update at or past 10, 20, then the last partial window on close:
    # mean(1,2,3) = 2 at step 12, mean(4,5) = 4.5 at step 20, 6 at step 24.
    with TensorBoardLogger(tmp_path, "w", every=10) as log:
        for i in range(1, 7):
            log.on_update(4 * i, {"loss_x": float(i), "diag": 10.0 * i})
    got = scalars(tmp_path / "w")
    assert got["train/loss_x"] == [(12, 2.0), (20, 4.5), (24, 6.0)]
    assert got["train/diag"] == [(12, 20.0), (20, 45.0), (24, 60.0)]
    assert got["train/update_calls"] == [(12, 3.0), (20, 5.0), (24, 6.0)]
    assert [s for s, _ in got["time/wall_s"]] == [12, 20, 24]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 50), st.integers(-1000, 1000)), min_size=1, max_size=60),
       st.integers(1, 200))
def test_windows_lose_no_update(tmp_path_factory, updates, every) -> None:
    folder = tmp_path_factory.mktemp("tb")
    steps, total = 0, 0
    with TensorBoardLogger(folder, "p", every=every) as log:
        for inc, value in updates:
            steps += inc
            total += value
            log.on_update(steps, {"loss_v": float(value)})
    got = scalars(folder / "p")
    counts = [c for _, c in got["train/update_calls"]]
    per_window = [b - a for a, b in zip([0.0, *counts[:-1]], counts, strict=True)]
    # the window means, weighted by their update counts, add up to the sum of all updates (event
    # files store float32: each mean is rounded by up to 2⁻²⁴ of itself)
    bound = 2**-23 * sum(abs(v) for _, v in updates) + 1e-9
    assert sum(n * m for n, (_, m) in zip(per_window, got["train/loss_v"], strict=True)) == pytest.approx(total,
                                                                                                          abs=bound)
    assert counts[-1] == len(updates) and got["train/update_calls"][-1][0] == steps
    assert all(s2 > s1 for (s1, _), (s2, _) in zip(got["train/loss_v"], got["train/loss_v"][1:], strict=False))


def test_train_cli_logs_episodes_evaluations_and_losses(tmp_path) -> None:
    out = tmp_path / "my-run"
    res = run_cli("train", "actor-critic", "--env", "CartPole-v1", "--steps", "1200", "--set", "num_envs=4",
                  "--eval-every", "400", "--set", "eval_episodes=2", "--out", str(out), "--quiet",
                  "--tensorboard", str(tmp_path / "tb"))
    assert res.returncode == 0, res.stderr
    # named like the run directory, after the algorithm (issue 19: two algorithms' runs never share one)
    assert [p.name for p in (tmp_path / "tb").iterdir()] == ["actor-critic-my-run"]
    got = scalars(tmp_path / "tb" / "actor-critic-my-run")
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert got["rollout/episode_return"] == [(int(r["env_steps"]), float(r["return"])) for r in rows]
    assert got["rollout/episode_length"] == [(int(r["env_steps"]), float(r["length"])) for r in rows]
    assert [s for s, _ in got["eval/return_mean"]] == [0, 400, 800, 1200]
    assert [s for s, _ in got["eval/return_mean_deterministic"]] == [0, 400, 800, 1200]
    # actor-critic's terms, one update per 4 env steps: 300 updates in windows of 1000 env steps
    for tag in ("train/loss_policy", "train/loss_value", "train/td_error_mean"):
        assert [s for s, _ in got[tag]] == [1000, 1200], tag
    assert got["train/update_calls"] == [(1000, 250.0), (1200, 300.0)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["updates"] == 300


def test_default_run_folder_name_matches_the_run_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "reinforce", "--env", "ShortCorridor-v0", "--episodes", "3", "--quiet",
                 "--set", "eval_episodes=1", "--tensorboard", "tb"]) == 0
    name = run_name("reinforce", "ShortCorridor-v0", 0)
    assert (tmp_path / "runs" / name).is_dir() and [p.name for p in (tmp_path / "tb").iterdir()] == [name]
    got = scalars(tmp_path / "tb" / name)
    assert len(got["rollout/episode_return"]) == 3
    assert all(v == -length for (_, v), (_, length) in zip(got["rollout/episode_return"],
                                                           got["rollout/episode_length"], strict=True))


def test_bad_eval_every_is_a_usage_error(capsys) -> None:
    assert main(["train", "reinforce", "--env", "CartPole-v1", "--eval-every", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--eval-every must be at least 1" in err


def test_bench_suite_writes_one_folder_per_run(tmp_path) -> None:
    from pgzoo.bench.results import read_results
    from pgzoo.bench.runner import run_bench

    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "suite.toml").write_text("""
name = "tb"
seeds = 2
bootstrap_reps = 100
tensorboard = "tb"
[evaluation]
every = 400
episodes = 2
[envs.CartPole-v1]
steps = 800
[algorithms.reinforce]
hyperparams = { sequential = false }
""")
    report = run_bench(folder, workers=1, progress=False)
    assert report.failed == [] and report.finished == 2
    names = sorted(p.name for p in (folder / "tb").iterdir())
    assert names == [run_name("reinforce", "CartPole-v1", s) for s in (0, 1)]
    for run in read_results(folder / "results.jsonl").runs():
        got = scalars(folder / "tb" / run_name("reinforce", "CartPole-v1", run["seed"]))
        assert got["eval/return_mean"] == [(int(p["env_steps"]), pytest.approx(p["return_mean"]))
                                           for p in run["curve"]]
        assert "train/loss_policy" in got and got["train/update_calls"][-1][1] > 0

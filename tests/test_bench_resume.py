"""results.jsonl: whole lines only, resume after a kill, and re-rendering without training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pgzoo.bench.results import append_line, read_results
from pgzoo.bench.runner import run_bench

TINY = """
name = "tiny-resume"
seeds = 2
bootstrap_reps = 200
[evaluation]
every = 800
episodes = 2
[envs.CartPole-v1]
steps = 1600
[algorithms.actor-critic]
hyperparams = { num_envs = 8 }
"""
ROW_KEYS = {"algorithm", "env", "seeds", "final_iqm", "ci_low", "ci_high", "steps_to_threshold_median",
            "env_steps_per_s"}


def _runs(path: Path) -> dict[tuple[str, int], dict]:
    return {(r["algorithm"], r["seed"]): r for r in read_results(path).runs()}


def test_a_partial_trailing_line_is_ignored_and_the_next_line_stays_whole(tmp_path):
    path = tmp_path / "results.jsonl"
    def line(n: int) -> dict:  # a valid record (lines are checked against their schema)
        return {"type": "random-policy", "env": f"E{n}-v0", "return_mean": float(n)}

    append_line(path, line(1))
    with open(path, "ab") as fh:
        fh.write(b'{"type": "random-policy", "env": "E2-v0", "ret')  # a bench killed mid-line
    assert [r["env"] for r in read_results(path).records] == ["E1-v0"]
    assert read_results(path).bad_lines == [2]
    append_line(path, line(3))
    assert [r["env"] for r in read_results(path).records] == ["E1-v0", "E3-v0"]


def test_resume_redoes_only_missing_runs_and_leaderboard_rerenders(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "suite.toml").write_text(TINY)
    results = folder / "results.jsonl"

    first = run_bench(folder, workers=2, progress=False)
    assert (first.finished, first.already_done, first.failed) == (2, 0, [])
    original = _runs(results)
    assert set(original) == {("actor-critic", 0), ("actor-critic", 1)}
    for name in ("leaderboard.md", "leaderboard.json", "curves.png"):
        assert (folder / name).stat().st_size > 0

    # Kill simulation: the last run's line was cut half-way.
    lines = results.read_bytes().splitlines(keepends=True)
    last_seed = json.loads(lines[-1])["seed"]
    results.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])

    second = run_bench(folder, workers=2, progress=False)
    assert (second.finished, second.already_done) == (1, 1)
    redone = _runs(results)
    assert redone[("actor-critic", last_seed)]["curve"] == original[("actor-critic", last_seed)]["curve"]
    assert redone[("actor-critic", last_seed)]["final"] == original[("actor-critic", last_seed)]["final"]

    third = run_bench(folder, workers=2, progress=False)
    assert (third.finished, third.already_done) == (0, 2)

    board = json.loads((folder / "leaderboard.json").read_text())
    for name in ("leaderboard.md", "leaderboard.json", "curves.png"):
        (folder / name).unlink()
    proc = subprocess.run([sys.executable, "-m", "pgzoo.cli", "leaderboard", str(folder)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "# Leaderboard: tiny-resume" in proc.stdout
    rerendered = json.loads((folder / "leaderboard.json").read_text())
    assert rerendered["rows"] == board["rows"]
    (row,) = rerendered["rows"]
    assert set(row) >= ROW_KEYS and row["seeds"] == 2
    assert row["ci_low"] <= row["final_iqm"] <= row["ci_high"]
    assert (folder / "curves.png").stat().st_size > 0
    text = (folder / "leaderboard.md").read_text()
    assert "Evaluation protocol" in text and "deterministic" in text and "stochastic" in text


def test_a_run_whose_results_line_is_not_json_fails_alone(tmp_path):
    """A plugin that leaves a non-JSON value in a run's config (SB3's A2C once put a class in
    policy_kwargs) fails that run with a message naming it; the line is never half-written."""
    import pytest

    from pgzoo.bench.grid import build_grid
    from pgzoo.bench.suite import load_suite
    from pgzoo.bench.task import run_record
    from pgzoo.registry import get_registry

    (tmp_path / "suite.toml").write_text(TINY)
    run = build_grid(load_suite(tmp_path), get_registry()).runs[0]
    run.config["policy_kwargs"] = {"optimizer_class": object}
    summary = {"env_steps": 10, "wall_s": 1.0, "env_steps_per_s": 10.0}
    origin = get_registry().algorithm_origin[run.registered_name]
    with pytest.raises(TypeError, match=r"results line of actor-critic on CartPole-v1 \(seed 0\) is not JSON"):
        run_record(run, summary, [], origin, 1.0, "local", {})


def test_progress_in_a_log_is_whole_lines():
    """Without a terminal the bench prints a whole line per finished run, not a \\r stream."""
    import io

    from pgzoo.bench.progress import GridProgress

    out = io.StringIO()
    bar = GridProgress(3, 1, stream=out)
    bar.set_running(2)
    bar.finished(True)
    bar.set_running(1)
    bar.finished(False)
    bar.write("a message")
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("bench: 1/3 runs done, 0 running, 2 left [")
    assert lines[1].startswith("bench: 2/3 runs done, 2 running, 0 left")
    assert lines[2].startswith("bench: 3/3 runs done, 1 running, 0 left, 1 failed")
    assert lines[3] == "a message" and len(lines) == 4

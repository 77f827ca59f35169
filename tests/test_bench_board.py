"""Leaderboard numbers from hand-made results: rows, normalised aggregate, probability of improvement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgzoo.bench.board import build_board, entry_hash
from pgzoo.bench.render import write_leaderboard
from pgzoo.bench.results import append_line, read_results
from pgzoo.bench.suite import load_suite

SUITE = """
name = "synthetic"
seeds = 4
bootstrap_reps = 200
compare_to = "weak"
evaluation = { every = 50, episodes = 3 }
envs = { CartPole-v1 = { steps = 100 }, Acrobot-v1 = { steps = 100 } }
algorithms = { strong = { plugin = "actor-critic" }, weak = { plugin = "reinforce" } }
"""
THRESHOLD = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0}
RANDOM = {"CartPole-v1": 25.0, "Acrobot-v1": -500.0}


def _record(suite, algorithm: str, env: str, seed: int, final: float) -> dict:
    start = RANDOM[env]
    curve = [{"env_steps": s, "return_mean": r, "return_mean_deterministic": r}
             for s, r in ((0, start), (50, (start + final) / 2), (100, final))]
    return {"type": "run", "algorithm": algorithm, "env": env, "seed": seed, "config_hash": "x",
            "entry_hash": entry_hash(suite, algorithm, env), "curve": curve,
            "final": {"eval_return_mean": final - 1, "eval_return_mean_deterministic": final},
            "env_steps": 100, "wall_s": 2.0, "env_steps_per_s": 50.0, "versions": {"pgzoo": "0"}}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "suite.toml").write_text(SUITE)
    suite = load_suite(tmp_path)
    path = tmp_path / "results.jsonl"
    for env in THRESHOLD:
        append_line(path, {"type": "random-policy", "env": env, "return_mean": RANDOM[env]})
        for seed in range(4):
            append_line(path, _record(suite, "strong", env, seed, THRESHOLD[env]))  # normalised 1
            append_line(path, _record(suite, "weak", env, seed, RANDOM[env] + seed))  # about 0
    append_line(path, {**_record(suite, "weak", "CartPole-v1", 0, 1.0), "entry_hash": "stale"})
    return tmp_path


def test_rows_and_aggregate_from_known_results(folder):
    suite = load_suite(folder)
    board = build_board(suite, read_results(folder / "results.jsonl"))
    rows = {(r["algorithm"], r["env"]): r for r in board.rows}
    strong = rows[("strong", "CartPole-v1")]
    assert strong["seeds"] == 4 and strong["final_iqm"] == pytest.approx(475.0)
    assert strong["ci_low"] == strong["ci_high"] == pytest.approx(475.0)
    assert strong["final_std"] == 0.0 and strong["final_mean_stochastic"] == pytest.approx(474.0)
    assert strong["steps_to_threshold_median"] == 100 and strong["seeds_reaching_threshold"] == 4
    assert strong["auc"] == pytest.approx((25 * 0.5 + (25 + 475) / 2 + 475 * 0.5) / 2)
    weak = rows[("weak", "Acrobot-v1")]
    assert weak["final_iqm"] == pytest.approx(-498.5)  # IQM of -500, -499, -498, -497
    assert weak["steps_to_threshold_median"] is None and weak["seeds_reaching_threshold"] == 0

    agg = {r["algorithm"]: r for r in board.aggregate}
    assert agg["strong"]["normalised_iqm"] == pytest.approx(1.0)
    assert agg["strong"]["prob_improvement"] == pytest.approx(1.0)
    assert agg["weak"]["prob_improvement"] is None
    assert any("1 result line" in n for n in board.notes)  # the stale line is reported, not used


def test_written_leaderboard_states_protocol_and_numbers(folder):
    suite = load_suite(folder)
    text = write_leaderboard(build_board(suite, read_results(folder / "results.jsonl")), folder)
    assert "every 50 env steps" in text and "on 3 episodes" in text and "disjoint" in text
    assert "| strong | 4 | 475.0 [475.0, 475.0]" in text
    assert "P(improvement over weak)" in text and "| strong | 2 | 4 | 1.00 [1.00, 1.00] | 1.00 [1.00, 1.00] |" in text
    data = json.loads((folder / "leaderboard.json").read_text())
    assert {r["algorithm"] for r in data["rows"]} == {"strong", "weak"}
    assert data["random_policy_scores"] == RANDOM
    assert (folder / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_curves_png_is_drawn_again_only_when_what_it_shows_changes(folder, monkeypatch):
    from pgzoo import plotting
    from pgzoo.bench import render

    drawn = []
    save = plotting.save
    monkeypatch.setattr(plotting, "save", lambda fig, path, **kw: drawn.append(path) or save(fig, path, **kw))
    suite = load_suite(folder)

    def render_now() -> None:
        write_leaderboard(build_board(suite, read_results(folder / "results.jsonl")), folder)

    render_now()
    key = plotting.png_text(folder / "curves.png", render.PLOT_KEY)
    assert len(drawn) == 1 and key and len(key) == 64
    render_now()  # the same results: the same picture, kept
    assert len(drawn) == 1 and (folder / "leaderboard.md").is_file()
    append_line(folder / "results.jsonl", _record(suite, "weak", "CartPole-v1", 3, 400.0))  # seed 3's newer line
    render_now()
    assert len(drawn) == 2 and plotting.png_text(folder / "curves.png", render.PLOT_KEY) != key
    (folder / "curves.png").write_bytes(b"not a png")  # a damaged picture is drawn again
    render_now()
    assert len(drawn) == 3 and (folder / "curves.png").read_bytes()[:4] == b"\x89PNG"

"""``pgzoo bench`` trains a cell's seeds as one population with the same results lines as alone."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from pgzoo.bench.grid import build_grid
from pgzoo.bench.population import group_cells, run_item
from pgzoo.bench.suite import load_suite
from pgzoo.bench.task import run_task
from pgzoo.registry import get_registry

SUITE = """
name = "tiny"
seeds = 2
[evaluation]
every = 100
episodes = 2
[envs.CartPole-v1]
steps = 240
[algorithms.reinforce]
hyperparams = {sequential = true, num_envs = 2}
[algorithms.actor-critic]
"""



def test_population_cells_give_the_lines_of_single_runs(tmp_path: Path) -> None:
    (tmp_path / "suite.toml").write_text(SUITE)
    grid = build_grid(load_suite(tmp_path), get_registry())
    items = group_cells(grid.runs)
    assert sorted(len(i) for i in items) == [2, 2], "each algorithm's two seeds are one work item"
    assert group_cells(grid.runs, enabled=False) == [[s] for s in grid.runs]
    for item in items:
        together = run_item([asdict(s) for s in item])
        for spec, line in zip(item, together, strict=True):
            alone = run_task(asdict(spec))
            assert line["population"] == 2 and line["seed"] == spec.seed
            assert line["config_hash"] == alone["config_hash"] and line["env_steps"] == alone["env_steps"]
            assert [p["env_steps"] for p in line["curve"]] == [p["env_steps"] for p in alone["curve"]]
            for a, b in zip(line["curve"], alone["curve"], strict=True):
                assert a == pytest.approx(b, rel=1e-5)
            assert line["final"] == pytest.approx(alone["final"], rel=1e-5)

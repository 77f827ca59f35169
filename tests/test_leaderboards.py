"""The committed leaderboards: each suite validates against the installed plugins, and its
``results.jsonl`` holds every run of its grid, so rerunning ``pgzoo bench`` on it trains nothing.

This guards against a change of a plugin's defaults or of the resume key silently turning a
committed leaderboard into one that the same command would retrain."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgzoo.bench.grid import build_grid
from pgzoo.bench.results import read_results
from pgzoo.bench.suite import SUITE_FILE, load_suite
from pgzoo.book.figure_suite import is_book_suite
from pgzoo.registry import get_registry

ROOT = Path(__file__).resolve().parents[1] / "leaderboards"
SUITES = sorted(p.parent for p in ROOT.glob(f"*/{SUITE_FILE}") if not is_book_suite(p.parent))


def test_there_are_leaderboards() -> None:
    assert {p.name for p in SUITES} >= {"classic-control", "continuous-control"}


@pytest.mark.parametrize("folder", SUITES, ids=lambda p: p.name)
def test_committed_results_cover_the_whole_grid(folder: Path) -> None:
    grid = build_grid(load_suite(folder), get_registry())
    results = read_results(folder / "results.jsonl")
    assert not results.bad_lines
    missing = [(r.algorithm, r.env, r.seed) for r in grid.runs if r.key not in results.done_keys()]
    assert missing == [], f"rerunning pgzoo bench {folder.name} would train {missing}"
    assert (folder / "leaderboard.md").is_file() and (folder / "curves.png").is_file()

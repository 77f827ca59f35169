"""The book-figure pipeline end to end on a tiny budget, and the closed form of Example 13.1."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from pgzoo.book.example import OPTIMAL_P, OPTIMAL_VALUE, monte_carlo, start_value
from pgzoo.book.figure_suite import is_book_suite
from pgzoo.book.figures import main, reproduce

ROOT = Path(__file__).resolve().parents[1] / "leaderboards"


def test_figure_folder_runs_and_renders(tmp_path: Path) -> None:
    shutil.copy(ROOT / "book-13.2" / "suite.toml", tmp_path / "suite.toml")
    assert is_book_suite(tmp_path)
    figure = reproduce(tmp_path, runs=2, episodes=6, progress=False)
    assert figure.is_file() and figure.stat().st_size > 10_000
    table = json.loads((tmp_path / "table.json").read_text())
    assert [r["line"] for r in table["rows"]] == ["REINFORCE α = 2⁻¹³", "REINFORCE with baseline α^θ = 2⁻⁹, α^w = 2⁻⁶"]
    assert all(r["runs"] == 2 and "capped runs" in r for r in table["rows"])
    assert "capped at 1000 steps" in (tmp_path / "table.md").read_text()
    made = json.loads((tmp_path / "runs.json").read_text())["provenance"]
    assert set(made["code_parts"]) == {"pgzoo", "pgzoo-reinforce", "pgzoo-reinforce-baseline", "pgzoo-book-envs"}
    assert made["path"]["per_algorithm"]["reinforce-baseline"] == {
        "trained": "population", "population_seeds": [0, 1], "population_lines": [1], "compile": "auto",
        "compiled": False, "dtype": "float32", "torch_threads": made["path"]["per_algorithm"]["reinforce"][
            "torch_threads"]}
    assert "the installed code (same fingerprint" in (tmp_path / "table.md").read_text()


def test_committed_figures_say_their_provenance(tmp_path: Path) -> None:
    """What a figure's table says of its recorded provenance: made by the installed code, by other
    code (a part's fingerprint differs), or not recorded. The committed figure's own record is
    the starting point, its code parts made the installed ones' (a committed figure goes stale by
    fingerprint with any change to an arithmetic module, which is not what this test is about)."""
    from pgzoo.provenance import Installed

    for name in ("suite.toml", "runs.json", "runs.npz"):
        shutil.copy(ROOT / "book-13.1" / name, tmp_path / name)
    runs = json.loads((tmp_path / "runs.json").read_text())
    installed = Installed()
    for entry in runs["provenance"]["code_parts"].values():
        entry["hash"] = installed.part_hash(entry["module"])
    runs["provenance"].update(libraries=installed.libraries, machine=installed.machine)

    def table_after(provenance: dict | None) -> str:
        (tmp_path / "runs.json").write_text(json.dumps({**runs, "provenance": provenance}))
        reproduce(tmp_path, render_only=True)
        return (tmp_path / "table.md").read_text()

    assert "the installed code (same fingerprint, libraries and machine type)" in table_after(runs["provenance"])
    other = json.loads(json.dumps(runs["provenance"]))
    other["code_parts"]["pgzoo"]["hash"] = "0" * 16
    assert "the installed code differs (other code: pgzoo), so it may not reproduce them" in table_after(other)
    assert "Provenance: not recorded" in table_after(None)  # as the figures committed before pgzoo recorded it


def test_figures_command_trains_compiled_with_the_same_episodes(tmp_path: Path) -> None:
    """``python -m pgzoo.book.figures FOLDER --compile on``: the compiled population update and
    acting; the same episodes as the eager engine here, parameters to float32 rounding. (Figure
    13.1's three lines × 2 runs: one population of 6, the shapes test_population_compiled.py
    compiles, so the graph comes from the test session's cache.)"""
    for sub in ("eager", "compiled"):
        (tmp_path / sub).mkdir()
        shutil.copy(ROOT / "book-13.1" / "suite.toml", tmp_path / sub / "suite.toml")
    assert main([str(tmp_path / "eager"), "--runs", "2", "--episodes", "4", "--compile", "off"]) == 0
    assert main([str(tmp_path / "compiled"), "--runs", "2", "--episodes", "4", "--compile", "on"]) == 0
    meta = json.loads((tmp_path / "compiled" / "runs.json").read_text())
    assert meta["compile"] == "on"
    with np.load(tmp_path / "eager" / "runs.npz") as e, np.load(tmp_path / "compiled" / "runs.npz") as c:
        for i in range(3):
            assert np.array_equal(e[f"returns_{i}"], c[f"returns_{i}"])
            np.testing.assert_allclose(c[f"p_final_{i}"], e[f"p_final_{i}"], rtol=1e-5, atol=1e-6)


def test_example_13_1_closed_form_and_monte_carlo() -> None:
    assert math.isclose(OPTIMAL_P, 2 - math.sqrt(2))
    assert start_value(OPTIMAL_P) == pytest.approx(OPTIMAL_VALUE) == pytest.approx(-11.657, abs=1e-3)
    assert start_value(0.95) == pytest.approx(-44.2, abs=0.05) and start_value(0.05) == pytest.approx(-82.1, abs=0.05)
    totals = monte_carlo("ShortCorridor-v0", 0.6, 400, seed=1)
    assert abs(totals.mean() - start_value(0.6)) < 4 * totals.std() / math.sqrt(len(totals))


@pytest.mark.parametrize("name", ["book-13.1", "book-13.2"])
def test_figure_runs_reproduce_the_committed_runs_bit_for_bit(name: str) -> None:
    # same actions, so same returns, as the committed runs.npz over the first episodes of seeds 0-1 (a change
    # of θ by an ulp seldom flips an action this early: benchmarks/book_figures.py compares all 1000 episodes)
    from pgzoo.book.figure_suite import load_suite
    from pgzoo.book.figures import run_lines

    suite = load_suite(ROOT / name)
    data = run_lines(suite, runs=2, episodes=8, progress=False)
    with np.load(ROOT / name / "runs.npz") as z:
        for i, line in enumerate(data["lines"]):
            assert np.array_equal(line["returns"], z[f"returns_{i}"][:2, :8]), suite.lines[i].label
            assert np.array_equal(line["lengths"], z[f"lengths_{i}"][:2, :8]), suite.lines[i].label

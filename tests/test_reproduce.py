"""Every results line says what made it; a stale line is reported and retrained on request; one
command retrains a line from its recipe and says whether it comes back bit for bit; the board guard
of CI catches a change of a constant.

One tiny suite is benched once and copied for each test: actor-critic on a user's environment module
(a CartPole with its force as a constant the guard test changes), its two seeds as one population.
(A compiled population's bits from another process: tests/test_population_compiled.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pgzoo.bench.reproduce import Reproduction, compare_lines, guard_line, recipe, report, reproduce
from pgzoo.bench.results import read_results
from pgzoo.bench.runner import render_folder, run_bench
from pgzoo.cli import main
from pgzoo.provenance import compare as provenance_compare
from pgzoo.testing import assert_board_reproduces

ENV = "pgzoo_test_pole:TinyPole-v0"
POLE = """import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

FORCE = 10.0


class TinyPole(CartPoleEnv):
    def __init__(self, render_mode=None):
        super().__init__(render_mode=render_mode)
        self.force_mag = FORCE


gym.register("TinyPole-v0", entry_point=TinyPole, max_episode_steps=100, reward_threshold=90.0)
"""
SUITE = f"""
name = "tiny-provenance"
seeds = 2
bootstrap_reps = 100
[evaluation]
every = 100
episodes = 1
[envs."{ENV}"]
steps = 200
[algorithms.actor-critic]
hyperparams = {{ num_envs = 2 }}
"""


@pytest.fixture(scope="module")
def pole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The environment's module, importable here and in the bench's worker processes (which start
    with this process's ``sys.path``)."""
    where = tmp_path_factory.mktemp("user-env")
    (where / "pgzoo_test_pole.py").write_text(POLE)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(where))
        yield where / "pgzoo_test_pole.py"


@pytest.fixture(scope="module")
def benched(tmp_path_factory: pytest.TempPathFactory, pole: Path) -> Path:
    folder = tmp_path_factory.mktemp("benched")
    (folder / "suite.toml").write_text(SUITE)
    run_bench(folder, workers=1, progress=False, population=None)
    return folder


@pytest.fixture
def suite(benched: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "suite"
    shutil.copytree(benched, folder)
    return folder


def _lines(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "results.jsonl").read_text().splitlines() if x.strip()]


def _rewrite(folder: Path, change) -> None:
    lines = _lines(folder)
    for r in lines:
        change(r)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_every_line_records_its_provenance(benched: Path) -> None:
    runs = [r for r in _lines(benched) if r.get("type", "run") == "run"]
    assert len(runs) == 2
    for r in runs:
        p = r["provenance"]
        assert p["pgzoo"] == "0.1.0" and len(p["code"]) == 16 and len(r["final_params"]) == 16
        assert set(p["code_parts"]) == {"pgzoo", "pgzoo-actor-critic", "module pgzoo_test_pole"}
        assert {"torch", "numpy", "gymnasium", "python", "scipy"} <= set(p["libraries"])
        assert p["path"]["dtype"] == "float32" and p["path"]["torch_threads"] == 1
        assert p["path"]["trained"] == "population" and p["path"]["population_seeds"] == [0, 1]
        assert (p["path"]["compile"], p["path"]["compiled"]) == ("auto", False)
    for r in _lines(benched):
        if r.get("type") == "random-policy":
            assert r["provenance"]["path"] == {"trained": "none: uniform random actions"}
    md = (benched / "leaderboard.md").read_text()
    assert "All 2 lines come from the installed code" in md
    board_json = json.loads((benched / "leaderboard.json").read_text())["provenance"]
    assert board_json["same_code"] == 2
    run = next(r for r in _lines(benched) if r.get("algorithm") == "actor-critic")
    parts = run["provenance"]["code_parts"]  # the board names each part's fingerprint
    for dist, part in parts.items():
        assert f"{dist} `{part['hash']}` (2 lines)" in md
    assert {(s["distribution"], s["fingerprint"], s["lines"]) for s in board_json["sources"]} == \
        {(d, p["hash"], 2) for d, p in parts.items()}


def test_reproduce_matches_bit_for_bit_and_names_what_differs(suite: Path, capsys: pytest.CaptureFixture) -> None:
    """Same code, same libraries, same command: the same bits, from another process (the bench's
    worker, then reproduce's)."""
    assert main(["reproduce", str(suite), "actor-critic", ENV, "1", "--out", str(suite / "scratch")]) == 0
    out = capsys.readouterr().out
    assert "trained as a population of seeds 0, 1, compile auto, float32" in out
    assert "MATCHES bit for bit: all 17 numbers" in out  # final: 6, curve: 3 points x 3, env_steps, parameters
    retrained = _lines(suite / "scratch")
    assert [r["seed"] for r in retrained] == [0, 1], "the population's two members, in the scratch folder"

    recorded = next(r for r in _lines(suite) if r["seed"] == 1)
    recorded["final"]["eval_return_mean"] += 0.5  # as if the committed line had other numbers
    recorded["curve"][1]["return_mean_deterministic"] += 1.0
    results = read_results(suite / "results.jsonl")
    differences, compared = compare_lines(recorded, retrained[1])
    text = "\n".join(report(Reproduction(recipe(4, recorded, results), retrained[1], None, differences, compared,
                                          1.0)))
    assert "DIFFERS: 2 of 17 numbers" in text
    assert "final.eval_return_mean: recorded" in text and "(difference -0.5)" in text
    step = recorded["curve"][1]["env_steps"]
    assert f"curve[1] (env step {step:g}).return_mean_deterministic" in text and "(difference -1)" in text


def test_compare_lines_counts_every_number_and_length() -> None:
    a = {"final": {"x": 1.0, "y": float("nan")}, "curve": [{"env_steps": 0.0, "r": 2.0}], "env_steps": 10}
    b = json.loads(json.dumps(a).replace("NaN", "NaN"))
    assert compare_lines(a, b) == ([], 5)
    b["final"]["x"] = 1.0 + 2**-52
    b["curve"].append({"env_steps": 5.0, "r": 1.0})
    diffs, _ = compare_lines(a, b)
    assert [d.field for d in diffs] == ["final.x", "curve (length)"]
    assert "difference +2.22045e-16" in diffs[0].describe()


def test_a_line_without_provenance_is_retrained_from_what_it_records(suite: Path) -> None:
    _rewrite(suite, lambda r: r.pop("provenance", None))
    results = read_results(suite / "results.jsonl")
    n, record = next((i + 1, r) for i, r in enumerate(_lines(suite)) if r.get("algorithm") == "actor-critic"
                     and r.get("seed") == 1)
    rec = recipe(n, record, results)
    assert [m.seed for m in rec.members] == [0, 1] and rec.compile_ == "off"
    assert "compile off" in rec.assumed and "float32" in rec.assumed
    record.pop("population_seeds")  # older lines: the population's size only; its seeds are the cell's lines
    rec = recipe(n, record, results)
    assert [m.seed for m in rec.members] == [0, 1] and "population seeds [0, 1]" in rec.assumed[0]
    md = render_folder(suite)
    assert "All 2 lines record no provenance" in md


def test_stale_lines_are_reported_and_retrained_on_request(suite: Path, capsys: pytest.CaptureFixture) -> None:
    def edit(r: dict) -> None:  # as if the plugin had been another one when seed 0 was trained
        if r.get("algorithm") == "actor-critic" and r["seed"] == 0:
            r["provenance"]["code_parts"]["pgzoo-actor-critic"]["hash"] = "0" * 16
    _rewrite(suite, edit)
    assert main(["leaderboard", str(suite)]) == 0
    err = capsys.readouterr().err
    assert "1 of 2 lines were made by other code than the installed one" in err
    assert f"actor-critic on {ENV} seed 0 (other code: pgzoo-actor-critic)" in err
    md = (suite / "leaderboard.md").read_text()
    assert "--retrain-stale" in md
    assert f"pgzoo-actor-critic `{'0' * 16}` (1 line)" in md  # the stale line's own fingerprint, named
    before = len(_lines(suite))
    report = run_bench(suite, workers=1, progress=False)  # keeps them
    assert report.finished == 0 and len(_lines(suite)) == before
    report = run_bench(suite, workers=1, progress=False, retrain_stale=True)
    assert report.finished == 1 and len(_lines(suite)) == before + 1
    new = _lines(suite)[-1]
    assert (new["algorithm"], new["seed"]) == ("actor-critic", 0)
    old = next(r for r in _lines(suite) if r.get("algorithm") == "actor-critic" and r["seed"] == 0)
    assert compare_lines(old, new) == ([], 17), "the population was retrained whole: the same bits"
    assert "All 2 lines come from the installed code" in (suite / "leaderboard.md").read_text()


def test_reproduce_errors_are_one_line(suite: Path, capsys: pytest.CaptureFixture) -> None:
    for argv, message in (
        ([str(suite)], "name the line: ALGO ENV SEED, or --line N"),
        ([str(suite), "actor-critic", ENV, "x"], "SEED must be an integer"),
        ([str(suite), "actor-critic", ENV, "7"], f"no line of actor-critic on {ENV} seed 7"),
        ([str(suite), "--line", "1"], "line 1 is not a finished run's line"),
        ([str(suite / "nowhere"), "--line", "3"], "no results file"),
        ([str(Path(__file__).resolve().parents[1] / "leaderboards" / "book-13.1"), "--line", "1"],
         "is a book figure: its runs train together"),
    ):
        assert main(["reproduce", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert reproduce  # the function the CLI calls


def test_the_board_guard_passes_then_catches_a_changed_constant(suite: Path, pole: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    """The CI guard (pgzoo.testing.assert_board_reproduces): the board's cheapest line with a recipe
    comes back bit for bit; after a constant of the code that made it changes, it does not, and the
    board says which part of the code changed."""
    assert guard_line(suite)[1]["algorithm"] == "actor-critic"
    assert_board_reproduces(suite)
    source = pole.read_text()
    try:
        _edit(pole, source.replace("FORCE = 10.0", "FORCE = 10.25"))
        with pytest.raises(AssertionError, match=r"(?s)does not come back from its recipe.*DIFFERS"):
            assert_board_reproduces(suite)
        assert main(["leaderboard", str(suite)]) == 0
        assert "2 of 2 lines were made by other code than the installed one" in capsys.readouterr().err
        assert "other code: module pgzoo_test_pole" in (suite / "leaderboard.md").read_text()
    finally:
        _edit(pole, source)
    assert provenance_compare(_lines(suite)[-1]["provenance"]).same


def _edit(module: Path, text: str) -> None:
    """Rewrite a module for the next process that imports it (no stale bytecode)."""
    module.write_text(text)
    shutil.rmtree(module.parent / "__pycache__", ignore_errors=True)

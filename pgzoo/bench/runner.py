"""``pgzoo bench``: run a suite's missing (algorithm, env, seed) runs, then render its leaderboard."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

from pgzoo.bench.board import build_board
from pgzoo.bench.executors import check_reachable, make_executor
from pgzoo.bench.grid import build_grid
from pgzoo.bench.lock import bench_lock
from pgzoo.bench.population import group_cells
from pgzoo.bench.progress import GridProgress
from pgzoo.bench.random_policy import random_policy_record
from pgzoo.bench.render import write_leaderboard
from pgzoo.bench.results import RESULTS_FILE, append_line, failed_record, read_results
from pgzoo.bench.stale import check_line, check_runs
from pgzoo.bench.suite import SUITE_FILE, Suite, load_suite
from pgzoo.provenance import Installed
from pgzoo.userfiles import writable_folder

DEFAULT_SUITE = "quick"
DEFAULT_OUT = "pgzoo-bench-quick"


@dataclass
class BenchReport:
    """What a bench did."""

    folder: Path
    total: int
    already_done: int
    finished: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    leaderboard: str = ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _say(message: str) -> None:
    print(f"pgzoo bench: {message}", file=sys.stderr, flush=True)


def default_suite_folder(out: str | Path = DEFAULT_OUT) -> Path:
    """Copy the packaged quick suite into ``out`` (in the current directory) and return it.

    A ``suite.toml`` already there is kept (it may have been edited), with a note if it differs
    from the packaged one."""
    folder = writable_folder(out, "quick suite folder")
    source = resources.files("pgzoo.bench").joinpath("suites", DEFAULT_SUITE, SUITE_FILE)
    target = folder / SUITE_FILE
    if target.exists():
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            _say(f"keeping the existing {target}, which differs from the packaged quick suite (delete it to "
                 "get the packaged one back)")
        return folder
    with resources.as_file(source) as src:
        shutil.copyfile(src, target)
    return folder


def _measure_random_scores(suite: Suite, results_path: Path) -> None:
    have = read_results(results_path).random_scores()
    for env_id in suite.model.envs:
        if env_id not in have:
            append_line(results_path, random_policy_record(env_id))


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_bench(
    suite_dir: str | Path,
    seeds: int | None = None,
    workers: int | None = None,
    executor: str = "local",
    address: str | None = None,
    only: list[str] | None = None,
    progress: bool = True,
    population: bool | None = None,
    retrain_stale: bool = False,
) -> BenchReport:
    """Train every run of the suite in ``suite_dir`` not yet in its ``results.jsonl`` and write
    the leaderboard there. Interrupting (SIGINT/SIGTERM) stops the workers; finished runs stay.

    Lines made by other code than the installed one (:mod:`pgzoo.bench.stale`) are reported;
    with ``retrain_stale`` they are trained again, and so are lines without provenance: the new
    line is appended (``results.jsonl`` is never edited) and the board uses the latest line of
    each run.

    The seeds of a cell train as one population (:mod:`pgzoo.engine.population`) where the algorithm
    can, unless ``population`` (default: the suite's ``population``) is false. A book figure or
    example folder (``kind = "book-figure"`` / ``"book-example"``) is run by
    `pgzoo.book.figures` instead."""
    from pgzoo.book.figure_suite import is_book_suite

    book = is_book_suite(suite_dir)
    folder = Path(suite_dir) if book else load_suite(suite_dir).path.parent
    with bench_lock(folder):
        if book:
            return _run_book_suite(folder, seeds, population, progress)
        return _run_suite(suite_dir, seeds, workers, executor, address, only, progress, population, retrain_stale)


def latest_lines(results: Any, runs: list[Any]) -> dict[tuple[str, str, int, str], dict[str, Any]]:
    """The last results line of each run of ``runs`` (a grid's specs) that has one, by its key."""
    wanted = {r.key for r in runs}
    out: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for line in results.runs():
        key = (line["algorithm"], line["env"], line["seed"], line["config_hash"])
        if key in wanted:
            out[key] = line
    return out


def _run_suite(suite_dir: str | Path, seeds: int | None, workers: int | None, executor: str, address: str | None,
               only: list[str] | None, progress: bool, population: bool | None,
               retrain_stale: bool = False) -> BenchReport:
    from pgzoo.registry import get_registry

    suite = load_suite(suite_dir)
    folder = suite.path.parent
    grid = build_grid(suite, get_registry(), only, seeds)
    if executor == "ray" and address:
        check_reachable(address)  # before anything is said or started
    results_path = folder / RESULTS_FILE
    results = read_results(results_path)
    if results.bad_lines:
        _say(f"{results_path}: ignoring {len(results.bad_lines)} bad line(s), whose runs are redone: "
             f"{results.describe_bad_lines()}")
    for note in grid.skipped:
        _say(note)
    done = results.done_keys()
    latest = latest_lines(results, grid.runs)
    installed = Installed()
    staleness = check_runs(list(latest.values()), installed)
    notes = staleness.lines()
    for line in notes[:-1]:
        _say(line)
    if notes:
        _say("retraining the stale and unknown lines (--retrain-stale)" if retrain_stale else
             "keeping the stale and unknown lines (--retrain-stale retrains them)")
    if retrain_stale:
        done -= {k for k, line in latest.items() if not check_line(line, installed).same}
    todo = [r for r in grid.runs if r.key not in done]
    report = BenchReport(folder, len(grid.runs), len(grid.runs) - len(todo), skipped=grid.skipped)
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    how = f" with {_count(n_workers, 'worker')}" if executor == "local" else ""
    n_seeds = len({r.seed for r in grid.runs})
    _say(f"suite {suite.model.name}: {_count(len(grid.runs), 'run')} ({_count(len(grid.algorithms), 'algorithm')} x "
         f"{_count(len(suite.model.envs), 'env')} x {_count(n_seeds, 'seed')}), {report.already_done} already in "
         f"{results_path}, {len(todo)} to do on the {executor} executor{how}")
    _measure_random_scores(suite, results_path)
    start = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    bar = GridProgress(len(grid.runs), report.already_done, enabled=progress)
    runner = make_executor(executor, n_workers, address)
    try:
        if todo:
            use_population = suite.model.population if population is None else population
            use_population = use_population and not suite.model.tensorboard  # every run logs its own updates
            items = group_cells(todo, use_population, results.runs(), grid.runs)
            for outcome in runner.run(items, bar.set_running):
                if outcome.spec.key in done:
                    continue  # retrained only so that a lost member of its population comes out the same
                if outcome.record is not None:
                    append_line(results_path, outcome.record)
                    report.finished += 1
                else:
                    append_line(results_path, failed_record(outcome.spec, outcome.error or "failed"))
                    report.failed.append(f"{outcome.spec.label}: {outcome.error}")
                    bar.write(f"pgzoo bench: run failed: {outcome.spec.label}: {outcome.error}")
                bar.finished(outcome.record is not None)
    finally:
        runner.close()
        bar.close()
        signal.signal(signal.SIGTERM, previous)
    report.wall_s = time.perf_counter() - start
    report.leaderboard = render_folder(folder, suite)
    return report


def _run_book_suite(folder: Path, runs: int | None, population: bool | None, progress: bool) -> BenchReport:
    from pgzoo.book.figures import reproduce_any

    start = time.perf_counter()
    text, n = reproduce_any(folder, runs=runs, population=population, progress=progress)
    return BenchReport(folder, n, 0, finished=n, wall_s=time.perf_counter() - start, leaderboard=text)


def render_folder(folder: str | Path, suite: Suite | None = None, warn: bool = False, say_stale: bool = False) -> str:
    """Write the leaderboard of the suite in ``folder`` from its ``results.jsonl``; return the markdown.
    (A book figure or example folder is redrawn from its saved runs instead.) With ``warn``, bad
    lines of ``results.jsonl`` are also reported on stderr; with ``say_stale``, the lines made by
    other code than the installed one (as the board's provenance section says)."""
    from pgzoo.book.figure_suite import is_book_suite
    from pgzoo.book.figures import reproduce_any

    if suite is None and is_book_suite(folder):
        return reproduce_any(folder, render_only=True)[0]
    suite = suite or load_suite(folder)
    results = read_results(suite.path.parent / RESULTS_FILE)
    if warn and results.bad_lines:
        print(f"pgzoo leaderboard: {suite.path.parent / RESULTS_FILE}: ignoring {len(results.bad_lines)} bad "
              f"line(s) (a bench redoes their runs): {results.describe_bad_lines()}", file=sys.stderr)
    board = build_board(suite, results)
    if say_stale:
        for line in board.staleness.lines():
            print(f"pgzoo leaderboard: {line}", file=sys.stderr)
    return write_leaderboard(board, suite.path.parent)

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

from pgzoo.bench.board import build_board
from pgzoo.bench.executors import make_executor
from pgzoo.bench.grid import build_grid
from pgzoo.bench.population import group_cells
from pgzoo.bench.progress import GridProgress
from pgzoo.bench.random_policy import random_policy_record
from pgzoo.bench.render import write_leaderboard
from pgzoo.bench.results import RESULTS_FILE, append_line, read_results
from pgzoo.bench.suite import SUITE_FILE, Suite, load_suite

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
    """Copy the packaged quick suite into ``out`` (in the current directory) and return it."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    source = resources.files("pgzoo.bench").joinpath("suites", DEFAULT_SUITE, SUITE_FILE)
    with resources.as_file(source) as src:
        shutil.copyfile(src, folder / SUITE_FILE)
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
) -> BenchReport:
    """Train every run of the suite in ``suite_dir`` not yet in its ``results.jsonl`` and write
    the leaderboard there. Interrupting (SIGINT/SIGTERM) stops the workers; finished runs stay.

    The seeds of a cell train as one population (:mod:`pgzoo.engine.population`) where the algorithm
    can, unless ``population`` (default: the suite's ``population``) is false. A book figure or
    example folder (``kind = "book-figure"`` / ``"book-example"``) is run by
    :mod:`pgzoo.book.figures` instead."""
    from pgzoo.book.figure_suite import is_book_suite
    from pgzoo.registry import get_registry

    if is_book_suite(suite_dir):
        return _run_book_suite(Path(suite_dir), seeds, population, progress)
    suite = load_suite(suite_dir)
    folder = suite.path.parent
    grid = build_grid(suite, get_registry(), only, seeds)
    results_path = folder / RESULTS_FILE
    results = read_results(results_path)
    if results.bad_lines:
        _say(f"ignoring unreadable (partial) line(s) {results.bad_lines} of {results_path}; those runs are redone")
    for note in grid.skipped:
        _say(note)
    done = results.done_keys()
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
            for outcome in runner.run(group_cells(todo, use_population), bar.set_running):
                if outcome.record is not None:
                    append_line(results_path, outcome.record)
                    report.finished += 1
                else:
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


def render_folder(folder: str | Path, suite: Suite | None = None) -> str:
    """Write the leaderboard of the suite in ``folder`` from its ``results.jsonl``; return the markdown.
    (A book figure or example folder is redrawn from its saved runs instead.)"""
    from pgzoo.book.figure_suite import is_book_suite
    from pgzoo.book.figures import reproduce_any

    if suite is None and is_book_suite(folder):
        return reproduce_any(folder, render_only=True)[0]
    suite = suite or load_suite(folder)
    results = read_results(suite.path.parent / RESULTS_FILE)
    return write_leaderboard(build_board(suite, results), suite.path.parent)

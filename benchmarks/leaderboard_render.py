"""CPU time of ``pgzoo leaderboard`` re-rendering a committed board (issue 20: 71 CPU s, target ≤ 5 s).

Sides, each in a process of its own (the protocol of ``benchmarks/protocol.py``, alternating, median of
the paired ratios, load average printed):

- ``rliable``: the statistics as pgzoo computed them before they were vectorised — every interval
  through ``rliable.library.get_interval_estimates``, whose bootstrap calls the statistic once per
  replication — and the curves drawn every time (the reference);
- ``pgzoo``: the installed code, ``curves.png`` drawn anew (the first render after new results);
- ``pgzoo-cached``: the installed code on a folder whose ``curves.png`` shows the same curves already
  (a re-render: the picture is kept, its input hash matches).

A worker copies ``suite.toml`` and ``results.jsonl`` of the board into a temporary folder, renders it
with ``pgzoo.cli.main(["leaderboard", ...])`` and reports the CPU time of its whole process
(interpreter start and imports included: what the command costs).

Usage: ``python benchmarks/leaderboard_render.py [--board leaderboards/classic-control] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol import load_line, paired_rounds, run_worker

ROOT = Path(__file__).resolve().parents[1]


def _use_rliable_loop() -> None:
    """Route pgzoo's intervals through rliable's own bootstrap loop, as before they were vectorised."""
    import numpy as np
    from rliable import library, metrics
    from scipy.stats import trim_mean

    from pgzoo.bench import stats

    def interval(scores, func, reps, seed):
        saved = np.random.get_state()
        np.random.seed(seed)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                point, iv = library.get_interval_estimates({"x": scores}, func, reps=reps,
                                                           confidence_interval_size=stats.CONFIDENCE,
                                                           random_state=np.random.RandomState(seed))
        finally:
            np.random.set_state(saved)
        return np.asarray(point["x"]), np.asarray(iv["x"])

    def iqm_ci(scores, reps=stats.DEFAULT_REPS, seed=0):
        m = stats._as_matrix(scores)
        if m.shape[0] < 2:
            v = stats.iqm(m)
            return stats.Estimate(v, v, v)
        p, iv = interval(m, lambda x: np.array([metrics.aggregate_iqm(x)]), reps, seed)
        return stats.Estimate(float(p[0]), float(iv[0, 0]), float(iv[1, 0]))

    def probability_of_improvement(x, y, reps=stats.DEFAULT_REPS, seed=0):
        mx, my = stats._as_matrix(x), stats._as_matrix(y)
        value = float(metrics.probability_of_improvement(mx, my))
        if mx.shape[0] < 2 or my.shape[0] < 2:
            return stats.Estimate(value, value, value)
        _, iv = interval([mx, my], lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps, seed)
        return stats.Estimate(value, float(iv[0, 0]), float(iv[1, 0]))

    def iqm_curve_band(curves, reps=stats.DEFAULT_REPS, seed=0):
        curves = np.asarray(curves, dtype=np.float64)

        def per_point(x):
            return trim_mean(x.reshape(-1, x.shape[-1]), 0.25, axis=0)

        point = per_point(curves)
        if curves.shape[0] < 2:
            return point, point, point
        _, iv = interval(curves[:, None, :], per_point, reps, seed)
        return point, iv[0], iv[1]

    stats.iqm_ci, stats.probability_of_improvement, stats.iqm_curve_band = (
        iqm_ci, probability_of_improvement, iqm_curve_band)


def worker(side: str, board: Path) -> dict:
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / board.name
        folder.mkdir()
        for name in ("suite.toml", "results.jsonl"):
            shutil.copy(board / name, folder / name)
        if side == "pgzoo-cached":  # a render before, in another process: curves.png is up to date
            render = "import sys; from pgzoo.cli import main; sys.exit(main(sys.argv[1:]))"
            subprocess.run([sys.executable, "-c", render, "leaderboard", str(folder)], capture_output=True, check=True)
        from pgzoo.cli import main

        if side == "rliable":
            _use_rliable_loop()
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
            code = main(["leaderboard", str(folder)])
        usage = resource.getrusage(resource.RUSAGE_SELF)  # the whole process: interpreter, imports, render
        table = [line for line in out.getvalue().splitlines() if line.startswith("| a2c |")]
        return {"cpu_s": usage.ru_utime + usage.ru_stime, "exit": code, "first_row": table[0] if table else ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--board", default=str(ROOT / "leaderboards" / "classic-control"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=("rliable", "pgzoo", "pgzoo-cached"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    board = Path(args.board).resolve()
    if args.worker:
        print(json.dumps(worker(args.worker, board)))
        return 0
    cached: list[float] = []

    def measure(side: str, r: int) -> dict:
        res = run_worker(__file__, side, ["--board", str(board)])
        if side == "pgzoo":
            cached.append(run_worker(__file__, "pgzoo-cached", ["--board", str(board)])["cpu_s"])
        return res

    def show(r: int, a: dict, b: dict, x: float) -> str:
        same = "same table" if a["first_row"] == b["first_row"] else f"TABLES DIFFER: {a['first_row']} vs " \
                                                                     f"{b['first_row']}"
        return (f"round {r + 1}: rliable loop {a['cpu_s']:.2f} CPU s, pgzoo {b['cpu_s']:.2f} CPU s (ratio {x:.1f}); "
                f"pgzoo re-render with curves.png up to date {cached[-1]:.2f} CPU s; {same}")

    report = paired_rounds(("rliable", "pgzoo"), measure, lambda a, b: a["cpu_s"] / b["cpu_s"], args.rounds, show)
    pgzoo_s = sorted(p["pgzoo"]["cpu_s"] for p in report["rounds"])
    print(f"{board.name}: pgzoo leaderboard {pgzoo_s[len(pgzoo_s) // 2]:.2f} CPU s (median of {args.rounds}), "
          f"{sorted(cached)[len(cached) // 2]:.2f} CPU s re-rendering with curves.png up to date; the rliable loop "
          f"{report['median_ratio']:.1f}x the CPU time (paired ratios {[round(x, 1) for x in report['ratios']]})")
    print(load_line(report))
    print(f"cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

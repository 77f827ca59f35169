"""The measuring protocol shared by the benchmarks under ``benchmarks/``.

The machine is shared and noisy, so a comparison of two sides (pgzoo against a peer, or two
ways of training in pgzoo) is measured like this:

- every measurement runs in a process of its own (:func:`run_worker`: the script again, with
  ``--worker SIDE``; the worker prints one JSON object as its last line), on one torch thread;
- each worker times only the work itself, by CPU time of its process (set-up and evaluation
  left out), and reports it as ``cpu_s``;
- the two sides alternate over several rounds, the order flipping every round
  (:func:`paired_rounds`), so slow spells of the machine hit both;
- the result is the median over rounds of the paired ratios, printed next to the load average
  (``os.getloadavg()``) before and after (:func:`load_line`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

Result = dict[str, Any]


def run_worker(script: str, side: str, args: Sequence[str]) -> Result:
    """Run ``python SCRIPT --worker SIDE ARGS…`` in a fresh process; its last stdout line as JSON.

    Raises ``RuntimeError`` with the worker's stderr if it fails.
    """
    out = subprocess.run([sys.executable, script, "--worker", side, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"worker {side} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def paired_rounds(sides: tuple[str, str], measure: Callable[[str, int], Result],
                  ratio: Callable[[Result, Result], float], rounds: int,
                  show: Callable[[int, Result, Result, float], str | None] | None = None) -> Result:
    """Measure ``sides`` (a, b) alternately for ``rounds`` rounds (a first in even rounds).

    ``measure(side, round)`` returns one measurement; ``ratio(a, b)`` the paired ratio of a
    round; ``show`` (optional) is called after each round, and a line it returns is printed.
    Returns ``median_ratio`` (over rounds), ``ratios`` and ``rounds`` (the pairs), and the load averages
    before and after.
    """
    a, b = sides
    before, pairs = os.getloadavg(), []
    for r in range(rounds):
        order = (a, b) if r % 2 == 0 else (b, a)
        res = {side: measure(side, r) for side in order}
        x = ratio(res[a], res[b])
        pairs.append({a: res[a], b: res[b], "ratio": x})
        line = show(r, res[a], res[b], x) if show is not None else None
        if line is not None:
            print(line, flush=True)
    ratios = [p["ratio"] for p in pairs]
    return {"median_ratio": statistics.median(ratios), "ratios": ratios, "rounds": pairs,
            "load_average_before": before, "load_average_after": os.getloadavg()}


def load_line(report: Result) -> str:
    """'load average (1, 5, 15 min) before: … ; after: …' of a :func:`paired_rounds` report."""
    return "load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
        *report["load_average_before"], *report["load_average_after"])

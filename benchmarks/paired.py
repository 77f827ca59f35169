"""The paired, alternating protocol the benchmarks under ``benchmarks/`` share.

Every measurement runs in a process of its own (``python SCRIPT --worker SIDE ...``, which
prints one JSON object as its last line); the two sides of a comparison alternate over rounds
(the order flips every round), so that a shared, noisy machine's load falls on both; the
result is the median over rounds of the paired ratios, printed next to the load average
(``os.getloadavg()``) before and after.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any


def run_worker(script: str, side: str, args: Sequence[str]) -> dict[str, Any]:
    """Run ``script --worker side *args`` in a fresh Python process; its last stdout line as JSON.

    Raises ``RuntimeError`` with the worker's stderr tail if it fails.
    """
    out = subprocess.run([sys.executable, script, "--worker", side, *args], capture_output=True, text=True)
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"worker {side} failed (exit {out.returncode}):\n{tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def alternate(a: str, b: str, rounds: int, measure: Callable[[str], dict[str, Any]],
              ratio: Callable[[dict[str, Any], dict[str, Any]], float],
              report: Callable[[int, dict[str, Any], dict[str, Any], float], None] | None = None,
              ) -> dict[str, Any]:
    """``rounds`` paired measurements of sides ``a`` and ``b`` (``a`` first in even rounds).

    ``ratio(result_a, result_b)`` is the paired ratio of one round; returns
    ``{"median_ratio": …, "rounds": [{"a": …, "b": …, "ratio": …}, …]}``.
    """
    pairs = []
    for r in range(rounds):
        order = [a, b] if r % 2 == 0 else [b, a]
        res = {side: measure(side) for side in order}
        x = ratio(res[a], res[b])
        pairs.append({"a": res[a], "b": res[b], "ratio": x})
        if report:
            report(r, res[a], res[b], x)
    return {"median_ratio": statistics.median(p["ratio"] for p in pairs), "rounds": pairs}


def load_line(before: Sequence[float], after: Sequence[float]) -> str:
    """The load averages (1, 5, 15 min) before and after, as one line."""
    return "load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
        *before, *after)


def load_average() -> tuple[float, float, float]:
    """``os.getloadavg()``."""
    return os.getloadavg()

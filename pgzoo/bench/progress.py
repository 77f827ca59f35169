"""One refreshed line over the whole grid: runs done / running / left, elapsed and remaining time."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


class GridProgress:
    """A tqdm line counting finished runs, with how many are running and left."""

    def __init__(self, total: int, already_done: int, enabled: bool = True) -> None:
        self.running = 0
        self.failed = 0
        self._drawn = 0.0
        self._bar = tqdm(total=total, initial=already_done, unit="run", desc="bench", disable=not enabled,
                         file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                         bar_format="{desc}: {n_fmt}/{total_fmt} runs done{postfix} "
                                    "[{elapsed} elapsed, {remaining} left]")
        self._refresh()

    def _refresh(self) -> None:
        self._drawn = time.monotonic()
        left = self._bar.total - self._bar.n - self.running
        failed = f", {self.failed} failed" if self.failed else ""
        self._bar.set_postfix_str(f"{self.running} running, {max(left, 0)} left{failed}", refresh=True)

    def set_running(self, n: int) -> None:
        """Record how many runs are running; redraw (at most every half second) so the clock ticks."""
        now = time.monotonic()
        if n != self.running or now - self._drawn >= 0.5:
            self.running = n
            self._refresh()

    def finished(self, ok: bool) -> None:
        if not ok:
            self.failed += 1
        self._bar.update(1)
        self._refresh()

    def write(self, message: str) -> None:
        """Print a line above the bar."""
        self._bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self._bar.close()

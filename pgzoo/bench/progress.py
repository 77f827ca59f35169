"""Progress over the whole grid: runs done / running / left, elapsed and remaining time.

On a terminal, one tqdm line refreshed in place. Elsewhere (a log file, CI), whole lines: one
when a run finishes and otherwise at most one a minute, instead of a carriage-return stream.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm.auto import tqdm

from pgzoo.progress import LOG_EVERY_S
from pgzoo.progress import clock as _clock


class GridProgress:
    """Counts finished runs, with how many are running and left."""

    def __init__(self, total: int, already_done: int, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total, self.done, self.running, self.failed = total, already_done, 0, 0
        self.enabled = enabled
        self._start = self._drawn = time.monotonic()
        self._start_done = already_done
        self._max_running = 0
        self._bar = None
        if enabled and self.stream.isatty():
            self._bar = tqdm(total=total, initial=already_done, unit="run", desc="bench", file=self.stream,
                             dynamic_ncols=True, mininterval=0.5,
                             bar_format="{desc}: {n_fmt}/{total_fmt} runs done{postfix} "
                                        "[{elapsed} elapsed, {remaining} left]")
        self._refresh()

    def _status(self) -> str:
        left = max(self.total - self.done - self.running, 0)
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.running} running, {left} left{failed}"

    def _refresh(self) -> None:
        self._drawn = time.monotonic()
        if self._bar is not None:
            self._bar.set_postfix_str(self._status(), refresh=True)
        elif self.enabled:
            elapsed = self._drawn - self._start
            finished = self.done - self._start_done
            # the first runs to finish were running side by side: as many as ran at once finish at about
            # that time, so until that many have finished, count them (else the first estimate is K× long)
            rate = max(finished, self._max_running) / elapsed if finished and elapsed > 0 else 0.0
            eta = _clock((self.total - self.done) / rate) if rate > 0 else "?"
            print(f"bench: {self.done}/{self.total} runs done, {self._status()} "
                  f"[{_clock(elapsed)} elapsed, {eta} left]", file=self.stream, flush=True)

    def set_running(self, n: int) -> None:
        """Record how many runs are running; redraw when that changes or the clock should tick."""
        changed, self.running = n != self.running, n
        self._max_running = max(self._max_running, n)
        if self._bar is None:  # a log: a line a minute at most (finished runs print their own)
            changed = False
        if changed or time.monotonic() - self._drawn >= (0.5 if self._bar is not None else LOG_EVERY_S):
            self._refresh()

    def finished(self, ok: bool) -> None:
        if not ok:
            self.failed += 1
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)
        self._refresh()

    def write(self, message: str) -> None:
        """Print a line (above the bar on a terminal)."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

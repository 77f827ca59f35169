"""Progress of one training run: a tqdm bar on a terminal, whole lines anywhere else.

Into a log file or a pipe a refreshed bar is a carriage-return stream; there, progress is one
line at most every :data:`LOG_EVERY_S` seconds and one at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm.auto import tqdm

LOG_EVERY_S = 60.0
"""Without a terminal: the longest time between two progress lines."""


def clock(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour on."""
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class LineProgress:
    """The part of tqdm's interface the trainers use, printing whole lines to ``stream``."""

    def __init__(self, total: int, unit: str, desc: str, stream: TextIO, every_s: float = LOG_EVERY_S) -> None:
        self.total, self.unit, self.desc, self.stream, self.every_s = total, unit, desc, stream, every_s
        self.n, self.postfix = 0, ""
        self._start = self._printed = time.monotonic()

    def _line(self) -> None:
        self._printed = time.monotonic()
        elapsed = self._printed - self._start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        eta = clock((self.total - self.n) / rate) if rate > 0 else "?"
        post = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}{post} [{clock(elapsed)} elapsed, {eta} left]",
              file=self.stream, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self._printed >= self.every_s:
            self._line()

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        self._line()


def progress_bar(total: int, unit: str, desc: str, enabled: bool = True,
                 stream: TextIO | None = None) -> tqdm | LineProgress:
    """A tqdm bar if ``stream`` (default stderr) is a terminal, else :class:`LineProgress`;
    disabled (a silent tqdm) unless ``enabled``."""
    stream = stream or sys.stderr
    if enabled and not stream.isatty():
        return LineProgress(total, unit, desc, stream)
    return tqdm(total=total, unit=unit, desc=desc, disable=not enabled, file=stream, dynamic_ncols=True,
                mininterval=0.5)

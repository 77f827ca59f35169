"""Stale results: which lines of a board were made by other code than the installed one.

Each results line's ``provenance`` (:mod:`pgzoo.provenance`) is compared with the installed code,
libraries and machine type (:func:`pgzoo.provenance.compare`); lines without provenance (made
before pgzoo recorded it) count as unknown. ``pgzoo bench`` and ``pgzoo leaderboard`` report
what this finds, and ``pgzoo bench --retrain-stale`` retrains the stale and unknown lines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pgzoo.provenance import Comparison, Installed, compare


@dataclass
class Staleness:
    """The lines of a board, checked against the installed code."""

    total: int = 0
    stale: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    """(algorithm, environment, why) → seeds whose line was made by other code (or libraries, machine)."""
    unknown: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    """(algorithm, environment) → seeds whose line records no provenance."""
    fingerprints: Counter = field(default_factory=Counter)
    """The version of the code that made a line (:func:`line_label`) → how many lines it made."""
    sources: Counter = field(default_factory=Counter)
    """(distribution, fingerprint of its sources) of every code part the lines record (pgzoo's and each
    plugin's, :func:`pgzoo.provenance.describe`) → how many lines it made."""

    @property
    def n_stale(self) -> int:
        return sum(len(s) for s in self.stale.values())

    @property
    def n_unknown(self) -> int:
        return sum(len(s) for s in self.unknown.values())

    @property
    def fresh(self) -> int:
        return self.total - self.n_stale - self.n_unknown

    def lines(self) -> list[str]:
        """What a board says about it: one sentence each, empty when every line is of the installed code."""
        out = []
        if len(self.fingerprints) > 1:
            made = ", ".join(f"{n} by {fp}" for fp, n in self.fingerprints.most_common())
            out.append(f"the lines were made by {len(self.fingerprints)} versions of pgzoo: {made}")
        if self.stale:
            which = "; ".join(f"{a} on {e} seed{_plural(s)} {_seeds(s)} ({why})"
                              for (a, e, why), s in sorted(self.stale.items()))
            out.append(f"{self.n_stale} of {self.total} lines were made by other code than the installed one, "
                       f"so they may not reproduce: {which}")
        if self.unknown:
            which = "; ".join(f"{a} on {e} seed{_plural(s)} {_seeds(s)}" for (a, e), s in sorted(self.unknown.items()))
            how_many = f"all {self.total}" if self.n_unknown == self.total else f"{self.n_unknown} of {self.total}"
            out.append(f"{how_many} lines record no provenance (made before pgzoo recorded which code made a line), "
                       "so whether the installed code reproduces them is unknown"
                       + ("" if self.n_unknown == self.total else f": {which}"))
        if self.stale or self.unknown:
            out.append("`pgzoo bench <suite folder> --retrain-stale` retrains the stale and unknown lines with the "
                       "installed code")
        return out

    def as_json(self) -> dict[str, Any]:
        return {"lines": self.total, "same_code": self.fresh,
                "fingerprints": dict(self.fingerprints),
                "sources": [{"distribution": d, "fingerprint": h, "lines": n}
                            for (d, h), n in sorted(self.sources.items())],
                "stale": [{"algorithm": a, "env": e, "seeds": s, "why": why} for (a, e, why), s in
                          sorted(self.stale.items())],
                "unknown": [{"algorithm": a, "env": e, "seeds": s} for (a, e), s in sorted(self.unknown.items())]}


def _plural(seeds: list[int]) -> str:
    return "" if len(seeds) == 1 else "s"


def _seeds(seeds: list[int]) -> str:
    s = sorted(seeds)
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}–{s[-1]}"
    return ", ".join(map(str, s))


def line_label(record: dict[str, Any]) -> str:
    """The version of the code that made a line, as a board names it: its git commit (and the
    fingerprint of pgzoo's sources if the checkout had uncommitted changes), else pgzoo's version
    and that fingerprint. (The plugins' own sources are compared line by line by :func:`check_line`.)"""
    prov = record.get("provenance")
    if not isinstance(prov, dict) or not prov.get("code"):
        return "code not recorded"
    parts = prov.get("code_parts") if isinstance(prov.get("code_parts"), dict) else {}
    core = (parts.get("pgzoo") or {}).get("hash") if isinstance(parts.get("pgzoo"), dict) else None
    git = prov.get("git") if isinstance(prov.get("git"), dict) else {}
    if git.get("commit"):
        dirty = f" with uncommitted changes (pgzoo sources {core})" if git.get("dirty") else ""
        return f"git commit {str(git['commit'])[:10]}{dirty}"
    return f"pgzoo {prov.get('pgzoo')} (sources {core})"


def check_line(record: dict[str, Any], installed: Installed | None = None) -> Comparison:
    """How one results line compares with the installed code."""
    return compare(record.get("provenance"), baseline=record.get("kind") == "baseline", installed=installed)


def check_runs(runs: list[dict[str, Any]], installed: Installed | None = None) -> Staleness:
    """Check every run line of ``runs`` (the lines a board uses) against the installed code."""
    now = installed or Installed()
    out = Staleness(total=len(runs))
    for r in runs:
        c = check_line(r, now)
        key = (str(r.get("algorithm")), str(r.get("env")))
        out.fingerprints[line_label(r)] += 1
        prov = r.get("provenance") if isinstance(r.get("provenance"), dict) else {}
        parts = prov.get("code_parts") if isinstance(prov.get("code_parts"), dict) else {}
        for dist, part in parts.items():
            if isinstance(part, dict) and part.get("hash"):
                out.sources[(str(dist), str(part["hash"]))] += 1
        if c.unknown:
            out.unknown.setdefault(key, []).append(int(r.get("seed", -1)))
        elif not c.same:
            out.stale.setdefault((*key, c.reason()), []).append(int(r.get("seed", -1)))
    return out

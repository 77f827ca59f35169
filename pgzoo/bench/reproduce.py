"""``pgzoo reproduce``: retrain one results line exactly as recorded and compare it bit for bit.

The recipe of a line is what it records: its run spec (the resolved config, budget and evaluation
protocol), its seed, the population it was trained in (its members' seeds) and its
``provenance.path`` (``compile`` setting, dtype). The line is retrained in a fresh worker process,
as the bench trains it (:class:`~pgzoo.bench.executors.LocalExecutor`, one torch thread), in a
scratch folder; its final evaluation, evaluation curve and env steps are compared with the
recorded ones as float64 bits. What a line does not record (lines made before pgzoo recorded
provenance) is assumed as the bench trained then (eagerly, in float32) and named in the report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgzoo.bench.results import RESULTS_FILE, Results, append_line, read_results
from pgzoo.bench.suite import RunSpec
from pgzoo.errors import UsageError

COMPARED = ("final", "curve", "env_steps", "final_params")
"""The fields of a line that must come back bit for bit (times, hosts and dates are not compared);
``final_params`` is the fingerprint of the trained parameters (:func:`pgzoo.provenance.params_hash`)."""


@dataclass
class Recipe:
    """How to train a line again."""

    line: int
    """Its line number in ``results.jsonl`` (from 1)."""
    record: dict[str, Any]
    members: list[RunSpec]
    """The runs to train together: the line's population (its seed among them), or the line alone."""
    compile_: str
    dtype: str
    assumed: list[str] = field(default_factory=list)
    """What the line does not record and was assumed (as the bench trained when such lines were made)."""

    def describe(self) -> str:
        r = self.record
        how = (f"as a population of seeds {', '.join(str(m.seed) for m in self.members)}" if len(self.members) > 1
               else "alone")
        text = f"{r['algorithm']} on {r['env']} seed {r['seed']} (line {self.line}): trained {how}, compile " \
               f"{self.compile_}, {self.dtype}"
        if self.assumed:
            text += f"; not recorded, assumed: {', '.join(self.assumed)}"
        return text


@dataclass
class Difference:
    """One compared field whose bits differ."""

    field: str
    recorded: Any
    retrained: Any

    def describe(self) -> str:
        a, b = self.recorded, self.retrained
        delta = ""
        if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) \
                and math.isfinite(a) and math.isfinite(b):
            delta = f" (difference {b - a:+.6g})"
        return f"{self.field}: recorded {a!r}, retrained {b!r}{delta}"


@dataclass
class Reproduction:
    """A retrained line next to the recorded one."""

    recipe: Recipe
    retrained: dict[str, Any] | None
    error: str | None
    differences: list[Difference]
    compared: int
    """How many numbers were compared."""
    wall_s: float

    @property
    def matches(self) -> bool:
        return self.error is None and not self.differences


def find_line(folder: Path, algorithm: str | None, env: str | None, seed: int | None,
              line: int | None) -> tuple[int, dict[str, Any], Results]:
    """The run line to reproduce: number ``line`` of ``results.jsonl``, or the last line of
    (``algorithm``, ``env``, ``seed``) — the one a board uses. A one-line :class:`UsageError` otherwise."""
    from pgzoo.book.figure_suite import is_book_suite

    path = folder / RESULTS_FILE
    if not path.is_file() and is_book_suite(folder):
        raise UsageError(f"{folder} is a book figure: its runs train together (pgzoo bench {folder}); its runs.json "
                         "records their provenance")
    if not path.is_file():
        raise UsageError(f"{path}: no results file (run pgzoo bench {folder} first)")
    results = read_results(path)
    lines = _numbered(path, results)
    if line is not None:
        for n, record in lines:
            if n == line:
                return n, record, results
        raise UsageError(f"{path}: line {line} is not a finished run's line (the file has {_count_lines(path)} lines)")
    found = [(n, r) for n, r in lines if r["algorithm"] == algorithm and r["env"] == env and r["seed"] == seed]
    if not found:
        have = sorted({f"{r['algorithm']} {r['env']}" for _, r in lines})
        raise UsageError(f"{path}: no line of {algorithm} on {env} seed {seed} (it has: {', '.join(have) or 'none'})")
    return (*found[-1], results)


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().split(b"\n") if line.strip())


def _numbered(path: Path, results: Results) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) of every valid run line of ``path``."""
    out = []
    for n, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip() or n in results.problems:
            continue
        record = json.loads(raw)
        if isinstance(record, dict) and record.get("type", "run") == "run":
            out.append((n, record))
    return out


def recipe(line: int, record: dict[str, Any], results: Results) -> Recipe:
    """How to train ``record`` again, from what it records (see the module docstring)."""
    spec = record.get("spec")
    if not isinstance(spec, dict):
        raise UsageError(f"line {line} records no run spec: it cannot be retrained")
    fields = {f.name for f in dataclasses.fields(RunSpec)}
    try:
        base = RunSpec(**{k: v for k, v in spec.items() if k in fields and k != "tensorboard"})
    except TypeError as e:
        raise UsageError(f"line {line}: its run spec is incomplete ({e})") from None
    prov = record.get("provenance") if isinstance(record.get("provenance"), dict) else {}
    path = prov.get("path") if isinstance(prov.get("path"), dict) else {}
    assumed = []
    seeds = path.get("population_seeds") or record.get("population_seeds")
    n = int(record.get("population", 1) or 1)
    if seeds is None and n > 1:  # as pgzoo.bench.population.group_cells finds a lost member's population
        same = sorted({r["seed"] for r in results.runs() if r.get("config_hash") == record.get("config_hash")
                       and r["algorithm"] == record["algorithm"] and r["env"] == record["env"]
                       and int(r.get("population", 1) or 1) == n})
        if len(same) != n:
            raise UsageError(f"line {line} was trained in a population of {n} whose seeds it does not record")
        seeds = same
        assumed.append(f"population seeds {same} (the cell's lines in a population of {n})")
    members = [dataclasses.replace(base, seed=int(s)) for s in seeds] if seeds else [base]
    if base.seed not in [m.seed for m in members]:
        raise UsageError(f"line {line}: its seed {base.seed} is not among its population's seeds {seeds}")
    compile_ = path.get("compile")
    if base.kind != "algorithm":
        compile_ = "n/a"
    elif compile_ is None:  # made before lines recorded it: the bench then trained eagerly ("auto" -> "off")
        compile_ = "off"
        assumed.append("compile off")
    dtype = path.get("dtype")
    if dtype is None:
        dtype = "float32"
        assumed.append("float32")
    if dtype != "float32":
        raise UsageError(f"line {line} was trained in {dtype}; the bench trains in float32 only")
    if not prov:
        assumed.append("the code and library versions (no provenance)")
    return Recipe(line, record, members, compile_, dtype, assumed)


def compare_lines(recorded: dict[str, Any], retrained: dict[str, Any]) -> tuple[list[Difference], int]:
    """The fields of :data:`COMPARED` whose float64 bits differ, and how many numbers were compared
    (those the recorded line holds: a field that pgzoo added later is not compared)."""
    out: list[Difference] = []
    count = 0

    def walk(name: str, a: Any, b: Any) -> None:
        nonlocal count
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(a):  # what the recorded line holds (a field added to pgzoo later is not compared)
                walk(f"{name}.{k}", a[k], b.get(k))
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                out.append(Difference(f"{name} (length)", len(a), len(b)))
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                label = f"{name}[{i}]"
                if isinstance(x, dict) and "env_steps" in x:
                    label += f" (env step {x['env_steps']:g})"
                walk(label, x, y)
        else:
            count += 1
            if not _same_bits(a, b):
                out.append(Difference(name, a, b))

    for key in COMPARED:
        if key in recorded:  # what the recorded line holds (older lines have no final_params)
            walk(key, recorded[key], retrained.get(key))
    return out, count


def _same_bits(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        fa, fb = float(a), float(b)
        return (math.isnan(fa) and math.isnan(fb)) or fa.hex() == fb.hex()
    return a == b


def retrain(rec: Recipe, out: Path) -> tuple[dict[str, Any] | None, str | None, list[dict[str, Any]]]:
    """Train the recipe's runs in one fresh worker process; (the line's new record or None, the
    error if it failed, every member's new record). Writes them to ``out/results.jsonl``."""
    from pgzoo.bench.executors import LocalExecutor

    executor = LocalExecutor(1, None if rec.compile_ == "n/a" else rec.compile_)
    mine, error, records = None, None, []
    try:
        for outcome in executor.run([rec.members], lambda _running: None):
            if outcome.record is not None:
                records.append(outcome.record)
                append_line(out / RESULTS_FILE, outcome.record)
            if outcome.spec.seed == rec.record["seed"]:
                mine, error = outcome.record, outcome.error
    finally:
        executor.close()
    return mine, error, records


def reproduce(folder: str | Path, algorithm: str | None = None, env: str | None = None, seed: int | None = None,
              line: int | None = None, out: str | Path | None = None) -> Reproduction:
    """Retrain one line of ``folder/results.jsonl`` from its recipe (in ``out``, default a temporary
    folder that is removed) and compare it with the recorded one."""
    n, record, results = find_line(Path(folder), algorithm, env, seed, line)
    return _reproduce(recipe(n, record, results), out)


def _reproduce(rec: Recipe, out: str | Path | None = None) -> Reproduction:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pgzoo-reproduce-") as tmp:
        scratch = Path(out) if out is not None else Path(tmp)
        scratch.mkdir(parents=True, exist_ok=True)
        retrained, error, _ = retrain(rec, scratch)
    differences, compared = compare_lines(rec.record, retrained) if retrained else ([], 0)
    return Reproduction(rec, retrained, error, differences, compared, time.perf_counter() - start)


def report(r: Reproduction, limit: int = 12) -> list[str]:
    """The lines ``pgzoo reproduce`` prints."""
    out = [r.recipe.describe(), f"retrained in {r.wall_s:.1f} s"]
    if r.error:
        return [*out, f"FAILED: the retrained run failed: {r.error}"]
    if r.matches:
        what = "final evaluation, curve, env steps" + (", parameters" if "final_params" in r.recipe.record else "")
        return [*out, f"MATCHES bit for bit: all {r.compared} numbers ({what})"]
    out.append(f"DIFFERS: {len(r.differences)} of {r.compared} numbers")
    out += [f"  {d.describe()}" for d in r.differences[:limit]]
    if len(r.differences) > limit:
        out.append(f"  ... and {len(r.differences) - limit} more")
    return out


def guard_line(folder: str | Path) -> tuple[int, dict[str, Any], Results] | None:
    """The line the CI guard retrains for the board in ``folder``: its cheapest line of a pgzoo
    algorithm that records its recipe (``provenance``) — cheapest by the recorded training time of
    everything retraining it takes (its whole population) — or, without such a line, its cheapest
    baseline line with a recipe; ``None`` when no line records one (boards made before provenance)."""
    path = Path(folder) / RESULTS_FILE
    if not path.is_file():
        return None
    results = read_results(path)

    def cost(record: dict[str, Any]) -> float:
        prov = record["provenance"].get("path") or {}
        members = len(prov.get("population_seeds") or record.get("population_seeds") or [0])
        return float(record.get("train_wall_s") or record.get("wall_s") or 0.0) * members

    lines = [(n, r) for n, r in _numbered(path, results) if isinstance(r.get("provenance"), dict)]
    for kind in ("algorithm", "baseline"):
        mine = [(cost(r), n, r) for n, r in lines if r.get("kind", "algorithm") == kind]
        if mine:
            _, n, record = min(mine, key=lambda x: (x[0], x[1]))
            return n, record, results
    return None


def guard(folder: str | Path) -> Reproduction | None:
    """Retrain :func:`guard_line` of the board in ``folder`` from its recipe and compare it bit for
    bit (``None``: no line records a recipe). The CI test ``tests/test_board_guard.py`` asserts it
    matches for every committed board, so a change that alters a board's numbers fails until the
    board is retrained in the same change."""
    found = guard_line(folder)
    if found is None:
        return None
    return _reproduce(recipe(*found))

"""Reproductions of the book's learning-curve figures (Figures 13.1 and 13.2), as suites.

A folder holds a ``suite.toml`` with ``kind = "book-figure"``: one environment, a number of
independent runs of a number of episodes each, and the lines of the figure (an algorithm
with its hyperparameters each). Running it trains every line's runs — as populations
(:mod:`pgzoo.engine.population`; the lines of one algorithm that differ only in step sizes share
one population) or, with ``population = false``, one run after another with the trainer —
and writes into the folder:

- ``runs.npz``: per line, every run's total reward and length per episode, which episodes
  hit the time limit, and p(right) (the probability of action 0 in the first state) after
  the episodes listed in ``p_after`` and at the end;

An episode that hits the cap ``max_episode_steps`` means p(right) has run to (or next to) 0
or 1 (under p = 0.05 an episode of the corridor exceeds 1000 steps with probability about
10⁻⁵; at p = 0 or 1 it never ends and no update changes θ). Population training stops such a
run there (``stopped_at``: the episode, 0 for runs that finished; ``p_final``: p at the stop)
and its remaining episodes are filled with the cap's return, −``max_episode_steps``, marked
as capped: what every further episode gives at p = 0 or 1, and a stated assumption otherwise.
- ``figure.png``, ``table.md`` and ``table.json`` (see :mod:`pgzoo.book.figures_report`).

Usage: ``python -m pgzoo.book.figures leaderboards/book-13.1 leaderboards/book-13.2``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, vmap

from pgzoo import atomic, provenance
from pgzoo.book.figure_suite import EXAMPLE_KIND, FigureSuite, Line, load_suite
from pgzoo.config import load_toml
from pgzoo.engine.population import Population, PopulationResult
from pgzoo.engine.trainer import Trainer
from pgzoo.errors import UsageError
from pgzoo.registry import get_algorithm
from pgzoo.spaces import encode_obs
from pgzoo.userfiles import read_user_json, read_user_text


def _algorithm(suite: FigureSuite, line: Line, episodes: int, compile_: str | None = None) -> Any:
    cls = get_algorithm(line.algorithm)
    overrides = {**line.hyperparams, "total_episodes": episodes, "max_episode_steps": suite.max_episode_steps,
                 "eval_episodes": 1, **({"compile": compile_} if compile_ else {})}
    return cls(cls.make_config(suite.env, overrides))


def _first_obs(env_id: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The encoded first observation of ``env_id`` (seed 0)."""
    from pgzoo.engine.envs import make_env

    env = make_env(env_id)
    try:
        return encode_obs(env.observation_space, env.reset(seed=0)[0], dtype)
    finally:
        env.close()


def _fill(rows: list[np.ndarray], episodes: int, value: float | bool) -> np.ndarray:
    """Per-run episode arrays as ``[runs, episodes]``, runs that stopped early filled with ``value``."""
    out = np.full((len(rows), episodes), value, dtype=np.asarray(rows[0]).dtype)
    for r, x in enumerate(rows):
        out[r, : len(x)] = x
    return out


def p_right(result: PopulationResult, params: dict[str, torch.Tensor]) -> np.ndarray:
    """π(action 0 | first state) of every run, for stacked ``params`` of ``result``'s agent."""
    policy = result.template.policy
    obs0 = _first_obs(result.env_id, next(policy.parameters()).dtype)
    pol = {k.removeprefix("policy."): v for k, v in params.items() if k.startswith("policy.")}
    with torch.no_grad():
        probs = vmap(lambda p: functional_call(policy, p, (obs0,)).probs)(pol)
    return probs[..., 0].double().numpy()


def run_lines(suite: FigureSuite, runs: int | None = None, episodes: int | None = None,
              population: bool | None = None, progress: bool = True, compile_: str | None = None) -> dict[str, Any]:
    """Train every line; return per-line arrays (see the module docstring) and wall times.

    ``compile_`` overrides the lines' ``compile`` setting (``"on"``: the compiled population update
    and acting of :mod:`pgzoo.engine.population_compiled`, same statistics, not the same bits)."""
    runs, episodes = runs or suite.runs, episodes or suite.episodes
    use_population = suite.population if population is None else population
    seeds = list(range(runs))
    p_after = [k for k in suite.p_after if k <= episodes]
    groups: dict[str, list[int]] = {}
    for i, line in enumerate(suite.lines):
        groups.setdefault(line.algorithm, []).append(i)
    out: dict[str, Any] = {"lines": [None] * len(suite.lines), "wall_s": {}, "path": {}}
    for algo_name, members in groups.items():
        algos = [_algorithm(suite, suite.lines[i], episodes, compile_) for i in members]
        start = time.perf_counter()
        if use_population:
            pop = Population([a for a in algos for _ in seeds], suite.env, seeds * len(members),
                             snapshot_episodes=p_after, progress=progress, stop_on_truncation=True).run()
            pop.check()  # a run that diverged would bias the figure: stop, as a single run would
            out["path"][algo_name] = {**provenance.trainer_path({"compile": algos[0].config.compile,
                                                                 "compiled": pop.compiled}, torch.float32, seeds),
                                      "population_lines": members}  # each line's seeds: population_seeds
            final_p = p_right(pop, pop.params)
            for j, i in enumerate(members):
                rows = slice(j * runs, (j + 1) * runs)
                ret, length, cut = (_fill(x[rows], episodes, fill) for x, fill in (
                    (pop.episode_returns, -float(suite.max_episode_steps)),
                    (pop.episode_lengths, suite.max_episode_steps), (pop.episode_truncated, True)))
                out["lines"][i] = {
                    "returns": ret, "lengths": length, "truncated": cut,
                    "p_after": np.stack([p_right(pop, pop.snapshots[k])[rows] for k in p_after], 1)
                    if p_after else np.zeros((runs, 0)),
                    "stopped_at": np.array([len(x) if len(x) < episodes else 0 for x in pop.episode_returns[rows]]),
                    "p_final": final_p[rows],
                }
        else:
            for j, i in enumerate(members):
                results = [Trainer(algos[j], suite.env, s, progress=False).run() for s in seeds]
                out["path"][algo_name] = results[0].summary["provenance"]["path"]
                out["lines"][i] = {
                    "returns": np.array([[e["return"] for e in r.episodes] for r in results]),
                    "lengths": np.array([[e["length"] for e in r.episodes] for r in results]),
                    "truncated": np.array([[e["length"] >= suite.max_episode_steps for e in r.episodes]
                                           for r in results]),
                    "p_after": np.full((runs, len(p_after)), np.nan),
                    "stopped_at": np.zeros(runs, dtype=np.int64),
                    "p_final": np.array([float(r.agent.policy(_first_obs(suite.env)).probs[0]) for r in results]),
                }
        out["wall_s"][algo_name] = time.perf_counter() - start
    out["p_after_episodes"] = p_after
    out["mode"] = "as one population per algorithm (pgzoo.engine.population)" if use_population else "one run at a time"
    out["compile"] = compile_ or "as the suite's lines say"
    return out


def save_runs(folder: Path, suite: FigureSuite, data: dict[str, Any]) -> None:
    """Write ``runs.npz`` (arrays per line) and ``runs.json`` (how they were made)."""
    arrays = {f"{k}_{i}": v for i, line in enumerate(data["lines"]) for k, v in line.items()}
    with atomic.replacing(folder / "runs.npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    meta = {"suite": suite.name, "labels": [line.label for line in suite.lines], "mode": data["mode"],
            "runs": int(data["lines"][0]["returns"].shape[0]), "episodes": int(data["lines"][0]["returns"].shape[1]),
            "p_after_episodes": data["p_after_episodes"], "wall_s": {k: round(v, 1) for k, v in data["wall_s"].items()},
            "compile": data.get("compile", "as the suite's lines say"),
            "torch": torch.__version__,
            "provenance": provenance.describe(
                sorted({get_algorithm(line.algorithm).__module__ for line in suite.lines}), suite.env,
                {"per_algorithm": data.get("path", {})})}
    atomic.write_text(folder / "runs.json", json.dumps(meta, indent=2) + "\n")


def load_runs(folder: Path, suite: FigureSuite) -> list[dict[str, np.ndarray]]:
    """The per-line arrays saved by :func:`save_runs`."""
    with np.load(folder / "runs.npz") as z:
        return [{k: z[f"{k}_{i}"] for k in ("returns", "lengths", "truncated", "p_after", "stopped_at", "p_final")}
                for i in range(len(suite.lines))]


def reproduce(folder: str | Path, runs: int | None = None, episodes: int | None = None,
              population: bool | None = None, render_only: bool = False, progress: bool = True,
              compile_: str | None = None) -> Path:
    """Run (unless ``render_only``) and render one book-figure folder; return the figure's path."""
    from pgzoo.book.figures_report import render

    folder = Path(folder)
    suite = load_suite(folder)
    if not render_only:
        save_runs(folder, suite, run_lines(suite, runs, episodes, population, progress, compile_))
    _check_saved_runs(folder)
    meta = read_user_json(folder / "runs.json", "saved runs")
    return render(folder, suite, load_runs(folder, suite), meta)


def _check_saved_runs(folder: Path) -> None:
    """A one-line :class:`UsageError` if ``folder`` lacks the files :func:`save_runs` writes."""
    for name in ("runs.json", "runs.npz"):
        if not (folder / name).is_file():
            raise UsageError(f"{folder}: no saved runs ({name} is missing); `pgzoo bench {folder}` trains them")


def reproduce_any(folder: str | Path, runs: int | None = None, population: bool | None = None,
                  progress: bool = True, render_only: bool = False) -> tuple[str, int]:
    """Reproduce a book figure or example folder: (its table in Markdown, how many runs it trained)."""
    folder = Path(folder)
    if load_toml(folder / "suite.toml").get("kind") == EXAMPLE_KIND:
        from pgzoo.book.example import reproduce_example

        if not (render_only and (folder / "table.md").exists()):
            reproduce_example(folder)
        return (folder / "table.md").read_text(), 0
    reproduce(folder, runs, None, population, render_only, progress)
    meta = read_user_json(folder / "runs.json", "saved runs")
    return read_user_text(folder / "table.md", "table"), 0 if render_only else meta["runs"] * len(meta["labels"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgzoo.book.figures", description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", help="folders with a book-figure suite.toml")
    parser.add_argument("--runs", type=int, help="override the number of runs (quick looks)")
    parser.add_argument("--episodes", type=int, help="override the number of episodes (quick looks)")
    parser.add_argument("--no-population", action="store_true", help="train one run after another")
    parser.add_argument("--render-only", action="store_true", help="redraw from the saved runs.npz")
    parser.add_argument("--compile", choices=("on", "off", "auto"),
                        help="the lines' compile setting (on: compiled population updates and acting; the same "
                             "statistics, not the committed runs' bits)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        for folder in args.folders:
            if load_toml(Path(folder) / "suite.toml").get("kind") == EXAMPLE_KIND:
                print(reproduce_any(folder)[0])
                continue
            reproduce(folder, args.runs, args.episodes, False if args.no_population else None, args.render_only,
                      compile_=args.compile)
            print((Path(folder) / "table.md").read_text())
    except UsageError as e:
        parser.exit(2, f"error: {e}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

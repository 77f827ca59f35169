"""Writing a leaderboard: ``leaderboard.md``, ``leaderboard.json`` and ``curves.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pgzoo import atomic, plotting
from pgzoo.bench import stats
from pgzoo.bench.board import Board, curve_key

MD_FILE, JSON_FILE, PNG_FILE = "leaderboard.md", "leaderboard.json", "curves.png"


def _num(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:,.{digits}f}"


def _steps(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def protocol_text(board: Board) -> str:
    """The evaluation protocol, as stated in every leaderboard."""
    s = board.suite
    parts = []
    for env_id, entry in s.model.envs.items():
        p = s.protocol(env_id)
        parts.append(f"{env_id}: {entry.steps:,} env steps of training, evaluation every {p.every:,} env steps "
                     f"(and at 0 and at the end) on {p.episodes} episodes")
    seeds = sorted({seed for runs in board.runs.values() for seed in (r["seed"] for r in runs)})
    return (
        "**Evaluation protocol.** " + "; ".join(parts) + ". Every evaluation runs the deterministic policy "
        "(greedy action / mean) and the stochastic one (sampled actions) on the same episodes, on environment "
        "seeds derived from the run's seed and disjoint from its training environments' seeds; evaluation does not "
        f"change the training random stream. The ranking score is the final evaluation return of the "
        f"**{s.model.score}** policy. Seeds: {', '.join(map(str, seeds)) or 'none yet'}."
    )


def _env_table(board: Board, env_id: str) -> list[str]:
    mode = board.suite.model.score
    other = "stochastic" if mode == "deterministic" else "deterministic"
    rows = [r for r in board.rows if r["env"] == env_id]
    thr, rnd = board.thresholds.get(env_id), board.random_scores.get(env_id)
    head = (f"## {env_id}\n\nBudget {board.suite.model.envs[env_id].steps:,} env steps; reward threshold "
            f"{_num(thr)}; random policy {_num(rnd)}.\n")
    lines = [head,
             f"| algorithm | seeds | final IQM [95% CI] | mean ± std | {other} mean | AUC | "
             "steps to threshold (median; seeds reaching) | wall s | env steps/s |",
             "|---|---:|---|---|---:|---:|---|---:|---:|"]
    for r in sorted(rows, key=lambda r: -r["final_iqm"]):
        lines.append(
            f"| {r['algorithm']} | {r['seeds']} | {_num(r['final_iqm'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}] "
            f"| {_num(r['final_mean'])} ± {_num(r['final_std'])} | {_num(r[f'final_mean_{other}'])} "
            f"| {_num(r['auc'])} | {_steps(r['steps_to_threshold_median'])}; "
            f"{r['seeds_reaching_threshold']}/{r['seeds']} "
            f"| {_num(r['wall_s'])} | {_num(r['env_steps_per_s'], 0)} |")
    if not rows:
        lines.append("| (no finished runs yet) | | | | | | | | |")
    return lines


def _aggregate_table(board: Board) -> list[str]:
    ref = board.suite.model.compare_to
    lines = ["## Aggregate over environments\n",
             "Final scores normalised per environment (random policy = 0, reward threshold = 1), IQM over all "
             f"(seed, environment) scores with a 95% stratified-bootstrap CI, and the probability that the "
             f"algorithm's score beats {ref}'s on an environment (P(X > Y), averaged over environments, with CI).\n",
             f"| algorithm | environments | seeds | normalised IQM [95% CI] | P(improvement over {ref}) [95% CI] |",
             "|---|---|---:|---|---|"]
    for r in sorted(board.aggregate, key=lambda r: -r["normalised_iqm"]):
        poi = ("—" if r["prob_improvement"] is None else
               f"{r['prob_improvement']:.2f} [{r['poi_ci_low']:.2f}, {r['poi_ci_high']:.2f}]")
        lines.append(f"| {r['algorithm']} | {len(r['envs'])} | {r['seeds']} | {r['normalised_iqm']:.2f} "
                     f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}] | {poi} |")
    if not board.aggregate:
        lines.append("| (nothing to aggregate yet) | | | | |")
    return lines


def markdown(board: Board) -> str:
    """The text of ``leaderboard.md``."""
    s = board.suite.model
    out = [f"# Leaderboard: {s.name}\n"]
    if s.description:
        out.append(s.description.strip() + "\n")
    out.append(protocol_text(board) + "\n")
    for env_id in s.envs:
        out.extend(_env_table(board, env_id))
        out.append("")
    out.extend(_aggregate_table(board))
    out.append("")
    if s.tuning.strip():
        out.append("## Tuning\n\n" + s.tuning.strip() + "\n")
    out.append("## How the numbers are computed\n")
    out.append(f"- **final IQM**: interquartile mean over seeds of the final evaluation return, 95% CI by "
               f"rliable's stratified bootstrap ({s.bootstrap_reps} replications, percentile method); "
               "**mean ± std** over seeds (sample std).")
    out.append("- **AUC**: trapezoidal area under the evaluation curve divided by the budget, i.e. the average "
               "evaluation return over training (higher is faster learning).")
    out.append("- **steps to threshold**: env steps at the first evaluation reaching the environment's reward "
               "threshold; median over all seeds, a seed that never reached it counting as never (— when fewer than "
               "half of the seeds reached it).")
    out.append("- **wall s**: wall-clock seconds per run including evaluation, mean over seeds; **env steps/s**: "
               "training env steps per second excluding evaluation, mean over seeds (one torch thread per run).")
    out.append("- The random-policy score is measured by `pgzoo bench` itself (uniform random actions, 100 "
               "episodes on evaluation seeds) and stored in `results.jsonl`.")
    if board.versions:
        out.append("- Versions: " + "; ".join(f"{k} {', '.join(v)}" for k, v in board.versions.items()) + ".")
    for note in board.notes:
        out.append(f"- Note: {note}.")
    out.append("")
    out.extend(provenance_section(board))
    out.append("\nRe-render from `results.jsonl` with `pgzoo leaderboard <suite folder>`.")
    return "\n".join(out) + "\n"


def provenance_section(board: Board) -> list[str]:
    """Which code made the lines, and which of them the installed code may not reproduce."""
    st = board.staleness
    out = ["## Provenance\n"]
    if not st.total:
        return [*out, "No finished runs yet."]
    made = ", ".join(f"{n} by {label}" for label, n in st.fingerprints.most_common())
    out.append(f"{st.total} lines used: {made}. A line records what made it (`provenance` in `results.jsonl`: "
               "pgzoo's version, the git commit, the fingerprint of the sources that can change its numbers, the "
               "path it was trained on, the library versions, the machine type); `pgzoo reproduce <suite folder> "
               "ALGO ENV SEED` retrains one line from that recipe and compares it bit for bit.\n")
    notes = [line for line in st.lines() if not line.startswith("the lines were made by")]
    if not notes:
        out.append(f"All {st.total} lines come from the installed code (the same fingerprint, libraries and machine "
                   "type).")
    out += [f"- {line[0].upper()}{line[1:]}." for line in notes]
    return out


def as_json(board: Board) -> dict[str, Any]:
    """The data of ``leaderboard.json``: the same numbers as the markdown."""
    s = board.suite.model
    return {
        "suite": s.name, "score": s.score, "compare_to": s.compare_to,
        "protocol": {e: {"steps": s.envs[e].steps, **board.suite.protocol(e).model_dump(),
                         "deterministic_and_stochastic": True, "eval_seeds_disjoint_from_training": True}
                     for e in s.envs},
        "reward_thresholds": board.thresholds, "random_policy_scores": board.random_scores,
        "rows": board.rows, "aggregate": board.aggregate, "tuning": s.tuning, "versions": board.versions,
        "notes": board.notes, "provenance": board.staleness.as_json(),
    }


def _iqm_curves(board: Board, env_id: str) -> tuple[np.ndarray, dict[str, tuple[int, np.ndarray, np.ndarray,
                                                                                    np.ndarray]]]:
    """The evaluation grid of ``env_id`` and, per algorithm with runs, (seeds, IQM, low, high) on it."""
    suite = board.suite
    budget, every = suite.model.envs[env_id].steps, suite.protocol(env_id).every
    grid = np.unique(np.append(np.arange(0, budget + 1, every), budget)).astype(np.float64)
    key = curve_key(suite.model.score)
    out = {}
    for algorithm in suite.model.algorithms:
        runs = board.runs.get((algorithm, env_id))
        if runs:
            curves = np.array([np.interp(grid, [p["env_steps"] for p in r["curve"]], [p[key] for p in r["curve"]])
                               for r in runs])
            out[algorithm] = (len(runs), *stats.iqm_curve_band(curves, reps=min(suite.model.bootstrap_reps, 1000)))
    return grid, out


def _references(ax: Any, board: Board, env_id: str) -> None:
    if board.thresholds.get(env_id) is not None:
        ax.axhline(board.thresholds[env_id], color="black", linestyle="--", linewidth=0.9, label="reward threshold")
    if env_id in board.random_scores:
        ax.axhline(board.random_scores[env_id], color="0.45", linestyle=":", linewidth=1.0, label="random policy")
    ax.grid(alpha=0.3)


def plot_curves(board: Board, path: Path) -> tuple[int, int]:
    """``curves.png``: per environment, each algorithm's IQM evaluation curve over seeds with its
    95% stratified-bootstrap band (rliable's conventions), colour-blind-safe colours, the legend
    under the axes. With more than four algorithms (or ``curves = "panels"``), one small panel
    per algorithm and environment, the other algorithms' IQM curves in grey behind it.
    Returns the panel grid's (rows, columns)."""
    suite = board.suite
    envs = list(suite.model.envs)
    algorithms = list(suite.model.algorithms)
    panels = suite.model.curves == "panels" or (suite.model.curves == "auto" and len(algorithms) > 4)
    data = {env_id: _iqm_curves(board, env_id) for env_id in envs}
    shown = [a for a in algorithms if any(a in data[e][1] for e in envs)] or algorithms
    shape = (len(envs), len(shown)) if panels else (1, len(envs))
    key = _plot_key(board, data, panels)
    if plotting.png_text(path, PLOT_KEY) == key:
        return shape  # the same picture: it is there already
    meta = {PLOT_KEY: key}
    styles = {a: plotting.style(i) for i, a in enumerate(algorithms)}  # (seaborn's palette: imported here)
    plt = plotting.pyplot()
    ylabel = f"evaluation return\n({suite.model.score} policy; IQM, 95% CI)"
    if not panels:
        fig, axes = plt.subplots(1, len(envs), figsize=(6.0 * len(envs), 4.6), squeeze=False)
        for ax, env_id in zip(axes[0], envs, strict=True):
            grid, curves = data[env_id]
            for algorithm, (n, iqm, low, high) in curves.items():
                plotting.band(ax, grid, iqm, low, high, f"{algorithm} ({n} seeds)", styles[algorithm], alpha=0.15)
            _references(ax, board, env_id)
            ax.set_title(env_id)
            plotting.steps_axis(ax)
            ax.set_xlabel("env steps")
            ax.set_ylabel(ylabel)
        plotting.legend_below(fig, list(axes[0]))
        plotting.save(fig, path, metadata=meta)
        return shape
    fig, axes = plt.subplots(len(envs), len(shown), figsize=(2.6 * len(shown) + 0.8, 2.5 * len(envs) + 0.9),
                             squeeze=False, sharex="row", sharey="row")
    for row, env_id in enumerate(envs):
        grid, curves = data[env_id]
        for col, algorithm in enumerate(shown):
            ax = axes[row][col]
            for other, (_, iqm, _, _) in curves.items():
                if other != algorithm:
                    ax.plot(grid, iqm, color="0.75", linewidth=0.9, label="other algorithms (IQM)")
            if algorithm in curves:
                n, iqm, low, high = curves[algorithm]
                plotting.band(ax, grid, iqm, low, high, "_nolegend_", styles[algorithm], alpha=0.25)
                ax.text(0.98, 0.04, f"{n} seeds", transform=ax.transAxes, ha="right", fontsize=7, color="0.3")
            _references(ax, board, env_id)
            ax.tick_params(labelsize=7)
            plotting.steps_axis(ax)
            if row == 0:
                ax.set_title(algorithm, fontsize=9, color=styles[algorithm]["color"])
            if col == 0:
                ax.set_ylabel(f"{env_id}\n{ylabel}", fontsize=7)
            if row == len(envs) - 1:
                ax.set_xlabel("env steps", fontsize=8)
    plotting.legend_below(fig, list(axes.flat))
    plotting.save(fig, path, metadata=meta)
    return shape


PLOT_KEY = "pgzoo-plot-input"
"""The PNG text chunk of ``curves.png`` holding :func:`_plot_key` of what it shows."""


def _plot_key(board: Board, data: dict[str, Any], panels: bool) -> str:
    """A hash of everything ``curves.png`` shows (the curves and bands, labels, reference lines, layout)
    and of the code and matplotlib that draw it: the same key, the same picture."""
    import hashlib

    import matplotlib

    from pgzoo.provenance import file_hash

    s = board.suite.model
    h = hashlib.sha256(json.dumps({
        "envs": list(s.envs), "algorithms": list(s.algorithms), "score": s.score, "panels": panels,
        "thresholds": board.thresholds, "random": board.random_scores, "matplotlib": matplotlib.__version__,
        "code": [file_hash(Path(__file__)), file_hash(Path(plotting.__file__))],
    }, sort_keys=True, default=str).encode())
    for env_id in s.envs:
        grid, curves = data[env_id]
        h.update(np.ascontiguousarray(grid).tobytes())
        for algorithm, (n, *arrays) in sorted(curves.items()):
            h.update(f"{env_id}|{algorithm}|{n}".encode())
            for a in arrays:
                h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def write_leaderboard(board: Board, folder: Path) -> str:
    """Write the three files into ``folder``; return the markdown."""
    text = markdown(board)
    for name, content in ((MD_FILE, text), (JSON_FILE, json.dumps(as_json(board), indent=2) + "\n")):
        atomic.write_text(folder / name, content)
    plot_curves(board, folder / PNG_FILE)
    return text

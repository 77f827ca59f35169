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
from pgzoo.names import md_row

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


def env_table(rows: list[dict[str, Any]], env_id: str, steps: int, threshold: float | None,
              random_score: float | None, score: str) -> list[str]:
    """The markdown table of one environment's rows (``leaderboard.json``'s ``rows`` of ``env_id``),
    ranked by final IQM, under a heading with the budget and the reference scores."""
    other = "stochastic" if score == "deterministic" else "deterministic"
    rows = [r for r in rows if r["env"] == env_id]
    head = (f"## {env_id}\n\nBudget {steps:,} env steps; reward threshold "
            f"{_num(threshold)}; random policy {_num(random_score)}.\n")
    lines = [head,
             md_row(["algorithm", "seeds", "final IQM [95% CI]", "mean ± std", f"{other} mean", "AUC",
                     "steps to threshold (median; seeds reaching)", "wall s", "env steps/s"]),
             "|---|---:|---|---|---:|---:|---|---:|---:|"]
    for r in sorted(rows, key=lambda r: -r["final_iqm"]):
        lines.append(md_row([
            r["algorithm"], r["seeds"], f"{_num(r['final_iqm'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}]",
            f"{_num(r['final_mean'])} ± {_num(r['final_std'])}", _num(r[f"final_mean_{other}"]), _num(r["auc"]),
            f"{_steps(r['steps_to_threshold_median'])}; {r['seeds_reaching_threshold']}/{r['seeds']}",
            _num(r["wall_s"]), _num(r["env_steps_per_s"], 0)]))
    if not rows:
        lines.append("| (no finished runs yet) | | | | | | | | |")
    return lines


def aggregate_table(aggregate: list[dict[str, Any]], compare_to: str) -> list[str]:
    """The markdown table of ``leaderboard.json``'s ``aggregate`` rows, ranked by normalised IQM."""
    ref = compare_to
    lines = ["## Aggregate over environments\n",
             "Final scores normalised per environment (random policy = 0, reward threshold = 1), IQM over all "
             f"(seed, environment) scores with a 95% stratified-bootstrap CI, and the probability that the "
             f"algorithm's score beats {ref}'s on an environment (P(X > Y), averaged over environments, with CI).\n",
             md_row(["algorithm", "environments", "seeds", "normalised IQM [95% CI]",
                     f"P(improvement over {ref}) [95% CI]"]),
             "|---|---|---:|---|---|"]
    for r in sorted(aggregate, key=lambda r: -r["normalised_iqm"]):
        poi = ("—" if r["prob_improvement"] is None else
               f"{r['prob_improvement']:.2f} [{r['poi_ci_low']:.2f}, {r['poi_ci_high']:.2f}]")
        lines.append(md_row([r["algorithm"], len(r["envs"]), r["seeds"],
                             f"{r['normalised_iqm']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]", poi]))
    if not aggregate:
        lines.append("| (nothing to aggregate yet) | | | | |")
    return lines


def tables_from_json(data: dict[str, Any]) -> list[str]:
    """Every table of a committed ``leaderboard.json`` (per environment, then the aggregate): the
    same text as in its ``leaderboard.md``."""
    lines: list[str] = []
    for env_id, protocol in data["protocol"].items():
        lines.extend(env_table(data["rows"], env_id, protocol["steps"], data["reward_thresholds"].get(env_id),
                               data["random_policy_scores"].get(env_id), data["score"]))
        lines.append("")
    lines.extend(aggregate_table(data["aggregate"], data["compare_to"]))
    return lines


def markdown(board: Board) -> str:
    """The text of ``leaderboard.md``."""
    s = board.suite.model
    out = [f"# Leaderboard: {s.name}\n"]
    if s.description:
        out.append(s.description.strip() + "\n")
    out.append(protocol_text(board) + "\n")
    for env_id, entry in s.envs.items():
        out.extend(env_table(board.rows, env_id, entry.steps, board.thresholds.get(env_id),
                             board.random_scores.get(env_id), s.score))
        out.append("")
    out.extend(aggregate_table(board.aggregate, s.compare_to))
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
    if st.sources:
        fps = "; ".join(f"{dist} `{h}` ({n} line{'' if n == 1 else 's'})"
                        for (dist, h), n in sorted(st.sources.items()))
        out.append("Source fingerprints of these lines (what `pgzoo bench` compares with the installed code): "
                   f"{fps}.\n")
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


Curves = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def _iqm_curves(board: Board, env_id: str) -> tuple[np.ndarray, Curves]:
    """The evaluation grid of ``env_id`` and, per algorithm with runs, (per-seed curves ``[seeds, grid]``,
    IQM, low, high) on it; the band is only computed from :data:`plotting.MIN_SEEDS_FOR_BAND` seeds."""
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
            if len(runs) >= plotting.MIN_SEEDS_FOR_BAND:
                out[algorithm] = (curves, *stats.iqm_curve_band(curves, reps=min(suite.model.bootstrap_reps, 1000)))
            else:
                mean = curves.mean(axis=0)
                out[algorithm] = (curves, mean, mean, mean)
    return grid, out


def ranked_algorithms(board: Board) -> list[str]:
    """The suite's algorithms in the order of the board's aggregate ranking (normalised IQM, best first),
    then those without results: the order of every table and panel."""
    ranked = [r["algorithm"] for r in sorted(board.aggregate, key=lambda r: -r["normalised_iqm"])]
    return ranked + [a for a in board.suite.model.algorithms if a not in ranked]


def _references(ax: Any, board: Board, env_id: str) -> None:
    if board.thresholds.get(env_id) is not None:
        ax.axhline(board.thresholds[env_id], color="black", linestyle="--", linewidth=1.0, label="reward threshold")
    if env_id in board.random_scores:
        ax.axhline(board.random_scores[env_id], color=plotting.CONTEXT, linestyle=":", linewidth=1.2,
                   label="random policy")


def _draw(ax: Any, grid: np.ndarray, curves: Curves, algorithm: str, line: dict[str, str], label: str) -> None:
    seeds, iqm, low, high = curves[algorithm]
    if len(seeds) >= plotting.MIN_SEEDS_FOR_BAND:
        plotting.band(ax, grid, iqm, low, high, label, line, alpha=0.2)
    else:
        plotting.seeds_and_mean(ax, grid, seeds, label, line)


def _label(algorithm: str, curves: Curves) -> str:
    n = len(curves[algorithm][0])
    return f"{algorithm} ({n} seeds: IQM, 95% CI)" if n >= plotting.MIN_SEEDS_FOR_BAND else \
        f"{algorithm} ({n} seed{'s' if n > 1 else ''}: each seed and their mean)"


def plot_curves(board: Board, path: Path) -> tuple[int, int]:
    """``curves.png``: per environment, each algorithm's IQM evaluation curve over seeds with its 95%
    stratified-bootstrap band (rliable's conventions; with fewer than ``MIN_SEEDS_FOR_BAND`` seeds, each
    seed and their mean instead), pgzoo's plotting style, algorithms in the board's ranking order, the
    legend under the axes. With more than four algorithms (or ``curves = "panels"``), one row of panels
    per algorithm (ranked) and one column per environment, the other algorithms' curves in grey behind.
    Returns the panel grid's (rows, columns). The picture is drawn again only when what it shows
    changes: ``curves.png`` keeps :func:`_plot_key` of its inputs in a PNG text chunk."""
    suite = board.suite
    envs = list(suite.model.envs)
    order = ranked_algorithms(board)
    panels = suite.model.curves == "panels" or (suite.model.curves == "auto" and len(order) > 4)
    data = {env_id: _iqm_curves(board, env_id) for env_id in envs}
    shown = [a for a in order if any(a in data[e][1] for e in envs)] or order
    shape = (len(shown), len(envs)) if panels else (1, len(envs))
    key = _plot_key(board, order, data, panels)
    if plotting.png_text(path, PLOT_KEY) == key:
        return shape  # the same picture: it is there already
    with plotting.styled():
        _plot_curves(board, path, order, data, panels, shown, {PLOT_KEY: key})
    return shape


def _plot_curves(board: Board, path: Path, order: list[str], data: dict[str, tuple[np.ndarray, Curves]],
                 panels: bool, shown: list[str], metadata: dict[str, str]) -> None:
    suite = board.suite
    envs = list(suite.model.envs)
    styles = {a: plotting.style(i) for i, a in enumerate(order)}
    ylabel = f"evaluation return\n({suite.model.score} policy)"
    if not panels:
        fig, axes = plotting.figure(1, len(envs), size=(7.5 if len(envs) == 1 else 4.6 * len(envs), 4.6))
        for ax, env_id in zip(axes[0], envs, strict=True):
            grid, curves = data[env_id]
            for algorithm in (a for a in order if a in curves):
                _draw(ax, grid, curves, algorithm, styles[algorithm], _label(algorithm, curves))
            _references(ax, board, env_id)
            ax.set_title(env_id)
            plotting.steps_axis(ax)
            ax.set_xlabel("env steps")
        axes[0][0].set_ylabel(ylabel)
        plotting.legend_below(fig, list(axes[0]), ncol=min(2, len(order)))
        plotting.save(fig, path, metadata=metadata)
        return
    fig, axes = plotting.figure(len(shown), len(envs), size=(3.9 * len(envs) + 1.2, 1.75 * len(shown) + 1.1),
                                sharex="col", sharey="col")
    for col, env_id in enumerate(envs):
        grid, curves = data[env_id]
        for row, algorithm in enumerate(shown):
            ax = axes[row][col]
            for other, (_, iqm, _, _) in curves.items():
                if other != algorithm:
                    ax.plot(grid, iqm, color=plotting.CONTEXT, linewidth=0.8, alpha=0.7, label="other algorithms")
            if algorithm in curves:
                _draw(ax, grid, curves, algorithm, styles[algorithm], "_own")
                n = len(curves[algorithm][0])
                ax.text(0.98, 0.05, f"{n} seeds" + ("" if n >= plotting.MIN_SEEDS_FOR_BAND else ", no band"),
                        transform=ax.transAxes, ha="right", fontsize=9, color="0.3")
            _references(ax, board, env_id)
            plotting.steps_axis(ax)
            if row == 0:
                ax.set_title(env_id)
            if col == 0:
                ax.set_ylabel(f"{row + 1}. {algorithm}", color=styles[algorithm]["color"], fontweight="bold")
            if row == len(shown) - 1:
                ax.set_xlabel("env steps")
    fig.suptitle(f"evaluation return ({suite.model.score} policy): IQM over seeds with 95% CI; "
                 "rows in the board's ranking", fontsize=11)
    plotting.legend_below(fig, list(axes.flat))
    plotting.save(fig, path, metadata=metadata)


PLOT_KEY = "pgzoo-plot-input"
"""The PNG text chunk of ``curves.png`` holding :func:`_plot_key` of what it shows."""


def _plot_key(board: Board, order: list[str], data: dict[str, tuple[np.ndarray, Curves]], panels: bool) -> str:
    """A hash of everything ``curves.png`` shows (every seed's curve, the IQM and its band, labels in their
    order, reference lines, layout) and of the code and matplotlib that draw it: the same key, the same
    picture."""
    import hashlib

    import matplotlib

    from pgzoo.provenance import file_hash

    s = board.suite.model
    h = hashlib.sha256(json.dumps({
        "envs": list(s.envs), "order": order, "score": s.score, "panels": panels,
        "thresholds": board.thresholds, "random": board.random_scores, "matplotlib": matplotlib.__version__,
        "code": [file_hash(Path(__file__)), file_hash(Path(plotting.__file__))],
    }, sort_keys=True, default=str).encode())
    for env_id in s.envs:
        grid, curves = data[env_id]
        h.update(np.ascontiguousarray(grid, dtype=np.float64).tobytes())
        for algorithm, arrays in sorted(curves.items()):
            h.update(f"{env_id}|{algorithm}|{np.shape(arrays[0])}".encode())
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

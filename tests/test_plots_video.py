"""Seeing the agent and its curves: pgzoo eval --video (read back), pgzoo plot, the leaderboard's
IQM curves (rliable's conventions) and their layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import imageio_ffmpeg
import matplotlib.colors as mcolors
import matplotlib.image as mpimg
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pgzoo import plotting
from pgzoo.bench import stats
from pgzoo.bench.board import build_board
from pgzoo.bench.render import plot_curves
from pgzoo.bench.results import append_line, read_results
from pgzoo.bench.suite import load_suite
from pgzoo.cli import main
from pgzoo.rundir import METRIC_FIELDS


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ac-cartpole"
    assert main(["train", "actor-critic", "--env", "CartPole-v1", "--steps", "800", "--set", "eval_episodes=1",
                 "--quiet", "--out", str(out)]) == 0
    return out


def _frames(path: Path) -> tuple[tuple[int, int], int]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return tuple(meta["size"]), sum(1 for _ in reader)


@pytest.mark.parametrize("deterministic", [True, False])
def test_eval_video_has_one_frame_per_step_and_reset(cartpole_run, tmp_path, capsys, deterministic) -> None:
    video = tmp_path / "agent.mp4"
    args = ["eval", str(cartpole_run), "--episodes", "3", "--json", "--video", str(video)]
    assert main(args + (["--deterministic"] if deterministic else [])) == 0
    returns = json.loads(capsys.readouterr().out)["returns"]
    size, frames = _frames(video)
    # CartPole pays 1 per step: an episode of return R has R steps, R + 1 frames with its reset
    assert size == (600, 400) and frames == sum(int(r) + 1 for r in returns)
    assert [p.name for p in tmp_path.iterdir()] == ["agent.mp4"]  # no scratch files left behind


def test_video_of_an_env_that_cannot_render_is_one_line(tmp_path, capsys) -> None:
    run = tmp_path / "sc"
    assert main(["train", "reinforce", "--env", "ShortCorridor-v0", "--episodes", "1", "--set", "eval_episodes=1",
                 "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "1", "--video", str(tmp_path / "v.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ShortCorridor-v0 cannot render images" in err[0]
    assert not (tmp_path / "v.mp4").exists()


def test_plot_draws_runs_and_rejects_non_runs(cartpole_run, tmp_path, capsys) -> None:
    other = tmp_path / "rf"
    assert main(["train", "reinforce", "--env", "CartPole-v1", "--steps", "800", "--set", "eval_episodes=1",
                 "--quiet", "--out", str(other)]) == 0
    out = tmp_path / "c.png"
    assert main(["plot", str(cartpole_run), str(other), "-o", str(out), "--window", "5"]) == 0
    image = mpimg.imread(out)
    assert image.shape[1] > 500
    # both runs' colours (palette 0 and 1) are drawn
    for colour in plotting.palette()[:2]:
        rgb = np.array(mcolors.to_rgb(colour))
        assert (np.abs(image[..., :3] - rgb).max(axis=-1) < 0.02).sum() > 20, colour
    capsys.readouterr()
    assert main(["plot", str(tmp_path), "-o", str(out)]) == 2
    assert "is not a pgzoo run directory (missing config.json)" in capsys.readouterr().err


def test_plot_of_a_run_without_episodes_is_a_usage_error(tmp_path, capsys) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"algorithm": "a", "env_id": "CartPole-v1", "seed": 0}))
    with open(tmp_path / "metrics.csv", "w", newline="") as fh:
        csv.DictWriter(fh, fieldnames=METRIC_FIELDS).writeheader()
    assert main(["plot", str(tmp_path), "-o", str(tmp_path / "x.png")]) == 2
    assert "no finished episode" in capsys.readouterr().err


def test_moving_average_by_hand() -> None:
    np.testing.assert_allclose(plotting.moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(plotting.moving_average(np.array([2.0, 4.0]), 10), [2.0, 3.0])


def test_palette_colours_are_distinct() -> None:
    colours = plotting.palette()
    assert len(set(colours)) == len(colours) >= 8
    # a board's seven algorithms get seven colours at least ΔE 30 apart in CIELAB (the old palette's orange
    # and vermilion, 25.6 apart, read as one colour next to its tan)
    lab = [_cielab(c) for c in colours[:7]]
    assert min(np.linalg.norm(a - b) for i, a in enumerate(lab) for b in lab[i + 1:]) > 30
    styles = [tuple(plotting.style(i).values()) for i in range(3 * len(colours))]
    assert len(set(styles)) == len(styles)  # past the palette, a new line style


def _cielab(colour: str) -> np.ndarray:
    """sRGB → CIELAB (D65), by the standard formulas."""
    c = np.array(mcolors.to_rgb(colour))
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
    f = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(f > (6 / 29) ** 3, np.cbrt(f), f / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_iqm_band_by_hand() -> None:
    # 4 runs: IQM drops the lowest and highest (25% each side): mean of the middle two
    curves = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 4.0], [0.0, 100.0]])
    iqm, low, high = stats.iqm_curve_band(curves, reps=300)
    np.testing.assert_allclose(iqm, [0.0, 3.0])
    assert low[0] == high[0] == 0.0 and 1.0 <= low[1] <= 3.0 <= high[1] <= 100.0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays(np.float64, st.tuples(st.integers(2, 7), st.integers(1, 5)),
              elements=st.floats(-1e3, 1e3, allow_subnormal=False)))
def test_iqm_curve_is_rliables_iqm_at_every_point(curves) -> None:
    from rliable import metrics

    iqm, low, high = stats.iqm_curve_band(curves, reps=100)
    np.testing.assert_allclose(iqm, [metrics.aggregate_iqm(curves[:, j]) for j in range(curves.shape[1])],
                               rtol=1e-9, atol=1e-9)
    assert np.all(low <= high + 1e-9)
    assert np.all(low >= curves.min(axis=0) - 1e-9) and np.all(high <= curves.max(axis=0) + 1e-9)


def _suite(folder: Path, algorithms: int, curves: str = "auto") -> Path:
    names = [f"algo{i}" for i in range(algorithms)]
    entries = ", ".join(f'{n} = {{ plugin = "reinforce" }}' for n in names)
    (folder / "suite.toml").write_text(f"""
name = "layout"
seeds = 3
bootstrap_reps = 100
compare_to = "algo0"
curves = "{curves}"
evaluation = {{ every = 50, episodes = 3 }}
envs = {{ CartPole-v1 = {{ steps = 100 }}, Acrobot-v1 = {{ steps = 100 }} }}
algorithms = {{ {entries} }}
""")
    from pgzoo.bench.board import entry_hash

    suite = load_suite(folder)
    for env in ("CartPole-v1", "Acrobot-v1"):
        for i, n in enumerate(names):
            for seed in range(3):
                curve = [{"env_steps": s, "return_mean": 10.0 * i + s, "return_mean_deterministic": 10.0 * i + s}
                         for s in (0, 50, 100)]
                append_line(folder / "results.jsonl", {
                    "type": "run", "algorithm": n, "env": env, "seed": seed, "config_hash": "x",
                    "entry_hash": entry_hash(suite, n, env), "curve": curve,
                    "final": {"eval_return_mean": 1.0, "eval_return_mean_deterministic": 1.0}, "env_steps": 100,
                    "wall_s": 1.0, "env_steps_per_s": 100.0})
    return folder


@pytest.mark.parametrize(("algorithms", "curves", "shape"), [
    (3, "auto", (1, 2)),       # few algorithms: one plot per environment
    (5, "auto", (5, 2)),       # more than four: a row of panels per algorithm (ranked), a column per environment
    (2, "panels", (2, 2)),
    (6, "overlay", (1, 2)),
])
def test_curve_layout(tmp_path, algorithms, curves, shape) -> None:
    folder = _suite(tmp_path, algorithms, curves)
    board = build_board(load_suite(folder), read_results(folder / "results.jsonl"))
    assert plot_curves(board, folder / "curves.png") == shape
    image = mpimg.imread(folder / "curves.png")
    assert image.shape[0] > 300 and image.shape[1] > 600

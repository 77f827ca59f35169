"""Reliability probe: feed bad inputs to the real ``pgzoo`` CLI and count what goes wrong.

Every case runs ``pgzoo`` in a subprocess (``python -m pgzoo.cli``, or ``pgzoo.cli.main`` after
registering a tiny test environment or plugin) in a scratch folder, and is judged by what a
user sees:

- ``refuse``: the input is nonsense; expected exit code 2 and one error line on stderr;
- ``fail``: the environment misbehaves during the run; expected exit code 1 and one error line
  (containing a given text);
- ``note``: the command may succeed but must say something (a line number, a NaN score, ...);
- ``ok``: the command must succeed (and its stderr must contain a given text, if any).

The environments of issue 19's cases are those of the test suite (``tests/envs/boundary_envs.py``,
copied into each case's folder and reached as ``boundary_envs:Id``).

It prints one line per case and the counts: tracebacks, silent acceptances (exit 0, or no
note, where a refusal or note was due), other failures (wrong exit code, several error lines,
time-outs, a side effect that must not happen). ``--json`` prints them as JSON.

    python benchmarks/reliability_probe.py [--only SUBSTRING] [--json]

It trains a few tiny runs (a few hundred env steps each) and takes 4-8 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TRACEBACK = "Traceback (most recent call last)"
BOOK_FIGURE = Path(__file__).resolve().parents[1] / "leaderboards" / "book-13.1"
BOUNDARY_ENVS = Path(__file__).resolve().parents[1] / "tests" / "envs" / "boundary_envs.py"
LOST = "raised RuntimeError: simulator lost connection"
TINY_SUITE = """
name = "probe"
seeds = [0]
bootstrap_reps = 100
evaluation = { every = 200, episodes = 1 }
envs = { CartPole-v1 = { steps = 200 } }
algorithms = { reinforce = { } }
"""
MULTI_DISCRETE_ENV = '''
import gymnasium as gym
import numpy as np


class MultiD(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}
'''
REGISTER_AND_RUN = ("import sys, gymnasium; sys.path.insert(0, '.'); "
                    "gymnasium.register('ProbeMultiD-v0', entry_point='probe_envs:MultiD'); "
                    "from pgzoo.cli import main; raise SystemExit(main())")


class Evil:
    """A pickle that would create a file if unpickled (it must never be)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@dataclass
class Case:
    name: str
    args: list[str]
    expect: str = "refuse"  # refuse | fail | note | ok
    setup: Callable[[Path], None] | None = None
    note: str = ""
    """For ``note``/``ok``: a text stderr (or stdout) must contain (case-insensitive)."""
    check: Callable[[Path], str | None] | None = None
    """After the run: a problem, or None."""
    python: str | None = None
    """Run ``python -c PYTHON ARGS`` instead of ``python -m pgzoo.cli ARGS``."""
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 180.0


@dataclass
class Outcome:
    name: str
    verdict: str  # good | traceback | silent | other
    detail: str
    seconds: float


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess | None:
    full = {**os.environ, "PGZOO_STRICT_PLUGINS": "", **env}
    if "PYTHONPATH" in env and os.environ.get("PYTHONPATH"):  # keep the caller's (e.g. an old checkout)
        full["PYTHONPATH"] = os.pathsep.join([os.environ["PYTHONPATH"], env["PYTHONPATH"]])
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None


def _train(work: Path, algo: str, env_id: str, out: str, *extra: str) -> Path:
    cmd = [sys.executable, "-m", "pgzoo.cli", "train", algo, "--env", env_id, "--steps", "300", "--quiet",
           "--out", out, "--set", "eval_episodes=1", *extra]
    proc = _run(cmd, work, {}, 300)
    if proc is None or proc.returncode != 0:
        raise SystemExit(f"probe setup failed: {' '.join(cmd)}: {proc.stderr if proc else 'timeout'}")
    return work / out


def _judge(case: Case, proc: subprocess.CompletedProcess | None, work: Path) -> tuple[str, str]:
    if proc is None:
        return "other", f"no answer within {case.timeout:.0f} s"
    err, out = proc.stderr, proc.stdout
    errors = [ln for ln in err.splitlines() if ln.strip() and "warning" not in ln.lower()]
    last = errors[-1] if errors else ""
    if TRACEBACK in err:
        tail = [ln for ln in err.splitlines() if ln.strip()]
        return "traceback", f"exit {proc.returncode}: {tail[-1][:150] if tail else ''}"
    problem = case.check(work) if case.check else None
    if case.expect == "fail":
        if proc.returncode == 0:
            return "silent", f"exit 0{': ' + problem if problem else ''}"
        if problem:
            return "other", problem
        if proc.returncode != 1 or len(errors) != 1 or case.note.lower() not in last.lower():
            return "other", f"exit {proc.returncode}, {len(errors)} error lines: {' | '.join(errors)[:200]}"
        return "good", last[:150]
    if case.expect == "refuse":
        if proc.returncode == 0:
            return "silent", f"exit 0{': ' + problem if problem else ''}"
        if problem:
            return "other", problem
        if proc.returncode != 2:
            return "other", f"exit {proc.returncode}: {last[:150]}"
        if len(errors) != 1:
            return "other", f"{len(errors)} error lines: {' | '.join(errors)[:200]}"
        if case.note and case.note.lower() not in last.lower():
            return "other", f"no '{case.note}' in: {last[:150]}"
        return "good", last[:150]
    text = (err + out).lower()
    if problem:
        return ("silent" if proc.returncode == 0 else "other"), problem
    if case.note and case.note.lower() not in text:
        if case.expect == "note" and proc.returncode == 0:
            return "silent", f"exit 0 and no '{case.note}' in the output"
        return "other", f"exit {proc.returncode}, no '{case.note}': {last[:150]}"
    if case.expect == "ok" and proc.returncode != 0:
        return "other", f"exit {proc.returncode}: {last[:150]}"
    hit = next((ln for ln in (err + out).splitlines() if case.note and case.note.lower() in ln.lower()), last)
    return "good", hit[:150]


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)


def _copy_run(src: Path) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        shutil.copytree(src, work / "run")
    return setup


def _model(src: Path, model: Callable[[Path], None]) -> Callable[[Path], None]:
    """A copy of run ``src`` as ``work/run`` whose model.pt ``model(path)`` rewrites."""
    def setup(work: Path) -> None:
        shutil.copytree(src, work / "run")
        target = work / "run" / "model.pt"
        target.unlink()
        model(target)
    return setup


def _config(src: Path, text: bytes | str) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        shutil.copytree(src, work / "run")
        _write(work / "run" / "config.json", text)
    return setup


def _suite(text: bytes | str = TINY_SUITE, results: str | None = None, results_dir: bool = False,
           extra: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        _write(work / "suite" / "suite.toml", text)
        if results is not None:
            _write(work / "suite" / "results.jsonl", results)
        if results_dir:
            (work / "suite" / "results.jsonl").mkdir(parents=True)
        if extra:
            extra(work)
    return setup


def _fake_plugin(body: str, name: str = "probe-plugin", entry: str = "probe") -> Callable[[Path], None]:
    """A distribution on ``work/site`` (put on PYTHONPATH by the case) with one pgzoo entry point."""
    def setup(work: Path) -> None:
        site = work / "site"
        module = name.replace("-", "_")
        _write(site / f"{module}.py", textwrap.dedent(body))
        info = site / f"{module}-0.1.dist-info"
        _write(info / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        _write(info / "entry_points.txt", f"[pgzoo]\n{entry} = {module}\n")
        _write(work / "suite" / "suite.toml", TINY_SUITE)
    return setup


def _with_envs(work: Path) -> None:
    """Issue 19's misbehaving environments, importable from the case's folder."""
    shutil.copyfile(BOUNDARY_ENVS, work / BOUNDARY_ENVS.name)


def _run_on(src: Path, env: str, extra: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    """A copy of run ``src`` as ``work/run`` whose config.json names ``boundary_envs:ENV``."""
    def setup(work: Path) -> None:
        _with_envs(work)
        shutil.copytree(src, work / "run")
        meta = json.loads((work / "run" / "config.json").read_text())
        _write(work / "run" / "config.json", json.dumps({**meta, "env_id": f"boundary_envs:{env}"}))
        if extra:
            extra(work)
    return setup


def _suite_on(envs: list[str], algorithms: str = "reinforce = { }", steps: int = 300) -> Callable[[Path], None]:
    table = "\n".join(f'[envs."boundary_envs:{e}"]\nsteps = {steps}\nreward_threshold = 5' for e in envs)
    text = (f'name = "probe"\nseeds = [0]\nbootstrap_reps = 100\nevaluation = {{ every = {steps}, episodes = 1 }}\n'
            f"{table}\n[algorithms]\n{algorithms}\n")
    return _suite(text, extra=_with_envs)


def _nothing_but(*names: str) -> Callable[[Path], str | None]:
    def check(work: Path) -> str | None:
        extra = sorted({p.name for p in work.iterdir()} - set(names) - {BOUNDARY_ENVS.name, "__pycache__"})
        return f"left behind: {', '.join(extra)}" if extra else None
    return check


def _record(**changes: object) -> str:
    """A results line of TINY_SUITE's run (its entry hash matches, so the leaderboard uses it)."""
    from pgzoo.bench.suite import stable_hash

    entry = stable_hash({"plugin": "reinforce", "hyperparams": {}, "steps": 200, "every": 200, "episodes": 1})
    base = {"type": "run", "algorithm": "reinforce", "env": "CartPole-v1", "seed": 0, "config_hash": "x",
            "entry_hash": entry, "final": {"eval_return_mean": 10.0, "eval_return_mean_deterministic": 10.0},
            "curve": [{"env_steps": 0.0, "return_mean": 9.0, "return_mean_deterministic": 9.0}],
            "env_steps": 200, "wall_s": 1.0, "env_steps_per_s": 200.0}
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not None}) + "\n"


def cases(runs: dict[str, Path]) -> list[Case]:
    rb, ac, acro, evil_marker = runs["rb"], runs["ac"], runs["acro"], "EVIL_RAN"
    import torch

    def truncated(p: Path) -> None:
        data = (rb / "model.pt").read_bytes()
        p.write_bytes(data[: len(data) // 2])

    suite_ok = _suite()
    c = [
        # --- pgzoo eval: untrusted run directories ---------------------------------------------
        Case("eval model.pt truncated", ["eval", "run"], setup=_model(rb, truncated)),
        Case("eval model.pt empty", ["eval", "run"], setup=_model(rb, lambda p: p.write_bytes(b""))),
        Case("eval model.pt random bytes", ["eval", "run"],
             setup=_model(rb, lambda p: p.write_bytes(os.urandom(4096)))),
        Case("eval model.pt a directory", ["eval", "run"], setup=_model(rb, lambda p: p.mkdir())),
        Case("eval model.pt of another algorithm", ["eval", "run"],
             setup=_model(rb, lambda p: shutil.copyfile(ac / "model.pt", p))),
        Case("eval model.pt of another environment", ["eval", "run"],
             setup=_model(rb, lambda p: shutil.copyfile(acro / "model.pt", p))),
        Case("eval model.pt wrong structure", ["eval", "run"],
             setup=_model(rb, lambda p: torch.save({"agent": [1, 2, 3]}, p))),
        Case("eval model.pt not a dict", ["eval", "run"], setup=_model(rb, lambda p: torch.save([1, 2], p))),
        Case("eval model.pt malicious pickle", ["eval", "run"],
             setup=_model(rb, lambda p: torch.save({"agent": Evil(evil_marker)}, p)),
             check=lambda w: "the pickle ran" if (w / evil_marker).exists() else None),
        Case("eval config.json malformed", ["eval", "run"], setup=_config(rb, "{not json")),
        Case("eval config.json lacks keys", ["eval", "run"], setup=_config(rb, "{}")),
        Case("eval config.json a list", ["eval", "run"], setup=_config(rb, "[1, 2]")),
        Case("eval config.json invalid UTF-8", ["eval", "run"], setup=_config(rb, b"\xff\xfe\x00{")),
        Case("eval config.json wrong types", ["eval", "run"],
             setup=_config(rb, json.dumps({"algorithm": 3, "env_id": ["x"], "seed": "a", "config": 1}))),
        Case("eval config.json a directory", ["eval", "run"],
             setup=lambda w: (shutil.copytree(rb, w / "run"), (w / "run" / "config.json").unlink(),
                              (w / "run" / "config.json").mkdir())),
        Case("eval on a file", ["eval", "file.txt"], setup=lambda w: _write(w / "file.txt", "x")),
        Case("eval missing folder", ["eval", "nowhere"]),
        Case("eval --episodes -3", ["eval", "run", "--episodes", "-3"], setup=_copy_run(rb)),
        Case("eval --episodes 0", ["eval", "run", "--episodes", "0"], setup=_copy_run(rb)),
        # --- pgzoo train -------------------------------------------------------------------------
        Case("train --seed -1", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50", "--seed", "-1"]),
        Case("train --seed 2**70 (valid)", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                            "--seed", str(2**70), "--quiet"], expect="ok"),
        Case("train --out is a file", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50", "--out", "f"],
             setup=lambda w: _write(w / "f", "x")),
        Case("train --out under a file", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                          "--out", "f/run"], setup=lambda w: _write(w / "f", "x")),
        Case("train --out unwritable", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                        "--out", "/proc/pgzoo-probe-run"]),
        Case("train --config binary", ["train", "reinforce", "--env", "CartPole-v1", "--config", "c.toml"],
             setup=lambda w: _write(w / "c.toml", b"\x89PNG\r\n\x1a\n\xff\xfe")),
        Case("train --config a directory", ["train", "reinforce", "--env", "CartPole-v1", "--config", "d"],
             setup=lambda w: (w / "d").mkdir()),
        Case("train hidden_sizes=[-4]", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                         "--set", "policy=mlp", "--set", "hidden_sizes=[-4]"]),
        Case("train hidden_sizes=[0]", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                        "--set", "policy=mlp", "--set", "hidden_sizes=[0]"]),
        Case("train network too large", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                         "--set", "policy=mlp", "--set", "hidden_sizes=[1000000,1000000]"]),
        Case("train features=env with an MLP policy", ["train", "reinforce", "--env", "CartPole-v1", "--steps",
                                                       "50", "--set", "policy=mlp", "--set", "features=env"]),
        Case("train features=env with a Gaussian policy", ["train", "reinforce", "--env", "Pendulum-v1", "--steps",
                                                           "50", "--set", "features=env"]),
        Case("train num_envs=true", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                     "--set", "num_envs=true"]),
        Case("train reward_scale=Infinity", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                             "--set", "reward_scale=Infinity"]),
        Case("train min_std=Infinity", ["train", "reinforce", "--env", "Pendulum-v1", "--steps", "50",
                                        "--set", "min_std=Infinity"]),
        Case("train gamma=NaN", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                 "--set", "gamma=NaN"]),
        Case("train --out another algorithm's run", ["train", "reinforce", "--env", "CartPole-v1", "--steps", "50",
                                                     "--out", "run", "--quiet"], setup=_copy_run(ac),
             check=lambda w: ("the other algorithm's run was overwritten"
                              if json.loads((w / "run" / "config.json").read_text())["algorithm"] != "actor-critic"
                              else None)),
        Case("train env typo CartPoel-v1", ["train", "reinforce", "--env", "CartPoel-v1"], expect="refuse",
             check=lambda w: None),
        # --- suites, leaderboards, scaffolding ----------------------------------------------------
        Case("bench suite.toml invalid UTF-8", ["bench", "suite", "--quiet"],
             setup=_suite(b'name = "\xff\xfe"\n')),
        Case("leaderboard suite.toml invalid UTF-8", ["leaderboard", "suite"], setup=_suite(b'name = "\xff\xfe"\n')),
        Case("bench suite.toml a directory", ["bench", "suite", "--quiet"],
             setup=lambda w: (w / "suite" / "suite.toml").mkdir(parents=True)),
        Case("leaderboard book figure without runs.json", ["leaderboard", "fig"],
             setup=lambda w: _write(w / "fig" / "suite.toml", (BOOK_FIGURE / "suite.toml").read_text())),
        Case("new-plugin --dir a file", ["new-plugin", "my-algo", "--dir", "f"], setup=lambda w: _write(w / "f", "x")),
        Case("bench without a folder keeps an edited suite", ["bench", "--only", "no-such-algo", "--quiet"],
             expect="note", note="keeping the existing",
             setup=lambda w: _write(w / "pgzoo-bench-quick" / "suite.toml", "# edited\n" + TINY_SUITE),
             check=lambda w: (None if (w / "pgzoo-bench-quick" / "suite.toml").read_text().startswith("# edited")
                              else "the edited suite.toml was overwritten")),
    ]
    bad_records = {
        "no fields": '{"type":"run"}\n',
        "no final": _record(final=None),
        "final a string": _record(final="high"),
        "seed a string": _record(seed="zero"),
        "curve a number": _record(curve=3),
    }
    for what, line in bad_records.items():
        c.append(Case(f"leaderboard results.jsonl line: {what}", ["leaderboard", "suite"], expect="note",
                      note="line 1", setup=_suite(results=line)))
        c.append(Case(f"bench results.jsonl line: {what}", ["bench", "suite", "--quiet"], expect="note",
                      note="line 1", setup=_suite(results=line)))
    c += [
        Case("leaderboard results.jsonl a directory", ["leaderboard", "suite"], setup=_suite(results_dir=True)),
        Case("bench results.jsonl a directory", ["bench", "suite", "--quiet"], setup=_suite(results_dir=True)),
        Case("leaderboard NaN final score", ["leaderboard", "suite"], expect="note", note="not finite",
             setup=_suite(results=_record(final={"eval_return_mean": float("nan"),
                                                 "eval_return_mean_deterministic": float("nan")}))),
        # --- validate everything before work starts -------------------------------------------------
        Case("bench algorithm/action-space mismatch", ["bench", "suite", "--quiet"], python=REGISTER_AND_RUN,
             setup=_suite(TINY_SUITE.replace("CartPole-v1", "ProbeMultiD-v0"),
                          extra=lambda w: _write(w / "probe_envs.py", MULTI_DISCRETE_ENV))),
        Case("bench algorithm claimed by two plugins", ["bench", "suite", "--quiet"],
             env={"PYTHONPATH": "site"}, setup=_fake_plugin("""
                 from pgzoo import hookimpl
                 from pgzoo_reinforce import Reinforce

                 class Dup(Reinforce):
                     pass

                 @hookimpl
                 def register_algorithms(register):
                     register(Dup)
             """)),
        # --- plugins ---------------------------------------------------------------------------------
        Case("plugin calling sys.exit at import", ["list"], expect="note", note="probe-plugin",
             env={"PYTHONPATH": "site"}, setup=_fake_plugin("import sys\nsys.exit(3)\n")),
        Case("plugin warning once per bench", ["bench", "suite", "--quiet", "--workers", "2", "--no-population"],
             expect="ok", env={"PYTHONPATH": "site"},
             setup=_fake_plugin("raise ImportError('probe plugin is broken')\n"),
             check=lambda w: None),
        # --- Ray ----------------------------------------------------------------------------------------
        Case("bench --address 127.0.0.1:1", ["bench", "suite", "--quiet", "--executor", "ray", "--address",
                                             "127.0.0.1:1"], setup=suite_ok, timeout=60),
    ]
    c += issue_19_cases(runs)
    return c


def issue_19_cases(runs: dict[str, Path]) -> list[Case]:
    """The environment boundary, round two: envs that raise or hand back NaN, rendering, names,
    baselines, normalisation statistics, overwrites, whole messages."""
    steady, alt = runs["steady"], runs["alt"]
    train = ["train", "reinforce", "--quiet", "--set", "eval_episodes=1", "--steps"]
    tune = ["tune", "reinforce", "--env", "boundary_envs:Steady-v0", "--eval-every", "10", "--eval-episodes", "1",
            "--params", "alpha_theta", "--trials", "1", "--storage", "sqlite:///t.db", "--quiet", "--steps"]

    def tuned(work: Path) -> None:
        _with_envs(work)
        proc = _run([sys.executable, "-m", "pgzoo.cli", *tune, "20"], work, {}, 300)
        if proc is None or proc.returncode != 0:
            raise SystemExit(f"probe setup failed: pgzoo tune: {proc.stderr if proc else 'timeout'}")

    def no_runs_nested(work: Path) -> str | None:
        found = [p.relative_to(work / "runs") for p in (work / "runs").rglob("config.json")]
        return None if [len(p.parts) for p in found] == [2] else f"run folders: {found}"

    def kept_columns(work: Path) -> str | None:
        import re

        rows = [ln for ln in (work / "suite" / "leaderboard.md").read_text().splitlines() if ln.startswith("|")]
        cells = {len(re.findall(r"(?<!\\)(?:\\\\)*\|", ln)) - 1 for ln in rows[:3]}
        return None if cells == {9} else f"rows of {sorted(cells)} cells under a 9-column header"

    def video_frames(name: str, n: int) -> Callable[[Path], str | None]:
        def check(work: Path) -> str | None:
            import imageio_ffmpeg

            got = imageio_ffmpeg.count_frames_and_secs(str(work / name))[0]
            return None if got == n else f"{got} frames written for {n}"
        return check

    return [
        # 1. an environment that raises is that run's failure
        Case("train env raises at its 250th step", [*train, "400", "--env", "boundary_envs:Flaky-v0", "--out", "r"],
             expect="fail", note=LOST, setup=_with_envs),
        Case("eval env raises", ["eval", "run"], expect="fail", note=LOST, setup=_run_on(steady, "FlakyEarly-v0")),
        Case("bench env raises while scoring the random policy", ["bench", "suite", "--quiet", "--workers", "1"],
             expect="note", note="no random-policy score for boundary_envs:Flaky-v0",
             setup=_suite_on(["Flaky-v0", "Steady-v0"], steps=200),
             check=lambda w: None if '"type":"run"' in (w / "suite" / "results.jsonl").read_text().replace(" ", "")
             else "the healthy environment did not train"),
        Case("tune env raises", [*tune[:3], "boundary_envs:FlakyEarly-v0", *tune[4:], "20"], expect="note",
             note="failed because the environment did", setup=_with_envs),
        # 2. non-finite observations are named
        Case("train NaN observation", [*train, "50", "--env", "boundary_envs:NanObs-v0", "--out", "r"],
             expect="fail", note="non-finite entry nan at index (0,)", setup=_with_envs),
        Case("eval NaN observation, stochastic", ["eval", "run"], expect="fail", note="non-finite entry nan",
             setup=_run_on(steady, "NanObs-v0")),
        Case("eval NaN observation, greedy", ["eval", "run", "--deterministic"], expect="fail",
             note="non-finite entry nan", setup=_run_on(steady, "NanObs-v0")),
        # 3. videos
        Case("eval --video, no render_mode argument", ["eval", "run", "--video", "v.mp4"], expect="fail",
             note="takes no render_mode argument", setup=_run_on(steady, "NoRenderMode-v0"),
             check=_nothing_but("run")),
        Case("eval --video, frames change size", ["eval", "run", "--video", "v.mp4"], expect="fail",
             note="a video's frames must all have one size", setup=_run_on(steady, "Growing-v0"),
             check=_nothing_but("run")),
        Case("eval --video out.gif", ["eval", "run", "--episodes", "2", "--video", "v.gif"], expect="ok",
             note="(12 frames)", setup=_run_on(steady, "Steady-v0"), check=video_frames("v.gif", 12)),
        Case("eval --video out.avi", ["eval", "run", "--video", "v.avi"], setup=_run_on(steady, "Steady-v0"),
             check=_nothing_but("run")),
        # 4. names
        Case("train on a namespaced env id", [*train, "20", "--env", "boundary_envs:myns/Five-v0"], expect="ok",
             setup=_with_envs, check=no_runs_nested),
        Case("leaderboard label with a |", ["leaderboard", "suite"], expect="ok",
             setup=_suite(TINY_SUITE.replace("reinforce = { }", '"re|inforce" = { plugin = "reinforce" }'),
                          results=_record(algorithm="re|inforce")), check=kept_columns),
        # 5. baselines checked before anything trains
        Case("bench sb3-a2c on Box(-inf, inf) actions", ["bench", "suite", "--quiet"],
             setup=_suite_on(["InfiniteAction-v0"], "sb3-a2c = { }", steps=20),
             check=lambda w: "results.jsonl written" if (w / "suite" / "results.jsonl").exists() else None),
        Case("bench sb3-a2c on Discrete(3, start=-1) observations", ["bench", "suite", "--quiet", "--workers", "1"],
             expect="ok", setup=_suite_on(["DiscreteStart-v0"], "sb3-a2c = { }", steps=20)),
        # 6. evaluation sees the training statistics
        Case("eval of a normalised env (5.00 with the training statistics)", ["eval", "run", "--deterministic",
                                                                              "--episodes", "2"],
             expect="ok", note="greedy evaluation return 5.00", setup=_run_on(alt, "AlternatingNorm-v0")),
        # 7. nothing overwritten or mixed silently; whole messages
        Case("train into a finished run of the same algorithm and env", [*train, "20", "--env",
                                                                         "boundary_envs:Steady-v0", "--out", "run"],
             setup=_run_on(steady, "Steady-v0"),
             check=lambda w: None if json.loads((w / "run" / "summary.json").read_text())["env_steps"] == 300
             else "the finished run was replaced"),
        Case("tune again with another --steps", [*tune, "40"], setup=tuned),
        Case("eval model.pt truncated: the message is whole", ["eval", "run"], expect="refuse",
             note="failed finding central directory.)", setup=_model(runs["rb"], lambda p: p.write_bytes(
                 (runs["rb"] / "model.pt").read_bytes()[:1000]))),  # torch's message: 4 sentences, the first kept
        Case("train --config with an unknown key", ["train", "reinforce", "--env", "CartPole-v1", "--config", "c.toml"],
             note="c.toml: alpha_thetaa: unknown key (did you mean alpha_theta?)",
             setup=lambda w: _write(w / "c.toml", "alpha_thetaa = 0.1\n")),
        Case("bare pgzoo", [], expect="ok", note="usage: pgzoo"),
        Case("list from the folder above a clone named pgzoo", ["list"], note="takes the folder",
             setup=lambda w: (w / "pgzoo").mkdir()),
    ]


def _warnings_once(case: Case, proc: subprocess.CompletedProcess | None) -> tuple[str, str] | None:
    if case.name != "plugin warning once per bench" or proc is None or TRACEBACK in proc.stderr:
        return None
    n = proc.stderr.count("probe is broken") + proc.stderr.count("probe plugin is broken")
    if n != 1:
        return "other", f"the plugin warning appears {n} times"
    return None


def _did_you_mean(case: Case, proc: subprocess.CompletedProcess | None) -> tuple[str, str] | None:
    if case.name != "train env typo CartPoel-v1" or proc is None or TRACEBACK in proc.stderr:
        return None
    if "CartPole-v1" not in proc.stderr:
        return "other", f"no suggestion: {proc.stderr.strip()[:150]}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="run only the cases whose name contains this")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pgzoo-probe-"))
    try:
        base = root / "base"
        base.mkdir()
        _with_envs(base)
        runs = {"rb": _train(base, "reinforce", "CartPole-v1", "rb"),
                "ac": _train(base, "actor-critic", "CartPole-v1", "ac", "--set", "policy=mlp"),
                "acro": _train(base, "reinforce", "Acrobot-v1", "acro"),
                "steady": _train(base, "reinforce", "boundary_envs:Steady-v0", "steady"),
                # θ: action 1 iff the normalised observation is positive (tests/test_env_boundary.py, kind 6)
                "alt": _train(base, "reinforce", "boundary_envs:AlternatingNorm-v0", "alt", "--set", "policy=linear",
                              "--set", "init_theta=[0,0,1,0]", "--set", "alpha_theta=1e-9")}
        outcomes = []
        for i, case in enumerate(cases(runs)):
            if args.only and args.only not in case.name:
                continue
            work = root / f"case{i}"
            work.mkdir()
            if case.setup:
                case.setup(work)
            cmd = ([sys.executable, "-c", case.python, *case.args] if case.python
                   else [sys.executable, "-m", "pgzoo.cli", *case.args])
            t0 = time.perf_counter()
            proc = _run(cmd, work, case.env, case.timeout)
            verdict, detail = _warnings_once(case, proc) or _did_you_mean(case, proc) or _judge(case, proc, work)
            outcomes.append(Outcome(case.name, verdict, detail, round(time.perf_counter() - t0, 1)))
            if not args.json:
                print(f"{verdict:<9} {case.name:<48} {outcomes[-1].seconds:>5.1f}s  {detail}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    counts = {k: sum(o.verdict == k for o in outcomes) for k in ("good", "traceback", "silent", "other")}
    if args.json:
        print(json.dumps({"cases": [o.__dict__ for o in outcomes], "counts": counts}, indent=2))
    else:
        print(f"{len(outcomes)} cases: {counts['good']} good, {counts['traceback']} tracebacks, "
              f"{counts['silent']} silent acceptances, {counts['other']} other failures")
    return 0 if counts["good"] == len(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())

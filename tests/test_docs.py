"""The docs cannot rot: the site builds in strict mode, and every code block of README.md and docs/ runs.

Code blocks are found with Sybil's Markdown lexer (fences inside lists and admonitions too) and run
in order, one page at a time, in a scratch folder holding copies of ``examples/`` and
``leaderboards/``. The rules (also in docs/getting-started.md, "How the examples here are tested"):

- ``python`` blocks run in one namespace per page, a loop over ``range(N)`` with N ≥ 1000 shortened to 300;
- ``bash`` blocks run command by command: ``pgzoo …`` in this process through ``pgzoo.cli.main``
  (exit code 0 expected), with the budgets of ``train``, ``tune`` and the quick ``bench`` shortened
  (:func:`shorten`; the quick bench trains once per session) and ``pgzoo verify`` checking each
  algorithm once per session; ``cp``/``cd``/``ls``/``cat`` for real; ``pip install -r requirements.txt`` and
  ``pytest`` checked to be what ``.ci/run`` runs; ``mkdocs build --strict`` is this session's build;
- a block titled "Not run by the docs tests: …" is parsed, not run: ``pgzoo`` commands by pgzoo's
  parser, ``python SCRIPT``/``python -m MODULE`` by the script's own argparse parser, other programs
  must be installed;
- ``console`` blocks hold ``$ pgzoo …`` lines with the exact output (stderr and stdout) and exit
  code they must give;
- any other fence (``text``, ``toml``, …) is shown, not run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import runpy
import shlex
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sybil import Document, Region
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

from pgzoo import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)]
NOT_RUN = "Not run by the docs tests"
TRAIN_STEPS, TRAIN_EPISODES, TUNE_TRIALS, EVAL_EPISODES = "500", "5", "2", "2"
QUICK_SUITE = """name = "quick"
seeds = 1
compare_to = "sb3-a2c"
[evaluation]
every = 500
episodes = 2
[envs.CartPole-v1]
steps = 1000
[algorithms.actor-critic]
[algorithms.reinforce-baseline]
[algorithms.sb3-a2c]
optional = true
"""
SHELL_TOOLS = {"cp", "ls", "cat", "mkdir"}
LONG_LOOP, LOOP_STEPS = re.compile(r"\brange\((\d{4,})\)"), 300


# --- the site -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site, built once per test session exactly as ``mkdocs build --strict`` does."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    out = tmp_path_factory.mktemp("site")
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    with contextlib.chdir(ROOT):
        config = load_config(str(ROOT / "mkdocs.yml"), strict=True, site_dir=str(out))
        build(config)  # strict: any warning (broken link, anchor, reference) aborts
    return out


def test_site_builds_in_strict_mode_with_every_page(site: Path) -> None:
    from pgzoo.registry import get_registry

    for page in ("index", "update-rule-to-loss", "writing-a-plugin", "speed", "troubleshooting",
                 "reference/api", "reference/cli", "reference/config"):
        assert (site / page / "index.html").is_file() if page != "index" else (site / "index.html").is_file(), page
    for name in get_registry().algorithms:  # one generated page per installed algorithm
        html = (site / "algorithms" / name / "index.html").read_text()
        assert "What <code>pgzoo verify</code> checks" in html, name
    api = (site / "reference" / "api" / "index.html").read_text()
    for name in ("Rollout", "transitions", "SurrogateLoss", "BookCase", "AlgorithmConformance", "discounted_returns",
                 "direction_loss", "Trainer"):
        assert name in api, name
    cli_ref = (site / "reference" / "cli" / "index.html").read_text()
    for name, sub in cli.build_parser().commands.items():
        assert f"pgzoo {name}" in cli_ref
        for flag in re.findall(r"(?<![\w-])--?[a-z][\w-]*", sub.format_help()):  # every flag of every command
            assert flag in cli_ref, (name, flag)
    config_ref = (site / "reference" / "config" / "index.html").read_text()
    from pgzoo.config import AlgorithmConfig

    assert all(f"<code>{key}</code>" in config_ref for key in AlgorithmConfig.model_fields)


# --- running the code blocks --------------------------------------------------------------------

class Block:
    """One fenced block: its language, its title (``title="…"`` in the info string), its text."""

    def __init__(self, info: str, source: str, line: int) -> None:
        self.language = (info.split() or [""])[0]
        m = re.search(r'title="([^"]*)"', info)
        self.title = m.group(1) if m else ""
        self.source, self.line = source, line

    @property
    def run(self) -> bool:
        return not self.title.startswith(NOT_RUN)


def blocks(path: Path) -> Iterator[Block]:
    """Every fenced block of a Markdown file, in order (Sybil's lexer: fences in lists and admonitions too)."""
    document = Document(path.read_text(), str(path))
    lexer = RawFencedCodeBlockLexer(info_pattern=re.compile(r"(?P<info>[^\n]*)$\n", re.MULTILINE))
    regions: list[Region] = sorted(lexer(document), key=lambda r: r.start)
    for r in regions:
        yield Block(r.lexemes["info"], str(r.lexemes["source"]), document.text.count("\n", 0, r.start) + 1)


def commands(source: str) -> Iterator[str]:
    """The commands of a shell block: comments dropped, ``\\`` continuations joined, ``&&`` split."""
    text = source.replace("\\\n", " ")
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        part: list[str] = []
        for w in [*words, "&&"]:
            if w == "&&":
                if part:
                    yield shlex.join(part)
                part = []
            else:
                part.append(w)


def _set(argv: list[str], flag: str, value: str) -> list[str]:
    if flag in argv:
        i = argv.index(flag)
        return [*argv[:i + 1], value, *argv[i + 2:]]
    return [*argv, flag, value]


QUICK_DONE: list[Path] = []
"""The first page's finished quick bench, copied into later pages' folders (their bench then finds every
run done and only re-renders, as a rerun of a bench does)."""


def shorten(argv: list[str], workdir: Path) -> list[str]:
    """The documented test budgets: ``train`` runs 500 steps (5 episodes when given ``--episodes``) and
    evaluates on 2 episodes, ``tune`` 2 trials of 500 steps, the quick ``bench`` 1 seed of 1,000 steps
    with one worker, trained once per test session."""
    command = argv[0] if argv else ""
    if command == "train" and "--resume" not in argv:
        budget = ("--episodes", TRAIN_EPISODES) if "--episodes" in argv else ("--steps", TRAIN_STEPS)
        return [*_set(argv, *budget), "--set", f"eval_episodes={EVAL_EPISODES}"]
    if command == "tune":
        return _set(_set(argv, "--trials", TUNE_TRIALS), "--steps", TRAIN_STEPS)
    if command == "bench" and (len(argv) == 1 or argv[1].startswith("-")):
        quick = workdir / "pgzoo-bench-quick"
        if QUICK_DONE:
            shutil.copytree(QUICK_DONE[0], quick, dirs_exist_ok=True)
        else:
            quick.mkdir(exist_ok=True)
            (quick / "suite.toml").write_text(QUICK_SUITE)
            QUICK_DONE.append(quick)
        return _set(argv, "--workers", "1")
    return argv


@pytest.fixture(autouse=True, scope="module")
def _verify_once() -> Iterator[None]:
    """``pgzoo verify`` checks each algorithm once per test session: its results are deterministic."""
    from pgzoo.book import verify as module

    done: dict[str, list] = {}
    original = module.verify

    def cached(algos):
        for name, cls in algos.items():
            if name not in done:
                done[name] = original({name: cls})
        return [r for name in algos for r in done[name]]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "verify", cached)
        yield


def run_pgzoo(argv: list[str]) -> tuple[int, str]:
    """``pgzoo ARGV`` in this process; (exit code, stderr + stdout)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:  # argparse: --help, --version, usage errors
            code = e.code if isinstance(e.code, int) else 1
    return code, err.getvalue() + out.getvalue()


def run_pgzoo_parse(argv: list[str]) -> tuple[int, str]:
    """Parse ``pgzoo ARGV`` with pgzoo's parser only; (0, "") or (exit code, the one-line error)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            cli.build_parser().parse_args(argv)
        except SystemExit as e:
            return (e.code if isinstance(e.code, int) else 1), err.getvalue()
    return 0, ""


class _Parsed(Exception):
    pass


def parse_script_args(argv: list[str], cwd: Path) -> None:
    """Parse ``python SCRIPT ARGS`` / ``python -m MODULE ARGS`` with the script's own argparse parser,
    without running it: its first ``parse_args`` call stops it."""
    original = argparse.ArgumentParser.parse_args

    def parse_only(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    target = argv[1] if argv[0] == "-m" else str(cwd / argv[0])
    rest = argv[2:] if argv[0] == "-m" else argv[1:]
    saved = sys.argv
    sys.argv = [target, *rest]
    try:
        with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # runpy: a module of pgzoo already imported
            mp.setattr(argparse.ArgumentParser, "parse_args", parse_only)
            if argv[0] != "-m":
                mp.syspath_prepend(str(Path(target).parent))  # as python does for a script: its own folder
            try:
                if argv[0] == "-m":
                    runpy.run_module(target, run_name="__main__", alter_sys=False)
                else:
                    runpy.run_path(target, run_name="__main__")
            except _Parsed:
                return
            except SystemExit as e:
                raise AssertionError(f"python {shlex.join(argv)}: its parser refused the arguments "
                                     f"({e.code})") from None
    finally:
        sys.argv = saved
    raise AssertionError(f"python {shlex.join(argv)}: never parsed its arguments")


class Shell:
    """Runs the shell blocks of one page in its scratch folder."""

    def __init__(self, workdir: Path, built: Path) -> None:
        self.cwd, self.built = workdir, built
        self.ci = (ROOT / ".ci" / "run").read_text()

    def run(self, block: Block, where: str) -> None:
        for command in commands(block.source):
            self.command(command, block.run, where)

    def command(self, command: str, run: bool, where: str) -> None:
        t0 = time.process_time()
        self._command(command, run, where)
        if run:
            print(f"  {time.process_time() - t0:5.1f} CPU s  {command}")

    def _command(self, command: str, run: bool, where: str) -> None:
        words = shlex.split(command)
        env = {}
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        program, args = words[0], words[1:]
        where = f"{where}: {command}"
        if program == "pgzoo":
            if not run:  # parsed by pgzoo's own parser, not run
                code, output = run_pgzoo_parse(args)
                assert code == 0, f"{where}: {output}"
                return
            with contextlib.chdir(self.cwd), _environ(env):
                code, output = run_pgzoo(shorten(args, self.cwd))
            assert code == 0, f"{where} exited with {code}:\n{output[-3000:]}"
        elif program == "python":
            with contextlib.chdir(self.cwd), _environ(env):
                parse_script_args(args, self.cwd)
            assert not run, f"{where}: a python script in a block that runs (benchmarks train for minutes: title the " \
                            f"block '{NOT_RUN}: …')"
        elif (program, *args) in (("pip", "install", "-r", "requirements.txt"), ("pytest",)):
            assert command in self.ci, f"{where}: not what .ci/run runs"
        elif program == "mkdocs" and args == ["build", "--strict"]:
            assert (self.built / "index.html").is_file(), where  # this session's strict build
        elif program == "cd":
            self.cwd = (self.cwd / args[0]).resolve()
        elif run and program in SHELL_TOOLS:
            with contextlib.chdir(self.cwd):
                import subprocess

                res = subprocess.run(words, capture_output=True, text=True)
            assert res.returncode == 0, f"{where}: {res.stderr}"
        else:
            assert not run, f"{where}: the docs tests do not know how to run '{program}' (title the block " \
                            f"'{NOT_RUN}: …' or add a rule here)"
            assert shutil.which(program), f"{where}: '{program}' is not installed"


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:0] = paths
    try:
        yield
    finally:
        del sys.path[:len(paths)]
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_console(block: Block, where: str, cwd: Path) -> None:
    """``$ pgzoo ARGS`` lines followed by exactly what it prints (stderr, then stdout); an optional
    ``[exit N]`` line gives the exit code (default 2, a usage error)."""
    for m in re.finditer(r"^\$ (.+)\n((?:(?!\$ ).*\n?)*)", block.source, flags=re.M):
        argv = shlex.split(m.group(1))
        assert argv[0] == "pgzoo", f"{where}: console blocks hold pgzoo commands"
        expected = m.group(2).rstrip("\n")
        code_line = re.search(r"^\[exit (\d+)\]$", expected, flags=re.M)
        want_code = int(code_line.group(1)) if code_line else 2
        expected = re.sub(r"^\[exit \d+\]\n?", "", expected, flags=re.M).rstrip("\n")
        with contextlib.chdir(cwd):
            code, output = run_pgzoo(argv[1:])
        assert (code, output.strip()) == (want_code, expected.strip()), f"{where}: {m.group(1)}"


def _scratch(tmp_path: Path) -> Path:
    for folder in ("examples", "leaderboards"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    return tmp_path


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_code_blocks_run(page: Path, tmp_path: Path, site: Path) -> None:
    work = _scratch(tmp_path)
    shell = Shell(work, site)
    namespace: dict = {"__name__": "__docs__"}
    t0, c0 = time.process_time(), _children_cpu()
    for block in blocks(page):
        where = f"{page.relative_to(ROOT)}:{block.line}"
        if block.language == "python" and block.run:
            source = LONG_LOOP.sub(f"range({LOOP_STEPS})", block.source)  # the documented shortening
            with contextlib.chdir(shell.cwd):
                exec(compile(source, where, "exec"), namespace)
        elif block.language == "bash":
            shell.run(block, where)
        elif block.language == "console":
            check_console(block, where, shell.cwd)
    print(f"{page.name}: {time.process_time() - t0:.1f} CPU s, {_children_cpu() - c0:.1f} in child processes")


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --- what a package is expected to have ---------------------------------------------------------

def test_readme_is_short_and_lists_every_builtin_algorithm() -> None:
    from pgzoo.registry import get_registry

    text = (ROOT / "README.md").read_text()
    assert 150 <= len(text.splitlines()) <= 250
    rows = set(re.findall(r"^\| `([\w-]+)` \|", text, flags=re.M))
    reg = get_registry()
    builtin = {n for n, prov in reg.algorithm_origin.items()
               if (ROOT / "plugins" / prov.dist.removeprefix("pgzoo-")).is_dir()}
    assert builtin <= rows, f"README's algorithms table misses {sorted(builtin - rows)}"


def test_version_license_citation_and_ignored_outputs() -> None:
    import subprocess
    import tomllib

    import pgzoo

    code, output = run_pgzoo(["--version"])
    assert code == 0 and output.startswith(f"pgzoo {pgzoo.__version__} (Python ")
    assert "torch" in output and "gymnasium" in output
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert re.search(rf"^version: {re.escape(pgzoo.__version__)}$", (ROOT / "CITATION.cff").read_text(), flags=re.M)
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
    outputs = ["cartpole.mp4", "curves.png", "tb/x", "tune-actor-critic-CartPole-v1/best.toml", "tune.db", "site/x",
               "runs/x", "pgzoo-bench-quick/x"]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *outputs], cwd=ROOT, capture_output=True, text=True)
    assert sorted(ignored.stdout.split()) == sorted(outputs)
    committed = ["leaderboards/classic-control/curves.png", "leaderboards/tuning/actor-critic-CartPole-v1/tune.db"]
    kept = subprocess.run(["git", "check-ignore", "--no-index", *committed], cwd=ROOT, capture_output=True, text=True)
    assert kept.stdout == ""  # the committed figures and study are not caught by those patterns

"""What produced a number: the one place that describes the code, the path and the libraries of a run.

Every results line of ``pgzoo bench``, the figures' ``runs.json`` and ``pgzoo train``'s
``summary.json`` carry :func:`describe`'s ``provenance`` object::

    {"pgzoo": "0.1.0",                                   # the installed version
     "git": {"commit": "5656a85…", "dirty": false},       # when pgzoo runs from a git checkout (else null)
     "code": "3f2a9c0d1e4b5a6c",                          # fingerprint of the arithmetic sources (below)
     "code_parts": {"pgzoo": {"module": "pgzoo", "hash": "…"},
                    "pgzoo-a2c": {"module": "pgzoo_a2c", "version": "0.1.0", "hash": "…"}},
     "path": {"trained": "alone" | "population", "population_seeds": [0, 1, 2, 3, 4],
              "compile": "off", "compiled": false, "dtype": "float32", "torch_threads": 1},
     "libraries": {"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": …, "scipy": …, "gymnasium": …,
                   "stable_baselines3": …},
     "machine": {"arch": "x86_64", "cpu": "Intel(R) Xeon(R) …", "cpu_capability": "AVX512"}}

**The same code** (what :func:`compare` checks, and what ``pgzoo bench``/``pgzoo leaderboard``
call a stale line): the same ``code`` fingerprint, the same versions of the
:data:`ARITHMETIC_LIBRARIES` (and of Stable-Baselines3 for a baseline's line) and the same
machine type. The fingerprint hashes only the sources that can change a run's numbers: every
module of pgzoo except those in :data:`NOT_ARITHMETIC` (the CLI, rendering, statistics of the
boards, files, progress, docs tooling), the package of the algorithm's plugin (or baseline)
and the package of the environment's plugin (a gymnasium environment is covered by gymnasium's
version). Each module is hashed as its syntax tree printed back (:func:`ast.unparse`) with
docstrings dropped, so comments, docstrings and formatting do not count; a new pgzoo module
counts until it is listed in :data:`NOT_ARITHMETIC`. ``git`` says how to get the whole tree
back; its ``dirty`` covers only the source folders hashed (pgzoo's and the plugins'), not
results files a bench is writing.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata as md
import importlib.util
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOT_ARITHMETIC = frozenset({
    # entry points, presentation and files: they route, print, plot or store numbers, never compute them
    "__init__.py", "cli.py", "plotting.py", "video.py", "tblog.py", "progress.py", "scaffold.py", "testing.py",
    "atomic.py", "userfiles.py", "rundir.py", "errors.py", "resources.py", "tune.py", "provenance.py",
    # the bench around a run: suites, grids, executors, locks, the board's statistics and rendering
    "bench/__init__.py", "bench/board.py", "bench/render.py", "bench/stats.py", "bench/progress.py",
    "bench/lock.py", "bench/lifeline.py", "bench/executors.py", "bench/runner.py", "bench/grid.py",
    "bench/suite.py", "bench/results.py", "bench/stale.py", "bench/reproduce.py",
    # the book's checks and reports (pgzoo verify; the figures' tables and plots)
    "book/verify.py", "book/case.py", "book/figures_report.py",
})
"""Modules of pgzoo (paths relative to the package) that cannot change a run's numbers. ``__init__.py``
of the top package only re-exports; the engine's and book's ``__init__`` files count."""

ARITHMETIC_LIBRARIES = ("python", "torch", "numpy", "scipy", "gymnasium")
"""Libraries whose version is part of "the same code" for every line."""
BASELINE_LIBRARIES = ("stable_baselines3",)
"""Also compared for a baseline's line."""
_LIBRARY_DISTS = {"torch": "torch", "numpy": "numpy", "scipy": "scipy", "gymnasium": "gymnasium",
                  "stable_baselines3": "stable_baselines3"}
COVERED_BY_VERSION = frozenset({"gymnasium", "stable_baselines3"})
"""Top-level packages whose sources are not hashed: their recorded version identifies them."""


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


_FILE_HASHES: dict[Path, tuple[int, int, str]] = {}


def file_hash(path: Path) -> str:
    """The hash of one Python source, docstrings, comments and formatting left out (cached by mtime and size).

    A file that does not parse is hashed as its bytes."""
    st = path.stat()
    cached = _FILE_HASHES.get(path)
    if cached and cached[:2] == (st.st_mtime_ns, st.st_size):
        return cached[2]
    data = path.read_bytes()
    try:
        text = ast.unparse(_strip_docstrings(ast.parse(data))).encode()
    except (SyntaxError, ValueError):
        text = data
    digest = hashlib.sha256(text).hexdigest()
    _FILE_HASHES[path] = (st.st_mtime_ns, st.st_size, digest)
    return digest


def tree_hash(root: Path, exclude: frozenset[str] = frozenset()) -> str:
    """The hash of every ``.py`` file under ``root`` (a package folder, or one module file) but
    ``exclude`` (paths relative to ``root``, with ``/``), by relative path; 16 hex digits."""
    if root.is_file():
        return file_hash(root)[:16]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in exclude or "__pycache__" in path.parts:
            continue
        h.update(f"{rel}\0{file_hash(path)}\0".encode())
    return h.hexdigest()[:16]


def module_root(module: str) -> Path | None:
    """The folder of the top-level package ``module`` (or its one file), found without importing it."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None


def part_hash(module: str) -> str | None:
    """The arithmetic fingerprint of the top-level package ``module`` as installed now (``None``: not found)."""
    root = module_root(module)
    if root is None:
        return None
    return tree_hash(root, NOT_ARITHMETIC if module == "pgzoo" else frozenset())


@dataclass(frozen=True)
class Part:
    """One source package of a run: pgzoo, the algorithm's plugin, the environment's plugin."""

    label: str
    """The distribution's name, or ``module <name>`` for code outside any registered plugin."""
    module: str
    version: str | None = None


def run_parts(algorithm_module: str | list[str] | None, env_id: str | None) -> list[Part]:
    """The packages whose sources can change a run of the algorithm defined in ``algorithm_module``
    (a class's ``__module__``, or several; ``None``: none) on ``env_id``: pgzoo, then the algorithm's and
    the environment's packages, named by the plugin distribution that registered them where there is one."""
    from pgzoo.registry import get_registry

    reg = get_registry()
    dists: dict[str, Any] = {}
    for classes, origins in ((reg.algorithms, reg.algorithm_origin), (reg.baselines, reg.baseline_origin)):
        for name, cls in classes.items():
            dists.setdefault(cls.__module__.split(".")[0], origins[name])
    given = [algorithm_module] if isinstance(algorithm_module, str) else list(algorithm_module or [])
    modules = [m.split(".")[0] for m in given]
    if env_id:
        modules.extend(_env_modules(env_id, reg, dists))
    parts = [Part("pgzoo", "pgzoo", _version("pgzoo"))]
    for module in modules:
        if module in COVERED_BY_VERSION or any(p.module == module for p in parts):
            continue
        prov = dists.get(module)
        parts.append(Part(prov.dist, module, prov.version) if prov else Part(f"module {module}", module))
    return parts


def _env_modules(env_id: str, reg: Any, dists: dict[str, Any]) -> list[str]:
    import gymnasium as gym

    from pgzoo.registry import env_name

    name = env_name(env_id)
    try:
        entry = gym.spec(name).entry_point
    except Exception:  # an unknown id: nothing to hash (training it fails on its own)
        return []
    module = entry.split(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", "")
    top = module.split(".")[0]
    if top and name in reg.envs:
        dists.setdefault(top, reg.envs[name])
    return [top] if top else []


def fingerprint(parts: list[Part]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The combined fingerprint of ``parts`` as installed now, and each part's own."""
    table: dict[str, dict[str, Any]] = {}
    for p in parts:
        entry: dict[str, Any] = {"module": p.module, "hash": part_hash(p.module)}
        if p.version and p.label != "pgzoo":
            entry["version"] = p.version
        table[p.label] = entry
    return combine(table), table


def combine(parts: dict[str, dict[str, Any]]) -> str:
    """The one fingerprint of several parts' hashes (16 hex digits)."""
    text = "|".join(f"{label}={parts[label].get('hash')}" for label in sorted(parts))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_GIT: dict[tuple[str, ...], dict[str, Any] | None] = {}


def git_source(folders: list[Path]) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding ``folders[0]`` (pgzoo), ``dirty`` meaning
    that tracked or new files under any of ``folders`` inside that checkout differ from the commit;
    ``None`` outside a checkout or without git. Asked once per process and set of folders."""
    key = tuple(str(f) for f in folders)
    if key in _GIT:
        return _GIT[key]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(folders[0]), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    commit = git("rev-parse", "HEAD") if top else None
    result = None
    if top and commit:
        inside = [str(f) for f in folders if Path(f).resolve().is_relative_to(Path(top).resolve())]
        status = git("status", "--porcelain", "--", *inside)
        result = {"commit": commit, "dirty": bool(status) if status is not None else None}
    _GIT[key] = result
    return result


def libraries() -> dict[str, str | None]:
    """The versions of Python and of the libraries a run's numbers depend on."""
    import torch

    out: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__}
    for name, dist in _LIBRARY_DISTS.items():
        if name != "torch":
            out[name] = _version(dist)
    return out


KERNEL_SETTINGS = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA",
                   "DNNL_MAX_CPU_ISA", "NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES")
"""Environment variables that choose which CPU kernels torch, MKL, oneDNN and NumPy run (and so how
they round); recorded with the machine type when set."""


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """The machine type: architecture, CPU model, the vector instructions torch's CPU kernels use, and
    any setting of :data:`KERNEL_SETTINGS`. The same commit and libraries give other float32 bits on
    a CPU whose kernels round differently (seen on pgzoo's own boards, issue 22)."""
    import os

    import torch

    try:
        capability = str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # pragma: no cover - older torch
        capability = "unknown"
    out: dict[str, Any] = {"arch": platform.machine(), "cpu": _cpu_model(), "cpu_capability": capability}
    settings = {k: os.environ[k] for k in KERNEL_SETTINGS if os.environ.get(k)}
    if settings:
        out["kernel_settings"] = settings
    return out


def describe(algorithm_module: str | list[str] | None, env_id: str | None, path: dict[str, Any]) -> dict[str, Any]:
    """The ``provenance`` object of a run of the algorithm in ``algorithm_module`` (a class's
    ``__module__``, or those of several algorithms) on ``env_id`` trained along ``path`` (see the
    module docstring for the fields)."""
    parts = run_parts(algorithm_module, env_id)
    code, table = fingerprint(parts)
    folders = [r for r in (module_root(p.module) for p in parts) if r is not None]
    folders = [f if f.is_dir() else f.parent for f in folders]
    return {"pgzoo": _version("pgzoo"), "git": git_source(folders) if folders else None, "code": code,
            "code_parts": table, "path": dict(path), "libraries": libraries(), "machine": machine()}


def params_hash(state: Any) -> str:
    """A fingerprint of trained parameters: SHA-256 (16 hex digits) over the names, dtypes, shapes and
    bytes of ``state`` (a module's ``state_dict()``, or the module). Any change of a run's arithmetic
    changes it, also one that leaves every evaluation return as it was."""
    import torch

    if hasattr(state, "state_dict"):
        state = state.state_dict()
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def trainer_path(compile_report: dict[str, Any], dtype: Any,
                 population_seeds: list[int] | None = None) -> dict[str, Any]:
    """The ``path`` of a run: alone or as a population (with its members' seeds), the ``compile``
    setting and whether it compiled, the dtype, and torch's intra-op threads."""
    import torch

    out: dict[str, Any] = {"trained": "population" if population_seeds else "alone"}
    if population_seeds:
        out["population_seeds"] = [int(s) for s in population_seeds]
    out.update({"compile": compile_report.get("compile"), "compiled": bool(compile_report.get("compiled")),
                "dtype": str(dtype).removeprefix("torch."), "torch_threads": torch.get_num_threads()})
    return out


@dataclass
class Comparison:
    """How a recorded provenance differs from what is installed now (empty lists: the same code)."""

    unknown: bool = False
    """The line records no provenance (made before pgzoo recorded it)."""
    code: list[str] = field(default_factory=list)
    """Parts whose sources differ (``"pgzoo"``, ``"pgzoo-a2c"``, …), or are not installed."""
    libraries: list[str] = field(default_factory=list)
    """``"torch 2.12.0 (now 2.13.0)"``, …"""
    machine: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.unknown or self.code or self.libraries or self.machine)

    def reason(self) -> str:
        """In a few words: why the line is stale (empty if it is not)."""
        if self.unknown:
            return "no provenance recorded"
        out = []
        if self.code:
            out.append("other code: " + ", ".join(self.code))
        if self.libraries:
            out.append("other libraries: " + ", ".join(self.libraries))
        if self.machine:
            out.append("other machine type: " + ", ".join(self.machine))
        return "; ".join(out)


class Installed:
    """What is installed now, computed once per board: each part's hash, the libraries, the machine."""

    def __init__(self) -> None:
        self._hashes: dict[str, str | None] = {}
        self.libraries = libraries()
        self.machine = machine()

    def part_hash(self, module: str) -> str | None:
        if module not in self._hashes:
            self._hashes[module] = part_hash(module)
        return self._hashes[module]


def compare(recorded: dict[str, Any] | None, baseline: bool = False, installed: Installed | None = None) -> Comparison:
    """Whether a line's ``provenance`` (``None`` if it has none) is "the same code" as ``installed``
    (default: what is installed now). ``baseline``: the line is a baseline's (its SB3 version counts)."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("code_parts"), dict):
        return Comparison(unknown=True)
    now = installed or Installed()
    out = Comparison()
    for label, entry in sorted(recorded["code_parts"].items()):
        module = entry.get("module") if isinstance(entry, dict) else None
        hashed = now.part_hash(module) if isinstance(module, str) and module else None
        if not isinstance(module, str) or not module:
            out.code.append(f"{label} (unreadable)")
        elif hashed is None:
            out.code.append(f"{label} (not installed)")
        elif hashed != entry.get("hash"):
            out.code.append(label)
    then_libs = recorded.get("libraries") if isinstance(recorded.get("libraries"), dict) else {}
    for name in ARITHMETIC_LIBRARIES + (BASELINE_LIBRARIES if baseline else ()):
        if then_libs.get(name) != now.libraries.get(name):
            out.libraries.append(f"{name} {then_libs.get(name)} (now {now.libraries.get(name)})")
    then_m = recorded.get("machine") if isinstance(recorded.get("machine"), dict) else {}
    for key in sorted(set(then_m) | set(now.machine)):
        if then_m.get(key) != now.machine.get(key):
            out.machine.append(f"{key} {then_m.get(key)} (now {now.machine.get(key)})")
    return out


def sentence(recorded: dict[str, Any] | None, retrain: str) -> str:
    """One sentence on a saved result's provenance against the installed code; ``retrain`` is the
    command that makes it again (e.g. ``pgzoo bench leaderboards/book-13.1``)."""
    c = compare(recorded)
    if c.unknown:
        return (f"Provenance: not recorded (made before pgzoo recorded which code made a result), so whether the "
                f"installed code reproduces these numbers is unknown; `{retrain}` makes them again.")
    git = recorded.get("git") or {}
    where = f" (git {str(git.get('commit'))[:10]}{', dirty' if git.get('dirty') else ''})" if git.get("commit") else ""
    made = f"Provenance: made by code {recorded.get('code')}{where}"
    if c.same:
        return f"{made}, the installed code (same fingerprint, libraries and machine type)."
    return (f"{made}; the installed code differs ({c.reason()}), so it may not reproduce them; `{retrain}` makes "
            "them again.")

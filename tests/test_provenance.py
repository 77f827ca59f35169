"""Provenance: what made a number, and whether the installed code is the same code.

The fingerprint hashes sources as their syntax trees without docstrings (so comments, docstrings
and formatting do not count, a constant does), leaves out the modules that cannot change a run's
numbers, and names the plugin packages of a run; :func:`pgzoo.provenance.compare` says which part,
library or machine property differs."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import torch

from pgzoo import provenance
from pgzoo.engine.trainer import train

MODULE = '''"""A module docstring."""

RATE = 0.5  # a comment


def step(x):
    """Its docstring."""
    return x * RATE
'''
SAME_CODE = '''"""Another docstring, other comments and formatting: the same code."""
RATE = 0.5


def step(x):
    # a new comment
    return (x *
            RATE)
'''


def test_file_hash_ignores_docstrings_comments_and_formatting_but_not_constants(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text(MODULE)
    b.write_text(SAME_CODE)
    c.write_text(MODULE.replace("0.5", "0.25"))
    assert provenance.file_hash(a) == provenance.file_hash(b)
    assert provenance.file_hash(a) != provenance.file_hash(c)
    (tmp_path / "broken.py").write_text("def (:\n")  # does not parse: hashed as bytes, no error
    assert len(provenance.file_hash(tmp_path / "broken.py")) == 64


def test_tree_hash_leaves_out_the_listed_modules_and_sees_edits(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "core.py").write_text(MODULE)
    (pkg / "cli.py").write_text("print('hello')\n")
    (pkg / "sub" / "loss.py").write_text("K = 1\n")
    before = provenance.tree_hash(pkg, frozenset({"cli.py"}))
    (pkg / "cli.py").write_text("print('hello, world')\n")
    assert provenance.tree_hash(pkg, frozenset({"cli.py"})) == before, "a listed module does not count"
    (pkg / "sub" / "loss.py").write_text("K = 2\n")  # same size, new content: re-read (mtime)
    assert provenance.tree_hash(pkg, frozenset({"cli.py"})) != before
    (pkg / "sub" / "loss.py").write_text("K = 1\n")
    assert provenance.tree_hash(pkg, frozenset({"cli.py"})) == before
    (pkg / "new.py").write_text("")  # a new module counts
    assert provenance.tree_hash(pkg, frozenset({"cli.py"})) != before


def test_not_arithmetic_names_existing_modules_only() -> None:
    """A renamed module must not silently start counting (or a listed one stop existing)."""
    root = provenance.module_root("pgzoo")
    missing = [m for m in provenance.NOT_ARITHMETIC if not (root / m).is_file()]
    assert missing == []
    for counted in ("engine/trainer.py", "engine/population.py", "losses.py", "returns.py", "sampling.py",
                    "bench/task.py", "bench/population.py", "book/figures.py"):
        assert counted not in provenance.NOT_ARITHMETIC


def test_a_user_algorithm_module_is_a_part_and_its_edit_is_reported(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_algo_mod.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    recorded = provenance.describe("my_algo_mod", "CartPole-v1", {"trained": "alone"})
    assert list(recorded["code_parts"]) == ["pgzoo", "module my_algo_mod"], "gymnasium's CartPole: its version"
    assert recorded["code"] == provenance.combine(recorded["code_parts"])
    assert recorded["libraries"]["torch"] == torch.__version__
    assert provenance.compare(recorded).same
    (tmp_path / "my_algo_mod.py").write_text(MODULE.replace("0.5", "0.75"))
    c = provenance.compare(recorded)
    assert (c.code, c.libraries, c.machine) == (["module my_algo_mod"], [], [])
    assert c.reason() == "other code: module my_algo_mod"


def test_a_plugin_environment_is_a_part() -> None:
    recorded = provenance.describe("pgzoo_reinforce", "ShortCorridor-v0", {})
    assert list(recorded["code_parts"]) == ["pgzoo", "pgzoo-reinforce", "pgzoo-book-envs"]
    assert recorded["code_parts"]["pgzoo-book-envs"]["module"] == "pgzoo_book_envs"


def test_compare_names_libraries_machine_and_missing_parts() -> None:
    recorded = provenance.describe("pgzoo_reinforce", "CartPole-v1", {})
    assert provenance.compare(None).unknown and provenance.compare({"pgzoo": "0.1.0"}).unknown
    other = copy.deepcopy(recorded)
    other["libraries"]["torch"] = "2.0.0"
    other["machine"]["cpu_capability"] = "NO AVX"
    other["code_parts"]["pgzoo-gone"] = {"module": "pgzoo_no_such_module", "hash": "0"}
    c = provenance.compare(other)
    assert c.libraries == [f"torch 2.0.0 (now {torch.__version__})"]
    assert c.machine == [f"cpu_capability NO AVX (now {recorded['machine']['cpu_capability']})"]
    assert c.code == ["pgzoo-gone (not installed)"]
    assert not c.same
    sb3 = copy.deepcopy(recorded)
    sb3["libraries"]["stable_baselines3"] = "1.0"
    assert provenance.compare(sb3).same, "SB3's version counts for baselines only"
    assert provenance.compare(sb3, baseline=True).libraries[0].startswith("stable_baselines3 1.0")


def test_the_checkout_is_named() -> None:
    recorded = provenance.describe(None, None, {})
    root = Path(provenance.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("pgzoo is not run from a git checkout here")
    assert len(recorded["git"]["commit"]) == 40 and isinstance(recorded["git"]["dirty"], bool)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_train_summary_records_its_path(tmp_path: Path, dtype: torch.dtype) -> None:
    result = train("reinforce", "CartPole-v1", 0, {"total_episodes": 2}, out_dir=tmp_path, dtype=dtype)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["provenance"] == json.loads(json.dumps(result.summary["provenance"]))
    path = saved["provenance"]["path"]
    assert path == {"trained": "alone", "compile": "auto", "compiled": False, "dtype": str(dtype)[6:],
                    "torch_threads": torch.get_num_threads()}
    assert set(saved["provenance"]["code_parts"]) == {"pgzoo", "pgzoo-reinforce"}
    assert "pgzoo" in sys.modules and saved["provenance"]["pgzoo"] == "0.1.0"


def test_kernel_settings_are_part_of_the_machine_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same commit gives other bits under another MKL code path (issue 22's committed lines):
    a variable that picks other kernels is recorded and compared."""
    monkeypatch.delenv("MKL_CBWR", raising=False)
    recorded = provenance.describe(None, None, {})
    assert "kernel_settings" not in recorded["machine"] and recorded["machine"]["cpu"]
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    assert provenance.machine()["kernel_settings"] == {"MKL_CBWR": "COMPATIBLE"}
    c = provenance.compare(recorded)
    assert c.machine == ["kernel_settings None (now {'MKL_CBWR': 'COMPATIBLE'})"] and not c.same

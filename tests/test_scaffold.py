"""``pgzoo new-plugin`` writes a plugin that installs with pip, is listed, verifies and trains."""

import json
import subprocess
import sys

import pytest

from pgzoo.testing import run_cli


@pytest.mark.parametrize("template", ["episodic", "critic"])
def test_new_plugin_installs_lists_verifies_trains_and_passes_its_tests(tmp_path, template) -> None:
    res = run_cli("new-plugin", "my-pg", "--dir", str(tmp_path), "--template", template)
    assert res.returncode == 0, res.stderr
    root = tmp_path / "pgzoo-my-pg"
    assert (root / "pyproject.toml").exists() and (root / "pgzoo_my_pg" / "__init__.py").exists()
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                          "--target", str(site), str(root)], capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr
    env = {"PYTHONPATH": str(site)}
    listed = json.loads(run_cli("list", "--json", env=env).stdout)
    [algo] = [a for a in listed["algorithms"] if a["name"] == "my-pg"]
    assert algo["dist"] == "pgzoo-my-pg" and listed["errors"] == []
    assert algo["schedules"] == ({"episodes": 1} if template == "episodic" else {"steps": 4})
    assert run_cli("verify", "my-pg", env=env).returncode == 0
    out = tmp_path / "run"
    trained = run_cli("train", "my-pg", "--env", "CartPole-v1", "--steps", "3000", "--out", str(out), "--quiet",
                      env=env)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((out / "summary.json").read_text())["env_steps"] >= 3000
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                           capture_output=True, text=True, timeout=600, env={**__import__("os").environ, **env},
                           cwd=root)
    assert tests.returncode == 0, tests.stdout[-2000:]
    # the generated learning test has teeth: a policy that (practically) never changes fails it
    (root / "tests" / "test_frozen.py").write_text(
        "from test_pgzoo_my_pg import TestMyPg\n\n\nclass TestFrozen(TestMyPg):\n"
        "    learn_overrides = {**TestMyPg.learn_overrides, 'alpha_theta': 1e-12}\n")
    frozen = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
                             "TestFrozen and test_learns", str(root / "tests" / "test_frozen.py")],
                            capture_output=True, text=True, timeout=600, env={**__import__("os").environ, **env},
                            cwd=root / "tests")
    assert frozen.returncode == 1 and "1 failed" in frozen.stdout, frozen.stdout[-2000:]
    assert run_cli("new-plugin", "my-pg", "--dir", str(tmp_path)).returncode == 2  # never overwrites


def test_new_plugin_refuses_an_unknown_template(tmp_path) -> None:
    res = run_cli("new-plugin", "my-pg", "--dir", str(tmp_path), "--template", "ppo")
    assert res.returncode == 2 and "invalid choice: 'ppo'" in res.stderr and "Traceback" not in res.stderr

"""Plugin loading: failures are reported and skipped, duplicates name both distributions."""

import json

from pgzoo.testing import fake_distribution, run_cli

BROKEN = "raise ImportError('no module named missing_dependency')\n"
IMPOSTER = '''
from pgzoo import hookimpl
from pgzoo_reinforce import Reinforce

class Imposter(Reinforce):
    name = "reinforce"

@hookimpl
def register_algorithms(register):
    register(Imposter)
'''
FAILS_TO_REGISTER = '''
from pgzoo import hookimpl

@hookimpl
def register_algorithms(register):
    raise RuntimeError("bad registration")
'''


def test_plugin_that_fails_to_import_is_reported_and_skipped(tmp_path) -> None:
    fake_distribution(tmp_path, "pgzoo-broken", {"broken_plugin": BROKEN}, {"broken": "broken_plugin"})
    res = run_cli("list", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert {a["name"] for a in data["algorithms"]} >= {"reinforce", "reinforce-baseline", "actor-critic"}
    [err] = data["errors"]
    assert err["dist"] == "pgzoo-broken" and err["stage"] == "import"
    assert "missing_dependency" in err["error"]
    warning = [line for line in res.stderr.splitlines() if "pgzoo-broken" in line]
    assert len(warning) == 1 and "Traceback" not in res.stderr
    # other commands keep working
    assert run_cli("verify", "reinforce", env={"PYTHONPATH": str(tmp_path)}).returncode == 0
    text = run_cli("list", env={"PYTHONPATH": str(tmp_path)}).stdout
    assert "failed to load" in text and "missing_dependency" in text


def test_strict_mode_raises(tmp_path) -> None:
    fake_distribution(tmp_path, "pgzoo-broken", {"broken_plugin": BROKEN}, {"broken": "broken_plugin"})
    res = run_cli("list", env={"PYTHONPATH": str(tmp_path), "PGZOO_STRICT_PLUGINS": "1"})
    assert res.returncode != 0
    assert "pgzoo-broken" in res.stderr and "missing_dependency" in res.stderr


def test_plugin_that_fails_to_register_is_skipped(tmp_path) -> None:
    fake_distribution(tmp_path, "pgzoo-badreg", {"badreg": FAILS_TO_REGISTER}, {"badreg": "badreg"})
    data = json.loads(run_cli("list", "--json", env={"PYTHONPATH": str(tmp_path)}).stdout)
    [err] = data["errors"]
    assert err["dist"] == "pgzoo-badreg" and "bad registration" in err["error"]
    assert len(data["algorithms"]) >= 3


def test_duplicate_algorithm_names_are_a_clear_error(tmp_path) -> None:
    fake_distribution(tmp_path, "pgzoo-imposter", {"imposter": IMPOSTER}, {"imposter": "imposter"})
    env = {"PYTHONPATH": str(tmp_path)}
    data = json.loads(run_cli("list", "--json", env=env).stdout)
    assert set(data["conflicts"]["reinforce"]) == {"pgzoo-reinforce 0.1.0", "pgzoo-imposter 1.0"}
    res = run_cli("train", "reinforce", "--env", "ShortCorridor-v0", "--episodes", "1", env=env)
    assert res.returncode == 2
    assert "pgzoo-reinforce" in res.stderr and "pgzoo-imposter" in res.stderr and "Traceback" not in res.stderr
    # the other algorithms are untouched
    assert run_cli("verify", "actor-critic", env=env).returncode == 0


def test_list_json_shows_algorithms_with_their_distributions() -> None:
    data = json.loads(run_cli("list", "--json").stdout)
    algos = {a["name"]: a for a in data["algorithms"]}
    assert algos["reinforce"]["section"] == "13.3" and algos["reinforce"]["dist"] == "pgzoo-reinforce"
    assert algos["reinforce-baseline"]["section"] == "13.4"
    assert algos["reinforce-baseline"]["dist"] == "pgzoo-reinforce-baseline"
    assert algos["actor-critic"]["section"] == "13.5" and algos["actor-critic"]["dist"] == "pgzoo-actor-critic"
    assert all(a["action_spaces"] for a in algos.values())
    assert "ShortCorridor-v0" in {e["id"] for e in data["envs"]}
    assert data["errors"] == []

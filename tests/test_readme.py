"""The README's code runs and its error example is what the CLI prints."""

import re
from pathlib import Path

from pgzoo.testing import run_cli

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_own_loop_example_runs() -> None:
    [code] = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    namespace: dict = {}
    assert "range(5000)" in code
    exec(compile(code.replace("range(5000)", "range(300)"), "README.md", "exec"), namespace)
    assert set(namespace["terms"]) >= {"loss_policy", "loss_value"}


def test_error_example_is_verbatim() -> None:
    [block] = re.findall(r"```text\n\$ pgzoo (.*?)\n(.*?)\n```", README, flags=re.S)
    args, expected = block
    res = run_cli(*args.split())
    assert res.returncode == 2 and res.stderr.strip() == expected.strip()

"""``pgzoo new-plugin NAME``: write a working plugin skeleton from the templates."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from pgzoo.errors import UsageError
from pgzoo.userfiles import writable_folder

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def plugin_names(name: str) -> dict[str, str]:
    """Distribution, package and class names derived from an algorithm name like ``my-algo``."""
    if not NAME_PATTERN.match(name):
        raise UsageError(f"plugin name '{name}' must be lower-case letters, digits and single dashes (e.g. my-algo)")
    words = name.split("-")
    return {
        "name": name,
        "dist": f"pgzoo-{name}",
        "package": f"pgzoo_{name.replace('-', '_')}",
        "cls": "".join(w.capitalize() for w in words),
        "title": " ".join(words).capitalize(),
    }


TEMPLATES = ("episodic", "critic")
"""``episodic``: a Monte-Carlo policy gradient updating on whole episodes (REINFORCE-like);
``critic``: an actor–critic with v̂ updating on n-step segments."""


def new_plugin(name: str, directory: Path, template: str = "episodic") -> Path:
    """Write ``directory/pgzoo-NAME/`` (pyproject with entry point, algorithm, tests) from
    ``template`` (one of :data:`TEMPLATES`); return it. Raises :class:`UsageError` for a bad
    name or template, or an existing folder."""
    if template not in TEMPLATES:
        raise UsageError(f"unknown template '{template}' (choose from {', '.join(TEMPLATES)})")
    names = plugin_names(name)
    writable_folder(directory, "--dir folder")
    root = directory / names["dist"]
    if root.exists():
        raise UsageError(f"{root} already exists")
    templates = resources.files("pgzoo") / "templates" / "plugin"
    outputs = {
        "pyproject.toml.tmpl": "pyproject.toml",
        "README.md.tmpl": "README.md",
        f"package/{template}.py.tmpl": f"{names['package']}/__init__.py",
        "tests/test_plugin.py.tmpl": f"tests/test_{names['package']}.py",
    }
    for src, dst in outputs.items():
        text = Template(templates.joinpath(src).read_text()).substitute(names)
        path = root / dst
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root

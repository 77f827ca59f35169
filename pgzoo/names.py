"""Names pgzoo derives from environment ids, algorithm names and labels: for files and folders
(:func:`safe_name`, the one place that makes them) and for Markdown tables (:func:`md_cell`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(text: str) -> str:
    """``text`` as one file or folder name, the same on every system: each character other than
    an ASCII letter, digit, ``_``, ``.`` or ``-`` becomes ``_`` (``nsenvs:myns/Five-v0`` →
    ``nsenvs_myns_Five-v0``); never empty, ``.`` or ``..`` (those become ``_``, ``_``, ``__``)."""
    name = _UNSAFE.sub("_", text)
    return name if name.strip(".") else "_" * max(1, len(name))


def run_name(algorithm: str, env_id: str, seed: int) -> str:
    """The name of a run's folder, ``ALGO-ENV-sSEED`` made safe (:func:`safe_name`): the default
    run directory of ``pgzoo train`` and the TensorBoard folder of a bench run."""
    return safe_name(f"{algorithm}-{env_id}-s{seed}")


def tensorboard_name(algorithm: str, run_dir: str | Path) -> str:
    """The TensorBoard folder of a ``pgzoo train`` run: its run directory's name, which starts
    with the algorithm (``ALGO-`` is put in front of a name that does not), so that two
    algorithms' runs never share one TensorBoard run."""
    name, algo = safe_name(Path(run_dir).resolve().name), safe_name(algorithm)
    return name if name.startswith(f"{algo}-") else f"{algo}-{name}"


def md_cell(value: Any) -> str:
    """``value`` as the text of one Markdown table cell: ``|`` escaped (and backslashes, so that
    an escape stays one), line breaks as spaces, so that a row keeps its columns."""
    return " ".join(str(value).replace("\\", "\\\\").replace("|", "\\|").splitlines())


def md_row(cells: list[Any]) -> str:
    """One Markdown table row of ``cells`` (each through :func:`md_cell`)."""
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"

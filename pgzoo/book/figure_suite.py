"""What a book figure's or example's ``suite.toml`` holds: the figure, its lines, how to read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pgzoo.config import build_config, load_toml

FIGURE_KIND = "book-figure"
EXAMPLE_KIND = "book-example"


class Line(BaseModel):
    """One curve of the figure: an algorithm with its hyperparameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    algorithm: str
    hyperparams: dict[str, Any] = Field(default_factory=dict)


class FigureSuite(BaseModel):
    """The contents of a book figure's ``suite.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(FIGURE_KIND, pattern=f"^{FIGURE_KIND}$")
    name: str
    title: str
    description: str = ""
    env: str
    runs: int = Field(100, ge=1)
    episodes: int = Field(1000, ge=1)
    max_episode_steps: int = Field(1000, ge=1, description="cap on episode length, stated in the table")
    reference: float | None = Field(None, description="dashed line (e.g. v*(s0))")
    reference_label: str = ""
    windows: list[tuple[int, int]] = Field(default_factory=list, description="episode ranges (inclusive) for the table")
    p_after: list[int] = Field(default_factory=list, description="episodes after which to report p(right)")
    population: bool = Field(True, description="train the runs of a line as one population")
    lines: list[Line] = Field(min_length=1)


def load_suite(folder: str | Path) -> FigureSuite:
    """Read and validate ``folder/suite.toml`` (a :class:`FigureSuite`)."""
    return build_config(FigureSuite, load_toml(Path(folder) / "suite.toml"), f"{folder}/suite.toml")


def is_book_suite(folder: str | Path) -> bool:
    """Whether ``folder`` holds a book figure or example (rather than a leaderboard suite)."""
    path = Path(folder) / "suite.toml"
    return path.is_file() and load_toml(path).get("kind") in (FIGURE_KIND, EXAMPLE_KIND)

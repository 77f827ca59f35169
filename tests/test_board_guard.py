"""The CI guard: every committed board's cheapest line with a recorded recipe comes back bit for bit
from the code in this tree, so a change that alters a board's numbers fails here until the board is
retrained in the same change (README, "Contributing"). Boards whose lines record no recipe (trained
before pgzoo recorded provenance) are skipped, saying so."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgzoo.testing import assert_board_reproduces

ROOT = Path(__file__).resolve().parents[1] / "leaderboards"
BOARDS = sorted(p.parent for p in ROOT.rglob("results.jsonl"))


def test_there_are_boards() -> None:
    assert {p.name for p in BOARDS} >= {"classic-control", "continuous-control", "tuning-acrobot", "compare"}


@pytest.mark.parametrize("board", BOARDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_board_reproduces(board: Path) -> None:
    assert_board_reproduces(board)

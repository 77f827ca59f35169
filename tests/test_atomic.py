"""Atomic writes: concurrent writers of one target, failures mid-write, permissions."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from pgzoo import atomic


def test_concurrent_writers_of_one_file_never_collide(tmp_path: Path) -> None:
    # two `pgzoo tune` processes sharing a study write the same report.md and importances.png;
    # with one fixed temporary name, one writer renamed the other's temporary file away
    target = tmp_path / "report.md"
    contents = [f"writer {i}\n" * 2000 for i in range(4)]
    errors: list[BaseException] = []

    def write(text: str) -> None:
        try:
            for _ in range(200):
                atomic.write_text(target, text)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(c,)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_text() in contents  # one writer's whole file, never a mix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]  # no temporary file left


def test_a_failing_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.replacing(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_the_temporary_name_keeps_the_suffix_writers_choose_formats_by(tmp_path: Path) -> None:
    with atomic.replacing(tmp_path / "curves.png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".png") and tmp.name.startswith(".curves.png.")
        tmp.write_bytes(b"x")
    with atomic.replacing(tmp_path / "video", suffix=".mp4") as tmp:
        assert tmp.name.endswith(".mp4")
        tmp.write_bytes(b"x")
    assert (tmp_path / "video").read_bytes() == b"x"


def test_written_files_honour_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic.write_text(tmp_path / "summary.json", "{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644

"""Session-wide settings of the test suite: compiled artefacts go to a temporary cache dir."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _temporary_compile_cache(tmp_path_factory: pytest.TempPathFactory):
    """Never write torch.compile's caches into the user's cache directory from the tests."""
    cache = tmp_path_factory.mktemp("pgzoo-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGZOO_CACHE_DIR", str(cache))
        mp.setenv("TORCHINDUCTOR_CACHE_DIR", str(cache / "inductor"))
        yield cache

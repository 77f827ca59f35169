"""``pgzoo bench``: suites of (algorithm, environment, seed) runs, their results and leaderboards.

A suite is a folder with a ``suite.toml`` (:mod:`pgzoo.bench.suite`). :mod:`pgzoo.bench.runner`
trains the grid on an executor (:mod:`pgzoo.bench.executors`), appending each finished run to
``results.jsonl`` (:mod:`pgzoo.bench.results`); :mod:`pgzoo.bench.render` turns the results into
``leaderboard.md``, ``leaderboard.json`` and ``curves.png`` with :mod:`pgzoo.bench.stats`.
"""

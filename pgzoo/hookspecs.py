"""The hooks a pgzoo plugin can implement.

A plugin is a module listed under the ``pgzoo`` entry-point group of its distribution::

    [project.entry-points.pgzoo]
    my-algo = "pgzoo_my_algo"

and implements one or more of the hooks below, marked with :data:`pgzoo.hookimpl`. Every
hook receives a ``register`` callback; a plugin calls it once per thing it provides. The
core itself registers no algorithm: every algorithm, built in or third party, arrives
through these hooks, and a plugin that fails to import or to register is skipped with a
warning (``PGZOO_STRICT_PLUGINS=1`` makes that an error).
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("pgzoo")
hookimpl = pluggy.HookimplMarker("pgzoo")


@hookspec
def register_algorithms(register: Callable[[type], None]) -> None:
    """Register algorithms.

    Call ``register(AlgorithmClass)`` once per :class:`pgzoo.Algorithm` subclass. The class's
    ``name`` is what users type (``pgzoo train NAME``); it must be unique over all installed
    plugins: two distributions registering the same name are reported as a conflict naming
    both, and that name cannot be used until one is uninstalled.

    :param register: callback taking an ``Algorithm`` subclass.
    """


@hookspec
def register_envs(register: Callable[..., None]) -> None:
    """Register gymnasium environments.

    Call ``register(id, entry_point, **kwargs)`` with the arguments of
    ``gymnasium.register``; once plugins are loaded, ``gymnasium.make(id)`` works. An
    environment may offer its own state-action features for linear policies through a
    ``state_action_features()`` method of its unwrapped class, returning a
    :class:`pgzoo.features.StateActionFeatures` module.

    :param register: callback with the signature of ``gymnasium.register``.
    """


@hookspec
def register_baselines(register: Callable[[type], None]) -> None:
    """Register baseline trainers from other libraries (e.g. Stable-Baselines3).

    Call ``register(BaselineClass)``; a baseline has a ``name`` and trains on an environment
    under the same budget, seeds and evaluation protocol as pgzoo's algorithms.

    :param register: callback taking a baseline class.
    """



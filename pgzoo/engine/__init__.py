"""The training engine: schedules, collection of rollouts, the update step, trainer and population.

Collection is the engine's, the update is the algorithm's: an algorithm declares the
schedules it supports (:mod:`pgzoo.engine.schedules`), the engine steps the environments and
cuts experience into rollouts (:mod:`pgzoo.engine.collector`), and hands each rollout to the
algorithm's ``prepare`` → ``update_batches`` → loss → optimiser step
(:mod:`pgzoo.engine.update`).
"""

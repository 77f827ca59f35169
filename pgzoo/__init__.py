"""pgzoo: the policy-gradient algorithms of Sutton & Barto, chapter 13, as PyTorch losses.

Core interfaces: :class:`Policy`, :class:`Rollout`, :class:`SurrogateLoss`, and the
:class:`Algorithm` base class that plugins subclass. Algorithms themselves live in plugins.
"""

from pgzoo.algorithm import Agent, Algorithm, MonteCarloAlgorithm
from pgzoo.config import AlgorithmConfig, CriticConfig, MonteCarloConfig, tunable
from pgzoo.engine.trainer import Trainer, train
from pgzoo.hookspecs import hookimpl
from pgzoo.losses import LossTerms, SurrogateLoss, direction_loss, entropy_bonus, surrogate, total_loss
from pgzoo.policies import LinearSoftmaxPolicy, MLPCategoricalPolicy, Policy
from pgzoo.registry import get_algorithm, get_registry
from pgzoo.rollout import Rollout
from pgzoo.spaces import EnvSpec
from pgzoo.values import LinearValue, MLPValue, ScalarValue, ValueFunction

__version__ = "0.1.0"

__all__ = [
    "Agent", "Algorithm", "AlgorithmConfig", "CriticConfig", "EnvSpec", "LinearSoftmaxPolicy",
    "LinearValue", "LossTerms", "MLPCategoricalPolicy", "MLPValue", "MonteCarloAlgorithm",
    "MonteCarloConfig", "Policy", "Rollout", "ScalarValue", "SurrogateLoss", "Trainer",
    "ValueFunction", "direction_loss", "entropy_bonus", "get_algorithm", "get_registry",
    "hookimpl", "surrogate", "total_loss", "train", "tunable",
]

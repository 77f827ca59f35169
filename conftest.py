"""Test-session setup: one torch thread, as pgzoo's CLI and bench workers use.

Tiny RL models gain nothing from intra-op threads, and on a busy 2-core machine the thread
hand-offs cost milliseconds per operation.
"""

import torch

torch.set_num_threads(1)

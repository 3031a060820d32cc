"""Training: the engine (the loop, precision, clipping, accumulation), callbacks, schedules, the
learning-rate finder, streaming metrics, checkpoints and training plots.

The engine imports no model family: a model brings its own ``train_step``. A distributed strategy
plugs in here, beside the engine.
"""

from lamina.train import ranking as _ranking  # noqa: F401  (registers the ranking metrics)
from lamina.train.engine import (
    PRECISIONS,
    Engine,
    RunningMean,
    batch_rows,
    progress_callbacks,
    seed_everything,
)

__all__ = [
    "Engine",
    "PRECISIONS",
    "RunningMean",
    "batch_rows",
    "progress_callbacks",
    "seed_everything",
]

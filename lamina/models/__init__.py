"""Model classes: ``Model`` (wrap or subclass any module) and ``Sequential``.

Architecture families (MLP, CNN, RNN, ...) live here, one per file.
"""

from lamina.models.base import Model
from lamina.models.cnn import CNN
from lamina.models.mlp import MLP
from lamina.models.perceptron import Perceptron
from lamina.models.sequential import Sequential

__all__ = ["CNN", "MLP", "Model", "Perceptron", "Sequential"]

"""Model classes: ``Model`` (wrap or subclass any module) and ``Sequential``.

Architecture families (MLP, CNN, RNN, ...) live here, one per file.
"""

from lamina.models.base import Model
from lamina.models.sequential import Sequential

__all__ = ["Model", "Sequential"]

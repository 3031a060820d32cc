"""The version of lamina, in one place (the package, saved models and the server report it)."""

__version__ = "0.1.0"

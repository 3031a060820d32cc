"""Errors, configuration, the catalogue of names (losses, metrics, layers, ...), the version, page helpers."""

"""Errors, configuration, the catalogue of names (losses, metrics, layers, ...), version, pages."""

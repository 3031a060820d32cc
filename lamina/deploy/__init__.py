"""Serving a model over HTTP, the prediction log and the model store (versions and aliases)."""

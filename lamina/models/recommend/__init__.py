"""Recommenders learned from implicit feedback: the shared id-level API (``RecommenderMixin``)."""

from lamina.models.recommend.base import RecommenderMixin, UnknownIdError

__all__ = ["RecommenderMixin", "UnknownIdError"]

"""Recommenders learned from implicit feedback: the shared id-level API (``RecommenderMixin``)
and the network recommenders ``MatrixFactorization`` (BPR), ``TwoTower`` (side features, in-batch
softmax), ``SASRec`` (self-attention over the purchase sequence) and ``GRU4Rec`` (its recurrent
variant)."""

from lamina.models.recommend.base import RecommenderMixin, UnknownIdError
from lamina.models.recommend.mf import MatrixFactorization
from lamina.models.recommend.sequential import GRU4Rec, SASRec
from lamina.models.recommend.two_tower import TwoTower

__all__ = [
    "GRU4Rec",
    "MatrixFactorization",
    "RecommenderMixin",
    "SASRec",
    "TwoTower",
    "UnknownIdError",
]

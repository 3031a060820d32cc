"""Model classes: ``Model`` (wrap or subclass any module), ``Sequential`` and the architecture
families.

One family per file. Supervised: ``Perceptron``, ``MLP`` (with a tabular mode), ``CNN``, ``RNN``,
``Seq2Seq``, ``Transformer`` and ``TransformerLM``, ``RecursiveNet``, and the graph networks
``GCN``, ``GAT`` and ``GraphSAGE`` (these need ``torch_geometric``:
``pip install "lamina[graph]"``). Unsupervised and generative: ``Autoencoder`` (seven kinds),
``VAE``, ``GAN``, ``RBM`` and ``DBN``, and ``Word2Vec``. Recommenders from implicit feedback
(``lamina.models.recommend``): ``MatrixFactorization`` (BPR), ``TwoTower``, ``SASRec`` and
``GRU4Rec``. Every model also has the transfer-learning methods ``freeze``, ``unfreeze``,
``replace_head`` and ``fine_tune``.
"""

from typing import Any

from lamina.models.autoencoder import Autoencoder
from lamina.models.base import Model
from lamina.models.cnn import CNN
from lamina.models.dbn import DBN, RBM
from lamina.models.gan import GAN
from lamina.models.gnn import GAT, GCN, GraphSAGE
from lamina.models.mlp import MLP
from lamina.models.perceptron import Perceptron
from lamina.models.recursive import RecursiveNet
from lamina.models.rnn import RNN
from lamina.models.seq2seq import Seq2Seq
from lamina.models.sequential import Sequential
from lamina.models.transformer import Transformer, TransformerLM
from lamina.models.vae import VAE
from lamina.models.word2vec import Word2Vec

__all__ = [
    "Autoencoder",
    "CNN",
    "DBN",
    "GAN",
    "GAT",
    "GCN",
    "GRU4Rec",
    "GraphSAGE",
    "MLP",
    "MatrixFactorization",
    "Model",
    "Perceptron",
    "RBM",
    "RNN",
    "RecursiveNet",
    "SASRec",
    "Seq2Seq",
    "Sequential",
    "Transformer",
    "TransformerLM",
    "TwoTower",
    "VAE",
    "Word2Vec",
]

_RECOMMENDERS = ("GRU4Rec", "MatrixFactorization", "SASRec", "TwoTower")


def __getattr__(name: str) -> Any:
    """The recommenders load on first use (they need pandas; ``import lamina`` does not)."""
    if name in _RECOMMENDERS:
        from lamina.models import recommend

        value = getattr(recommend, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lamina.models' has no attribute {name!r}")

"""One set of constructor names across the families; a retired spelling names its replacement."""

import pytest

import lamina


@pytest.mark.parametrize(
    "make,old,new",
    [
        (lambda: lamina.models.Transformer(dim=16), "dim", "embedding_dim"),
        (lambda: lamina.models.TransformerLM(dim=16), "dim", "embedding_dim"),
        (lambda: lamina.models.Word2Vec(dim=16), "dim", "embedding_dim"),
        (lambda: lamina.models.MLP(embedding_size={"city": 3}), "embedding_size", "embedding_dim"),
        (lambda: lamina.models.Seq2Seq(hidden_size=8), "hidden_size", "units"),
        (lambda: lamina.models.RecursiveNet(hidden_size=8), "hidden_size", "units"),
        (lambda: lamina.models.DBN(hidden=(8,)), "hidden", "units"),
        (lambda: lamina.models.Perceptron(num_classes=3), "num_classes", "outputs"),
    ],
)
def test_renamed_constructor_arguments_name_the_new_spelling(make, old, new):
    with pytest.raises(lamina.errors.ConfigError, match=f"`{old}` is now called `{new}`"):
        make()


def test_families_share_one_set_of_constructor_names():
    """Hidden width is `units`, output size `outputs`, vectors `embedding_dim`, heads `num_heads`."""
    import inspect

    retired = {"dim", "hidden_size", "embedding_size", "heads", "num_classes"}
    for name in (
        "CNN",
        "DBN",
        "MLP",
        "Perceptron",
        "RNN",
        "RecursiveNet",
        "Seq2Seq",
        "Transformer",
        "TransformerLM",
        "Word2Vec",
        "GCN",
        "GAT",
        "GraphSAGE",
    ):
        parameters = set(inspect.signature(getattr(lamina.models, name)).parameters)
        assert not parameters & retired, (name, parameters & retired)
    with pytest.raises(lamina.errors.ConfigError, match="unknown arguments"):
        lamina.models.MLP(unit=8)

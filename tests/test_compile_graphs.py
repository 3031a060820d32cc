"""Forward passes trace into one graph under ``torch.compile``: no host sync, no data check inside the step.

A graph break splits the compiled step and (on a GPU) usually means a device-to-host copy per batch;
data checks that need one run once, when ``fit``/``evaluate``/``predict`` receive the data.
"""

from __future__ import annotations

import pytest
import torch

from lamina.models.cnn import CNN
from lamina.models.mlp import MLP
from lamina.models.rnn import RNN
from lamina.models.transformer import TransformerLM


def _built(model, x):  # type: ignore[no-untyped-def]
    with torch.no_grad():
        model.eval()(x[:2])  # size lazy layers outside tracing
    return model.train()  # the training-mode forward is the one fit(compile=True) runs


@pytest.mark.parametrize("case", ["transformer_lm", "mlp", "cnn"])
def test_training_forward_is_one_graph(case):
    torch.manual_seed(0)
    model, x = {
        "transformer_lm": lambda: (
            TransformerLM(
                vocabulary_size=11,
                embedding_dim=16,
                num_heads=2,
                num_layers=2,
                max_length=8,
                dropout=0.1,
            ),
            torch.randint(0, 11, (4, 8)),
        ),
        "mlp": lambda: (MLP(units=(8, 8), outputs=3, dropout=0.1), torch.randn(4, 5)),
        "cnn": lambda: (CNN(filters=(4, 8), outputs=3), torch.randn(4, 1, 12, 12)),
    }[case]()
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(_built(model, x))(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_rnn_breaks_only_at_the_recurrent_layer():
    """Dynamo does not trace torch's own RNN/LSTM/GRU modules (one break there); nothing else breaks."""
    torch.manual_seed(0)
    x = torch.tensor(
        [[3, 1, 2, 0], [2, 2, 0, 0], [1, 3, 3, 1]]
    )  # padded rows: no host sync for lengths
    model = RNN(cell="gru", units=8, outputs=3, vocabulary_size=7)
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(_built(model, x))(x)
    assert explanation.graph_break_count <= 1, explanation.break_reasons
    assert all(
        "recurrent(x)" in str(reason.user_stack[-1].line) for reason in explanation.break_reasons
    )


def test_out_of_range_ids_are_refused_when_the_data_arrives():
    """The range check left the forward pass; fit/evaluate/predict still refuse bad ids by name."""
    from lamina.errors import DataError

    x, y = torch.randint(0, 8, (6, 4)), torch.randint(0, 8, (6, 4))
    model = TransformerLM(
        vocabulary_size=8, embedding_dim=8, num_heads=2, num_layers=1, max_length=4
    )
    model.compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(DataError, match=r"ids from 0 to 9.*vocabulary_size=10") as caught:
        model.fit(torch.cat([x, torch.tensor([[9, 1, 2, 3]])]), torch.cat([y, y[:1]]), verbose=0)
    assert not any(
        entry.name == "forward" for entry in caught.traceback
    )  # refused before the first step
    model.fit(x, y, verbose=0)
    with pytest.raises(DataError, match="ids from -1 to"):
        model.predict(torch.tensor([[-1, 2, 3, 4]]))
    with pytest.raises(DataError, match="ids from 2 to 8"):
        model.evaluate(torch.tensor([[8, 2, 3, 4]]), y[:1])
    rnn = RNN(units=4, outputs=2, vocabulary_size=5).compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(DataError, match="ids from 1 to 6"):
        rnn.fit(torch.tensor([[1, 6], [2, 3]]), torch.tensor([0, 1]), verbose=0)

"""The modules split out of Seq2Seq and Autoencoder: old paths still work, and their helpers."""

import numpy as np
import pytest
import torch
from lamina.errors import ShapeError

import lamina.models.autoencoder as autoencoder
import lamina.models.seq2seq as seq2seq
from lamina.models.autoencoder_layers import make_layers
from lamina.models.autoencoder_plots import as_image
from lamina.models.seq2seq_attention import attend
from lamina.models.seq2seq_decoding import allowed


def test_old_paths_name_the_same_objects():
    for name in seq2seq.__all__:
        assert hasattr(seq2seq, name), name
    for name in autoencoder.__all__:
        assert hasattr(autoencoder, name), name
    assert (seq2seq.PAD, seq2seq.BOS, seq2seq.EOS) == (0, 1, 2)
    assert hasattr(seq2seq.Seq2Seq, "decode") and hasattr(seq2seq.Seq2Seq, "plot_attention")
    assert hasattr(autoencoder.Autoencoder, "plot_latent")


def test_attend_gives_padded_steps_no_weight():
    scores = torch.tensor([[[5.0, 1.0, 9.0]]])  # (N=1, Q=1, T_in=3); the padded step scores most
    keys = torch.eye(3)[None]  # (1, 3, 3)
    context, weights = attend(scores, keys, torch.tensor([[True, True, False]]))
    assert weights[0, 0, 2] == 0.0
    assert torch.allclose(weights.sum(-1), torch.ones(1, 1))
    assert torch.allclose(context, weights)  # identity keys: the context is the weights


def test_allowed_rules_out_pad_and_bos_only():
    logits = allowed(torch.zeros(2, 5))
    assert torch.isinf(logits[:, :2]).all() and (logits[:, 2:] == 0).all()


@pytest.mark.parametrize(
    "kind, shape",
    [("deep", (2, 4, 4)), ("convolutional", (2, 1, 9, 7)), ("recurrent", (2, 5, 3))],
)
def test_make_layers_rebuilds_the_input_shape(kind, shape):
    x = torch.ones(shape)
    encoder, decoder = make_layers(x, kind, code_size=3, units=(6,), filters=(2, 4))
    code = encoder(x)
    assert code.shape == (2, 3)
    assert decoder(code).reshape(shape).shape == shape


def test_make_layers_refuses_the_wrong_rank():
    with pytest.raises(ShapeError, match="wrong rank"):
        make_layers(torch.ones(2, 6), "convolutional", code_size=3, units=())


def test_as_image_reads_images_and_leaves_sequences():
    assert as_image(np.zeros((1, 5, 6))).shape == (5, 6)
    assert as_image(np.zeros((3, 4, 4))).shape == (4, 4, 3)
    assert as_image(np.zeros(25)).shape == (5, 5)
    assert as_image(np.zeros(10)) is None

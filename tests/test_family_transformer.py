"""Transformer and TransformerLM: the model contract, an attention oracle, causality, padding, generate, bad input."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lamina.errors import ConfigError, DataError, ShapeError
from lamina.sequences import pad_sequences, windows

import lamina
from lamina.models.transformer import (
    SelfAttention,
    Transformer,
    TransformerLM,
    sinusoidal_positions,
)


@pytest.fixture
def token_rows():
    """Padded id rows (vocabulary 12, lengths 3..8); the label says whether id 7 occurs: learnable."""
    rng = np.random.default_rng(0)
    rows = [rng.integers(1, 12, size=rng.integers(3, 9)) for _ in range(64)]
    labels = np.array([int(7 in row) for row in rows])
    return pad_sequences(rows, maxlen=8), labels


@pytest.fixture
def lm_windows():
    """Next-token windows of a repeating 6-id pattern (vocabulary 8)."""
    return windows(np.tile([1, 2, 3, 4, 5, 6], 60), 12, stride=3)


def tiny_lm(**kwargs):
    return TransformerLM(
        **{
            "vocabulary_size": 8,
            "embedding_dim": 16,
            "num_heads": 2,
            "num_layers": 2,
            "max_length": 12,
            **kwargs,
        }
    )


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("pooling,positions", [("mean", "learned"), ("cls", "sinusoidal")])
def test_check_model_classifier_on_ids(token_rows, pooling, positions):
    model = Transformer(
        vocabulary_size=12,
        outputs=2,
        embedding_dim=16,
        num_heads=2,
        num_layers=1,
        max_length=8,
        pooling=pooling,
        positions=positions,
    )
    report = lamina.testing.check_model(model, *token_rows, epochs=10)
    assert report["output_shape"] == (64, 2)


def test_check_model_classifier_on_float_sequences():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 6, 3)).astype(np.float32)
    y = (x[:, :, 0].mean(1) > 0).astype(np.int64)
    model = Transformer(outputs=2, embedding_dim=8, num_heads=2, num_layers=1)
    report = lamina.testing.check_model(model, x, y, epochs=10)
    assert report["output_shape"] == (48, 2)


def test_check_model_language_model(lm_windows):
    report = lamina.testing.check_model(tiny_lm(dropout=0.1), *lm_windows, epochs=5)
    assert report["output_shape"] == (len(lm_windows[0]), 12, 8)
    dim, vocabulary, length = 16, 8, 12
    block = (
        2 * dim
        + (dim * 3 * dim + 3 * dim)
        + (dim * dim + dim)
        + 2 * dim
        + (dim * 4 * dim + 4 * dim)
        + (4 * dim * dim + dim)
    )
    assert (
        report["parameters"] == vocabulary * dim + length * dim + 2 * block + 2 * dim
    )  # output layer tied


def test_forward_shapes():
    classifier = Transformer(vocabulary_size=20, outputs=5, embedding_dim=8, num_heads=2)
    assert classifier(torch.randint(0, 20, (3, 7))).shape == (3, 5)
    assert Transformer(outputs=3, embedding_dim=8, num_heads=4, pooling="cls")(
        torch.rand(2, 4, 6)
    ).shape == (2, 3)
    assert tiny_lm()(torch.randint(0, 8, (4, 12))).shape == (4, 12, 8)
    assert tiny_lm()(torch.randint(0, 8, (4, 1))).shape == (4, 1, 8)
    assert SelfAttention(12, 3)(torch.rand(2, 5, 12)).shape == (2, 5, 12)


def test_attention_goes_through_sdpa(monkeypatch):
    calls = []
    original = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    tiny_lm()(torch.randint(0, 8, (2, 5)))
    assert len(calls) == 2 and all(c["is_causal"] and c["attn_mask"] is None for c in calls)
    calls.clear()
    Transformer(vocabulary_size=9, embedding_dim=8, num_heads=2, num_layers=1)(
        torch.tensor([[3, 4, 0]])
    )
    assert (
        len(calls) == 1
        and not calls[0]["is_causal"]
        and calls[0]["attn_mask"].tolist() == [[[[1, 1, 0]]]]
    )


# ------------------------------------------------------------------ attention oracle
def _by_hand(x, weight, bias, out_weight, out_bias, heads, causal, keep=None):
    batch, steps, dim = x.shape
    size = dim // heads
    q, k, v = (x @ weight.T + bias).split(dim, -1)
    q, k, v = (t.reshape(batch, steps, heads, size).permute(0, 2, 1, 3) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(size)  # (N, heads, T, T)
    allowed = torch.ones(steps, steps, dtype=torch.bool)
    if causal:
        allowed = allowed.tril()
    allowed = allowed & (
        torch.ones(batch, 1, 1, steps, dtype=torch.bool) if keep is None else keep[:, None, None]
    )
    y = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v
    return y.permute(0, 2, 1, 3).reshape(batch, steps, dim) @ out_weight.T + out_bias


@pytest.mark.parametrize("causal", [True, False])
def test_attention_matches_hand_computation(causal):
    torch.manual_seed(0)
    attention = SelfAttention(embedding_dim=8, num_heads=2, causal=causal)
    weight, bias = torch.randn(24, 8), torch.randn(24)
    out_weight, out_bias = torch.randn(8, 8), torch.randn(8)
    with torch.no_grad():
        attention.qkv.weight.copy_(weight), attention.qkv.bias.copy_(bias)
        attention.out.weight.copy_(out_weight), attention.out.bias.copy_(out_bias)
    x = torch.randn(3, 5, 8)
    torch.testing.assert_close(
        attention(x), _by_hand(x, weight, bias, out_weight, out_bias, 2, causal)
    )
    keep = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 1, 1, 0]], dtype=torch.bool)
    if not causal:
        torch.testing.assert_close(
            attention(x, keep), _by_hand(x, weight, bias, out_weight, out_bias, 2, False, keep)
        )


def test_sinusoidal_positions_formula():
    table = sinusoidal_positions(10, 6)
    position, feature = 7, 2  # an even feature: sin(position / 10000^(feature / dim))
    assert table.shape == (10, 6)
    assert table[position, feature].item() == pytest.approx(
        math.sin(position / 10000 ** (feature / 6)), abs=1e-6
    )
    assert table[position, feature + 1].item() == pytest.approx(
        math.cos(position / 10000 ** (feature / 6)), abs=1e-6
    )


# ------------------------------------------------------------------ causality and padding
def test_future_tokens_do_not_change_earlier_logits():
    model = tiny_lm().eval()
    x = torch.randint(1, 8, (2, 10))
    changed = x.clone()
    changed[:, 6:] = (changed[:, 6:] + 3) % 8
    before, after = model(x), model(changed)
    torch.testing.assert_close(before[:, :6], after[:, :6])
    assert not torch.allclose(before[:, 6:], after[:, 6:])


@pytest.mark.parametrize(
    "pooling,positions", [("mean", "learned"), ("cls", "learned"), ("mean", "sinusoidal")]
)
def test_extra_padding_leaves_the_classifier_output_unchanged(pooling, positions):
    torch.manual_seed(0)
    model = Transformer(
        vocabulary_size=10,
        outputs=3,
        embedding_dim=16,
        num_heads=4,
        num_layers=2,
        max_length=12,
        pooling=pooling,
        positions=positions,
    ).eval()
    x = torch.tensor([[4, 2, 9, 1], [5, 3, 0, 0]])
    padded = torch.cat([x, torch.zeros(2, 5, dtype=torch.long)], dim=1)  # (2, 9)
    torch.testing.assert_close(model(padded), model(x))
    torch.testing.assert_close(model(x[1:, :2]), model(x)[1:])  # the row alone, unpadded
    assert (
        model(torch.zeros(1, 4, dtype=torch.long)).isfinite().all()
    )  # an all-padding row is no NaN


def test_trailing_zero_steps_are_padding_for_float_sequences():
    torch.manual_seed(0)
    model = Transformer(outputs=2, embedding_dim=8, num_heads=2, num_layers=1).eval()
    x = torch.rand(2, 3, 4)
    model(x)  # builds the lazy input projection
    torch.testing.assert_close(model(torch.cat([x, torch.zeros(2, 4, 4)], dim=1)), model(x))


# ------------------------------------------------------------------ training and generation
def test_loss_falls_and_the_pattern_is_learned(lm_windows):
    x, y = lm_windows
    model = tiny_lm().compile(
        optimizer="adamw", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-2
    )
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9  # metrics see every position
    assert model.generate([1, 2, 3], max_new_tokens=6, top_k=1).tolist() == [
        1,
        2,
        3,
        4,
        5,
        6,
        1,
        2,
        3,
    ]


def test_compute_loss_is_the_mean_over_every_position():
    model = tiny_lm().compile(optimizer="adam", loss="cross_entropy")
    logits, targets = torch.randn(3, 5, 8), torch.randint(0, 8, (3, 5))
    expected = F.cross_entropy(logits.reshape(15, 8), targets.reshape(15))
    torch.testing.assert_close(model.compute_loss(logits, targets), expected)
    weights = torch.tensor([1.0, 0.0, 2.0])
    per_row = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").mean(1)  # (3,)
    torch.testing.assert_close(
        model.compute_loss(logits, targets, weights), (per_row * weights).sum() / 3
    )


def test_generate_shapes_greedy_and_seed():
    torch.manual_seed(0)
    model = tiny_lm()
    assert model.generate(np.array([1, 2]), max_new_tokens=5).shape == (7,)
    assert model.generate(torch.tensor([[1, 2], [3, 4], [5, 6]]), max_new_tokens=4).shape == (3, 6)
    assert model.generate([3], max_new_tokens=0).tolist() == [3]
    greedy, ids = model.generate([[1, 2, 3]], max_new_tokens=5, top_k=1), torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        for _ in range(5):
            ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert greedy.tolist() == ids.tolist()
    state = torch.get_rng_state()
    first = model.generate([1, 2], max_new_tokens=20, temperature=2.0, top_k=5, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # a seeded call leaves the global RNG alone
    np.testing.assert_array_equal(
        first, model.generate([1, 2], max_new_tokens=20, temperature=2.0, top_k=5, seed=7)
    )
    assert not np.array_equal(
        first, model.generate([1, 2], max_new_tokens=20, temperature=2.0, top_k=5, seed=8)
    )
    assert model.training  # generate restores the mode it found


def test_save_load_round_trip(tmp_path, lm_windows, token_rows):
    x, y = lm_windows
    model = tiny_lm().compile(optimizer="adamw", loss="cross_entropy", learning_rate=1e-2)
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    reloaded = lamina.load(model.save(str(tmp_path / "lm")))
    assert type(reloaded) is TransformerLM and reloaded.get_params() == model.get_params()
    np.testing.assert_array_equal(
        reloaded.predict(x[:, :5]), model.predict(x[:, :5])
    )  # any length T
    np.testing.assert_array_equal(
        reloaded.generate([1, 2], 8, seed=0), model.generate([1, 2], 8, seed=0)
    )
    classifier = Transformer(
        vocabulary_size=12, embedding_dim=8, num_heads=2, pooling="cls", positions="sinusoidal"
    )
    classifier.compile(optimizer="adam", loss="cross_entropy").fit(
        *token_rows, epochs=1, verbose=0, seed=0
    )
    again = lamina.load(classifier.save(str(tmp_path / "classifier")))
    np.testing.assert_array_equal(
        again.predict(token_rows[0][:, :5]), classifier.predict(token_rows[0][:, :5])
    )


# ------------------------------------------------------------------ bad input
def test_a_prompt_longer_than_max_length_is_cropped_not_refused():
    model = tiny_lm(max_length=4)
    prompt = [1, 2, 3, 4, 5, 6, 7, 1, 2]
    out = model.generate(prompt, max_new_tokens=3, top_k=1)
    assert out.shape == (12,) and out[:9].tolist() == prompt
    with torch.no_grad():
        expected = (
            model.eval()(torch.tensor([prompt[-4:]]))[0, -1].argmax().item()
        )  # the last 4 ids only
    assert out[9] == expected


def test_token_ids_outside_the_vocabulary_are_a_clear_error(lm_windows):
    model = tiny_lm()
    with pytest.raises(DataError, match="ids from 0 to 9"):
        model(torch.tensor([[0, 9]]))
    with pytest.raises(DataError, match="outside its vocabulary"):
        model.generate([1, -1], max_new_tokens=2)
    with pytest.raises(DataError, match="vocabulary_size=8"):
        model.compile(optimizer="adam", loss="cross_entropy").fit(
            lm_windows[0] + 5, lm_windows[1], verbose=0
        )
    with pytest.raises(DataError, match="ids from 1 to 12"):
        Transformer(vocabulary_size=12)(torch.tensor([[1, 12]]))
    with pytest.raises(DataError, match="integer token ids"):
        model(torch.rand(2, 3))


def test_empty_prompt_is_a_clear_error():
    for prompt in ([], np.zeros((2, 0), dtype=np.int64)):
        with pytest.raises(DataError, match="non-empty prompt"):
            tiny_lm().generate(prompt, max_new_tokens=3)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"max_new_tokens": -1}, "max_new_tokens"),
    ],
)
def test_bad_generate_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        tiny_lm().generate([1], **{"max_new_tokens": 2, **kwargs})


def test_dim_not_divisible_by_num_heads():
    with pytest.raises(ConfigError, match=r"divisible by num_heads.*embedding_dim=10, num_heads=4"):
        TransformerLM(embedding_dim=10, num_heads=4)
    with pytest.raises(ConfigError, match="divisible"):
        Transformer(embedding_dim=30, num_heads=8)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"vocabulary_size": 1},
        {"outputs": 0},
        {"num_layers": 0},
        {"max_length": 0},
        {"dropout": 1.0},
        {"pooling": "max"},
        {"positions": "rotary"},
        {"embedding_dim": 0},
    ],
)
def test_bad_classifier_arguments(kwargs):
    with pytest.raises(ConfigError, match="Received"):
        Transformer(**kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"vocabulary_size": 0}, {"num_heads": 0}, {"dropout": -0.1}, {"max_length": 1.5}]
)
def test_bad_language_model_arguments(kwargs):
    with pytest.raises(ConfigError, match="Received"):
        TransformerLM(**kwargs)


def test_wrong_shapes_and_lengths():
    with pytest.raises(ShapeError, match=r"T=13"):
        tiny_lm()(torch.ones(1, 13, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"shape \(2, 3, 4\)"):
        tiny_lm()(torch.ones(2, 3, 4, dtype=torch.long))
    with pytest.raises(ShapeError, match="float sequences"):
        Transformer()(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match="max_length=4"):
        Transformer(vocabulary_size=5, max_length=4)(torch.ones(1, 5, dtype=torch.long))
    model = Transformer(outputs=2, embedding_dim=8, num_heads=2).compile(
        optimizer="adam", loss="cross_entropy"
    )
    model.fit(np.ones((4, 3, 2), dtype=np.float32), np.zeros(4, dtype=np.int64), verbose=0)
    assert model.predict(np.ones((2, 7, 2), dtype=np.float32)).shape == (
        2,
        2,
    )  # another length is fine
    with pytest.raises(ShapeError, match="same features"):
        model.predict(np.ones((2, 3, 5), dtype=np.float32))

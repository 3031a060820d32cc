"""Word2Vec and the word tokenizer: the model contract, pair and loss oracles, planted neighbours, bad input."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lamina.errors import ConfigError, DataError, NotBuiltError, NotCompiledError

import lamina
from lamina.data import WordVocabulary, tokenize
from lamina.models.word2vec import Word2Vec, context_windows, negative_sampling_loss, skipgram_pairs

GROUPS = {
    "animal": (["cat", "dog", "horse", "cow"], ["eats", "grass", "barn", "fur"]),
    "vehicle": (["car", "bus", "truck", "van"], ["drives", "road", "fuel", "wheels"]),
}


@pytest.fixture
def sentences():
    """Planted structure: each sentence has one member of a group amid four context words of that group."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(300):
        members, context = GROUPS[rng.choice(list(GROUPS))]
        words = [str(w) for w in rng.choice(context, 4)]
        words.insert(2, str(rng.choice(members)))
        out.append(words)
    return out


def tiny(**kwargs):
    return Word2Vec(
        **{"embedding_dim": 16, "window": 2, "min_count": 1, "subsample": 0.0, **kwargs}
    )


@pytest.fixture
def fitted(sentences):
    model = tiny().compile(learning_rate=0.03)
    model.fit(sentences, epochs=3, batch_size=64, seed=0, verbose=0)
    return model


# ------------------------------------------------------------------ tokenizer
def test_tokenize_words_and_punctuation():
    assert tokenize("O'er the hills, KING's men!") == [
        "o'er",
        "the",
        "hills",
        ",",
        "king's",
        "men",
        "!",
    ]
    assert tokenize("Good Night.", lower=False) == ["Good", "Night", "."]
    assert tokenize("   ") == []


def test_vocabulary_ids_round_trip_unk_and_json():
    vocabulary = WordVocabulary("b a b c b a d", min_count=2)
    assert vocabulary.words == ["<pad>", "<unk>", "b", "a"] and vocabulary.counts == [0, 0, 3, 2]
    assert len(vocabulary) == 4 and "a" in vocabulary and "c" not in vocabulary
    assert vocabulary.encode("A b c").tolist() == [3, 2, 1]  # lower-cased; c is below min_count
    assert vocabulary.decode([3, 2, 0, 1]) == ["a", "b", "<unk>"]  # padding dropped
    tokens = ["b", "a", "b"]
    assert vocabulary.decode(vocabulary.encode(tokens)) == tokens
    assert WordVocabulary(list("abcabcab"), max_size=2).words == ["<pad>", "<unk>", "a", "b"]
    again = WordVocabulary.from_config(json.loads(json.dumps(vocabulary.get_config())))
    assert again.words == vocabulary.words and again.counts == vocabulary.counts
    assert again.encode("a c").tolist() == [3, 1]
    assert repr(vocabulary) == "lamina.data.WordVocabulary(2 words, min_count=2)"


def test_vocabulary_errors():
    with pytest.raises(DataError, match="needs some words"):
        WordVocabulary("   ")
    with pytest.raises(ConfigError, match="min_count=0"):
        WordVocabulary("a b", min_count=0)
    with pytest.raises(ConfigError, match="max_size"):
        WordVocabulary("a b", max_size=-1)
    with pytest.raises(DataError, match=r"Ids outside the vocabulary. Received: \[7\]"):
        WordVocabulary("a b").decode([2, 7])
    with pytest.raises(DataError, match="takes a string"):
        tokenize(["a"])  # type: ignore[arg-type]


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_check_model(sentences, mode):
    model = tiny(embedding_dim=8, mode=mode)
    report = lamina.testing.check_model(
        model, sentences[:60], None, loss="negative_sampling", epochs=6
    )
    assert report["output_shape"] == (60, 8)
    assert (
        report["parameters"] == 2 * (16 + 2) * 8
    )  # input and output vectors: 16 words + <pad> + <unk>


# ------------------------------------------------------------------ oracles
def test_context_windows_and_pairs_match_hand_computation():
    windows = context_windows([[2, 3, 4, 5], [6, 7]], window=2)
    assert windows.tolist() == [
        [0, 0, 2, 3, 4],
        [0, 2, 3, 4, 5],
        [2, 3, 4, 5, 0],
        [3, 4, 5, 0, 0],
        [0, 0, 6, 7, 0],
        [0, 6, 7, 0, 0],
    ]  # the second document never sees the first
    centers, contexts = skipgram_pairs(torch.from_numpy(windows))
    hand = [
        (2, 3),
        (2, 4),
        (3, 2),
        (3, 4),
        (3, 5),
        (4, 2),
        (4, 3),
        (4, 5),
        (5, 3),
        (5, 4),
        (6, 7),
        (7, 6),
    ]
    assert list(zip(centers.tolist(), contexts.tolist())) == hand
    centers, contexts = skipgram_pairs(
        torch.from_numpy(windows), reach=torch.tensor([1, 2, 1, 1, 1, 1])
    )
    assert list(zip(centers.tolist(), contexts.tolist())) == [
        (2, 3),
        (3, 2),
        (3, 4),
        (3, 5),
        (4, 3),
        (4, 5),
        (5, 4),
        (6, 7),
        (7, 6),
    ]
    dropped = torch.tensor([[0, 2, 0, 4, 5]])  # a dropped center gives no pairs
    assert skipgram_pairs(dropped)[0].numel() == 0


def test_model_windows_drop_words_outside_the_vocabulary():
    model = tiny(min_count=2).compile()
    model.fit("a b a b c", epochs=1, verbose=0, seed=0)
    assert model.vocabulary_.words == ["<pad>", "<unk>", "a", "b"]
    assert model.windows(["a c b", "b"]).tolist() == [
        [0, 0, 2, 3, 0],
        [0, 2, 3, 0, 0],
        [0, 0, 3, 0, 0],
    ]


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_negative_sampling_loss_matches_the_formula(sentences, mode):
    model = tiny(mode=mode).compile(learning_rate=0.03)
    model.fit(sentences[:40], epochs=1, verbose=0, seed=0)
    with torch.no_grad():  # make the output vectors non-zero and distinct
        model.output_vectors.normal_(generator=torch.Generator().manual_seed(1))
    windows = torch.from_numpy(model.windows(sentences[:5]))
    scores, candidates = model.logits(windows)
    w_in, w_out = model.input_vectors.detach(), model.output_vectors.detach()
    if mode == "skipgram":
        centers, contexts = skipgram_pairs(windows)
        assert torch.equal(candidates[:, 0], contexts)
        v = w_in[centers]
    else:
        assert torch.equal(candidates[:, 0], windows[:, 2])  # every row has a context here
        context = torch.cat([windows[:, :2], windows[:, 3:]], 1)
        v = torch.stack([w_in[row[row > 0]].mean(0) for row in context])  # one row at a time
    assert candidates.shape == (len(v), 6)
    total = 0.0
    for i in range(len(v)):  # -log s(v.u_true) - sum_k log s(-v.u_k), pair by pair
        total -= F.logsigmoid(v[i] @ w_out[candidates[i, 0]])
        total -= sum(F.logsigmoid(-(v[i] @ w_out[k])) for k in candidates[i, 1:])
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1
    torch.testing.assert_close(model.compute_loss(scores, labels).detach(), total / len(v))
    torch.testing.assert_close(
        negative_sampling_loss(scores, labels, reduction="sum").detach(), total
    )


def test_noise_words_follow_unigram_counts_to_the_power_three_quarters():
    model = tiny(negative=20).compile()
    model.fit("a " + "b " * 16 + "c " * 81, epochs=1, verbose=0, seed=0)  # counts 81, 16, 1
    torch.manual_seed(0)
    _, candidates = model.logits(torch.from_numpy(model.windows(["c b"] * 500)))
    share = (
        np.bincount(candidates[:, 1:].reshape(-1).numpy(), minlength=5)[2:]
        / candidates[:, 1:].numel()
    )
    expected = np.array([81, 16, 1]) ** 0.75 / np.sum(np.array([81, 16, 1]) ** 0.75)  # 27 : 8 : 1
    np.testing.assert_allclose(share, expected, atol=0.01)


def test_subsampling_keeps_frequent_words_less_often():
    model = Word2Vec(embedding_dim=4, min_count=1, subsample=0.01).compile()
    model.fit("the " * 90 + "cat " * 9 + "dog", epochs=1, verbose=0, seed=0)
    frequency = np.array([0.9, 0.09, 0.01])
    expected = np.minimum(
        (np.sqrt(frequency / 0.01) + 1) * 0.01 / frequency, 1
    )  # Mikolov et al.'s keep rule
    np.testing.assert_allclose(model._keep[2:].numpy(), expected, rtol=1e-6)


# ------------------------------------------------------------------ learning
@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_loss_falls_and_planted_neighbours_are_found(sentences, mode):
    model = tiny(mode=mode).compile(learning_rate=0.03)
    history = model.fit(sentences, epochs=6, batch_size=64, seed=0, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    for members, _ in GROUPS.values():
        for word in members:  # the other members of its group share its contexts: they come first
            assert {w for w, _ in model.most_similar(word, topn=3)} == set(members) - {word}
    assert model.similarity("cat", "dog") > model.similarity("cat", "car") + 0.3


def test_validation_text_gives_a_validation_loss(sentences):
    model = tiny().compile(learning_rate=0.03)
    history = model.fit(
        sentences[:50], validation_data=sentences[50:60], epochs=2, verbose=0, seed=0
    )
    assert len(history.history["val_loss"]) == 2 and np.isfinite(history.history["val_loss"]).all()


def test_similarity_most_similar_and_predict_match_numpy(fitted):
    vectors = {w: fitted.vector(w) for w in fitted.vocabulary_.words[2:]}
    cosine = {
        w: float(v @ vectors["cat"] / np.linalg.norm(v) / np.linalg.norm(vectors["cat"]))
        for w, v in vectors.items()
        if w != "cat"
    }
    ranked = sorted(cosine.items(), key=lambda item: -item[1])[:5]
    got = fitted.most_similar("cat", topn=5)
    assert [w for w, _ in got] == [w for w, _ in ranked]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in ranked], rtol=1e-5)
    assert fitted.similarity("cat", "road") == pytest.approx(cosine["road"], rel=1e-5)
    out = fitted.predict(["cat road", "bus", "zebra !", ""])  # unknown words are skipped
    np.testing.assert_allclose(
        out,
        [(vectors["cat"] + vectors["road"]) / 2, vectors["bus"], np.zeros(16), np.zeros(16)],
        rtol=1e-6,
    )
    ids = fitted.vocabulary_.encode(["cat", "road"])
    np.testing.assert_allclose(fitted.predict(ids[None]), out[:1])


def test_save_load_round_trip(tmp_path, fitted):
    path = fitted.save(str(tmp_path / "w2v"))
    reloaded = lamina.load(path)
    assert isinstance(reloaded, Word2Vec) and reloaded.vocabulary_.words == fitted.vocabulary_.words
    assert reloaded.vocabulary_.counts == fitted.vocabulary_.counts
    np.testing.assert_array_equal(reloaded.vector("truck"), fitted.vector("truck"))
    assert reloaded.most_similar("truck", topn=4) == fitted.most_similar("truck", topn=4)
    np.testing.assert_array_equal(
        reloaded.predict(["cat eats grass"]), fitted.predict(["cat eats grass"])
    )
    reloaded.fit(
        ["cat eats grass"] * 5, epochs=1, verbose=0, seed=0
    )  # training continues on the same vocabulary
    assert reloaded.vocabulary_.words == fitted.vocabulary_.words


def test_embedding_layer_weights_equal_the_vectors(fitted):
    layer = fitted.embedding_layer()
    assert isinstance(layer, lamina.layers.Embedding) and layer.padding_idx == 0
    assert torch.equal(layer.weight, fitted.input_vectors) and not layer.weight.requires_grad
    ids = torch.from_numpy(fitted.vocabulary_.encode(["cat", "road"]))
    np.testing.assert_array_equal(layer(ids)[1].detach().numpy(), fitted.vector("road"))
    assert fitted.embedding_layer(trainable=True).weight.requires_grad


def test_plot_words_writes_a_pca_png(tmp_path, fitted):
    from sklearn.decomposition import PCA

    words = ["cat", "dog", "car", "bus", "road"]
    figure = fitted.plot_words(words, tmp_path / "words.png")
    assert (tmp_path / "words.png").read_bytes()[:4] == b"\x89PNG"
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.texts] == words
    points = ax.collections[0].get_offsets()
    reference = PCA(2).fit_transform(np.stack([fitted.vector(w) for w in words]).astype(np.float64))
    np.testing.assert_allclose(
        np.abs(points), np.abs(reference), atol=1e-5
    )  # up to the sign of each axis


# ------------------------------------------------------------------ bad input
def test_bad_input_is_a_clear_error(fitted):
    model = tiny()
    with pytest.raises(NotCompiledError):
        model.fit("a b")
    assert model.vocabulary_ is None
    with pytest.raises(DataError, match="got no words"):
        tiny().compile().fit("  ")
    with pytest.raises(ConfigError, match="takes no y"):
        tiny().compile().fit("a b", np.ones(2))
    with pytest.raises(DataError, match="reads text"):
        tiny().compile().fit([1, 2, 3])
    with pytest.raises(DataError, match="min_count=5"):
        Word2Vec(min_count=5).compile().fit("a b c a b c")
    with pytest.raises(
        DataError, match=r"'trucc' is not in the vocabulary.*close words: \['truck'\]"
    ):
        fitted.most_similar("trucc")
    with pytest.raises(DataError, match="'<pad>' is not in the vocabulary"):
        fitted.vector("<pad>")
    with pytest.raises(NotBuiltError, match=r"Call model.fit\(text\) first"):
        tiny().similarity("a", "b")
    with pytest.raises(ConfigError, match="topn"):
        fitted.most_similar("cat", topn=0)
    with pytest.raises(ConfigError, match="at least two words"):
        fitted.plot_words(["cat"])
    with pytest.raises(DataError, match="ids outside the vocabulary"):
        fitted.predict(np.array([[2, 99]]))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mode": "glove"}, "'skipgram' or 'cbow'"),
        ({"embedding_dim": 0}, "embedding_dim=0"),
        ({"window": 1.5}, "window=1.5"),
        ({"negative": True}, "negative"),
        ({"subsample": 1.0}, "subsample=1.0"),
        ({"max_size": 0}, "max_size"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Word2Vec(**kwargs)

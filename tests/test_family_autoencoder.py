"""Autoencoder: the model contract for each kind, shapes, a PCA oracle, penalty and noise oracles, bad input."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lamina.errors import ConfigError, DataError, NotBuiltError, ShapeError
from scipy.linalg import subspace_angles

import lamina
from lamina.models.autoencoder import Autoencoder, RecurrentEncoder

RNG = np.random.default_rng(0)
IMAGES = RNG.random((48, 1, 12, 12), dtype=np.float32)
SEQUENCES = np.sin(np.linspace(0, 6, 8)[None, :, None] + RNG.random((48, 1, 2)) * 3).astype(
    np.float32
)
KINDS = {  # kind -> (constructor arguments, data)
    "linear": ({"code_size": 3}, RNG.normal(size=(64, 10)).astype(np.float32)),
    "deep": ({"code_size": 4, "units": (16,)}, IMAGES[:, 0]),
    "stacked": ({"code_size": 4, "units": (16, 8), "pretrain_epochs": 2}, IMAGES),
    "convolutional": ({"code_size": 8, "filters": (4, 8)}, IMAGES),
    "recurrent": ({"code_size": 4, "units": (8,)}, SEQUENCES),
    "denoising": ({"code_size": 4, "units": (16,), "noise": "masking", "noise_level": 0.2}, IMAGES),
    "sparse": ({"code_size": 8, "units": (16,)}, IMAGES),
}


def fitted(kind, epochs=3, **overrides):
    arguments, x = KINDS[kind]
    model = Autoencoder(kind, **{**arguments, **overrides}).compile(
        optimizer="adam", loss="mse", learning_rate=1e-2
    )
    model.fit(x, epochs=epochs, verbose=0, seed=0)
    return model, x


# ------------------------------------------------------------------ contract and shapes
@pytest.mark.parametrize("kind", KINDS)
def test_check_model_each_kind_without_targets(kind):
    arguments, x = KINDS[kind]
    report = lamina.testing.check_model(
        Autoencoder(kind, **arguments), x, None, loss="mse", epochs=10
    )
    assert report["loss_fell"] and report["output_shape"] == x.shape


def test_check_model_with_targets_and_an_lstm():
    x = SEQUENCES[:, :, 0]  # (N, T): one feature per step
    report = lamina.testing.check_model(
        Autoencoder("recurrent", 4, (8,), cell="lstm"), x, x, loss="mse", epochs=10
    )
    assert report["output_shape"] == (48, 8)


@pytest.mark.parametrize("kind", KINDS)
def test_encode_decode_reconstruct_shapes(kind):
    model, x = fitted(kind, epochs=1)
    codes = model.encode(x, batch_size=20)  # several batches
    assert codes.shape == (len(x), model.code_size)
    assert model.decode(codes).shape == x.shape
    np.testing.assert_allclose(model.decode(codes), model.reconstruct(x), atol=1e-5)
    np.testing.assert_array_equal(model.reconstruct(x), model.predict(x))


def test_convolutional_odd_sizes_and_channels():
    x = torch.rand(2, 3, 11, 9)
    assert Autoencoder("convolutional", 5, filters=(4, 8, 8))(x).shape == x.shape
    assert Autoencoder("convolutional", 5, (16,), filters=(4,))(x[:, 0]).shape == (
        2,
        11,
        9,
    )  # (N, H, W)
    assert Autoencoder("convolutional", 5, output_activation="sigmoid")(x).min() >= 0


def test_layer_structure_and_activations():
    model = Autoencoder("stacked", code_size=4, units=(16, 8), output_activation="sigmoid")
    model.build(torch.rand(2, 6, 6))
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [
        (36, 16),
        (16, 8),
        (8, 4),
        (4, 8),
        (8, 16),
        (16, 36),
    ]
    assert [len(block) for block in model.encoder[1:]] == [2, 2, 1]  # the code has no activation
    x = torch.randn(64, 5)
    for kind, sparsity, low, high in (("sparse", None, 0.0, 1.0), ("deep", "l1", 0.0, np.inf)):
        sparse = Autoencoder(kind, code_size=6, units=(), sparsity=sparsity)
        codes = sparse.encoder(x) if sparse.build(x) is not None else None
        assert (
            low <= codes.min() and codes.max() < high
        )  # sigmoid code for "kl", ReLU code for "l1"
    linear_model = Autoencoder("linear", code_size=2)
    linear_model.build(torch.rand(2, 5))
    assert not [m for m in linear_model.modules() if isinstance(m, lamina.layers.Activation)]


def test_deep_forward_matches_plain_torch():
    model = Autoencoder("deep", code_size=3, units=(6,), output_activation="sigmoid").eval()
    x = torch.rand(4, 2, 5)
    out = model(x)
    (e1, _), (e2,), (d1, _), (d2, _) = (
        model.encoder[1],
        model.encoder[2],
        model.decoder[0],
        model.decoder[1],
    )
    z = F.linear(F.relu(F.linear(x.reshape(4, 10), e1.weight, e1.bias)), e2.weight, e2.bias)
    expected = torch.sigmoid(F.linear(F.relu(F.linear(z, d1.weight, d1.bias)), d2.weight, d2.bias))
    torch.testing.assert_close(out, expected.reshape(4, 2, 5))


def test_recurrent_encoder_matches_plain_torch():
    encoder = RecurrentEncoder(2, 5, 3, cell="lstm")
    x = torch.rand(4, 6, 2)
    _, (h, _) = encoder.recurrent(x)
    torch.testing.assert_close(encoder(x), F.linear(h[-1], encoder.code.weight, encoder.code.bias))


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_identical_predictions(tmp_path, kind):
    model, x = fitted(kind)
    reloaded = lamina.load(model.save(str(tmp_path / kind)))
    assert type(reloaded) is Autoencoder and reloaded.get_params() == model.get_params()
    np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(reloaded.encode(x), model.encode(x))


# ------------------------------------------------------------------ oracles
def test_linear_autoencoder_spans_the_pca_subspace():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    rotation = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    x = (
        rng.normal(size=(256, 8)) * [3.0, 2.5, 2.0, 0.5, 0.4, 0.3, 0.2, 0.1] @ rotation + 5.0
    ).astype(np.float32)
    model = Autoencoder("linear", code_size=3).compile(
        optimizer="adam", loss="mse", learning_rate=1e-2
    )
    schedule = lamina.callbacks.LearningRateScheduler("cosine", per="step")
    model.fit(x, epochs=150, batch_size=64, verbose=0, seed=0, callbacks=[schedule])
    pca = PCA(3).fit(x)
    pca_mse = ((pca.inverse_transform(pca.transform(x)) - x) ** 2).mean()
    decoder = model.decoder[0][0].weight.detach().numpy()  # (8, 3)
    assert np.degrees(subspace_angles(decoder, pca.components_.T)).max() < 1.0
    assert pca_mse <= model.evaluate(x)["loss"] <= 1.02 * pca_mse
    np.testing.assert_allclose(
        model.mean_.numpy(), x.mean(0), rtol=1e-5
    )  # the learned centring is the data mean
    classifier = model.classifier(
        2
    )  # the centring folded into the first bias: same codes from raw inputs
    np.testing.assert_allclose(
        classifier.layers[0](torch.from_numpy(x)).detach().numpy(), model.encode(x), atol=1e-4
    )


def test_kl_sparsity_penalty_matches_the_hand_formula():
    model = Autoencoder("sparse", code_size=3, sparsity_target=0.1)
    codes = torch.tensor([[0.2, 0.05, 0.9], [0.4, 0.15, 0.7]])
    rho, q = 0.1, np.array([0.3, 0.1, 0.8])
    expected = sum(rho * np.log(rho / qj) + (1 - rho) * np.log((1 - rho) / (1 - qj)) for qj in q)
    assert model.sparsity_penalty(codes).item() == pytest.approx(expected, rel=1e-5)
    assert model.sparsity_penalty(torch.full((5, 3), 0.1)).item() == pytest.approx(0.0, abs=1e-6)
    l1 = Autoencoder("sparse", code_size=3, sparsity="l1")
    assert l1.sparsity_penalty(-codes).item() == pytest.approx(
        (0.2 + 0.05 + 0.9 + 0.4 + 0.15 + 0.7) / 2
    )
    assert Autoencoder("deep").sparsity_penalty(codes).item() == 0.0


def test_sparse_logs_and_loss_is_reconstruction_plus_weighted_penalty():
    model, x = fitted("sparse", sparsity_weight=0.5)
    logs = model.evaluate(x)
    assert set(logs) == {"loss", "reconstruction", "sparsity"}
    assert logs["loss"] == pytest.approx(logs["reconstruction"] + 0.5 * logs["sparsity"], rel=1e-5)
    codes = model.encode(x)
    assert ((codes > 0) & (codes < 1)).all()  # sigmoid code units
    assert set(fitted("deep")[0].evaluate(x[:, 0])) == {"loss"}


def test_noise_statistics():
    x = torch.full((200, 50), 0.5)
    torch.manual_seed(0)
    masked = Autoencoder("denoising", noise="masking", noise_level=0.3).corrupt(x)
    assert set(masked.unique().tolist()) == {0.0, 0.5} and (
        masked == 0
    ).float().mean() == pytest.approx(0.3, abs=0.02)
    salted = Autoencoder("denoising", noise="salt_pepper", noise_level=0.2).corrupt(x)
    hit = salted != 0.5
    assert set(salted[hit].unique().tolist()) == {0.0, 1.0} and hit.float().mean() == pytest.approx(
        0.2, abs=0.02
    )
    noisy = Autoencoder("denoising", noise_level=0.4).corrupt(x)  # denoising: gaussian by default
    assert (noisy - x).std().item() == pytest.approx(0.4, rel=0.05)
    assert Autoencoder("deep").corrupt(x) is x


def test_noise_only_in_training():
    model = Autoencoder("denoising", code_size=4, units=(16,), noise_level=0.5).compile(loss="mse")
    x = IMAGES
    model.build(torch.from_numpy(x))
    captured = []
    model.encoder.register_forward_pre_hook(lambda module, args: captured.append(args[0].clone()))
    model.fit(x, epochs=1, batch_size=48, shuffle=False, verbose=0, seed=0)
    assert not torch.allclose(captured[-1], torch.from_numpy(x))  # the training batch was corrupted
    captured.clear()
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    assert torch.equal(captured[-1], torch.from_numpy(x))  # predict sees the clean input
    captured.clear()
    clean_loss = model.evaluate(x)["loss"]
    assert torch.equal(captured[-1], torch.from_numpy(x))
    assert clean_loss == pytest.approx(float(((model.predict(x) - x) ** 2).mean()), rel=1e-5)
    model.train()
    torch.testing.assert_close(
        model(torch.from_numpy(x)), model(torch.from_numpy(x))
    )  # forward never corrupts


def test_explicit_targets_and_sample_weights():
    noisy = IMAGES + 0.3 * np.random.default_rng(1).normal(size=IMAGES.shape).astype(np.float32)
    model = Autoencoder("deep", code_size=8, units=(32,)).compile(loss="mse", learning_rate=1e-2)
    history = model.fit(noisy, IMAGES, epochs=20, verbose=0, seed=0)  # learn to clean
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.evaluate(noisy, IMAGES)["loss"] < ((noisy - IMAGES) ** 2).mean()
    weighted = Autoencoder("deep", code_size=4, units=(8,)).compile(loss="mse")
    weighted.fit(
        IMAGES, epochs=2, sample_weight=np.ones(len(IMAGES)), verbose=0, seed=0
    )  # weights are not targets
    assert weighted.predict(IMAGES).shape == IMAGES.shape


# ------------------------------------------------------------------ stacked pretraining and transfer
def test_stacked_fit_pretrains_each_layer_once(tmp_path):
    model = Autoencoder("stacked", code_size=4, units=(16, 8), pretrain_epochs=2).compile(
        loss="mse", learning_rate=1e-2
    )
    calls, original = [], model.pretrain

    def counting(*args, **kwargs):
        calls.append(original(*args, **kwargs))
        return calls[-1]

    model.pretrain = counting
    history = model.fit(IMAGES, epochs=2, verbose=0, seed=0)
    assert len(history.history["loss"]) == 2 and len(calls) == 1
    assert [len(h.history["loss"]) for h in calls[0]] == [2, 2, 2]  # three layers, two epochs each
    assert all(h.history["loss"][-1] < h.history["loss"][0] for h in calls[0])
    model.fit(IMAGES, epochs=1, verbose=0, seed=0)
    assert len(calls) == 1  # not again
    reloaded = lamina.load(model.save(str(tmp_path / "stacked")))
    assert bool(reloaded.pretrained_)
    before = [p.detach().clone() for p in reloaded.parameters()]
    reloaded.pretrain = lambda *args, **kwargs: pytest.fail("a loaded model pretrained again")
    reloaded.fit(IMAGES, epochs=1, verbose=0, seed=0)
    assert any(
        not torch.equal(a, b) for a, b in zip(before, reloaded.parameters())
    )  # it trained end to end


class Changed(lamina.callbacks.Callback):
    """Records, for each fit it watches, the names of the parameters that fit changed."""

    def __init__(self):
        super().__init__()
        self.stages = []

    def on_train_begin(self, logs=None):
        self.before = {name: p.detach().clone() for name, p in self.model.named_parameters()}

    def on_train_end(self, logs=None):
        self.stages.append(
            {
                name.rsplit(".", 2)[0]
                for name, p in self.model.named_parameters()
                if not torch.equal(self.before[name], p)
            }
        )


def test_pretraining_trains_one_layer_and_its_mirror_at_a_time():
    model = Autoencoder("stacked", code_size=4, units=(16, 8)).compile(
        loss="mse", learning_rate=1e-2
    )
    changed = Changed()
    histories = model.pretrain(IMAGES, epochs=1, verbose=0, seed=0, callbacks=[changed])
    assert len(histories) == 3 and bool(model.pretrained_)
    assert changed.stages == [
        {"encoder.1", "decoder.2"},
        {"encoder.2", "decoder.1"},
        {"encoder.3", "decoder.0"},
    ]


def test_classifier_reuses_the_encoder_and_fine_tunes(tmp_path):
    model, x = fitted("stacked")
    labels = (IMAGES.reshape(48, -1).mean(1) > np.median(IMAGES.reshape(48, -1).mean(1))).astype(
        np.int64
    )
    classifier = model.classifier(2)
    assert isinstance(classifier, lamina.Sequential) and classifier.head_name() == "layers.1"
    torch.testing.assert_close(
        classifier.layers[0](torch.from_numpy(x)), torch.from_numpy(model.encode(x))
    )
    classifier.compile(
        optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-2
    )
    history = classifier.fine_tune(x, labels, epochs=2, freeze_epochs=1, verbose=0, seed=0)
    assert len(history.history["loss"]) == 3 and classifier.predict(x).shape == (48, 2)
    reloaded = lamina.load(classifier.save(str(tmp_path / "classifier")))
    np.testing.assert_array_equal(reloaded.predict(x), classifier.predict(x))
    tuned = [
        not torch.equal(a, b)
        for a, b in zip(model.encoder.parameters(), classifier.layers[0].parameters())
    ]
    assert any(tuned)  # a copy of the encoder was tuned; the autoencoder's own is untouched
    recurrent, sequences = fitted("recurrent", epochs=1)
    on_sequences = recurrent.classifier(3)
    on_sequences.build(torch.from_numpy(sequences))
    assert on_sequences.predict(sequences).shape == (48, 3)


# ------------------------------------------------------------------ pictures
def test_plots_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    model, x = fitted("deep", epochs=1)
    figure = model.plot_reconstructions(x, tmp_path / "reconstructions.png", count=5)
    assert (
        len(figure.axes) == 10 and (tmp_path / "reconstructions.png").read_bytes()[:4] == b"\x89PNG"
    )
    figure = model.plot_latent(
        x, np.arange(48) % 3, tmp_path / "latent.png"
    )  # code 4 -> 2 principal axes
    assert (tmp_path / "latent.png").stat().st_size > 1000
    assert "principal" in figure.axes[0].get_xlabel()
    two = Autoencoder("deep", code_size=2, units=(8,)).compile(loss="mse")
    two.fit(x, epochs=1, verbose=0)
    np.testing.assert_allclose(
        two.plot_latent(x).axes[0].collections[0].get_offsets(), two.encode(x), rtol=1e-6
    )
    sequences, series = fitted("recurrent", epochs=1)
    assert (
        len(sequences.plot_reconstructions(series, count=2).axes[0].get_lines()) == 2
    )  # one curve per feature
    lamina.plot_history(sequences.history_, tmp_path / "loss.png")


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "arguments, fragment",
    [
        ({"code_size": 0}, "code_size"),
        ({"kind": "variational"}, "Unknown kind"),
        ({"kind": "linear", "units": (8,)}, "units"),
        ({"kind": "recurrent", "units": (8, 8)}, "units"),
        ({"noise": "pink"}, "Unknown noise"),
        ({"noise": "masking", "noise_level": 1.5}, "noise_level"),
        ({"kind": "denoising", "noise_level": 0}, "noise_level"),
        ({"sparsity": "l2"}, "sparsity"),
        ({"kind": "linear", "sparsity": "kl"}, "linear"),
        ({"sparsity_target": 1.0}, "sparsity"),
        ({"filters": ()}, "filters"),
        ({"cell": "transformer"}, "cell"),
        ({"pretrain_epochs": 3}, "stacked"),
        ({"kind": "stacked", "pretrain_epochs": -1}, "pretrain_epochs"),
        ({"activation": "nope"}, "nope"),
    ],
)
def test_bad_arguments_raise_config_errors(arguments, fragment):
    with pytest.raises(ConfigError, match=fragment) as error:
        Autoencoder(**arguments)
    assert "Received" in str(error.value) and "Fix" in str(error.value)


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ConfigError, match="'convolutional'"):
        Autoencoder(kind="vae")


def test_bad_data_raises_clear_errors():
    model = Autoencoder("convolutional", code_size=4).compile(loss="mse")
    with pytest.raises(ShapeError, match=r"wrong rank.*\(N, 144\).*\(N, C, H, W\)"):
        model.fit(IMAGES.reshape(48, -1), epochs=1, verbose=0)
    with pytest.raises(ShapeError, match="wrong rank"):
        Autoencoder("recurrent", units=(4,))(torch.rand(2, 3, 4, 5))
    broken = IMAGES.copy()
    broken[3, 0, 2, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        Autoencoder("deep", units=(8,)).compile(loss="mse").fit(broken, epochs=1, verbose=0)
    with pytest.raises(NotBuiltError, match="fit"):
        Autoencoder("deep").encode(IMAGES)
    with pytest.raises(NotBuiltError):
        Autoencoder("deep").classifier(10)
    model, x = fitted("deep", epochs=1)
    with pytest.raises(ShapeError, match="input shape differs"):
        model.encode(np.zeros((2, 10, 10), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"built for another input shape.*\(N, \*\(12, 12\)\)"):
        model(torch.zeros(2, 10, 10))
    with pytest.raises(ShapeError, match=r"decode\(\) takes codes.*\(N, 4\)"):
        model.decode(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(DataError, match="NaN"):
        model.decode(np.full((2, 4), np.nan, dtype=np.float32))
    with pytest.raises(ConfigError, match="stacked"):
        model.pretrain(x)
    with pytest.raises(ConfigError, match="outputs"):
        model.classifier(0)
    with pytest.raises(DataError, match="one label per row"):
        model.plot_latent(x, [1, 2])
    assert json.loads(json.dumps(model.get_params()))["kind"] == "deep"

"""RBM and DBN: the model contract, CD-k against hand computations, free energy by enumeration, PCD chains,
the pseudo-log-likelihood against scikit-learn, save/load, pretraining then fine-tuning, bad input."""

import itertools

import numpy as np
import pytest
import torch
from lamina.errors import ConfigError, DataError, NotBuiltError

import lamina
from lamina.models.dbn import DBN, RBM


def _patterns(rows=60, features=16, classes=3, noise=0.1, seed=0):
    """Binary rows: one random prototype per class with a fraction ``noise`` of the bits flipped."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((classes, features)) < 0.5
    y = np.arange(rows) % classes
    x = (prototypes[y] ^ (rng.random((rows, features)) < noise)).astype(np.float32)
    return x, y


def _rbm(hidden, visible, seed=0, kind="bernoulli", **options):
    """An RBM with random (not tiny) weights and biases, sized for ``visible`` units."""
    model = RBM(hidden=hidden, visible=kind, **options)
    model.build(torch.zeros(1, visible))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in (model.weight, model.hidden_bias, model.visible_bias):
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("options", [{}, {"persistent": True}, {"k": 3}])
def test_check_model_rbm_bernoulli(options):
    x, _ = _patterns()
    # y = x: fit ignores it, evaluate scores the reconstruction against it
    report = lamina.testing.check_model(
        RBM(hidden=8, **options), x, x, loss="mse", optimizer="sgd", learning_rate=0.1, epochs=15
    )
    assert report["output_shape"] == (60, 16)
    assert report["parameters"] == 8 * 16 + 8 + 16


def test_check_model_rbm_gaussian():
    x, _ = _patterns()
    x = (x - x.mean(0)) / x.std(0)
    report = lamina.testing.check_model(
        RBM(hidden=8, visible="gaussian"), x, x, loss="mse", epochs=15
    )
    assert report["output_shape"] == (60, 16)


def test_check_model_dbn():
    x, y = _patterns()
    report = lamina.testing.check_model(DBN(units=(16, 8), outputs=3, dropout=0.1), x, y, epochs=15)
    assert report["output_shape"] == (60, 3)
    assert report["parameters"] == (16 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3)


def test_shapes():
    model = RBM(hidden=5)
    x = torch.rand(7, 4, 4)
    assert model(x).shape == (7, 4, 4)
    model.build(x)
    assert (
        model.weight.shape == (5, 16)
        and model.hidden_bias.shape == (5,)
        and model.visible_bias.shape == (16,)
    )
    assert model.transform(x).shape == (7, 5)
    assert model.free_energy(x).shape == (7,)
    assert model.reconstruct(x).shape == (7, 4, 4)
    assert model.pseudo_log_likelihood(x, seed=0).shape == (7,)
    assert model.sample(3, steps=2, seed=0).shape == (3, 4, 4)
    dbn = DBN(units=(6, 5), outputs=2)
    assert dbn(x).shape == (7, 2)
    assert [tuple(layer.weight.shape) for layer in dbn.layers] == [(6, 16), (5, 6)]


# ------------------------------------------------------------------ numerics
def test_cd1_gradient_by_hand_with_zero_weights():
    """Exact without fixing the RNG: with W = 0 and zero biases every probability is 1/2, whatever h is sampled."""
    model = _rbm(hidden=2, visible=3)
    with torch.no_grad():
        for parameter in (model.weight, model.hidden_bias, model.visible_bias):
            parameter.zero_()
    v = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # mean (0.5, 0.5, 1.0)
    ascent = model.contrastive_divergence(v)
    # dW[j, i] = mean(p_j * v_i) - mean(p'_j * v'_i) = 0.5 * mean(v_i) - 0.5 * 0.5
    torch.testing.assert_close(ascent["weight"], torch.tensor([[0.0, 0.0, 0.25], [0.0, 0.0, 0.25]]))
    torch.testing.assert_close(
        ascent["visible_bias"], torch.tensor([0.0, 0.0, 0.5])
    )  # mean(v) - 0.5
    torch.testing.assert_close(ascent["hidden_bias"], torch.zeros(2))


def test_cd1_gradient_on_a_3x2_rbm_replaying_the_rng():
    """Fixed RNG: the hidden states are ``rand < p``, so the same seed replays the sampled h by hand."""
    model = _rbm(hidden=2, visible=3)
    W, c, b = (p.detach().clone() for p in (model.weight, model.hidden_bias, model.visible_bias))
    v = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.2, 0.9, 0.4]])
    torch.manual_seed(3)
    ascent = model.contrastive_divergence(v)
    torch.manual_seed(3)
    p0 = torch.sigmoid(v @ W.T + c)  # (4, 2) = p(h | data)
    h0 = (torch.rand(4, 2) < p0).float()  # the one sampled hidden state of CD-1
    v1 = torch.sigmoid(h0 @ W + b)  # (4, 3): the negative visibles are means
    p1 = torch.sigmoid(v1 @ W.T + c)
    torch.testing.assert_close(ascent["weight"], (p0.T @ v - p1.T @ v1) / 4)
    torch.testing.assert_close(ascent["hidden_bias"], (p0 - p1).mean(0))
    torch.testing.assert_close(ascent["visible_bias"], (v - v1).mean(0))
    assert 0 < h0.sum() < h0.numel()  # the sample matters in this case


def test_train_step_applies_the_cd_estimate_through_the_optimizer():
    v = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    model, twin = _rbm(hidden=2, visible=3), _rbm(hidden=2, visible=3)  # equal weights
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.compile(optimizer="sgd", learning_rate=0.5)
    torch.manual_seed(7)
    logs = model.train_step((v,))
    torch.manual_seed(7)
    ascent = twin.contrastive_divergence(v)  # the same draws
    for name, step in ascent.items():  # gradient ascent on the log-likelihood: theta += lr * d
        torch.testing.assert_close(getattr(model, name).detach(), before[name] + 0.5 * step)
    reconstruction = twin.visible_means(twin.hidden_probabilities(v))
    torch.testing.assert_close(
        logs["loss"], ((reconstruction - v) ** 2).mean()
    )  # before the update


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_free_energy_matches_the_sum_over_hidden_states(kind):
    model = _rbm(hidden=3, visible=4, seed=1, kind=kind)
    W, c, b = (p.detach().double() for p in (model.weight, model.hidden_bias, model.visible_bias))
    v = torch.rand(5, 4, dtype=torch.float64)
    states = torch.tensor(
        list(itertools.product([0.0, 1.0], repeat=3)), dtype=torch.float64
    )  # (8, 3)
    visible_energy = -(v @ b) if kind == "bernoulli" else 0.5 * ((v - b) ** 2).sum(1)
    energy = visible_energy[:, None] - states @ c - (v @ W.T) @ states.T  # E(v, h): (5, 8)
    expected = -torch.logsumexp(-energy, dim=1)
    np.testing.assert_allclose(model.free_energy(v.float()), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_pseudo_log_likelihood_matches_scikit_learn():
    BernoulliRBM = pytest.importorskip("sklearn.neural_network").BernoulliRBM
    model = _rbm(
        hidden=3, visible=1
    )  # one visible unit: the flipped unit is always unit 0, so exact
    reference = BernoulliRBM(n_components=3)
    reference.components_ = model.weight.detach().double().numpy()
    reference.intercept_hidden_ = model.hidden_bias.detach().double().numpy()
    reference.intercept_visible_ = model.visible_bias.detach().double().numpy()
    x = np.array([[0.0], [1.0], [0.3]], dtype=np.float32)
    np.testing.assert_allclose(
        model.pseudo_log_likelihood(x, seed=0), reference.score_samples(x), rtol=1e-5
    )
    model = _rbm(
        hidden=3, visible=4
    )  # several units: each row's score is one of its 4 single-flip scores
    x = (torch.rand(6, 4) < 0.5).float()
    flips = torch.stack(
        [torch.where(torch.arange(4) == i, 1 - x, x) for i in range(4)], 1
    )  # (6, 4, 4)
    flipped_energy = torch.tensor(model.free_energy(flips.reshape(24, 4))).reshape(6, 4)
    candidates = 4 * torch.nn.functional.logsigmoid(
        flipped_energy - torch.tensor(model.free_energy(x))[:, None]
    )
    scores = torch.tensor(model.pseudo_log_likelihood(x, seed=0))
    assert ((scores[:, None] - candidates).abs().amin(1) < 1e-5).all()
    np.testing.assert_array_equal(
        model.pseudo_log_likelihood(x, seed=0), scores.numpy()
    )  # seeded: repeatable


# ------------------------------------------------------------------ training
def test_reconstruction_error_falls_on_tiny_data():
    x, _ = _patterns(rows=90)
    model = RBM(hidden=6).compile(optimizer="momentum", learning_rate=0.05)
    history = model.fit(x, epochs=12, batch_size=10, verbose=0, seed=0)
    errors = history.history["loss"]
    assert errors[-1] < 0.5 * errors[0]
    assert model.evaluate(x)["loss"] == pytest.approx(
        float(((model.reconstruct(x) - x) ** 2).mean()), rel=1e-5
    )
    untrained = RBM(hidden=6)
    untrained.build(torch.from_numpy(x))
    assert (
        model.pseudo_log_likelihood(x, seed=0).mean()
        > untrained.pseudo_log_likelihood(x, seed=0).mean() + 3
    )


def test_pcd_keeps_its_chains_across_batches(monkeypatch):
    x, _ = _patterns(rows=40)
    model = RBM(hidden=4, persistent=True).compile(optimizer="sgd", learning_rate=0.1)
    calls = []
    gibbs = model.gibbs

    def spy(v, steps=1, generator=None):
        samples, means = gibbs(v, steps, generator)
        calls.append((v.clone(), samples.clone()))
        return samples, means

    monkeypatch.setattr(model, "gibbs", spy)
    model.fit(x, epochs=2, batch_size=10, shuffle=False, verbose=0, seed=0)
    assert len(calls) == 8  # 4 batches x 2 epochs
    np.testing.assert_array_equal(
        calls[0][0].numpy(), x[:10]
    )  # the chains start at the first batch...
    for (_, after), (before, _) in zip(
        calls, calls[1:]
    ):  # ...and each update continues where the last ended
        assert torch.equal(before, after)
    assert torch.equal(model.chains_, calls[-1][1]) and model.chains_.shape == (10, 16)
    assert not torch.equal(calls[1][0], torch.from_numpy(x[10:20]))  # not restarted at the data


def test_pcd_negative_phase_uses_the_chains_not_the_data():
    model = _rbm(hidden=2, visible=3, persistent=True)
    W, c, b = (p.detach().clone() for p in (model.weight, model.hidden_bias, model.visible_bias))
    v = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    chains = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    model.chains_ = chains.clone()
    torch.manual_seed(5)
    ascent = model.contrastive_divergence(v)
    torch.manual_seed(5)
    h = (torch.rand(3, 2) < torch.sigmoid(chains @ W.T + c)).float()
    means = torch.sigmoid(h @ W + b)
    samples = (torch.rand(3, 3) < means).float()
    p0, p1 = torch.sigmoid(v @ W.T + c), torch.sigmoid(means @ W.T + c)
    torch.testing.assert_close(
        ascent["weight"], p0.T @ v / 2 - p1.T @ means / 3
    )  # data and chain means apart
    torch.testing.assert_close(ascent["visible_bias"], v.mean(0) - means.mean(0))
    torch.testing.assert_close(model.chains_, samples)  # the chains keep the sampled visibles


def test_save_load_round_trip_identical_outputs(tmp_path):
    x, y = _patterns()
    rbm = RBM(hidden=5, persistent=True).compile(optimizer="momentum", learning_rate=0.05)
    rbm.fit(x, epochs=2, batch_size=10, verbose=0, seed=0)
    reloaded = lamina.load(rbm.save(str(tmp_path / "rbm")))
    assert type(reloaded) is RBM and reloaded.get_params() == rbm.get_params()
    for method in ("predict", "transform", "free_energy"):
        np.testing.assert_array_equal(getattr(reloaded, method)(x), getattr(rbm, method)(x))
    np.testing.assert_array_equal(
        reloaded.sample(4, steps=5, seed=1), rbm.sample(4, steps=5, seed=1)
    )
    assert reloaded.chains_ is None  # the PCD chains are training state, not saved
    dbn = DBN(units=(8, 6), outputs=3).compile(
        optimizer="adam", loss="cross_entropy", learning_rate=1e-2
    )
    dbn.fit(x, y, epochs=2, pretrain_epochs=1, batch_size=10, verbose=0, seed=0)
    again = lamina.load(dbn.save(str(tmp_path / "dbn")))
    assert type(again) is DBN and again.get_params() == dbn.get_params()
    np.testing.assert_array_equal(again.predict(x), dbn.predict(x))


def test_dbn_pretrain_then_fine_tune_learns_a_tiny_set():
    x, y = _patterns(rows=90, noise=0.15)
    model = DBN(units=(12, 8), outputs=3, k=2)
    histories = model.pretrain(x, epochs=8, batch_size=10, seed=0)
    assert len(histories) == 2 and all(
        h.history["loss"][-1] < h.history["loss"][0] for h in histories
    )
    for layer, rbm in zip(model.layers, model.rbms_):  # the layers start from the RBMs
        assert torch.equal(layer.weight, rbm.weight) and torch.equal(layer.bias, rbm.hidden_bias)
    assert model.rbms_[1].weight.shape == (
        8,
        12,
    )  # the second RBM sees the first one's hidden units
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"], learning_rate=1e-2)
    history = model.fit(x, y, epochs=15, batch_size=10, verbose=0, seed=0)
    assert history.history["accuracy"][-1] > 0.95
    assert not torch.equal(model.layers[0].weight, model.rbms_[0].weight)  # fine-tuning moved them
    assert model.sample(3, steps=5, seed=0).shape == (3, 16)


def test_dbn_without_pretraining_is_the_same_network():
    pretrained, scratch = DBN(units=(8, 6), outputs=3), DBN(units=(8, 6), outputs=3)
    x, _ = _patterns()
    pretrained.pretrain(x, epochs=1, seed=0)
    scratch.build(torch.from_numpy(x))
    assert [(n, p.shape) for n, p in pretrained.named_parameters()] == [
        (n, p.shape) for n, p in scratch.named_parameters()
    ]


def test_fit_pretrain_epochs_pretrains_first():
    x, y = _patterns()
    model = DBN(units=(8,), outputs=3).compile(
        optimizer="adam", loss="cross_entropy", learning_rate=1e-2
    )
    history = model.fit(
        x, y, epochs=1, pretrain_epochs=2, batch_size=10, validation_split=0.25, verbose=0, seed=0
    )
    assert len(model.rbms_) == 1 and len(model.rbms_[0].history_.history["loss"]) == 2
    assert (
        model.rbms_[0].fit_state_["steps"] == 5
    )  # 45 training rows in batches of 10: not the 15 held out
    assert "val_loss" in history.history


# ------------------------------------------------------------------ plots
def test_plots_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    x = (torch.rand(20, 4, 4) < 0.3).float()
    model = RBM(hidden=6).compile(optimizer="sgd", learning_rate=0.1)
    model.fit(x, epochs=1, verbose=0, seed=0)
    figure = model.plot_filters(tmp_path / "filters.png", count=4)
    mosaic = figure.axes[0].images[0].get_array()
    assert mosaic.shape == (2 * 5 + 1, 2 * 5 + 1)  # 2 x 2 tiles of 4 x 4, one pixel apart
    weights = model.weight.detach()[0].reshape(4, 4)
    np.testing.assert_allclose(mosaic[1:5, 1:5], weights / weights.abs().max(), rtol=1e-5)
    model.plot_samples(tmp_path / "samples.png", n=4, steps=3)
    dbn = DBN(units=(6, 5), outputs=2)
    dbn.pretrain(x, epochs=1, seed=0)
    dbn.plot_filters(tmp_path / "dbn_filters.png")
    dbn.plot_samples(tmp_path / "dbn_samples.png", n=4, steps=3)
    for name in ("filters", "samples", "dbn_filters", "dbn_samples"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ bad input
def test_bernoulli_data_outside_0_1_names_min_and_max():
    model = RBM(hidden=3).compile()
    x = np.array([[0.0, 2.5], [-0.5, 1.0]], dtype=np.float32)
    with pytest.raises(DataError, match=r"min -0.5 to max 2.5.*visible='gaussian'"):
        model.fit(x, epochs=1, verbose=0)
    with pytest.raises(DataError, match="Scale the data to"):
        DBN(units=(3,)).pretrain(x * 255)
    model = RBM(hidden=3, visible="gaussian").compile()
    model.fit(x, epochs=1, verbose=0)  # real values are fine for Gaussian visibles
    with pytest.raises(ConfigError, match="binary visible units"):
        model.pseudo_log_likelihood(x)


@pytest.mark.parametrize(
    "cls,kwargs,pattern",
    [
        (RBM, {"hidden": 0}, "hidden=0"),
        (RBM, {"hidden": (5,)}, "DBN"),
        (RBM, {"visible": "binary"}, "'bernoulli'"),
        (RBM, {"k": 0}, "k=0"),
        (RBM, {"persistent": 1}, "bool"),
        (RBM, {"init_scale": -1.0}, "init_scale=-1.0"),
        (DBN, {"hidden": ()}, "hidden=()"),
        (DBN, {"units": 500}, "non-empty sequence"),
        (DBN, {"outputs": 0}, "outputs=0"),
        (DBN, {"visible": "real"}, "'gaussian'"),
        (DBN, {"dropout": 1.0}, "dropout=1.0"),
    ],
)
def test_bad_constructor_arguments(cls, kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        cls(**kwargs)


def test_bad_calls():
    with pytest.raises(NotBuiltError, match="fit"):
        RBM(hidden=3).sample(2)
    with pytest.raises(NotBuiltError, match="pretrain"):
        DBN(units=(3,)).sample(2)
    model = RBM(hidden=3)
    model.build(torch.rand(2, 5))
    with pytest.raises(ConfigError, match="n=0"):
        model.sample(0)
    with pytest.raises(ConfigError, match="steps=0"):
        model.sample(2, steps=0)
    with pytest.raises(ConfigError, match="5 visible units"):
        model.plot_filters()
    with pytest.raises(ConfigError, match="pretrain_epochs"):
        DBN(units=(3,)).compile(loss="cross_entropy").fit(
            np.ones((4, 5)), [0, 1, 0, 1], pretrain_epochs=-1
        )

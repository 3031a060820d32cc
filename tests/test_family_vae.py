"""VAE: the model contract (unconditional, conditional, Gaussian), loss terms against torch oracles,
the reparameterisation statistics, shapes, sampling, save/load, the IWAE bound, plots and bad input."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lamina.errors import ConfigError, DataError, NotBuiltError, ShapeError
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl

import lamina
from lamina.models.vae import VAE, bernoulli_nll, gaussian_nll, kl_divergence, reparameterize


@pytest.fixture
def binary():
    """48 binary 6x6 images of 3 classes: class k lights rows 2k, 2k+1; 10% pixel noise."""
    rng = np.random.default_rng(0)
    y = np.arange(48) % 3
    x = rng.random((48, 6, 6)) < 0.1
    for k in range(3):
        x[y == k, 2 * k : 2 * k + 2, :] = True
    return x.astype(np.float32), y


def fitted(x, y=None, epochs=5, **kwargs):
    model = VAE(**{"latent": 2, "units": (16,), **kwargs}).compile(
        optimizer="adam", learning_rate=1e-2
    )
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, seed=0)
    return model


# ------------------------------------------------------------------ contract
def test_check_model_unconditional(binary):
    """No targets: y=None, the loss is the model's own ("negative_elbo"); predict gives mu."""
    report = lamina.testing.check_model(
        VAE(latent=2, units=(16,)), binary[0], None, loss="negative_elbo"
    )
    assert report["output_shape"] == (48, 2)
    assert report["parameters"] == (36 * 16 + 16) + (16 * 4 + 4) + (2 * 16 + 16) + (16 * 36 + 36)


def test_check_model_conditional_and_gaussian(binary, images):
    report = lamina.testing.check_model(
        VAE(latent=2, units=(16,), num_classes=3), *binary, loss="negative_elbo"
    )
    assert report["output_shape"] == (48, 2)
    x = images[0]  # real values (not all in [0, 1]): a Gaussian decoder
    report = lamina.testing.check_model(
        VAE(latent=3, units=(16, 8), decoder="gaussian"), x, None, loss="negative_elbo"
    )
    assert report["output_shape"] == (48, 3)


def test_shapes(binary):
    model = fitted(binary[0], epochs=1)
    out, mu, logvar = model(torch.from_numpy(binary[0]))
    assert out.shape == (48, 36) and mu.shape == logvar.shape == (48, 2)
    mu, logvar = model.encode(binary[0])
    assert mu.shape == logvar.shape == (48, 2)
    np.testing.assert_allclose(mu, model.predict(binary[0]), rtol=1e-6, atol=1e-6)
    assert model.decode(mu[:5]).shape == (5, 6, 6)
    assert VAE(latent=4, units=())(torch.ones(3, 2, 5))[0].shape == (3, 10)  # linear VAE


# ------------------------------------------------------------------ numerical oracles
def test_kl_matches_closed_form_and_torch():
    assert kl_divergence(
        torch.tensor([[1.0]]), torch.tensor([[math.log(4.0)]])
    ).item() == pytest.approx(0.5 * (1 + 4 - 1 - math.log(4.0)))
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    expected = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(kl_divergence(mu, logvar), expected)


def test_reconstruction_terms_match_torch():
    logits, x = torch.randn(4, 7), (torch.rand(4, 7) < 0.5).float()
    expected = torch.stack(
        [F.binary_cross_entropy(torch.sigmoid(logits[i]), x[i], reduction="sum") for i in range(4)]
    )
    torch.testing.assert_close(bernoulli_nll(logits, x), expected, rtol=1e-5, atol=1e-5)
    mean, log_variance, target = torch.randn(4, 7), torch.randn(7), torch.randn(4, 7)
    expected = -Normal(mean, (0.5 * log_variance).exp()).log_prob(target).sum(-1)
    torch.testing.assert_close(gaussian_nll(mean, log_variance, target), expected)


def test_reparameterisation_statistics_and_gradient():
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([math.log(0.25), math.log(4.0)], requires_grad=True)
    generator = torch.Generator().manual_seed(0)
    z = reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2), generator)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([0.25, 4.0]), atol=0, rtol=0.03)
    z.mean(0).sum().backward()  # d mean(z) / d mu = 1: the draw is differentiable
    torch.testing.assert_close(mu.grad, torch.ones(2))
    assert logvar.grad.abs().max() < 0.02  # E[eps] = 0: the mean does not depend on the variance


def test_evaluate_is_the_negative_elbo_by_hand(binary):
    x = torch.from_numpy(binary[0])
    model = fitted(binary[0], beta=4.0)  # evaluate ignores beta: the ELBO itself
    torch.manual_seed(3)
    logs = model.evaluate(binary[0], batch_size=48)
    torch.manual_seed(3)
    with torch.no_grad():
        logits, mu, logvar = model(x)
        reconstruction = (
            F.binary_cross_entropy_with_logits(logits, x.reshape(48, -1), reduction="sum") / 48
        )
        kl = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum() / 48
    assert logs["reconstruction"] == pytest.approx(reconstruction.item(), rel=1e-5)
    assert logs["kl"] == pytest.approx(kl.item(), rel=1e-5)
    assert logs["loss"] == pytest.approx(reconstruction.item() + kl.item(), rel=1e-5)


def test_beta_and_kl_warmup_weight_the_training_loss(binary):
    history = fitted(binary[0], beta=0.0, epochs=2).history_.history
    assert history["loss"] == pytest.approx(
        history["reconstruction"], rel=1e-6
    )  # beta 0: no KL in the loss
    model = fitted(
        binary[0], kl_warmup=2, epochs=3
    )  # 3 steps per epoch: weights 1/6, 2/6, ... then 1
    history = model.history_.history
    assert int(model.kl_steps) == 9
    assert history["loss"][0] < history["reconstruction"][0] + 0.7 * history["kl"][0]
    assert history["loss"][2] == pytest.approx(
        history["reconstruction"][2] + history["kl"][2], rel=1e-5
    )


def test_loss_falls_and_elbo_improves(binary):
    model = VAE(latent=2, units=(32,)).compile(optimizer="adam", learning_rate=1e-2)
    model.build(torch.from_numpy(binary[0]))
    torch.manual_seed(0)
    before = model.evaluate(binary[0])["loss"]
    history = model.fit(binary[0], epochs=30, batch_size=16, verbose=0, seed=0).history
    torch.manual_seed(0)
    after = model.evaluate(binary[0])["loss"]
    assert history["loss"][-1] < 0.6 * history["loss"][0] and after < 0.6 * before


def test_importance_weighted_bound(binary):
    model = fitted(binary[0], epochs=10)
    one = model.importance_weighted_nll(binary[0], samples=1)
    many = model.importance_weighted_nll(binary[0], samples=64)
    torch.manual_seed(0)
    elbo = np.mean([model.evaluate(binary[0])["loss"] for _ in range(20)])
    assert one == pytest.approx(elbo, rel=0.05)  # one sample: the ELBO (a noisy estimate of it)
    assert many < elbo  # a tighter bound on -log p(x)
    assert model.importance_weighted_nll(
        binary[0], samples=8, seed=1
    ) == model.importance_weighted_nll(binary[0], samples=8, seed=1)


# ------------------------------------------------------------------ sampling, conditional
def test_sample_shapes_ranges_and_seeds(binary):
    model = fitted(binary[0])
    means = model.sample(10, seed=0)
    assert means.shape == (10, 6, 6) and means.dtype == np.float32
    assert means.min() >= 0.0 and means.max() <= 1.0 and not np.isin(means, [0.0, 1.0]).all()
    draws = model.sample(10, mean=False, seed=0)
    assert np.isin(draws, [0.0, 1.0]).all()
    np.testing.assert_array_equal(model.sample(10, seed=0), means)
    assert not np.array_equal(model.sample(10, seed=1), means)
    gaussian = fitted(binary[0], decoder="gaussian")
    assert (
        gaussian.sample(4, seed=0).shape
        == gaussian.sample(4, mean=False, seed=0).shape
        == (4, 6, 6)
    )


def test_conditional_samples_follow_the_label(binary):
    x, y = binary
    model = fitted(x, y, epochs=40, num_classes=3)
    for k in range(3):
        rows = model.sample(200, y=k, seed=0).mean((0, 2))  # mean intensity per image row: (6,)
        assert (
            rows[2 * k : 2 * k + 2].min() > np.delete(rows, [2 * k, 2 * k + 1]).max() + 0.4
        )  # its rows light up
    assert model.sample(3, y=[0, 1, 2], seed=0).shape == (3, 6, 6)
    assert model.evaluate(x, y)["loss"] > 0 and model.predict(x).shape == (
        48,
        2,
    )  # predict: no labels needed


def test_save_load_round_trip(tmp_path, binary):
    x, y = binary
    for i, model in enumerate(
        [fitted(x), fitted(x, y, num_classes=3), fitted(x, decoder="gaussian")]
    ):
        reloaded = lamina.load(model.save(str(tmp_path / f"m{i}")))
        assert type(reloaded) is VAE and reloaded.get_params() == model.get_params()
        labels = y[:5] if model.num_classes else None
        for a, b in zip(model.encode(x), reloaded.encode(x)):
            np.testing.assert_array_equal(a, b)
        z = model.encode(x[:5])[0]
        np.testing.assert_array_equal(model.decode(z, labels), reloaded.decode(z, labels))
        np.testing.assert_array_equal(
            model.sample(5, labels, seed=2), reloaded.sample(5, labels, seed=2)
        )
        torch.manual_seed(0)
        before = model.evaluate(x, labels if labels is None else y)
        torch.manual_seed(0)
        assert reloaded.evaluate(x, None if labels is None else y) == before  # recompiled on load


# ------------------------------------------------------------------ plots
def test_plots_write_pngs(tmp_path, binary):
    pytest.importorskip("matplotlib")
    x, y = binary
    model = fitted(x, latent=3)
    figure = model.plot_samples(tmp_path / "samples.png", n=16)
    assert figure.axes[0].get_images()[0].get_array().shape == (
        4 * 7,
        4 * 7,
    )  # 4x4 grid, 1-pixel gaps
    figure = model.plot_reconstructions(x, tmp_path / "reconstructions.png", n=5)
    assert figure.axes[0].get_images()[0].get_array().shape == (2 * 7, 5 * 7)
    figure = model.plot_latent(x, y, tmp_path / "latent.png")  # latent 3: PCA to 2-D
    assert figure.axes[0].collections[0].get_offsets().shape == (48, 2)
    assert figure.axes[0].get_xlabel() == "principal axis 1"
    for name in ("samples", "reconstructions", "latent"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"latent": 0}, "latent=0"),
        ({"latent": -3}, "latent=-3"),
        ({"latent": 2.5}, "latent=2.5"),
        ({"units": 64}, "units=64"),
        ({"units": (64, 0)}, r"units=\(64, 0\)"),
        ({"decoder": "poisson"}, "'bernoulli'"),
        ({"beta": -1.0}, "beta=-1.0"),
        ({"num_classes": 1}, "num_classes=1"),
        ({"kl_warmup": -1}, "kl_warmup=-1"),
        ({"activation": "relu7"}, "relu7"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        VAE(**kwargs)


def test_bad_data_is_refused_with_clear_errors(binary):
    x, y = binary
    model = VAE(latent=2, units=(8,)).compile()
    with pytest.raises(DataError, match=r"values from 0 to 255.*pixels / 255"):
        model.fit(x * 255, epochs=1, verbose=0)
    bad = x.copy()
    bad[3, 1, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        model.fit(bad, epochs=1, verbose=0)
    with pytest.raises(ConfigError, match="takes no y"):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ConfigError, match="no sample weights"):
        model.fit(x, sample_weight=np.ones(48), epochs=1, verbose=0)
    with pytest.raises(NotBuiltError, match="fit"):
        model.sample(3)
    with pytest.raises(ConfigError, match="loss='negative_elbo'"):
        model.compile(loss="mse")
    conditional = VAE(latent=2, units=(8,), num_classes=3).compile()
    with pytest.raises(ConfigError, match="needs labels"):
        conditional.fit(x, epochs=1, verbose=0)
    with pytest.raises(DataError, match="0..2"):
        conditional.fit(x, y + 1, epochs=1, verbose=0)
    fitted_model = fitted(x, y, epochs=1, num_classes=3)
    with pytest.raises(ConfigError, match="needs labels"):
        fitted_model.sample(3)
    with pytest.raises(ShapeError, match=r"\(N, 2\)"):
        fitted_model.decode(np.zeros((3, 5)), y=0)
    with pytest.raises(ConfigError, match="n=0"):
        fitted_model.sample(0, y=0)

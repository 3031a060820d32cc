"""The GAN, VAE, RBM and DBN modules after their split: old import paths and methods still work."""

from __future__ import annotations

import torch

import lamina
from lamina.models import (
    dbn,
    gan,
    gan_networks,
    gan_sampling,
    rbm,
    rbm_plots,
    vae,
    vae_plots,
    vae_sampling,
)


def test_old_paths_name_the_same_objects():
    assert dbn.RBM is rbm.RBM is lamina.models.RBM
    assert dbn.DBN is lamina.models.DBN
    for name in ("Generator", "Discriminator", "discriminator_loss", "generator_loss"):
        assert getattr(gan, name) is getattr(gan_networks, name)
    assert vae.reparameterize is vae_sampling.reparameterize
    for module in (dbn, gan, vae):
        assert all(hasattr(module, name) for name in module.__all__)


def test_methods_stay_on_the_model_classes():
    for name in ("sample", "plot_samples"):
        assert getattr(gan.GAN, name) is getattr(gan_sampling.GANSamplingMixin, name)
    for name in ("encode", "decode", "sample", "importance_weighted_nll"):
        assert callable(getattr(vae.VAE, name))
    for name in ("plot_samples", "plot_reconstructions", "plot_latent"):
        assert getattr(vae.VAE, name) is getattr(vae_plots.VAEPlotsMixin, name)
    for model in (rbm.RBM, dbn.DBN):
        assert callable(model.plot_filters) and callable(model.plot_samples)
    assert callable(rbm_plots.draw_filters)


def test_vae_sample_and_score_after_split():
    x = (torch.rand(32, 3, 3) < 0.5).float()
    model = vae.VAE(latent=2, units=(8,)).compile(optimizer="adam", learning_rate=1e-2)
    model.fit(x, epochs=1, verbose=0, seed=0)
    assert model.sample(3, seed=0).shape == (3, 3, 3)
    assert model.encode(x)[0].shape == (32, 2)
    assert model.importance_weighted_nll(x, samples=2) > 0


def test_rbm_settings_are_checked_for_both_models():
    import pytest

    with pytest.raises(lamina.errors.ConfigError, match="k=0"):
        rbm.check_settings(4, "bernoulli", 0, "RBM")
    with pytest.raises(lamina.errors.ConfigError, match="units"):
        dbn.DBN(units=())

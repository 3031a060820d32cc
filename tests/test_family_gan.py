"""GAN: the model contract, the losses against their formulas, one step against plain torch with two
optimizers, learning a toy distribution, conditioning, save/load, resumable checkpoints, bad input."""

import copy

import numpy as np
import pytest
import torch
from lamina.errors import ConfigError, DataError, ShapeError
from torch.nn.utils import parametrize

import lamina
from lamina.models.gan import GAN, Discriminator, Generator, discriminator_loss, generator_loss

SMALL = {"latent": 8, "image_shape": (1, 8, 8), "filters": 8}


def bars(rows=64, seed=0):
    """8x8 images, faint noise plus one bright row: row 1 for class 0, row 6 for class 1."""
    rng = np.random.default_rng(seed)
    x = rng.random((rows, 1, 8, 8), dtype=np.float32) * 0.1
    y = np.arange(rows) % 2
    x[np.arange(rows), 0, 1 + 5 * y, :] = 1.0
    return x, y


def nearest_distance(samples, data):
    a, b = (
        torch.as_tensor(samples).reshape(len(samples), -1),
        torch.as_tensor(data).reshape(len(data), -1),
    )
    return float(torch.cdist(a, b).min(1).values.mean())


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize(
    "options,labelled,outputs",
    [({}, False, 1), ({"spectral_norm": True}, False, 1), ({"conditional_classes": 2}, True, 2)],
)
def test_check_model(options, labelled, outputs):
    x, y = bars(48)
    torch.manual_seed(0)
    gan = GAN(**SMALL, **options)
    report = lamina.testing.check_model(
        gan, x, y if labelled else None, loss="non_saturating", learning_rate=3e-3
    )
    assert report["output_shape"] == (
        48,
        outputs,
    )  # the discriminator's probabilities: one column per class
    assert report["parameters"] == sum(p.numel() for p in gan.parameters())


def test_shapes_and_structure():
    generator = Generator(16, (3, 12, 8), filters=4)
    assert generator(torch.randn(5, 16)).shape == (5, 3, 12, 8)
    assert generator.start == (8, 3, 2)  # (2F, H/4, W/4) before the two transposed convolutions
    discriminator = Discriminator((3, 12, 8), classes=4, filters=4)
    x = torch.rand(5, 3, 12, 8)
    scores = discriminator(x)
    assert scores.shape == (5, 4)
    labels = torch.tensor([0, 3, 1, 2, 3])
    torch.testing.assert_close(discriminator(x, labels), scores.gather(1, labels[:, None]))
    gan = GAN(**SMALL)
    assert gan(torch.rand(3, 8, 8)).shape == (3, 1)  # (N, H, W) gets the channel axis
    assert gan.sample(6).shape == (6, 1, 8, 8)
    normed = GAN(**SMALL, spectral_norm=True).discriminator
    assert all(
        parametrize.is_parametrized(layer, "weight")
        for layer in (normed.features[0], normed.features[2], normed.head)
    )
    assert not parametrize.is_parametrized(gan.discriminator.head)
    deeper = GAN(
        **SMALL, generator_depth=2
    ).generator.body  # two 3x3 conv blocks on the (2F, H/4, W/4) maps
    convs = [layer for layer in deeper if isinstance(layer, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(16, 16, (3, 3))] * 2
    assert deeper(torch.randn(2, 16, 2, 2)).shape == (2, 1, 8, 8)


def test_projection_term_matches_hand_computation():
    discriminator = Discriminator((1, 8, 8), classes=3, filters=4)
    x, labels = torch.rand(4, 1, 8, 8), torch.tensor([2, 0, 1, 2])
    features = discriminator.features(x)
    expected = discriminator.head(features)[:, 0] + (
        discriminator.embedding.weight[labels] * features
    ).sum(1)
    torch.testing.assert_close(discriminator(x, labels)[:, 0], expected)


# ------------------------------------------------------------------ losses
def test_losses_match_their_formulas():
    torch.manual_seed(0)
    real_logits, fake_logits = torch.randn(16, 1), torch.randn(16, 1)
    d_real, d_fake = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    standard_d = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
    torch.testing.assert_close(discriminator_loss(real_logits, fake_logits), standard_d)
    s = 0.1  # one-sided: only the real targets move to 1 - s
    smoothed = (
        -((1 - s) * torch.log(d_real) + s * torch.log(1 - d_real)).mean()
        - torch.log(1 - d_fake).mean()
    )
    torch.testing.assert_close(
        discriminator_loss(real_logits, fake_logits, label_smoothing=s), smoothed
    )
    torch.testing.assert_close(
        generator_loss(fake_logits, "standard"), torch.log(1 - d_fake).mean()
    )
    torch.testing.assert_close(
        generator_loss(fake_logits, "non_saturating"), -torch.log(d_fake).mean()
    )
    torch.testing.assert_close(
        generator_loss(fake_logits), -torch.log(d_fake).mean()
    )  # the default


def test_standard_loss_saturates_where_non_saturating_does_not():
    confident = torch.full(
        (4, 1), -8.0, requires_grad=True
    )  # D(G(z)) ~ 3e-4: the fakes are rejected
    grads = [
        torch.autograd.grad(generator_loss(confident, loss), confident)[0].abs().sum()
        for loss in ("standard", "non_saturating")
    ]
    assert grads[0] < 1e-3 < 0.9 < grads[1]


def test_one_step_matches_plain_torch_with_two_optimizers():
    """A fit step equals a hand-written loop: D step on detached fakes, then G step, two Adams."""
    x, _ = bars(16)
    torch.manual_seed(0)
    gan = GAN(**SMALL, label_smoothing=0.2).compile()
    generator, discriminator = copy.deepcopy(gan.generator), copy.deepcopy(gan.discriminator)
    history = gan.fit(x, epochs=1, batch_size=16, shuffle=False, seed=0, verbose=0)
    adam_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    adam_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    torch.manual_seed(0)  # fit(seed=0) seeds the global RNG the noise comes from
    fake = generator(torch.randn(16, 8))
    real = torch.from_numpy(x) * 2 - 1  # tanh output: the discriminator sees [-1, 1]
    d_real, d_fake = torch.sigmoid(discriminator(real)), torch.sigmoid(discriminator(fake.detach()))
    d_loss = (
        -(0.8 * torch.log(d_real) + 0.2 * torch.log(1 - d_real)).mean()
        - torch.log(1 - d_fake).mean()
    )
    adam_d.zero_grad()
    d_loss.backward()
    adam_d.step()
    g_loss = -torch.log(torch.sigmoid(discriminator(fake))).mean()
    adam_g.zero_grad()
    g_loss.backward()
    adam_g.step()
    assert history.history["loss"][0] == pytest.approx(d_loss.item(), rel=1e-5)
    assert history.history["generator_loss"][0] == pytest.approx(g_loss.item(), rel=1e-5)
    for mine, theirs in ((gan.generator, generator), (gan.discriminator, discriminator)):
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, msg=name)


def test_default_optimizer_has_one_group_per_network():
    gan = GAN(**SMALL).compile()
    generator_group, discriminator_group = gan.optimizer.param_groups
    assert generator_group["betas"] == (0.5, 0.999) and generator_group["lr"] == 2e-4
    assert generator_group["params"] == list(gan.generator.parameters())
    assert discriminator_group["params"] == list(gan.discriminator.parameters())
    assert GAN(**SMALL).compile(learning_rate=1e-3).optimizer.param_groups[1]["lr"] == 1e-3
    assert type(GAN(**SMALL).compile("sgd").optimizer).__name__ == "SGD"


# ------------------------------------------------------------------ learning
def test_samples_move_toward_a_toy_distribution():
    x, _ = bars(64)
    torch.manual_seed(0)
    gan = GAN(**SMALL).compile(learning_rate=2e-3)
    before = nearest_distance(gan.sample(64, seed=1), x)
    gan.fit(x, epochs=60, batch_size=32, seed=0, verbose=0)
    after = nearest_distance(gan.sample(64, seed=1), x)
    assert after < 0.5 * before, (before, after)
    bright_rows = gan.sample(64, seed=2)[:, 0].mean(2).argmax(1)  # the brightest row of each sample
    assert set(bright_rows.tolist()) == {1, 6}  # both modes, nothing else


def test_conditional_samples_follow_their_labels():
    x, y = bars(64)
    torch.manual_seed(0)
    gan = GAN(**SMALL, conditional_classes=2).compile(learning_rate=2e-3)
    gan.fit(x, y, epochs=60, batch_size=32, seed=0, verbose=0)
    for label, row in ((0, 1), (1, 6)):
        samples = gan.sample(32, labels=label, seed=3)[:, 0]  # (32, 8, 8)
        assert (samples.mean(2).argmax(1) == row).mean() >= 0.9
    mixed = gan.sample(4, seed=3)[:, 0].mean(2).argmax(1)  # default labels 0, 1, 0, 1
    assert mixed.tolist() == [1, 6, 1, 6]


# ------------------------------------------------------------------ sampling, saving, checkpoints
@pytest.mark.parametrize("output", ["tanh", "sigmoid"])
def test_sample_range_and_seed(output):
    gan = GAN(**SMALL, output=output)
    with torch.no_grad():
        gan.generator.body[-2].bias.fill_(5.0)  # push the last layer toward saturation
    samples = gan.sample(32, seed=0)
    assert (
        samples.dtype == np.float32
        and samples.min() >= 0.0
        and samples.max() <= 1.0
        and samples.max() > 0.99
    )
    np.testing.assert_array_equal(samples, gan.sample(32, seed=0))
    assert not np.array_equal(samples, gan.sample(32, seed=1))
    assert gan.training  # sampling switches to eval mode and back


def test_save_load_round_trip_gives_identical_samples(tmp_path):
    x, y = bars(32)
    gan = GAN(**SMALL, conditional_classes=2, spectral_norm=True).compile()
    gan.fit(x, y, epochs=2, batch_size=8, seed=0, verbose=0)
    reloaded = lamina.load(gan.save(str(tmp_path / "gan")))
    assert type(reloaded) is GAN and reloaded.get_params() == gan.get_params()
    np.testing.assert_array_equal(reloaded.sample(16, seed=5), gan.sample(16, seed=5))
    np.testing.assert_array_equal(
        reloaded.sample(3, labels=[1, 1, 0], seed=5), gan.sample(3, labels=[1, 1, 0], seed=5)
    )
    np.testing.assert_array_equal(reloaded.predict(x), gan.predict(x))
    assert reloaded.history_.history.keys() == {"loss", "generator_loss"}
    deep = GAN(**SMALL, generator_depth=1).compile()
    deep.fit(x, epochs=1, batch_size=8, seed=0, verbose=0)
    again_deep = lamina.load(deep.save(str(tmp_path / "deep")))
    assert again_deep.get_params()["generator_depth"] == 1
    np.testing.assert_array_equal(again_deep.sample(4, seed=2), deep.sample(4, seed=2))
    named = GAN(**SMALL).compile(
        "adam", learning_rate=1e-3
    )  # named settings are re-applied on load
    named.fit(x, epochs=1, batch_size=8, seed=0, verbose=0)
    again = lamina.load(named.save(str(tmp_path / "named")))
    assert [group["lr"] for group in again.optimizer.param_groups] == [1e-3, 1e-3]


class Crash(lamina.callbacks.Callback):
    def __init__(self, at):
        self.at, self.steps = at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.at:
            raise RuntimeError("crash")


def test_checkpoint_resume_is_bit_identical(tmp_path):
    """Both networks' optimizer states are in the checkpoint: a crashed run resumes exactly."""
    x, _ = bars(64)  # 4 steps per epoch at batch 16

    def run(directory, init_seed, **options):
        torch.manual_seed(init_seed)
        gan = GAN(**SMALL, spectral_norm=True).compile(learning_rate=1e-3)
        gan.fit(
            x,
            epochs=3,
            batch_size=16,
            seed=0,
            verbose=0,
            checkpoint_dir=str(tmp_path / directory),
            checkpoint_every=3,
            **options,
        )
        return gan

    reference = run("reference", 0)
    state = reference.optimizer.state_dict()["state"]
    assert len(state) == len(
        list(reference.parameters())
    )  # Adam moments for generator and discriminator
    with pytest.raises(RuntimeError, match="crash"):
        run("crashed", 0, callbacks=[Crash(at=8)])  # last checkpoint: epoch 1, step 3
    resumed = run(
        "crashed", 1, resume=True
    )  # other initial weights: all state comes from the checkpoint
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    np.testing.assert_array_equal(resumed.sample(8, seed=0), reference.sample(8, seed=0))


def test_plot_samples_and_loss_curves(tmp_path):
    gan = GAN(**SMALL).compile()
    history = gan.fit(bars(16)[0], epochs=2, batch_size=8, seed=0, verbose=0)
    figure = gan.plot_samples(tmp_path / "samples.png", n=10)
    assert (tmp_path / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = figure.axes[0].get_images()[0].get_array()
    assert grid.shape == (
        3 * 9 + 1,
        4 * 9 + 1,
    )  # 3 rows x 4 columns of 8 x 8 pixels, 1-pixel borders
    curves = lamina.plot.plot_history(history, tmp_path / "losses.png")
    assert [ax.get_title() for ax in curves.axes] == ["loss", "generator_loss"]


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"latent": 0}, "latent=0"),
        ({"image_shape": (28, 28)}, r"image_shape=\(28, 28\)"),
        ({"image_shape": (1, 30, 30)}, "divisible by 4"),
        ({"conditional_classes": 1}, "conditional_classes=1"),
        ({"loss": "wasserstein"}, "'non_saturating', 'standard'"),
        ({"label_smoothing": 1.0}, "label_smoothing=1.0"),
        ({"spectral_norm": "yes"}, "spectral_norm='yes'"),
        ({"filters": 0}, "filters=0"),
        ({"output": "relu"}, "output='relu'"),
        ({"generator_depth": -1}, "generator_depth=-1"),
        ({"generator_depth": True}, "generator_depth=True"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        GAN(**kwargs)


def test_bad_data_and_labels_say_what_and_how():
    x, y = bars(8)
    gan = GAN(**SMALL).compile()
    with pytest.raises(ShapeError, match=r"shape \(8, 1, 12, 12\).*image_shape"):
        gan.fit(np.zeros((8, 1, 12, 12), np.float32))
    with pytest.raises(DataError, match=r"values from 0\.0\d+ to 255.*\[0, 1\]"):
        gan.fit(x * 255)
    with pytest.raises(DataError, match="unconditional"):
        gan.fit(x, y)
    with pytest.raises(DataError, match="unconditional"):
        gan.sample(4, labels=1)
    conditional = GAN(**SMALL, conditional_classes=2).compile()
    with pytest.raises(DataError, match="labels from 0 to 2.*0..1"):
        conditional.fit(x, np.arange(8) % 3)
    with pytest.raises(DataError, match="labels from -1 to -1"):
        conditional.sample(4, labels=-1)
    with pytest.raises(DataError, match="needs labels"):
        conditional.fit(x)
    with pytest.raises(DataError, match=r"shape \(3,\)"):
        conditional.sample(4, labels=[0, 1, 0])
    with pytest.raises(ConfigError, match="n=0"):
        conditional.sample(0)


def test_bad_compile_and_fit_options():
    gan = GAN(**SMALL)
    with pytest.raises(ConfigError, match="constructor"):
        gan.compile(loss="mse")
    with pytest.raises(ConfigError, match="no metrics"):
        gan.compile(metrics=["accuracy"])
    with pytest.raises(ConfigError, match="accumulate=2"):
        gan.compile().fit(bars(8)[0], accumulate=2)
    assert gan.compile(loss="non_saturating") is gan  # repeating the constructor's loss is fine

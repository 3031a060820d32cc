"""CNN: the model contract for each preset, shapes in 1-D and 2-D, augmentation, a torch oracle, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lamina.errors import ConfigError, ShapeError

import lamina
from lamina.models import CNN


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize(
    "preset,filters", [(None, (4, 8)), ("lenet5", (32, 64)), ("resnet", (4, 8))]
)
def test_check_model_each_preset(images, preset, filters):
    report = lamina.testing.check_model(
        CNN(preset=preset, filters=filters, outputs=3, dropout=0.1), *images, epochs=8
    )
    assert report["output_shape"] == (48, 3)


def test_check_model_plain_parameter_count(images):
    report = lamina.testing.check_model(CNN(filters=(4, 8), outputs=3), *images, epochs=8)
    conv = (1 * 9 * 4 + 4) + 2 * 4 + (4 * 9 * 8 + 8) + 2 * 8
    assert report["parameters"] == conv + 8 * 3 * 3 * 3 + 3  # 12 -> 6 -> 3 after two pools


def test_check_model_one_dimensional():
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 2, 20), dtype=np.float32), np.arange(40) % 2
    x[y == 1, 0, :5] += 1.0
    for preset in (None, "resnet"):
        report = lamina.testing.check_model(
            CNN(preset=preset, filters=(4, 8), outputs=2, dims=1), x, y, epochs=8
        )
        assert report["output_shape"] == (40, 2)


def test_forward_shapes():
    assert CNN()(torch.ones(2, 1, 12, 12)).shape == (2, 10)
    assert CNN()(torch.ones(2, 12, 12)).shape == (2, 10)  # channel axis added
    assert CNN(preset="lenet5")(torch.ones(2, 3, 32, 32)).shape == (2, 10)
    assert CNN(preset="resnet", filters=(4, 8, 16), outputs=5)(torch.ones(2, 1, 9, 7)).shape == (
        2,
        5,
    )
    assert CNN(dims=1, filters=(4,), outputs=3)(torch.ones(2, 20)).shape == (2, 3)
    assert CNN(preset="lenet5", dims=1)(torch.ones(2, 2, 20)).shape == (2, 10)


def test_layer_structure():
    lenet = [type(m).__name__ for m in CNN(preset="lenet5").features]
    assert (
        lenet.count("Conv2D") == 2 and lenet.count("MaxPool2D") == 2 and lenet.count("Dense") == 2
    )
    resnet = CNN(preset="resnet", filters=(4, 8, 16)).features
    blocks = [m for m in resnet if type(m).__name__ == "ResidualBlock"]
    assert [(b.filters, b.strides) for b in blocks] == [(4, 1), (8, 2), (16, 2)]
    assert [type(m).__name__ for m in CNN(filters=(4,), dims=1).features] == [
        "Conv1D",
        "BatchNorm",
        "Activation",
        "MaxPool1D",
        "Flatten",
    ]


def test_lenet5_matches_plain_torch():
    model = CNN(preset="lenet5", outputs=4).eval()
    x = torch.rand(3, 1, 28, 28)
    out = model(x)
    c1, _, _, c2, _, _, _, d1, d2 = model.features
    h = F.max_pool2d(F.relu(F.conv2d(x, c1.weight, c1.bias, padding=2)), 2)  # (3, 6, 14, 14)
    h = F.max_pool2d(F.relu(F.conv2d(h, c2.weight, c2.bias)), 2)  # (3, 16, 5, 5)
    h = F.relu(F.linear(h.reshape(3, -1), d1.weight, d1.bias))
    h = F.relu(F.linear(h, d2.weight, d2.bias))
    expected = F.linear(h, model.head[0].weight, model.head[0].bias)
    torch.testing.assert_close(out, expected)


def test_residual_block_matches_plain_torch():
    block = (
        CNN(preset="resnet", filters=(4, 6)).features[4].eval()
    )  # strided block with a projection
    x = torch.rand(2, 4, 6, 6)
    out = block(x)

    def bn(h, norm):
        return F.batch_norm(
            h, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.1, 1e-5
        )

    h = F.relu(
        bn(F.conv2d(x, block.conv1.weight, block.conv1.bias, stride=2, padding=1), block.norm1)
    )
    h = bn(F.conv2d(h, block.conv2.weight, block.conv2.bias, padding=1), block.norm2)
    conv, norm = block.shortcut
    torch.testing.assert_close(
        out, F.relu(h + bn(F.conv2d(x, conv.weight, conv.bias, stride=2), norm))
    )


def test_save_load_round_trip_identical_predictions(tmp_path, images):
    x, y = images
    for model in (
        CNN(filters=(4,), outputs=3, augment={"shift": 1}),
        CNN(preset="resnet", filters=(4, 8), outputs=3),
    ):
        model.compile(optimizer="adam", loss="cross_entropy", learning_rate=1e-2)
        model.fit(x, y, epochs=2, verbose=0, seed=0)
        reloaded = lamina.load(model.save(str(tmp_path / str(model.preset))))
        assert type(reloaded) is CNN
        assert reloaded.get_params() == model.get_params()
        np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))


# ------------------------------------------------------------------ augmentation
def test_flip_mirrors_the_last_axis():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4)
    torch.testing.assert_close(CNN(augment={"flip": 1.0}).augment_inputs(x), x.flip(-1))
    torch.testing.assert_close(CNN(augment={"flip": 0.0}).augment_inputs(x), x)


def test_shift_keeps_shape_and_moves_mass():
    x = torch.zeros(16, 1, 10, 10)
    x[:, 0, 4:6, 4:6] = 1.0  # a blob away from the border: every shift keeps all of it
    torch.manual_seed(0)
    out = CNN(augment={"shift": 2}).augment_inputs(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
    assert not torch.equal(out, x)
    moved = out[:, 0].nonzero()[:, 1:].reshape(16, 4, 2).amin(1)  # each sample's blob corner
    assert moved.min() >= 2 and moved.max() <= 6
    torch.manual_seed(0)
    torch.testing.assert_close(
        CNN(augment={"shift": 2}).augment_inputs(x), out
    )  # seeded: repeatable


def test_shift_one_dimensional_and_crop_shapes():
    x = torch.zeros(8, 2, 20)
    x[:, :, 9] = 1.0
    torch.manual_seed(0)
    shifted = CNN(dims=1, augment={"shift": 3}).augment_inputs(x)
    assert shifted.shape == x.shape and torch.equal(shifted.sum(-1), x.sum(-1))
    assert set(shifted[:, 0].argmax(-1).tolist()) <= set(range(6, 13))
    assert CNN(dims=1, augment=("crop",)).augment_inputs(x).shape == x.shape
    image = torch.rand(4, 3, 12, 12)
    assert CNN(augment=("crop", "shift", "flip")).augment_inputs(image).shape == image.shape
    torch.testing.assert_close(
        CNN(augment={"crop": 1.0}).augment_inputs(image), image
    )  # full crop: identity


def test_augmentation_only_in_training(images):
    x, y = images
    model = CNN(filters=(4,), outputs=3, augment={"flip": 1.0, "shift": 2})
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    model.compile(optimizer="adam", loss="cross_entropy")
    model.fit(x, y, epochs=1, batch_size=48, shuffle=False, verbose=0, seed=0)
    assert not torch.equal(seen[-1], torch.from_numpy(x))  # the training batch was augmented
    seen.clear()
    first = model.predict(x)
    np.testing.assert_array_equal(first, model.predict(x))
    assert torch.equal(seen[-1].cpu(), torch.from_numpy(x))  # predict sees the raw input
    model.train()
    torch.testing.assert_close(
        model(torch.from_numpy(x)), model(torch.from_numpy(x))
    )  # forward never augments


# ------------------------------------------------------------------ bad input
def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="'lenet5', 'resnet'"):
        CNN(preset="vgg")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": ()},
        {"filters": 32},
        {"filters": (8, 0)},
        {"kernel_size": 4},
        {"outputs": 0},
        {"dims": 3},
        {"dropout": 1.0},
        {"augment": "flip"},
        {"augment": ("rotate",)},
        {"augment": {"flip": 2.0}},
        {"augment": {"shift": 1.5}},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ConfigError, match="Received"):
        CNN(**kwargs)


def test_wrong_input_rank_names_the_shape():
    with pytest.raises(ShapeError, match=r"shape \(2, 5\)"):
        CNN()(torch.ones(2, 5))
    with pytest.raises(ShapeError, match=r"shape \(2, 1, 3, 4, 4\)"):
        CNN(dims=2)(torch.ones(2, 1, 3, 4, 4))
    with pytest.raises(ShapeError, match=r">= 12"):
        CNN(preset="lenet5")(torch.ones(2, 1, 8, 8))


def test_fit_with_wrong_rank_fails_before_training():
    model = CNN(dims=1).compile(optimizer="adam", loss="cross_entropy")
    with pytest.raises(ShapeError, match="dims=1"):
        model.fit(np.ones((4, 1, 8, 8), dtype=np.float32), np.zeros(4, dtype=np.int64), verbose=0)

"""``lamina.models.GAN``: a DCGAN-style generative adversarial network, trained with ``fit``.

One system (Goodfellow et al., 2014; Radford et al., 2016) over two plain modules, the
:class:`Generator` and the :class:`Discriminator`, which live in ``lamina.models.gan_networks``
with the two losses and are re-exported here. :class:`GAN`'s ``train_step`` makes one
discriminator update, then one generator update on the same fake batch. Images are always in
``[0, 1]`` for the user; with ``output="tanh"`` the discriminator sees them rescaled to ``[-1, 1]``,
the generator's range. Sampling and the sample grid come from ``lamina.models.gan_sampling``.

>>> import lamina
>>> from lamina.models.gan import GAN
>>> gan = GAN(latent=8, image_shape=(1, 8, 8), filters=4).compile()
>>> history = gan.fit(torch.rand(16, 1, 8, 8), epochs=1, batch_size=8, seed=0)
>>> sorted(history.history)
['generator_loss', 'loss']
>>> gan.sample(4, seed=0).shape
(4, 1, 8, 8)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lamina.core.errors import ConfigError, DataError, ShapeError, message
from lamina.models.base import Model
from lamina.models.gan_networks import (
    LOSSES,
    Discriminator,
    Generator,
    discriminator_loss,
    generator_loss,
)
from lamina.models.gan_sampling import GANSamplingMixin
from lamina.nn import tensors as data_lib

if TYPE_CHECKING:
    from lamina.train.callbacks import History

__all__ = ["GAN", "Discriminator", "Generator", "discriminator_loss", "generator_loss"]

OUTPUTS = ("sigmoid", "tanh")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check(
    latent: Any,
    image_shape: Any,
    conditional_classes: Any,
    loss: Any,
    label_smoothing: Any,
    spectral_norm: Any,
    filters: Any,
    output: Any,
    depth: Any = 0,
) -> None:
    if not _positive_int(latent):
        raise ConfigError(
            message(
                "GAN latent must be a positive int.",
                f"latent={latent!r}",
                "an int >= 1",
                "Pass latent=64 (the size of the noise vector).",
            )
        )
    if (
        isinstance(image_shape, (str, bytes))
        or not isinstance(image_shape, Sequence)
        or len(image_shape) != 3
        or not all(_positive_int(n) for n in image_shape)
        or image_shape[1] % 4
        or image_shape[2] % 4
    ):
        raise ConfigError(
            message(
                "GAN image_shape must be (channels, height, width), height and width "
                "divisible by 4 (two stride-2 layers).",
                f"image_shape={image_shape!r}",
                "e.g. (1, 28, 28) or (3, 32, 32)",
                "Pad or resize the images to a multiple of 4 and pass (C, H, W).",
            )
        )
    if conditional_classes is not None and (
        not _positive_int(conditional_classes) or conditional_classes < 2
    ):
        raise ConfigError(
            message(
                "GAN conditional_classes must be None or an int >= 2.",
                f"conditional_classes={conditional_classes!r}",
                "None (unconditional) or >= 2",
                "Pass conditional_classes=10 to condition on ten classes.",
            )
        )
    if loss not in LOSSES:
        generator_loss(torch.zeros(1, 1), loss)  # raises the unknown-loss error
    if (
        isinstance(label_smoothing, bool)
        or not isinstance(label_smoothing, (int, float))
        or not 0.0 <= label_smoothing < 1.0
    ):
        raise ConfigError(
            message(
                "GAN label_smoothing out of range.",
                f"label_smoothing={label_smoothing!r}",
                "0 <= label_smoothing < 1",
                "Pass label_smoothing=0.1 (real targets 0.9).",
            )
        )
    if not isinstance(spectral_norm, bool):
        raise ConfigError(
            message(
                "GAN spectral_norm must be a bool.",
                f"spectral_norm={spectral_norm!r}",
                "True or False",
                "Pass spectral_norm=True.",
            )
        )
    if not _positive_int(filters):
        raise ConfigError(
            message(
                "GAN filters must be a positive int.",
                f"filters={filters!r}",
                "an int >= 1",
                "Pass filters=64.",
            )
        )
    if not (_positive_int(depth) or depth == 0) or isinstance(depth, bool):
        raise ConfigError(
            message(
                "GAN generator_depth must be an int >= 0.",
                f"generator_depth={depth!r}",
                "0, 1, 2, ...",
                "Pass generator_depth=2 for two extra 3x3 convolutions.",
            )
        )
    if output not in OUTPUTS:
        raise ConfigError(
            message(
                "Unknown GAN output.",
                f"output={output!r}",
                f"one of {OUTPUTS}",
                "Pass output='tanh' or output='sigmoid'.",
            )
        )


class GAN(GANSamplingMixin, Model):
    """A DCGAN-style GAN for images in ``[0, 1]``: ``fit(x)``, or ``fit(x, labels)`` if conditional.

    Args:
        latent: size of the generator's noise vector.
        image_shape: ``(C, H, W)`` of the images, ``H`` and ``W`` divisible by 4; ``(N, H, W)``
            input is accepted when ``C == 1``.
        conditional_classes: None (unconditional), or the number of classes to condition on
            (``fit(x, y)`` with int labels in ``0..classes-1``).
        loss: the generator's objective, ``"non_saturating"`` (``-log D(G(z))``) or ``"standard"``
            (minimise ``log(1 - D(G(z)))``); see :func:`generator_loss`.
        label_smoothing: one-sided smoothing ``s``: real images get target ``1 - s`` in the
            discriminator's loss (:func:`discriminator_loss`).
        spectral_norm: spectral normalisation on every discriminator layer.
        filters: width ``F`` of both networks (the generator's hidden maps have ``2F`` then ``F``
            channels, the discriminator's ``F`` then ``2F``).
        output: the generator's last activation, ``"tanh"`` (the discriminator then sees images in
            ``[-1, 1]``) or ``"sigmoid"``; samples are always in ``[0, 1]``.
        generator_depth: extra 3x3 convolution blocks in the generator on its ``2F`` maps (0: plain
            DCGAN; the MNIST quality recipe uses 2).

    ``compile()`` with no optimizer gives Adam(lr 2e-4, betas (0.5, 0.999)); ``learning_rate``
    changes the rate. The optimizer (built from a name, class or callable) gets two parameter
    groups, the generator's (``param_groups[0]``) and the discriminator's (``param_groups[1]``):
    each update leaves the other network's gradients at None, so it steps one network only, exactly
    as two optimizers with the same settings would. Both networks' optimizer state therefore lives
    in ``model.optimizer`` and is saved by ``fit(checkpoint_dir=...)`` and restored by
    ``resume=True``. The logs hold the discriminator's loss as ``loss`` and ``generator_loss``.
    ``predict(x)`` (and ``forward``) gives the discriminator's probability that each image is real,
    ``(N, 1)``, or ``(N, classes)`` for a conditional GAN (one column per class). Gradient
    accumulation is not supported.

    >>> gan = GAN(latent=8, image_shape=(1, 8, 8), conditional_classes=3, filters=4)
    >>> gan.sample(5, seed=0).shape
    (5, 1, 8, 8)
    """

    _lamina_name = "lamina.models.GAN"

    def __init__(
        self,
        latent: int = 64,
        image_shape: Sequence[int] = (1, 28, 28),
        conditional_classes: int | None = None,
        loss: str = "non_saturating",
        label_smoothing: float = 0.0,
        spectral_norm: bool = False,
        *,
        filters: int = 64,
        output: str = "tanh",
        generator_depth: int = 0,
    ) -> None:
        super().__init__()
        _check(
            latent,
            image_shape,
            conditional_classes,
            loss,
            label_smoothing,
            spectral_norm,
            filters,
            output,
            generator_depth,
        )
        self.latent, self.image_shape, self.conditional_classes = (
            latent,
            image_shape,
            conditional_classes,
        )
        self.loss, self.label_smoothing, self.spectral_norm = loss, label_smoothing, spectral_norm
        self.filters, self.output, self.generator_depth = filters, output, generator_depth
        self.generator = Generator(
            latent, image_shape, conditional_classes, filters, output, generator_depth
        )
        self.discriminator = Discriminator(image_shape, conditional_classes, filters, spectral_norm)

    # ------------------------------------------------------------------ compile and optimizer
    def compile(  # type: ignore[override]
        self,
        optimizer: Any = None,
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        *,
        learning_rate: float | None = None,
        clip_norm: float | None = None,
        clip_value: float | None = None,
    ) -> GAN:
        """Choose the optimizer (default Adam(2e-4, betas=(0.5, 0.999))). Returns the model.

        Args:
            optimizer: None for the default, or anything ``lamina.Model.compile`` takes.
            loss: None, or the constructor's ``loss`` repeated (the objective is fixed at
            construction).
            metrics: must be empty (a GAN has no targets to score).
            learning_rate: the learning rate of both networks.
            clip_norm: clip each network's gradient norm before its step.
            clip_value: clip each gradient element to ``[-clip_value, clip_value]``.
        """
        if loss is not None and loss != self.loss:
            raise ConfigError(
                message(
                    "A GAN's loss is chosen in its constructor.",
                    f"compile(loss={loss!r})",
                    f"loss=None (or {self.loss!r}, the constructor's)",
                    f"Drop loss from compile(), or build GAN(loss={loss!r}).",
                )
            )
        if metrics:
            raise ConfigError(
                message(
                    "A GAN takes no metrics.",
                    repr(metrics),
                    "metrics=None",
                    "Drop metrics; judge samples with gan.sample() instead.",
                )
            )
        if optimizer is None:
            optimizer = functools.partial(
                torch.optim.Adam, lr=learning_rate or 2e-4, betas=(0.5, 0.999)
            )
        super().compile(
            optimizer,
            discriminator_loss,
            None,
            learning_rate=learning_rate,
            clip_norm=clip_norm,
            clip_value=clip_value,
        )
        self._compiled["loss"] = self.loss  # type: ignore[index]  # recorded in saved models
        return self

    def _recompile(self, compiled: Mapping[str, Any]) -> None:
        super()._recompile(
            {**compiled, "loss": None, "loss_fn": None}
        )  # the (new) constructor's loss

    def _make_optimizer(self) -> None:
        factory = self._compiled_or_raise("fit")["factory"]
        if isinstance(factory, torch.optim.Optimizer):
            self.optimizer = factory
        else:
            self.optimizer = factory(
                [
                    {"params": list(self.generator.parameters())},
                    {"params": list(self.discriminator.parameters())},
                ]
            )

    # ------------------------------------------------------------------ data checks
    def _images(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` images, or ``(N, H, W)`` when ``C == 1`` (gets the channel axis)."""
        shape = tuple(self.image_shape)
        if tuple(x.shape[1:]) == shape[1:] and shape[0] == 1:
            x = x.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
        if tuple(x.shape[1:]) != shape:
            raise ShapeError(
                message(
                    "The images do not have the GAN's image_shape.",
                    f"shape {tuple(x.shape)}",
                    f"(N, *{shape})" + (f" or (N, *{shape[1:]})" if shape[0] == 1 else ""),
                    "Reshape the images, or build the GAN with image_shape=(C, H, W) of your data.",
                )
            )
        return x

    def _check_input(self, x: torch.Tensor) -> None:
        self._images(x)

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Images in ``[0, 1]`` -> the discriminator's range, ``(N, C, H, W)``."""
        x = self._images(x)
        return x * 2 - 1 if self.output == "tanh" else x

    def _labels(self, labels: Any, rows: int) -> torch.Tensor | None:
        """Labels as an int64 tensor ``(rows,)`` (None for an unconditional GAN), checked."""
        classes = self.conditional_classes
        if classes is None:
            if labels is not None:
                raise DataError(
                    message(
                        "This GAN is unconditional: it takes no labels.",
                        f"labels of type {type(labels).__name__}",
                        "no labels (y=None, labels=None)",
                        "Drop the labels, or build GAN(conditional_classes=K) "
                        "to condition on them.",
                    )
                )
            return None
        if labels is None:
            raise DataError(
                message(
                    "A conditional GAN needs labels.",
                    "no labels",
                    f"{rows} int labels in 0..{classes - 1}",
                    "Pass fit(x, y) or sample(n, labels=...).",
                )
            )
        tensor = torch.as_tensor(
            np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels
        )
        if tensor.dim() == 0:
            tensor = tensor.expand(rows)
        if (
            tensor.is_floating_point()
            and bool((tensor != tensor.round()).any())
            or tensor.shape != (rows,)
        ):
            raise DataError(
                message(
                    "GAN labels must be one int class id per image.",
                    f"labels with shape {tuple(tensor.shape)} and dtype {tensor.dtype}",
                    f"{rows} int labels",
                    "Pass one class id per row, e.g. np.array([0, 3, 1]).",
                )
            )
        low, high = int(tensor.min()), int(tensor.max())
        if low < 0 or high >= classes:
            raise DataError(
                message(
                    "GAN labels out of range.",
                    f"labels from {low} to {high}",
                    f"ids in 0..{classes - 1} (conditional_classes={classes})",
                    f"Re-encode the labels to 0..{classes - 1}, "
                    "or build the GAN with more classes.",
                )
            )
        return tensor.long()

    # ------------------------------------------------------------------ training
    def fit(self, x: Any, y: Any = None, **options: Any) -> History:  # type: ignore[override]
        """Train on images ``x`` in ``[0, 1]`` (and labels ``y`` if conditional), as ``Model.fit``.

        Returns:
            The ``History``, with ``loss`` (the discriminator's) and ``generator_loss`` per epoch.
        """
        if options.get("accumulate", 1) != 1:
            raise ConfigError(
                message(
                    "GAN does not support gradient accumulation.",
                    f"accumulate={options['accumulate']!r}",
                    "accumulate=1",
                    "Use a larger batch_size instead.",
                )
            )
        if data_lib.is_in_memory(x):
            x = self._images(data_lib.to_tensor(x, name="x"))
            if len(x) and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
                raise DataError(
                    message(
                        "GAN images must have pixel values in [0, 1].",
                        f"values from {float(x.min()):.4g} to {float(x.max()):.4g}",
                        "[0, 1]",
                        "Scale the images, e.g. x / 255.0.",
                    )
                )
            y = self._labels(y, len(x))
        return super().fit(x, y, **options)

    def _batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Real images in the discriminator's range, and labels (None when unconditional)."""
        if not isinstance(batch, (tuple, list)):
            batch = (batch,)
        x, labels = batch[0], (batch[1] if len(batch) > 1 else None)
        if self.conditional_classes is None:
            labels = None  # a dataset's labels are not used by an unconditional GAN
        elif labels is None:
            self._labels(None, len(x))  # raises: labels needed
        return self._scaled(x), (None if labels is None else labels.long())

    def _discriminator_loss(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        both = None if labels is None else torch.cat([labels, labels])
        real_logits, fake_logits = self.discriminator(torch.cat([real, fake]), both).split(
            len(real)
        )
        return discriminator_loss(
            real_logits, fake_logits, label_smoothing=self.label_smoothing
        ), fake_logits

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One discriminator update, then one generator update on the same fakes."""
        engine = self.engine
        real, labels = self._batch(batch)
        z = torch.randn(len(real), self.latent, device=real.device)
        with engine.autocast():
            fake = self.generator(z, labels)  # (N, C, H, W), kept for the generator's update
            d_loss, _ = self._discriminator_loss(real, fake.detach(), labels)
        engine.optimize(
            self, d_loss
        )  # the fakes are detached: only the discriminator gets gradients
        frozen = [p for p in self.discriminator.parameters() if p.requires_grad]
        for parameter in frozen:  # ...and now only the generator does
            parameter.requires_grad_(False)
        try:
            with engine.autocast():
                g_loss = generator_loss(self.discriminator(fake, labels), self.loss)
            engine.optimize(self, g_loss)
        finally:
            for parameter in frozen:
                parameter.requires_grad_(True)
        return {"loss": d_loss.detach(), "generator_loss": g_loss.detach()}

    def test_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """Both losses on a batch of real images and as many fresh fakes, without updates."""
        real, labels = self._batch(batch)
        fake = self.generator(torch.randn(len(real), self.latent, device=real.device), labels)
        d_loss, fake_logits = self._discriminator_loss(real, fake, labels)
        return {"loss": d_loss, "generator_loss": generator_loss(fake_logits, self.loss)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator's probability that each image (in ``[0, 1]``) is real: ``(N, 1)`` or
        ``(N, classes)``."""
        return torch.sigmoid(self.discriminator(self._scaled(x)))

"""Metrics against scikit-learn: streamed over uneven batches, weighted, binary and multiclass."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

import lamina

metrics = lamina.metrics
SIZES = (7, 1, 0, 33, 19)  # uneven batches, one of them empty
N = sum(SIZES)


def stream(
    metric: lamina.metrics.Metric,
    y_pred: torch.Tensor,
    y_true: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
) -> float:
    """Feed the data in uneven batches, check streaming == one batch, return the metric."""
    start = 0
    for size in SIZES:
        weight = None if sample_weight is None else sample_weight[start : start + size]
        metric.update(
            y_pred[start : start + size], y_true[start : start + size], sample_weight=weight
        )
        start += size
    streamed = metric.compute()
    whole = copy.deepcopy(metric)
    whole.reset()
    whole.update(y_pred, y_true, sample_weight=sample_weight)
    assert streamed == pytest.approx(whole.compute(), abs=1e-12, nan_ok=True)
    return streamed


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def classification(classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (N, C), labels (N,) with every class present, weights (N,)."""
    g = generator(seed)
    logits = torch.randn(N, classes, generator=g)
    labels = torch.randint(0, classes, (N,), generator=g)
    labels[:classes] = torch.arange(classes)
    return logits, labels, torch.rand(N, generator=g) * 2


def binary(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits (N,), labels (N,) in {0, 1}, weights (N,)."""
    g = generator(seed)
    labels = torch.randint(0, 2, (N,), generator=g)
    logits = torch.randn(N, generator=g) + labels  # informative but not perfect
    return logits, labels, torch.rand(N, generator=g) * 2


def weights_or_none(weighted: bool, weight: torch.Tensor) -> torch.Tensor | None:
    return weight if weighted else None


def numpy_weights(weighted: bool, weight: torch.Tensor) -> np.ndarray | None:
    return weight.numpy() if weighted else None


# ---------------------------------------------------------------- accuracy


@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_multiclass_matches_sklearn(weighted: bool) -> None:
    logits, labels, weight = classification(4)
    result = stream(metrics.Accuracy(), logits, labels, weights_or_none(weighted, weight))
    expected = skm.accuracy_score(
        labels, logits.argmax(1), sample_weight=numpy_weights(weighted, weight)
    )
    assert result == pytest.approx(expected)


def test_accuracy_one_hot_targets() -> None:
    logits, labels, _ = classification(4)
    one_hot = torch.nn.functional.one_hot(labels, 4).float()
    assert stream(metrics.Accuracy(), logits, one_hot) == pytest.approx(
        skm.accuracy_score(labels, logits.argmax(1))
    )


@pytest.mark.parametrize("pred_shape", ["(N,)", "(N, 1)"])
@pytest.mark.parametrize("true_shape", ["(N,)", "(N, 1)"])
def test_accuracy_binary_logits(pred_shape: str, true_shape: str) -> None:
    logits, labels, _ = binary()
    y_pred = logits if pred_shape == "(N,)" else logits[:, None]
    y_true = labels.float() if true_shape == "(N,)" else labels[:, None].float()
    expected = skm.accuracy_score(labels, logits > 0)
    assert stream(metrics.Accuracy(), y_pred, y_true) == pytest.approx(expected)
    probabilities = torch.sigmoid(y_pred)
    assert stream(metrics.Accuracy(threshold=0.5), probabilities, y_true) == pytest.approx(expected)


def test_accuracy_sequence_with_per_sample_weights() -> None:
    g = generator(1)
    logits, labels = torch.randn(N, 5, 3, generator=g), torch.randint(0, 3, (N, 5), generator=g)
    weight = torch.rand(N, generator=g)
    expected = skm.accuracy_score(
        labels.flatten(), logits.argmax(-1).flatten(), sample_weight=np.repeat(weight.numpy(), 5)
    )
    assert stream(metrics.Accuracy(), logits, labels, weight) == pytest.approx(expected)


def test_number_weight_scales_nothing() -> None:
    logits, labels, _ = classification(3)
    metric = metrics.Accuracy()
    metric.update(logits, labels, sample_weight=2.5)
    assert metric.compute() == pytest.approx(skm.accuracy_score(labels, logits.argmax(1)))


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_top_k_accuracy_matches_sklearn(k: int, weighted: bool) -> None:
    logits, labels, weight = classification(6)
    result = stream(metrics.TopKAccuracy(k=k), logits, labels, weights_or_none(weighted, weight))
    expected = skm.top_k_accuracy_score(
        labels, logits, k=k, labels=range(6), sample_weight=numpy_weights(weighted, weight)
    )
    assert result == pytest.approx(expected)


def test_top_k_larger_than_classes_is_one() -> None:
    logits, labels, _ = classification(3)
    assert stream(metrics.TopKAccuracy(k=10), logits, labels) == 1.0


# ---------------------------------------------------------------- precision, recall, f1

CONFUSION = [
    (metrics.Precision, skm.precision_score),
    (metrics.Recall, skm.recall_score),
    (metrics.F1Score, skm.f1_score),
]


@pytest.mark.parametrize(("cls", "reference"), CONFUSION)
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_metrics_multiclass(
    cls: type, reference: Callable[..., float], average: str, weighted: bool
) -> None:
    logits, labels, weight = classification(5)
    result = stream(cls(average=average), logits, labels, weights_or_none(weighted, weight))
    expected = reference(
        labels,
        logits.argmax(1),
        average=average,
        zero_division=0,
        sample_weight=numpy_weights(weighted, weight),
    )
    assert result == pytest.approx(expected)


@pytest.mark.parametrize(("cls", "reference"), CONFUSION)
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_metrics_binary_score_positive_class(
    cls: type, reference: Callable[..., float], weighted: bool
) -> None:
    logits, labels, weight = binary()
    result = stream(cls(), logits[:, None], labels, weights_or_none(weighted, weight))
    expected = reference(
        labels, logits > 0, zero_division=0, sample_weight=numpy_weights(weighted, weight)
    )
    assert result == pytest.approx(expected)


@pytest.mark.parametrize(("cls", "reference"), CONFUSION)
def test_macro_average_skips_classes_absent_from_the_data(
    cls: type, reference: Callable[..., float]
) -> None:
    logits, labels, _ = classification(5)
    labels = labels % 3  # classes 3 and 4 never true ...
    logits[:, 4] = -1e9  # ... and class 4 never predicted either; class 3 is predicted only
    result = stream(cls(), logits, labels)
    assert result == pytest.approx(
        reference(labels, logits.argmax(1), average="macro", zero_division=0)
    )


def test_zero_division_gives_zero() -> None:
    metric = metrics.Precision()
    metric.update(-torch.ones(4), torch.tensor([1, 0, 1, 0]))  # never predicts the positive class
    assert metric.compute() == 0.0
    assert metrics.F1Score().compute() == 0.0  # nothing seen yet


def test_labels_outside_the_classes_are_skipped() -> None:
    logits, labels, _ = classification(3)
    padded = labels.clone()
    padded[::4] = -100
    keep = padded >= 0
    metric = metrics.Recall(average="micro")
    metric.update(logits, padded)
    assert metric.compute() == pytest.approx(
        skm.recall_score(labels[keep], logits[keep].argmax(1), average="micro")
    )


# ---------------------------------------------------------------- auc


@pytest.mark.parametrize("form", ["(N,)", "(N, 1)", "(N, 2)"])
@pytest.mark.parametrize("weighted", [False, True])
def test_auc_binary_matches_sklearn(form: str, weighted: bool) -> None:
    scores, labels, weight = binary()
    y_pred = {
        "(N,)": scores,
        "(N, 1)": scores[:, None],
        "(N, 2)": torch.stack([-scores, scores], 1),
    }[form]
    result = stream(metrics.AUC(), y_pred, labels, weights_or_none(weighted, weight))
    assert result == pytest.approx(
        skm.roc_auc_score(labels, scores, sample_weight=numpy_weights(weighted, weight))
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_auc_handles_ties_like_sklearn(weighted: bool) -> None:
    _, labels, weight = binary()
    scores = torch.randint(-2, 3, (N,), generator=generator(3)).float()  # five values, many ties
    result = stream(metrics.AUC(), scores, labels, weights_or_none(weighted, weight))
    assert result == pytest.approx(
        skm.roc_auc_score(labels, scores, sample_weight=numpy_weights(weighted, weight))
    )
    assert stream(metrics.AUC(), torch.zeros(N), labels) == pytest.approx(0.5)  # all tied


@pytest.mark.parametrize("weighted", [False, True])
def test_auc_multiclass_one_vs_rest_macro(weighted: bool) -> None:
    logits, labels, weight = classification(4)
    result = stream(metrics.AUC(), logits, labels, weights_or_none(weighted, weight))
    expected = skm.roc_auc_score(
        labels,
        logits.softmax(1),
        multi_class="ovr",
        average="macro",
        sample_weight=numpy_weights(weighted, weight),
    )
    assert result == pytest.approx(expected)


def test_auc_multiclass_averages_classes_present() -> None:
    logits, labels, _ = classification(4)
    labels = labels % 3  # class 3 never true
    probabilities = logits.softmax(1)
    expected = np.mean([skm.roc_auc_score(labels == k, probabilities[:, k]) for k in range(3)])
    assert stream(metrics.AUC(), logits, labels) == pytest.approx(expected)


def test_auc_undefined_is_nan() -> None:
    assert np.isnan(metrics.AUC().compute())
    metric = metrics.AUC()
    metric.update(torch.randn(5), torch.ones(5))
    assert np.isnan(metric.compute())


# ---------------------------------------------------------------- regression


def regression(outputs: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = generator(seed)
    y_true = (
        torch.randn(N, outputs, generator=g) * torch.arange(1, outputs + 1) + 1000.0
    )  # large offset
    y_pred = y_true + torch.randn(N, outputs, generator=g)
    return y_pred, y_true, torch.rand(N, generator=g) * 2


@pytest.mark.parametrize(
    ("cls", "reference"),
    [
        (metrics.MeanSquaredError, skm.mean_squared_error),
        (metrics.MeanAbsoluteError, skm.mean_absolute_error),
        (metrics.R2Score, skm.r2_score),
    ],
)
@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_matches_sklearn(
    cls: type, reference: Callable[..., float], outputs: int, weighted: bool
) -> None:
    y_pred, y_true, weight = regression(outputs)
    if outputs == 1:  # (N,) predictions against (N, 1) targets are reshaped
        y_pred = y_pred[:, 0]
    result = stream(cls(), y_pred, y_true, weights_or_none(weighted, weight))
    expected = reference(
        y_true.double(),
        y_pred.double().reshape(N, outputs),
        sample_weight=numpy_weights(weighted, weight),
    )
    assert result == pytest.approx(expected, rel=1e-9)


def test_r2_constant_target_is_finite_like_sklearn() -> None:
    y_true = torch.full((10,), 3.0)
    for y_pred in (y_true, y_true + torch.linspace(-1, 1, 10)):
        metric = metrics.R2Score()
        metric.update(y_pred[:4], y_true[:4])
        metric.update(y_pred[4:], y_true[4:])
        assert metric.compute() == skm.r2_score(y_true, y_pred)


# ---------------------------------------------------------------- mean


def test_mean_weights_the_loss_by_batch_size() -> None:
    metric = metrics.Mean("loss")
    losses, sizes = [2.0, 4.0, 1.0], [32, 32, 5]
    for loss, size in zip(losses, sizes):
        metric.update(torch.tensor(loss, requires_grad=True) * 1, sample_weight=size)
    assert metric.compute() == pytest.approx(np.average(losses, weights=sizes))
    assert not metric.result().requires_grad
    metric.update(torch.tensor(10.0), sample_weight=torch.tensor(31))
    assert metric.compute() == pytest.approx(np.average([*losses, 10.0], weights=[*sizes, 31]))


def test_mean_of_element_values() -> None:
    values, weight = torch.randn(N, generator=generator()), torch.rand(N, generator=generator(1))
    metric = metrics.Mean()
    metric.update(values[:20])
    metric.update(values[20:])
    assert metric.compute() == pytest.approx(values.double().mean().item())
    metric.reset()
    metric.update(values, sample_weight=weight)
    assert metric.compute() == pytest.approx(np.average(values.numpy(), weights=weight.numpy()))


# ---------------------------------------------------------------- common contract


def test_state_is_lazy_and_reset_clears_it() -> None:
    logits, labels, _ = classification(3)
    metric = metrics.Accuracy()
    assert metric.compute() == 0.0
    metric.update(logits, labels)
    first = metric.compute()
    metric.update(logits[:5], 1 - labels[:5].clamp(max=1))
    metric.reset()
    assert metric.compute() == 0.0
    metric.update(logits, labels)
    assert metric.compute() == first
    assert metric.result().ndim == 0 and metric.result().dtype == torch.float64


def test_repr_shows_non_default_arguments() -> None:
    assert repr(metrics.Accuracy()) == "lamina.metrics.Accuracy()"
    assert repr(metrics.TopKAccuracy(k=3)) == "lamina.metrics.TopKAccuracy(k=3)"
    assert repr(metrics.F1Score(average="micro")) == "lamina.metrics.F1Score(average='micro')"
    assert repr(metrics.Mean("loss")) == "lamina.metrics.Mean(name='loss')"


def test_public_surface_is_sorted() -> None:
    assert metrics.__all__ == sorted(metrics.__all__)
    assert all(isinstance(getattr(metrics, name), type) for name in metrics.__all__)


REGISTERED = {
    "mean": metrics.Mean,
    "accuracy": metrics.Accuracy,
    "acc": metrics.Accuracy,
    "top_k_accuracy": metrics.TopKAccuracy,
    "top_k": metrics.TopKAccuracy,
    "precision": metrics.Precision,
    "recall": metrics.Recall,
    "f1": metrics.F1Score,
    "f1_score": metrics.F1Score,
    "auc": metrics.AUC,
    "mse": metrics.MeanSquaredError,
    "mean_squared_error": metrics.MeanSquaredError,
    "mae": metrics.MeanAbsoluteError,
    "mean_absolute_error": metrics.MeanAbsoluteError,
    "r2": metrics.R2Score,
    "r2_score": metrics.R2Score,
}


@pytest.mark.parametrize(("name", "cls"), REGISTERED.items())
def test_registry_names_and_aliases(name: str, cls: type) -> None:
    metric = lamina.registry.get("metric", name)
    assert type(metric) is cls
    assert metric is not lamina.registry.get("metric", name)  # a fresh instance each time
    assert name in lamina.registry.names("metric")


def test_registry_passes_options_and_instances() -> None:
    assert lamina.registry.get("metric", "top_k", k=2).k == 2
    assert lamina.registry.get("metric", "F1", average="weighted").average == "weighted"
    metric = metrics.AUC()
    assert lamina.registry.get("metric", metric) is metric


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(lamina.errors.ConfigError, match="Did you mean 'accuracy'") as info:
        lamina.registry.get("metric", "acuracy")
    assert isinstance(info.value, ValueError)
    assert "'acuracy'" in str(info.value)


@pytest.mark.parametrize(
    ("metric", "y_pred", "y_true", "shown"),
    [
        (
            metrics.Accuracy(),
            torch.randn(8, 3),
            torch.zeros(5),
            "y_pred.shape=(8, 3), y_true.shape=(5,)",
        ),
        (metrics.AUC(), torch.randn(8, 3), torch.zeros(8, 2), "y_true.shape=(8, 2)"),
        (metrics.F1Score(), torch.randn(8, 3, 2), torch.zeros(8), "y_pred.shape=(8, 3, 2)"),
        (metrics.TopKAccuracy(), torch.randn(8, 1), torch.zeros(8), "y_pred.shape=(8, 1)"),
        (
            metrics.Precision(num_classes=4),
            torch.randn(8, 3),
            torch.zeros(8),
            "y_pred.shape=(8, 3)",
        ),
        (metrics.MeanSquaredError(), torch.randn(8, 2), torch.zeros(8, 3), "y_true.shape=(8, 3)"),
        (metrics.R2Score(), torch.randn(8), torch.zeros(4, 2), "y_true.shape=(4, 2)"),
    ],
)
def test_shape_mismatch_shows_the_received_shapes(
    metric: lamina.metrics.Metric, y_pred: torch.Tensor, y_true: torch.Tensor, shown: str
) -> None:
    with pytest.raises(lamina.errors.ShapeError, match="Received:") as info:
        metric.update(y_pred, y_true)
    assert shown in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_sample_weight_and_changing_class_count() -> None:
    with pytest.raises(lamina.errors.ShapeError, match=r"sample_weight.shape=\(3,\)"):
        metrics.MeanAbsoluteError().update(
            torch.randn(8), torch.randn(8), sample_weight=torch.ones(3)
        )
    metric = metrics.Recall()
    metric.update(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(lamina.errors.ShapeError, match=r"outputs \(4, 4\)"):
        metric.update(torch.randn(4, 4), torch.zeros(4, dtype=torch.long))


def test_bad_options_raise_config_error() -> None:
    with pytest.raises(lamina.errors.ConfigError, match="'samples'"):
        metrics.Precision(average="samples")
    with pytest.raises(lamina.errors.ConfigError, match="k=0"):
        metrics.TopKAccuracy(k=0)


# ---------------------------------------------------------------- no host sync in update

SYNCING = ("item", "tolist", "__bool__", "cpu", "numpy", "__int__", "__float__", "__index__")


@contextlib.contextmanager
def host_sync_forbidden() -> Iterator[None]:
    """Make every Tensor method that reads values back to the host raise."""

    def forbid(name: str) -> Callable[..., None]:
        def raiser(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"host sync via Tensor.{name} inside update")

        return raiser

    with pytest.MonkeyPatch.context() as patch:
        for name in SYNCING:
            patch.setattr(torch.Tensor, name, forbid(name))
        yield


def update_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    multi, labels, _ = classification(4)
    logits, binary_labels, _ = binary()
    y_pred, y_true, _ = regression(2)
    classifiers = ["accuracy", "top_k", "precision", "recall", "f1", "auc"]
    return (
        [(name, multi, labels) for name in classifiers]
        + [(name, logits, binary_labels) for name in classifiers if name != "top_k"]
        + [(name, multi.reshape(N // 4, 4, 4), labels.reshape(N // 4, 4)) for name in classifiers]
        + [(name, y_pred, y_true) for name in ("mse", "mae", "r2")]
        + [("mean", torch.tensor(0.7), torch.tensor(0.0)), ("mean", y_pred, y_true)]
    )


@pytest.mark.parametrize("weight", [None, "tensor", "number"])
def test_update_never_syncs_the_host(weight: str | None) -> None:
    with host_sync_forbidden(), pytest.raises(AssertionError, match="host sync"):
        bool(torch.tensor(True))  # the guard works
    for name, y_pred, y_true in update_cases():
        sample_weight = {None: None, "tensor": torch.rand(y_pred.shape[:1]), "number": 3}[weight]
        metric = lamina.registry.get("metric", name)
        with host_sync_forbidden():
            for _ in range(2):
                metric.update(y_pred, y_true, sample_weight=sample_weight)
            result = metric.result()
        assert result.ndim == 0 and np.isfinite(metric.compute()), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_update_on_cuda_raises_no_sync_warning() -> None:
    for name, y_pred, y_true in update_cases():
        cpu, gpu = lamina.registry.get("metric", name), lamina.registry.get("metric", name)
        cpu.update(y_pred, y_true)
        y_pred, y_true, weight = y_pred.cuda(), y_true.cuda(), torch.rand(y_pred.shape[:1]).cuda()
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            gpu.update(y_pred, y_true)
            gpu.update(y_pred, y_true, sample_weight=weight)
            gpu.update(y_pred, y_true, sample_weight=2)
            result = gpu.result()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert result.device.type == "cuda", name
        gpu.reset()
        gpu.update(y_pred, y_true)
        assert gpu.compute() == pytest.approx(cpu.compute(), rel=1e-5), name

"""Training callbacks (ReduceLROnPlateau, LearningRateScheduler, CSVLogger, TerminateOnNaN), their
resumable state, and the perplexity metric."""

import csv
import json
import math

import pytest
import torch
import torch.nn.functional as F
from lamina.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

import lamina

X, Y = lamina.testing.tiny_classification()  # 96 rows, 6 features, 3 classes


def model(lr=0.1, loss="cross_entropy", optimizer="sgd", metrics=None):
    net = lamina.Sequential([lamina.layers.Dense(8, activation="relu"), lamina.layers.Dense(3)])
    return net.compile(optimizer=optimizer, loss=loss, metrics=metrics, learning_rate=lr)


class Script(Callback):
    """Overwrites logs[key] at each epoch end with a scripted value (runs before the callback under test)."""

    def __init__(self, key, values):
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Recorder(Callback):
    """The optimizer's lr at each batch start (the lr that step uses) and the epoch logs' lr."""

    def on_train_begin(self, logs=None):
        self.step_lrs, self.epoch_lrs = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.step_lrs.append(self.model.optimizer.param_groups[0]["lr"])

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_lrs.append(logs.get("lr"))


# ---------------------------------------------------------------- ReduceLROnPlateau
def test_reduce_lr_on_plateau_drops_after_patience_bad_epochs():
    losses = [
        1.0,
        0.9,
        0.9,
        0.95,
        0.9,
        0.5,
        0.5,
        0.5,
        0.5,
    ]  # bad epochs: 2, 3, 4 -> drop at 4; 6, 7, 8 -> at 8
    plateau, recorder = ReduceLROnPlateau(factor=0.5, patience=2), Recorder()
    model(lr=0.1).fit(
        X, Y, epochs=9, callbacks=[Script("val_loss", losses), plateau, recorder], verbose=0
    )
    assert plateau.reductions == [4, 8]
    assert recorder.epoch_lrs == pytest.approx([0.1] * 4 + [0.05] * 4 + [0.025])
    assert recorder.step_lrs[4 * 3] == pytest.approx(0.1) and recorder.step_lrs[
        5 * 3
    ] == pytest.approx(0.05)


def test_reduce_lr_on_plateau_min_delta_cooldown_min_lr_and_max_mode():
    tiny_gains = [0.5, 0.51, 0.52, 0.53, 0.54, 0.55]  # accuracy creeping up by less than min_delta
    plateau = ReduceLROnPlateau(
        monitor="val_accuracy", factor=0.1, patience=1, min_delta=0.05, cooldown=1, min_lr=0.002
    )
    net = model(lr=0.1)
    net.fit(X, Y, epochs=6, callbacks=[Script("val_accuracy", tiny_gains), plateau], verbose=0)
    assert plateau.mode == "max"
    assert plateau.reductions == [
        2,
        5,
    ]  # epoch 3 is cooldown; bad epochs 4, 5 -> drop at 5, floored at min_lr
    assert net.optimizer.param_groups[0]["lr"] == pytest.approx(0.002)


def test_reduce_lr_on_plateau_validates_and_needs_the_monitored_key():
    with pytest.raises(lamina.errors.ConfigError, match="factor"):
        ReduceLROnPlateau(factor=2.0)
    with pytest.raises(lamina.errors.ConfigError, match="val_loss"):
        model().fit(X, Y, epochs=1, callbacks=[ReduceLROnPlateau()], verbose=0)


# ---------------------------------------------------------------- LearningRateScheduler
def test_scheduler_per_step_sets_the_lr_of_every_step():
    epochs, steps, lr = 3, 3, 0.1  # 96 rows / batch 32
    total = epochs * steps
    scheduler, recorder = LearningRateScheduler("cosine", per="step", min_lr=0.01), Recorder()
    model(lr=lr).fit(X, Y, epochs=epochs, callbacks=[scheduler, recorder], verbose=0)
    expected = [0.01 + (lr - 0.01) * (1 + math.cos(math.pi * k / total)) / 2 for k in range(total)]
    assert recorder.step_lrs == pytest.approx(expected)
    assert scheduler.lrs == pytest.approx(expected)
    assert recorder.epoch_lrs == pytest.approx(
        expected[steps - 1 :: steps]
    )  # logs["lr"]: each epoch's last


def test_scheduler_per_epoch_keras_function_and_one_cycle():
    halve, recorder = LearningRateScheduler(lambda epoch, lr: lr / 2 if epoch else lr), Recorder()
    model(lr=0.1).fit(X, Y, epochs=3, callbacks=[halve, recorder], verbose=0)
    assert recorder.step_lrs == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 3)
    one_cycle = LearningRateScheduler("one_cycle", per="step", max_lr=0.5, pct_start=0.25)
    net = model(lr=0.1, optimizer="adam")
    net.fit(
        X, Y, epochs=4, callbacks=[one_cycle], verbose=0
    )  # runs to the last step without torch's error
    assert max(one_cycle.lrs) == pytest.approx(0.5, rel=1e-3) and len(one_cycle.lrs) == 12
    assert net.optimizer.param_groups[0]["lr"] == one_cycle.lrs[-1]


# ---------------------------------------------------------------- CSVLogger
def read_rows(path, separator=","):
    with open(path, newline="") as handle:
        return list(csv.reader(handle, delimiter=separator))


def test_csv_logger_writes_header_and_one_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    net = model(metrics=["accuracy"])
    history = net.fit(X, Y, epochs=3, validation_split=0.25, callbacks=[CSVLogger(path)], verbose=0)
    rows = read_rows(path)
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    for column, key in enumerate(rows[0][1:], start=1):
        assert [float(r[column]) for r in rows[1:]] == history.history[key]


def test_csv_logger_separator_append_and_overwrite(tmp_path):
    path = tmp_path / "log.tsv"
    model().fit(X, Y, epochs=2, callbacks=[CSVLogger(path, separator="\t")], verbose=0)
    model().fit(X, Y, epochs=1, callbacks=[CSVLogger(path, separator="\t", append=True)], verbose=0)
    rows = read_rows(path, "\t")
    assert [r[0] for r in rows] == ["epoch", "0", "1", "0"]  # one header, rows appended
    model().fit(X, Y, epochs=1, callbacks=[CSVLogger(path, separator="\t")], verbose=0)
    assert [r[0] for r in read_rows(path, "\t")] == ["epoch", "0"]


# ---------------------------------------------------------------- TerminateOnNaN
def nan_loss_at(call):
    calls = []

    def loss(y_pred, y_true):
        calls.append(1)
        value = F.cross_entropy(y_pred, y_true)
        return value * float("nan") if len(calls) == call else value

    return loss, calls


@pytest.mark.parametrize(
    ("check_every", "stopped_at", "steps_run"), [(1, (0, 4), 5), (3, (0, 5), 6), (0, (0, None), 12)]
)
def test_terminate_on_nan_stops_at_the_check_after_the_bad_step(check_every, stopped_at, steps_run):
    loss, calls = nan_loss_at(5)  # step index 4 of epoch 0; 12 steps per epoch at batch_size 8
    guard = TerminateOnNaN(check_every=check_every)
    history = model(loss=loss).fit(X, Y, epochs=3, batch_size=8, callbacks=[guard], verbose=0)
    assert guard.stopped_at == stopped_at
    assert len(calls) == steps_run and len(history.history["loss"]) == 1


def test_without_terminate_on_nan_training_continues():
    loss, calls = nan_loss_at(5)
    history = model(loss=loss).fit(X, Y, epochs=3, batch_size=8, verbose=0)
    assert len(calls) == 36 and all(math.isnan(v) for v in history.history["loss"])


# ---------------------------------------------------------------- state for resumable training
def test_default_state_is_empty_and_scheduler_state_needs_train_begin():
    assert Callback().state_dict() == {} and TerminateOnNaN().state_dict() == {}
    with pytest.raises(lamina.errors.ConfigError, match="on_train_begin"):
        ReduceLROnPlateau().load_state_dict({"scheduler": {}, "reductions": []})


class Crash(Callback):
    """Raises at the end of ``epoch`` (after the CSV row is written, before the checkpoint)."""

    def __init__(self, epoch=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def callbacks(tmp_path, crash_at=None):
    return [
        Script("val_loss", [1.0, 0.9, 0.95, 0.97, 0.99, 1.0]),
        ReduceLROnPlateau(factor=0.5, patience=1),
        LearningRateScheduler("step", step_size=2, gamma=0.7),
        CSVLogger(tmp_path / "log.csv"),
        EarlyStopping(monitor="loss", patience=10, restore_best_weights=True),
        ModelCheckpoint(str(tmp_path / "best"), monitor="loss", save_best_only=True),
        Crash(crash_at),
    ]


def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    """Checkpointed state of every stateful callback gives the same weights, lrs, history and CSV."""
    (tmp_path / "ref").mkdir(), (tmp_path / "run").mkdir()
    reference = model()
    ref_callbacks = callbacks(tmp_path / "ref")
    ref_history = reference.fit(X, Y, epochs=6, seed=0, callbacks=ref_callbacks, verbose=0)
    # Checkpoints after every step: the last one is epoch 3's final step, before its on_epoch_end.
    options = {
        "epochs": 6,
        "seed": 0,
        "verbose": 0,
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "checkpoint_every": 1,
    }
    with pytest.raises(KeyboardInterrupt):
        model().fit(X, Y, callbacks=callbacks(tmp_path / "run", crash_at=3), **options)
    assert (
        len(read_rows(tmp_path / "run" / "log.csv")) == 5
    )  # header + epochs 0-3: epoch 3 is past the checkpoint
    resumed = model()
    run_callbacks = callbacks(tmp_path / "run")
    history = resumed.fit(X, Y, callbacks=run_callbacks, resume=True, **options)
    assert all(
        torch.equal(a, b)
        for a, b in zip(resumed.state_dict().values(), reference.state_dict().values())
    )
    assert history.history == ref_history.history and history.epoch == ref_history.epoch
    assert run_callbacks[1].reductions == ref_callbacks[1].reductions == [3, 5]
    assert run_callbacks[2].lrs == ref_callbacks[2].lrs
    assert read_rows(tmp_path / "run" / "log.csv") == read_rows(tmp_path / "ref" / "log.csv")
    assert run_callbacks[4].best_epoch == ref_callbacks[4].best_epoch
    for stateful in (History(), *ref_callbacks[1:6]):
        if not hasattr(stateful, "model"):
            continue
        state = stateful.state_dict()
        json.dumps({k: v for k, v in state.items() if k != "best_state"})  # JSON apart from tensors


# ---------------------------------------------------------------- Perplexity
def test_perplexity_matches_torch_over_batches_with_padding():
    torch.manual_seed(0)
    logits, targets = torch.randn(10, 7, 5), torch.randint(0, 5, (10, 7))
    targets[torch.rand(10, 7) < 0.3] = -100
    metric = lamina.registry.get("metric", "perplexity")
    for start in range(0, 10, 4):  # batches of 4, 4, 2 rows
        metric.update(logits[start : start + 4], targets[start : start + 4])
    expected = torch.exp(
        F.cross_entropy(logits.reshape(-1, 5), targets.reshape(-1), ignore_index=-100)
    )
    assert metric.compute() == pytest.approx(expected.item(), rel=1e-6)
    flat = lamina.metrics.Perplexity()
    flat.update(logits[:, 0], targets[:, 0].clamp(min=0))
    assert flat.compute() == pytest.approx(
        torch.exp(F.cross_entropy(logits[:, 0], targets[:, 0].clamp(min=0))).item()
    )


def test_perplexity_in_fit_and_shape_errors():
    history = model(metrics=["perplexity"]).fit(X, Y, epochs=2, validation_split=0.25, verbose=0)
    for prefix in ("", "val_"):  # the same batches' mean cross-entropy, exponentiated
        expected = [math.exp(v) for v in history.history[prefix + "loss"]]
        assert history.history[prefix + "perplexity"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(lamina.errors.ShapeError):
        lamina.metrics.Perplexity().update(torch.zeros(4, 3), torch.zeros(4, 3))

"""Files written by lamina 0.1 (the flat package layout) still load: model folders, checkpoints, a registry.

The fixtures in tests/fixtures/saved_0_1/ were written once by tests/fixtures/make_saved_before_move.py
with the old layout and are committed; nothing here regenerates them.
"""

import shutil
from pathlib import Path

import numpy as np
from lamina.model_registry import ModelRegistry

import lamina

SAVED = Path(__file__).parent / "fixtures" / "saved_0_1"


def test_a_model_saved_before_the_move_loads_and_predicts_the_same():
    x = np.load(SAVED / "x.npy")
    model = lamina.load(str(SAVED / "model"))
    assert model.classes_ == ["no", "yes"]
    np.testing.assert_array_equal(model.predict(x), np.load(SAVED / "predictions.npy"))
    assert list(model.predict_classes(x[:2])) == list(
        np.where(model.predict(x[:2])[:, 0] > 0.5, "yes", "no")
    )
    mlp = lamina.load(str(SAVED / "mlp"))
    assert type(mlp) is lamina.models.MLP
    np.testing.assert_array_equal(mlp.predict(x), np.load(SAVED / "mlp_predictions.npy"))


def test_a_checkpoint_written_before_the_move_resumes(tmp_path):
    x = np.load(SAVED / "x.npy")
    y = np.where(x[:, 0] > 0, "yes", "no")
    shutil.copytree(SAVED / "checkpoints", tmp_path / "checkpoints")
    model = lamina.Sequential(
        [lamina.layers.Dense(5, activation="relu"), lamina.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["binary_accuracy"])
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=8,
        verbose=0,
        seed=0,
        checkpoint_dir=str(tmp_path / "checkpoints"),
        resume=True,
    )
    assert (
        len(history.history["loss"]) == 3
    )  # epochs 1-2 restored from the checkpoint, epoch 3 trained


def test_a_registry_written_before_the_move_verifies_and_serves_its_alias(tmp_path):
    shutil.copytree(SAVED / "registry", tmp_path / "registry")
    store = ModelRegistry(tmp_path / "registry")
    version = store.verify("tiny@production")
    model = lamina.load(str(version.path))
    x = np.load(SAVED / "x.npy")
    np.testing.assert_array_equal(model.predict(x), np.load(SAVED / "predictions.npy"))

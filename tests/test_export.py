"""ONNX export: parity with onnxruntime, a dynamic batch axis, the CLI and clear errors."""

import numpy as np
import pytest
import torch
from lamina.errors import ArtifactError
from lamina.export import check_parity, to_onnx
from lamina.layers import Dense

import lamina
from lamina.cli import main
from lamina.models.cnn import CNN

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _mlp():
    torch.manual_seed(0)
    model = lamina.Sequential([Dense(16, activation="relu"), Dense(3)])
    model.build(torch.ones(2, 5))
    return model


def _onnx_batch_dim(path):
    return onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0]


def test_sequential_mlp_matches_onnxruntime_with_a_dynamic_batch(tmp_path):
    model = _mlp()
    path = to_onnx(model, tmp_path / "mlp.onnx", example=torch.randn(2, 5))
    assert path.is_file()
    assert _onnx_batch_dim(path).dim_param  # a named (symbolic) batch axis, not a fixed size
    x = torch.randn(5, 5)  # exported with batch 2, run with batch 5
    assert check_parity(model, path, x) <= 1e-4
    # The oracle: the difference is measured against plain torch outputs.
    import onnxruntime as ort

    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()}
    )[0]
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, model(x).detach().numpy(), atol=1e-4)


def test_lenet5_cnn_after_one_fit_step_matches(tmp_path):
    torch.manual_seed(0)
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    model = CNN(preset="lenet5")
    model.compile(optimizer="adam", loss="cross_entropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    saved = model.save(tmp_path / "cnn")
    path = to_onnx(saved, tmp_path / "cnn.onnx")  # example from the manifest's input signature
    assert check_parity(model, path, x[:5]) <= 1e-4
    assert check_parity(saved, path, x[:3]) <= 1e-4  # a folder works as the reference too


def test_project_fitted_folder_with_a_deep_model(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 4)).astype("float32")
    advice = lamina.advise((x, np.where(x[:, 0] > 0, "up", "down")), time_budget=1, keep=True)
    folder = advice.fitted["MLP (lamina)"].save(tmp_path / "fitted")
    path = to_onnx(folder, tmp_path / "fitted.onnx")
    fitted = lamina.fitted.FittedModel.load(folder)
    assert check_parity(folder, path, fitted.transform(x[:7])) <= 1e-4


def test_parity_failure_is_a_clear_error(tmp_path):
    model = _mlp()
    path = to_onnx(model, tmp_path / "mlp.onnx", example=torch.randn(2, 5))
    with torch.no_grad():
        list(model.parameters())[-1].add_(1.0)  # shift the output bias after export
    with pytest.raises(ArtifactError, match="differ from the torch model"):
        check_parity(model, path, torch.randn(3, 5))


def test_cli_writes_the_onnx_file(tmp_path, capsys):
    model = _mlp()
    saved = model.save(tmp_path / "m")
    out = tmp_path / "out" / "model.onnx"
    assert main(["export", str(saved), "--format", "onnx", "--out", str(out)]) == 0
    assert out.is_file() and str(out.resolve()) in capsys.readouterr().out
    assert check_parity(model, out, torch.randn(4, 5)) <= 1e-4


def test_cli_unknown_format_is_a_clear_error(tmp_path, capsys):
    saved = _mlp().save(tmp_path / "m")
    with pytest.raises(
        SystemExit
    ) as done:  # argparse's choices: the value received and those allowed
        main(["export", str(saved), "--format", "tflite", "--out", str(tmp_path / "m.tflite")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "invalid choice: 'tflite'" in err and "onnx" in err
    assert not (tmp_path / "m.tflite").exists()


def test_classical_model_folder_is_refused_naming_skl2onnx(tmp_path):
    x = np.random.default_rng(0).normal(size=(60, 3)).astype("float32")
    advice = lamina.advise((x, (x[:, 0] > 0).astype(int)), time_budget=1, keep=True)
    classical = next(f for f in advice.fitted.values() if f.family == "classical")
    folder = classical.save(tmp_path / "classical")
    with pytest.raises(ArtifactError, match="skl2onnx") as info:
        to_onnx(folder, tmp_path / "c.onnx")
    assert "lamina networks" in str(info.value)
    assert main(["export", str(folder), "--out", str(tmp_path / "c.onnx")]) == 2
    assert not (tmp_path / "c.onnx").exists()


def test_falls_back_to_the_torchscript_exporter(tmp_path, monkeypatch):
    model = _mlp()

    def refuse(*args, **kwargs):
        raise RuntimeError("cannot trace")

    monkeypatch.setattr(torch.export, "export", refuse)
    path = to_onnx(model, tmp_path / "ts.onnx", example=torch.randn(2, 5))
    assert (
        _onnx_batch_dim(path).dim_param == "batch"
    )  # the TorchScript exporter's dynamic axis name
    assert check_parity(model, path, torch.randn(5, 5)) <= 1e-4


def test_no_example_and_no_signature_is_a_clear_error(tmp_path):
    with pytest.raises(lamina.errors.ConfigError, match="example=x"):
        to_onnx(torch.nn.Linear(3, 2), tmp_path / "l.onnx")

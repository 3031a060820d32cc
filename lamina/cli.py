"""The ``lamina`` command line: one subcommand per stage.

    lamina demo     train, evaluate, save and reload a model on the bundled digits
    lamina train    train a model family or spec file on a data set or file
    lamina info     versions, device and configuration
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import numpy as np

    import lamina

    started = time.perf_counter()
    digits = lamina.datasets.load("digits")
    print(f"Data: {digits.description}")
    print(f"      {len(digits.x_train)} training rows, {len(digits.x_test)} test rows")
    x_train, x_test = digits.x_train / 16.0, digits.x_test / 16.0  # pixels 0..16 -> 0..1
    model = lamina.Sequential([
        lamina.layers.Dense(128, activation="relu"),
        lamina.layers.Dropout(0.1),
        lamina.layers.Dense(64, activation="relu"),
        lamina.layers.Dense(10),
    ])
    model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy", "f1"])
    stop = lamina.callbacks.EarlyStopping("val_loss", patience=5, restore_best_weights=True)
    history = model.fit(x_train, digits.y_train, epochs=args.epochs, batch_size=32, validation_split=0.1,
                        callbacks=[stop], verbose=args.verbose, seed=args.seed)
    model.summary()
    scores = model.evaluate(x_test, digits.y_test)
    path = model.save(args.out)
    reloaded = lamina.load(path)
    same = np.allclose(reloaded.predict(x_test), model.predict(x_test), atol=1e-6)
    seconds = time.perf_counter() - started
    print(f"\nTrained {len(history.epoch)} epochs; test results:")
    for name, value in scores.items():
        print(f"  {name:<10} {value:.4f}")
    print(f"\nSaved model: {Path(path).resolve()}")
    print(f"Reloaded from disk: predictions {'identical' if same else 'DIFFERENT'}.")
    print(f"Done in {seconds:.1f} s. Next: lamina.load({str(path)!r}).predict(x)")
    return 0 if same else 1


def _load_data(source: str, target: str | None) -> tuple[Any, Any, Any, Any, str]:
    """(x_train, y_train, x_test, y_test, description) from a data set name or a file."""
    import numpy as np

    import lamina

    path = Path(source)
    if not path.suffix and source in lamina.datasets.names():
        data = lamina.datasets.load(source)
        if data.y_train is None or isinstance(data.x_train, str) or not isinstance(data.x_train, np.ndarray):
            raise lamina.errors.ConfigError(lamina.errors.message(
                f"lamina train needs a labelled array data set; {source!r} is not one yet.", repr(source),
                "mnist, fashion_mnist, mnist1d, digits, or a CSV/Parquet/NPZ file",
                "Pick one of those, or prepare the data into an .npz with x_train, y_train, x_test, y_test."))
        return data.x_train, data.y_train, data.x_test, data.y_test, data.description
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            if "x_train" in arrays:
                return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], str(path)
            x, y = arrays["x"], arrays["y"]
    elif path.suffix in (".csv", ".parquet"):
        import pandas as pd

        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        if target is None or target not in frame.columns:
            raise lamina.errors.ConfigError(lamina.errors.message(
                "A table needs --target naming the label column.", repr(target), f"one of {list(frame.columns)}",
                "Pass --target COLUMN."))
        x, y = frame.drop(columns=[target]), frame[target].to_numpy()
    else:
        raise lamina.errors.ConfigError(lamina.errors.message(
            "Unknown data source.", repr(source), f"a data set name ({', '.join(lamina.datasets.names())}) "
            "or a .csv/.parquet/.npz file", "Check the name or the path."))
    rows = np.random.default_rng(0).permutation(len(x))
    cut = int(len(x) * 0.8)
    def pick(values: Any, index: Any) -> Any:
        return values.iloc[index] if hasattr(values, "iloc") else values[index]

    return pick(x, rows[:cut]), y[rows[:cut]], pick(x, rows[cut:]), y[rows[cut:]], str(path)


def _build_model(name: str, x: Any, outputs: int) -> Any:
    import lamina
    from lamina.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D

    if Path(name).suffix == ".json":
        import json

        from lamina.artifact import deserialize

        return deserialize(json.loads(Path(name).read_text()))
    if name == "linear":
        return lamina.Sequential([Flatten(), Dense(outputs)])
    if name == "mlp":
        return lamina.Sequential([Flatten(), Dense(256, activation="relu"), Dropout(0.1),
                                  Dense(128, activation="relu"), Dense(outputs)])
    if name == "cnn":
        if x.ndim not in (3, 4):
            raise lamina.errors.ConfigError(lamina.errors.message(
                "--model cnn needs images.", f"inputs of shape {x.shape}", "(N, H, W) or (N, C, H, W) arrays",
                "Use --model mlp for flat features."))
        return lamina.Sequential([Conv2D(32, 3, padding="same", activation="relu"), MaxPool2D(2),
                                  Conv2D(64, 3, padding="same", activation="relu"), MaxPool2D(2),
                                  Flatten(), Dense(128, activation="relu"), Dense(outputs)])
    raise lamina.errors.ConfigError(lamina.errors.message(
        "Unknown model.", repr(name), "'linear', 'mlp', 'cnn' or a JSON architecture spec file",
        "Pass --model mlp, or a file written as {\"class\": ..., \"config\": ...}."))


def _train(args: argparse.Namespace) -> int:
    import numpy as np


    x_train, y_train, x_test, y_test, description = _load_data(args.data, args.target)
    print(f"Data: {description}")
    x_train, x_test = np.asarray(x_train, dtype=np.float32), np.asarray(x_test, dtype=np.float32)
    if x_train.ndim >= 3 or float(x_train.min()) >= 0:  # pixels or counts: scale into [0, 1]
        scale = float(x_train.max()) or 1.0
        x_train, x_test = x_train / scale, x_test / scale
        print(f"      inputs divided by {scale:g} (the training maximum)")
    side = int(round(x_train.shape[1] ** 0.5)) if x_train.ndim == 2 else 0
    if args.model == "cnn" and side * side == x_train.shape[1]:  # flat square images, e.g. 8x8 digits
        x_train, x_test = x_train.reshape(-1, side, side), x_test.reshape(-1, side, side)
    if args.model == "cnn" and x_train.ndim == 3:
        x_train, x_test = x_train[:, None], x_test[:, None]  # add the channel axis
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.dtype.kind in "OUS":  # text labels -> class ids 0..K-1 (sorted)
        names, codes = np.unique(np.concatenate([y_train, y_test]).astype(str), return_inverse=True)
        y_train, y_test = codes[:len(y_train)], codes[len(y_train):]
        print(f"      classes: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")
    classify = y_train.dtype.kind in "iub"
    outputs = int(max(y_train.max(), y_test.max()) + 1) if classify else (1 if y_train.ndim == 1 else y_train.shape[1])
    model = _build_model(args.model, x_train, outputs)
    model.compile(optimizer="adam", loss="cross_entropy" if classify else "mse",
                  metrics=["accuracy", "f1"] if classify else ["mae", "r2"], learning_rate=args.learning_rate)
    out = Path(args.out)
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.1,
                        verbose=args.verbose, seed=args.seed, checkpoint_dir=str(out / "checkpoints"),
                        resume=args.resume)
    scores = model.evaluate(x_test, y_test)
    path = model.save(str(out / "model"))
    print(f"\nTrained {len(history.epoch)} epochs; test results:")
    for name, value in scores.items():
        print(f"  {name:<10} {value:.4f}")
    print(f"\nSaved model: {Path(path).resolve()}\nCheckpoints: {(out / 'checkpoints').resolve()}")
    return 0


def _info(args: argparse.Namespace) -> int:
    import platform

    import numpy
    import torch

    import lamina

    config = lamina.config.resolve()
    device = lamina.config.select_device(config.device)
    print(f"lamina   {lamina.__version__}")
    print(f"torch    {torch.__version__}  (threads: {torch.get_num_threads()})")
    print(f"numpy    {numpy.__version__}")
    print(f"python   {platform.python_version()} on {platform.platform()}")
    print(f"device   {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    print(f"config   {lamina.config.config_path()}")
    for key, value in config.to_dict().items():
        print(f"  {key:<12} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one subparser per command)."""
    parser = argparse.ArgumentParser(prog="lamina", description="lamina: deep learning from plan to monitoring.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train, evaluate, save and reload a model on the bundled digits",
                          description="Train an MLP on the bundled 8x8 digits, evaluate it on the test "
                          "split, save it, reload it and check the predictions match.")
    demo.add_argument("--epochs", type=int, default=60, help="maximum epochs (early stopping may end sooner)")
    demo.add_argument("--out", default="lamina-runs/demo", help="directory to save the model in")
    demo.add_argument("--seed", type=int, default=0, help="random seed for a reproducible run")
    demo.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                      help="0 quiet, 1 progress bar, 2 one line per epoch")
    demo.set_defaults(func=_demo)
    train = sub.add_parser("train", help="train a model family or spec file on a data set or file",
                           description="Train, evaluate on the test split and save. Checkpoints go to "
                           "OUT/checkpoints; --resume continues a killed run exactly.")
    train.add_argument("--model", required=True, help="'linear', 'mlp', 'cnn', or a JSON architecture spec file")
    train.add_argument("--data", required=True, help="a data set name (lamina.datasets.names()) or a "
                       ".csv/.parquet/.npz file")
    train.add_argument("--target", help="label column of a table")
    train.add_argument("--epochs", type=int, default=10, help="passes over the training data")
    train.add_argument("--batch-size", type=int, default=64, help="rows per step")
    train.add_argument("--learning-rate", type=float, default=None, help="optimizer learning rate (Adam)")
    train.add_argument("--out", default="lamina-runs/train", help="run directory (model/ and checkpoints/)")
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUT")
    train.add_argument("--seed", type=int, default=0, help="random seed")
    train.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                       help="0 quiet, 1 progress bar (on a terminal), 2 one line per epoch")
    train.set_defaults(func=_train)
    info = sub.add_parser("info", help="print versions, device and configuration",
                          description="Print lamina, torch and python versions, the device and the config.")
    info.set_defaults(func=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lamina`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except Exception as exc:
        from lamina.errors import LaminaError

        if isinstance(exc, LaminaError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

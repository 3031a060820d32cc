"""The ``lamina`` command line: one subcommand per stage.

    lamina demo     train, evaluate, save and reload a model on the bundled digits
    lamina info     versions, device and configuration
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

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

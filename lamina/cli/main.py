"""The ``lamina`` command line: one subcommand per stage.

lamina demo      a whole project on the bundled digits, from goal to verdict
lamina init      write a project file (lamina.yaml)
lamina run       run a project's stages: plan, data, eda, prepare, advise, train, evaluate, report
lamina <stage>   run one stage of a project (and the unchanged stages it needs are skipped)
lamina plan      viability findings for a project, or for a data file with --target
lamina advise    deep learning or classical ML? measured baselines for a project or a data file
lamina train     train a project's model, or a model family (--model) on a data set or file
lamina monitor   drift of logged inputs against a saved model's training reference
lamina label-feedback   record true labels of logged predictions; live performance vs the reference
lamina serve     serve a saved model over HTTP (KServe v2, /predict, /metrics)
lamina export    export a saved network to ONNX
lamina registry  versioned models: add, list, promote, rollback, verify, history, gc
lamina retrain   retrain on new labelled data when drift or a KPI drop calls for it
lamina approve   promote the version that `lamina retrain` proposed to production
lamina info      versions, device and configuration
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lamina.cli.deployed import add_deployed_commands, is_project, load_project

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    """A project on the bundled digits, from goal to verdict, in ``--out``."""
    import lamina

    started = time.perf_counter()
    folder = Path(args.out)
    lamina.project.init(
        folder,
        name="digits-demo",
        data="digits",
        kpi="accuracy",
        threshold=0.95,
        goal="Read handwritten digits on scanned forms so clerks stop typing them in.",
        max_latency_ms=10,
        train_seconds=args.budget,
        overwrite=True,
    )
    print(f"Project file: {(folder / 'lamina.yaml').resolve()}")
    project = lamina.Project.load(folder)
    results = project.run(force=args.force, verbose=1)
    _print_verdict(project, results)
    print(f"Done in {time.perf_counter() - started:.1f} s.")
    return 0


def _print_verdict(project: Any, results: dict[str, Any]) -> None:
    verdict = results.get("evaluate", {}).get("verdict")
    if verdict:
        print(f"\nVerdict: {verdict['sentence']}")
    print(f"Results: {project.run_path.resolve()}")
    for name in results:
        for file in sorted((project.run_path / name).glob("*")):
            if file.suffix in (".md", ".html") or file.is_dir():
                print(f"  {name:<9} {file.resolve()}")


def _init(args: argparse.Namespace) -> int:
    import lamina
    from lamina.project.recommend_project import COLUMN_HELP

    path = lamina.project.init(
        args.folder,
        name=args.name,
        goal=args.goal or "",
        kpi=args.kpi,
        threshold=args.threshold,
        data=args.data,
        target=args.target,
        task=args.task,
        positive_class=args.positive_class,
        overwrite=args.force,
        columns={key: getattr(args, key) for key in COLUMN_HELP if getattr(args, key)},
    )
    picked = lamina.Project.load(path).positive_class if args.positive_class is None else None
    print(
        f"Wrote {path.resolve()}"
        + (
            f"\nThe target is binary: F1, precision and recall are of class {picked!r}, "
            "the minority class (pass --positive-class to choose)."
            if picked
            else ""
        )
        + f"\nEdit it, then: lamina run {args.folder}"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    project = load_project(args.project)
    results = project.run(force=args.force, verbose=1)
    _print_verdict(project, results)
    return 0


def _stage(args: argparse.Namespace) -> int:
    """One stage of a project; plan and advise also take a data file with --target."""
    import lamina

    if args.command in ("plan", "advise") and not is_project(args.project):
        data = lamina.data.load(args.project, target=args.target)
        if args.command == "plan":
            print(lamina.plan(data))
        else:
            print(lamina.advise(data, metric=args.metric, time_budget=args.budget, seed=args.seed))
        return 0
    project = load_project(args.project)
    results = project.run([args.command], force=[args.command] if args.force else False, verbose=1)
    if args.command in ("evaluate", "report"):
        _print_verdict(project, results)
    return 0


def _load_data(source: str, target: str | None) -> tuple[Any, Any, Any, Any, str]:
    """(x_train, y_train, x_test, y_test, description) from ``lamina.data.load``.

    A source with its own test split (bundled sets, .npz files with x_test) keeps it; any other is
    split 80/20 by ``lamina.prepare.split``, stratified for class labels, with the prepare stage's
    leakage checks.
    """
    from lamina.core.errors import ConfigError, message
    from lamina.data import load
    from lamina.data.splits import split, take_rows

    data = load(source, target=target)
    if data.y is None:
        raise ConfigError(
            message(
                "lamina train --model needs labelled data.",
                f"{source} (no target)",
                "a labelled data set, or a table with --target naming the label column",
                "Pass --target COLUMN for a table, or a labelled data set such as digits.",
            )
        )
    if data.x_test is not None and data.y_test is not None:
        return data.x, data.y, data.x_test, data.y_test, data.source
    parts = split(
        data,
        "stratified" if data.task == "classification" else "random",
        test_fraction=0.2,
        validation_fraction=0.0,
        seed=0,
    )
    return (
        take_rows(data.x, parts.train),
        data.y[parts.train],
        take_rows(data.x, parts.test),
        data.y[parts.test],
        data.source,
    )


def _build_model(name: str, x: Any, outputs: int) -> Any:
    import lamina
    from lamina.nn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D

    if Path(name).suffix == ".json":
        import json

        from lamina.io.artifact import deserialize

        return deserialize(json.loads(Path(name).read_text()))
    if name == "linear":
        return lamina.Sequential([Flatten(), Dense(outputs)])
    if name == "mlp":
        return lamina.Sequential(
            [
                Flatten(),
                Dense(256, activation="relu"),
                Dropout(0.1),
                Dense(128, activation="relu"),
                Dense(outputs),
            ]
        )
    if name == "cnn":
        if x.ndim not in (3, 4):
            raise lamina.errors.ConfigError(
                lamina.errors.message(
                    "--model cnn needs images.",
                    f"inputs of shape {x.shape}",
                    "(N, H, W) or (N, C, H, W) arrays",
                    "Use --model mlp for flat features.",
                )
            )
        return lamina.Sequential(
            [
                Conv2D(32, 3, padding="same", activation="relu"),
                MaxPool2D(2),
                Conv2D(64, 3, padding="same", activation="relu"),
                MaxPool2D(2),
                Flatten(),
                Dense(128, activation="relu"),
                Dense(outputs),
            ]
        )
    raise lamina.errors.ConfigError(
        lamina.errors.message(
            "Unknown model.",
            repr(name),
            "'linear', 'mlp', 'cnn' or a JSON architecture spec file",
            'Pass --model mlp, or a file written as {"class": ..., "config": ...}.',
        )
    )


def _train(args: argparse.Namespace) -> int:
    import numpy as np

    if args.model is None:
        return _stage(args)
    if args.data is None:
        import lamina

        raise lamina.errors.ConfigError(
            lamina.errors.message(
                "--model needs --data.",
                "no --data",
                "a data set name or a .csv/.parquet/.npz file",
                "Pass --data digits (for example), or leave out --model to train the project here.",
            )
        )

    x_train, y_train, x_test, y_test, description = _load_data(args.data, args.target)
    print(f"Data: {description}")
    x_train, x_test = np.asarray(x_train, dtype=np.float32), np.asarray(x_test, dtype=np.float32)
    if x_train.ndim >= 3 or float(x_train.min()) >= 0:  # pixels or counts: scale into [0, 1]
        scale = float(x_train.max()) or 1.0
        x_train, x_test = x_train / scale, x_test / scale
        print(f"      inputs divided by {scale:g} (the training maximum)")
    side = int(round(x_train.shape[1] ** 0.5)) if x_train.ndim == 2 else 0
    # flat square images, e.g. 8x8 digits
    if args.model == "cnn" and side * side == x_train.shape[1]:
        x_train, x_test = x_train.reshape(-1, side, side), x_test.reshape(-1, side, side)
    if args.model == "cnn" and x_train.ndim == 3:
        x_train, x_test = x_train[:, None], x_test[:, None]  # add the channel axis
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.dtype.kind in "OUS":  # text labels -> class ids 0..K-1 (sorted)
        names, codes = np.unique(np.concatenate([y_train, y_test]).astype(str), return_inverse=True)
        y_train, y_test = codes[: len(y_train)], codes[len(y_train) :]
        print(f"      classes: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")
    classify = y_train.dtype.kind in "iub"
    outputs = (
        int(max(y_train.max(), y_test.max()) + 1)
        if classify
        else (1 if y_train.ndim == 1 else y_train.shape[1])
    )
    model = _build_model(args.model, x_train, outputs)
    model.compile(
        optimizer="adam",
        loss="cross_entropy" if classify else "mse",
        metrics=["accuracy", "f1"] if classify else ["mae", "r2"],
        learning_rate=args.learning_rate,
    )
    out = Path(args.out)
    history = model.fit(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_split=0.1,
        verbose=args.verbose,
        seed=args.seed,
        checkpoint_dir=str(out / "checkpoints"),
        resume=args.resume,
    )
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
    print(
        f"device   {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    print(f"config   {lamina.config.config_path()}")
    for key, value in config.to_dict().items():
        print(f"  {key:<12} {value}")
    return 0


class _HelpFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default, unless it has none (None, False, [])
    or says it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text, default = action.help or "", action.default
        if (
            default in (None, False, [], argparse.SUPPRESS)
            or "(default" in text
            or action.help == argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose help (and every subcommand's) shows defaults.

    Subparsers share the class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:  # the installed distribution's version, without importing torch
        return version("lamina")
    except PackageNotFoundError:
        from lamina.core.version import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one subparser per command)."""
    parser = _Parser(prog="lamina", description="lamina: deep learning from plan to monitoring.")
    parser.add_argument("--version", action="version", version=f"lamina {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="a whole project on the bundled digits, from goal to verdict",
        description="Write a project file for the bundled 8x8 digits and run every stage: "
        "plan, data, eda, prepare, advise, train, evaluate, report.",
    )
    demo.add_argument(
        "--out", default="lamina-runs/demo", help="project folder to write and run in"
    )
    demo.add_argument(
        "--budget", type=float, default=20, help="training time budget per model, seconds"
    )
    demo.add_argument("--force", action="store_true", help="redo every stage even when unchanged")
    demo.set_defaults(func=_demo)
    init = sub.add_parser(
        "init",
        help="write a project file (lamina.yaml)",
        description="Write a commented lamina.yaml: goal, KPI, threshold, data, constraints.",
    )
    init.add_argument("folder", nargs="?", default=".", help="project folder (default: here)")
    init.add_argument("--name", help="project name (default: the folder's name)")
    init.add_argument("--goal", help="the business goal in plain words")
    init.add_argument("--kpi", default="accuracy", help="the metric that decides success")
    init.add_argument(
        "--threshold", type=float, default=0.9, help="the KPI value that counts as success"
    )
    init.add_argument("--data", default="data.csv", help="data set name, file, folder or SQL URL")
    init.add_argument("--target", help="the column to predict")
    init.add_argument(
        "--task",
        choices=("classification", "regression", "recommend"),
        help="inferred when absent; recommend: a recommender from a purchase log "
        "(with --user, --item, --time)",
    )
    from lamina.project.recommend_project import COLUMN_HELP

    for flag, what in COLUMN_HELP.items():
        init.add_argument(f"--{flag}", help=f"recommend: the log's {what} column")
    init.add_argument(
        "--positive-class",
        help="binary targets: the class F1, precision and recall are of "
        "(default: the minority class)",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing lamina.yaml")
    init.set_defaults(func=_init)
    run = sub.add_parser(
        "run",
        help="run a project's stages, skipping those whose inputs did not change",
        description="Run plan, data, eda, prepare, advise, train, evaluate and report; end with "
        "the verdict (KPI against threshold).",
    )
    run.add_argument(
        "project", nargs="?", default=".", help="lamina.yaml or its folder (default: here)"
    )
    run.add_argument("--force", action="store_true", help="redo every stage")
    run.set_defaults(func=_run)
    for name, text in (
        ("plan", "viability findings before training"),
        ("data", "load the data and record its content fingerprint"),
        ("eda", "profile the data"),
        ("prepare", "split the data and fit the shared preprocessing"),
        ("advise", "deep learning or classical ML, measured"),
        ("evaluate", "measure the KPI on the test split and give the verdict"),
        ("report", "write the project report"),
    ):
        stage = sub.add_parser(
            name,
            help=text,
            description=f"{text[0].upper()}{text[1:]}. Runs the stage of a "
            "project (earlier stages run first when their inputs changed).",
        )
        stage.add_argument(
            "project",
            nargs="?",
            default=".",
            help="lamina.yaml or its folder"
            + (", or a data file" if name in ("plan", "advise") else ""),
        )
        if name in ("plan", "advise"):
            stage.add_argument("--target", help="the column to predict (with a data file)")
        if name == "advise":
            stage.add_argument("--metric", help="metric to compare on (default accuracy or rmse)")
            stage.add_argument("--budget", type=float, default=120, help="seconds for the network")
            stage.add_argument("--seed", type=int, default=0, help="random seed")
        stage.add_argument(
            "--force", action="store_true", help="redo the stage even when unchanged"
        )
        stage.set_defaults(func=_stage)
    train = sub.add_parser(
        "train",
        help="train a project's model, or a model family on a data set or file",
        description="Train, evaluate on the test split and save. Checkpoints go to "
        "OUT/checkpoints; --resume continues a killed run exactly.",
    )
    train.add_argument(
        "project", nargs="?", default=".", help="with no --model: the project to train"
    )
    train.add_argument("--model", help="'linear', 'mlp', 'cnn', or a JSON architecture spec file")
    train.add_argument(
        "--data", help="a data set name (lamina.datasets.names()) or a .csv/.parquet/.npz file"
    )
    train.add_argument("--force", action="store_true", help="with a project: redo the stage")
    train.add_argument("--target", help="label column of a table")
    train.add_argument("--epochs", type=int, default=10, help="passes over the training data")
    train.add_argument("--batch-size", type=int, default=64, help="rows per step")
    train.add_argument(
        "--learning-rate", type=float, default=None, help="optimizer learning rate (Adam)"
    )
    train.add_argument(
        "--out", default="lamina-runs/train", help="run directory (model/ and checkpoints/)"
    )
    train.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint in OUT"
    )
    train.add_argument("--seed", type=int, default=0, help="random seed")
    train.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=(0, 1, 2),
        help="0 quiet, 1 progress bar (on a terminal), 2 one line per epoch",
    )
    train.set_defaults(func=_train)
    add_deployed_commands(sub)
    from lamina.cli.commands import add_commands

    add_commands(sub)
    info = sub.add_parser(
        "info",
        help="print versions, device and configuration",
        description="Print lamina, torch and python versions, the device and the config.",
    )
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
        from lamina.core.errors import LaminaError

        if isinstance(exc, LaminaError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

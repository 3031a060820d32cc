"""The subcommands for a saved or served model: monitor, label-feedback, serve, export.

Each subcommand is a handler taking the parsed arguments and returning the exit status, and a
subparser added by :func:`add_deployed_commands`; ``lamina.cli.main`` builds the whole parser.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_deployed_commands", "is_project", "load_project"]


def load_project(path: str) -> Any:
    """The project a command names.

    Args:
        path: a project file (lamina.yaml) or the folder holding it.

    Returns:
        The loaded ``lamina.Project``.
    """
    import lamina

    return lamina.Project.load(path)


def is_project(path: str) -> bool:
    """Whether a command's path names a project rather than a model folder or a file.

    Args:
        path: the path given on the command line.

    Returns:
        True for a ``.yaml``/``.yml`` file or a folder holding ``lamina.yaml``.
    """
    candidate = Path(path)
    return candidate.suffix in (".yaml", ".yml") or (candidate / "lamina.yaml").is_file()


def _monitor(args: argparse.Namespace) -> int:
    """Drift of DATA against the model's reference profile; exit status 1 on drift.

    Writes monitor.html, monitor.json and metrics.prom into ``--out``.
    """
    import shlex

    import lamina.nn.tensors
    from lamina.maintain import monitor

    if _recommender(args.model):  # DATA is the request log of POST /recommend
        return _monitor_recommender(args)
    data, predictions, folder = lamina.data.load(args.data), None, Path(args.model)
    if (folder / "prep.json").is_file():
        from lamina.project.fitted import FittedModel

        try:
            predictions = FittedModel.load(folder).predict(data.x)
        except Exception as error:
            # the inputs are still compared when the model cannot predict on them
            print(
                f"warning: no predictions, so no prediction drift ({type(error).__name__}: "
                f"{error})",
                file=sys.stderr,
            )
    report = monitor.drift(folder, data, predictions=predictions)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report.to_html(out / "monitor.html")
    report.to_json(out / "monitor.json")
    (out / "metrics.prom").write_text(report.to_prometheus(), encoding="utf-8")
    print(
        f"{'Drift' if report.alarm else 'No drift'}: {report.drifted['count']} of "
        f"{report.drifted['of']} features "
        f"drifted {report.drifted['names'][:10]}; data set drift: {report.dataset_drift}."
    )
    for row in report.rows:
        if row["drifted"] and row["role"] != "feature":
            print(f"  {row['feature']} drifted ({row['test']} {row['statistic']:.4g})")
    for finding in report.findings:
        print(f"  finding: {finding}")
    print(f"Dashboard: {(out / 'monitor.html').resolve()}")
    command = shlex.split(args.alert_command) if args.alert_command else None
    monitor.alert(report, command=command, webhook=args.webhook)
    # labels beside the log: performance.json, its section and gauges
    from lamina.maintain.feedback import for_monitor

    performance = for_monitor(folder, args.log)
    if performance is not None:
        performance.write_into(out)
        print(performance.summary())
    return int(report.alarm or (performance is not None and performance.degraded))


def _monitor_recommender(args: argparse.Namespace) -> int:
    """Unknown customers and items and item-popularity drift of a recommender's request log.

    Writes recommend_monitor.json and metrics.prom into ``--out``; exit status 1 on an alarm.
    """
    import shlex

    from lamina.maintain.monitor import alert
    from lamina.maintain.recommend_monitor import recommend_drift

    report = recommend_drift(args.data, args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report.to_json(out / "recommend_monitor.json")
    (out / "metrics.prom").write_text(report.to_prometheus(), encoding="utf-8")
    print(report.summary())
    print(f"Report: {(out / 'recommend_monitor.json').resolve()}")
    command = shlex.split(args.alert_command) if args.alert_command else None
    alert(report, command=command, webhook=args.webhook)  # type: ignore[arg-type]
    return int(report.alarm)


def _label_feedback(args: argparse.Namespace) -> int:
    """Record labels for logged predictions, then print the live performance.

    The performance is compared with the training-time reference (a project's evaluate verdict).
    """
    import warnings

    from lamina.maintain import feedback

    log, reference = Path(args.target), None
    # the project's served log, its evaluate verdict, KPI and threshold
    if is_project(args.target):
        reference = load_project(args.target)
        log = reference.run_path / "serve" / "predictions.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = feedback.record(
            args.labels, log, id_column=args.id_column, label_column=args.label_column
        )
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    print(f"Labels: {path.resolve()}")
    print(feedback.performance(log, reference=reference).summary())
    return 0


def _serve(args: argparse.Namespace) -> int:
    import os

    from lamina.deploy.serve import serve

    token = os.environ.get(args.admin_token_env) if args.admin_token_env else None
    model_dir, log, redact, hashed = args.model_dir, args.log, list(args.redact), list(args.hash)
    registry, name, allow_missing = args.registry, args.name, list(args.allow_missing)
    # NAME@ALIAS: the default registry
    if registry is None and not Path(model_dir).exists() and "@" in model_dir:
        from lamina.deploy.store import default_root

        registry = str(default_root())
    # a project: its model under its name, its log, privacy and serving of lamina.yaml
    if is_project(model_dir):
        project = load_project(model_dir)
        model_dir, name = str(project.run_path / "train" / "model"), name or project.name
        if _recommender(model_dir):  # a recommendation project: POST /recommend
            log = log or str(project.run_path / "serve" / "recommendations.jsonl")
            return _serve_recommender(args, model_dir, name, log)
        # maintained: serve (and follow) the production alias
        if project.maintenance and registry is None:
            from lamina.maintain.retrain import champion
            from lamina.maintain.retrain import registry as registry_of

            registry, model_dir = (
                str(registry_of(project)[0].root),
                f"{champion(project).name}@production",
            )
        log = log or str(project.run_path / "serve" / "predictions.jsonl")
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        redact += project.privacy.get("redact", [])
        hashed += project.privacy.get("hash", [])
        allow_missing += getattr(project, "serving", {}).get("allow_missing", [])
    elif _recommender(model_dir):
        return _serve_recommender(args, model_dir, name, log)
    print(
        f"Serving {model_dir} on http://{args.host}:{args.port} (docs at /docs)"
        + (f"; logging to {log}" if log else "")
    )
    serve(
        model_dir,
        host=args.host,
        port=args.port,
        name=name,
        max_batch_size=args.max_batch_size,
        queue_size=args.queue_size,
        admin_token=token,
        log_path=log,
        redact=redact,
        hash_fields=hashed,
        registry=registry,
        max_body_bytes=round(args.max_body_mb * 1_000_000),
        allow_missing=allow_missing,
    )
    return 0


def _recommender(folder: str) -> bool:
    from lamina.project.recommender_files import is_recommender

    return Path(folder).is_dir() and is_recommender(folder)


def _serve_recommender(args: argparse.Namespace, folder: str, name: str | None, log: Any) -> int:
    """``POST /recommend`` for a saved recommender (lamina.deploy.recommend)."""
    from lamina.deploy.recommend import serve_recommender

    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
    print(
        f"Serving recommender {folder} on http://{args.host}:{args.port}/recommend (docs at "
        "/docs)" + (f"; logging to {log}" if log else "")
    )
    serve_recommender(
        folder,
        host=args.host,
        port=args.port,
        name=name,
        log_path=log,
        max_body_bytes=round(args.max_body_mb * 1_000_000),
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from lamina.io.export import to_onnx  # argparse refuses a --format not in lamina.export.FORMATS

    print(f"Wrote {to_onnx(args.model_dir, args.out, opset=args.opset).resolve()}")
    return 0


def add_deployed_commands(sub: Any) -> None:
    """Add the ``monitor``, ``label-feedback``, ``serve`` and ``export`` subparsers.

    Args:
        sub: the subparsers action of the ``lamina`` parser (``parser.add_subparsers()``).
    """
    watch = sub.add_parser(
        "monitor",
        help="compare logged inputs with a model's training reference (drift)",
        description="Per-feature, prediction and data-quality drift of DATA against the "
        "reference profile saved with the model; writes monitor.html, monitor.json and "
        "metrics.prom into --out; exits 1 when anything drifted.",
    )
    watch.add_argument(
        "model",
        help="the saved model folder (holds reference_profile.json), or a recommender's folder",
    )
    watch.add_argument(
        "data",
        help="the logged inputs: a file, folder or data set name (lamina.data.load); for a "
        "recommender, the request log of lamina serve --log (unknown customers and items, "
        "item-popularity drift)",
    )
    watch.add_argument(
        "--out", default="lamina-runs/monitor", help="folder for the dashboard, JSON and metrics"
    )
    watch.add_argument(
        "--alert-command", help="run on drift with the JSON on stdin (split like a shell, no shell)"
    )
    watch.add_argument("--webhook", help="POST the JSON to this http(s) URL on drift")
    watch.add_argument(
        "--log",
        help="the prediction log whose labels (labels.jsonl beside it) give the live "
        "performance (default: a project's runs/serve/predictions.jsonl); exits 1 when it degraded",
    )
    watch.set_defaults(func=_monitor)
    feedback = sub.add_parser(
        "label-feedback",
        help="record true labels of logged predictions; live performance",
        description="Append labels (by request id) to labels.jsonl beside the prediction "
        "log, then print the live performance against the training-time test metric.",
    )
    feedback.add_argument(
        "target",
        help="a project (lamina.yaml or its folder: its served log and evaluate "
        "verdict) or a prediction log file",
    )
    feedback.add_argument(
        "--labels", required=True, help="a CSV or JSON-lines file of request ids and labels"
    )
    feedback.add_argument(
        "--id-column", default="request_id", help="the column holding the request ids"
    )
    feedback.add_argument(
        "--label-column", default="label", help="the column holding the true labels"
    )
    feedback.set_defaults(func=_label_feedback)
    served = sub.add_parser(
        "serve",
        help="serve a saved model over HTTP (KServe v2, /predict, /metrics)",
        description="Serve a project's model folder or a lamina model directory with FastAPI "
        "under uvicorn: dynamic batching, a bounded queue, input validation, hot swap.",
    )
    served.add_argument(
        "model_dir",
        help="a project (lamina.yaml or its folder: serves runs/train/model), a folder "
        "with prep.json (project model) or lamina.json (lamina model); a recommender "
        "answers POST /recommend",
    )
    served.add_argument(
        "--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 opens it to the network"
    )
    served.add_argument("--port", type=int, default=8000, help="port to listen on")
    served.add_argument(
        "--name", help="the model's name in URLs (default: the project's name, else the folder's)"
    )
    served.add_argument(
        "--max-batch-size", type=int, default=32, help="most requests predicted together"
    )
    served.add_argument(
        "--queue-size", type=int, default=64, help="most waiting requests; more get 429"
    )
    served.add_argument(
        "--max-body-mb", type=float, default=10.0, help="largest request body in MB; larger get 413"
    )
    served.add_argument(
        "--allow-missing",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a table column requests may omit or send as null (repeatable; also "
        "serving.allow_missing in lamina.yaml); other missing columns get 422",
    )
    served.add_argument(
        "--admin-token-env", help="environment variable holding the management token"
    )
    served.add_argument(
        "--registry", help="serve MODEL_DIR as a registry reference (NAME@ALIAS follows the alias)"
    )
    served.add_argument(
        "--log", metavar="PATH", help="append every answered prediction to this JSON-lines log"
    )
    served.add_argument(
        "--redact",
        action="append",
        default=[],
        metavar="FIELD",
        help="log this input field as <redacted> (repeatable; also privacy.redact in lamina.yaml)",
    )
    served.add_argument(
        "--hash",
        action="append",
        default=[],
        metavar="FIELD",
        help="log a salted hash of this field (repeatable; also privacy.hash in lamina.yaml)",
    )
    served.set_defaults(func=_serve)
    export = sub.add_parser(
        "export",
        help="export a saved network to ONNX",
        description="Write a lamina model directory or a project model folder as one ONNX "
        "file with a dynamic batch axis, checked with onnx.checker.",
    )
    export.add_argument(
        "model_dir", help="a folder with lamina.json (lamina model) or prep.json + model/"
    )
    export.add_argument("--format", default="onnx", choices=("onnx",), help="the export format")
    export.add_argument("--out", default="model.onnx", help="the file to write")
    export.add_argument(
        "--opset", type=int, help="the ONNX opset version (default: the exporter's)"
    )
    export.set_defaults(func=_export)

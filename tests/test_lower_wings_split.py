"""The public paths of train, io and cli keep their names after those modules were split."""

from __future__ import annotations

import lamina
from lamina.cli import build_parser


def test_artifact_keeps_the_spec_and_manifest_names() -> None:
    from lamina.io import manifest, spec

    assert lamina.artifact.serialize is spec.serialize
    assert lamina.artifact.deserialize is spec.deserialize
    assert lamina.artifact.example_input is manifest.example_input
    assert lamina.artifact.FORMAT_VERSION == manifest.FORMAT_VERSION
    layer = lamina.artifact.deserialize(lamina.artifact.serialize(lamina.layers.Dense(3)))
    assert isinstance(layer, lamina.layers.Dense)


def test_metrics_and_callbacks_keep_their_base_classes() -> None:
    from lamina.train import callback_base, metric_base

    assert lamina.metrics.Metric is metric_base.Metric
    assert issubclass(lamina.metrics.Accuracy, metric_base.Metric)
    assert lamina.callbacks.Callback is callback_base.Callback
    assert lamina.callbacks.History is callback_base.History
    assert repr(lamina.callbacks.History()).startswith("lamina.callbacks.History(")


def test_the_command_keeps_every_subcommand_in_order() -> None:
    parser = build_parser()
    text = parser.format_help()
    order = ["train", "monitor", "label-feedback", "serve", "export", "registry", "info"]
    places = [text.index(f"\n    {name}") for name in order]
    assert places == sorted(places)
    args = parser.parse_args(["export", "model_dir", "--opset", "17"])
    assert args.opset == 17 and args.func.__name__ == "_export"

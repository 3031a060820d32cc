"""The maintenance subcommands of ``lamina``: ``registry``, ``retrain`` and ``approve``."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def _registry(args: argparse.Namespace) -> int:
    from lamina.deploy.store import ModelRegistry

    store = ModelRegistry(args.registry)
    if args.action == "add":
        metadata = json.loads(args.metadata) if args.metadata else None
        found = store.register(
            args.target, args.name, metadata=metadata, parent=args.parent, alias=args.alias
        )
        print(
            f"Registered {found.ref} ({found.hash[:12]})"
            + (f" as {args.alias}" if args.alias else "")
        )
    elif args.action == "list":
        for found in store.versions(args.target):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(found.created))
            print(
                f"{found.ref:<24} {found.hash[:12]}  {when}  parent {found.parent or '-':<4} "
                f"{','.join(found.aliases)}"
            )
    elif args.action in ("promote", "verify"):
        found = (
            store.promote(args.target, args.alias)
            if args.action == "promote"
            else store.verify(args.target)
        )
        print(
            f"{found.ref} ({found.hash[:12]}) "
            + (f"is now {args.alias}" if args.action == "promote" else "matches its hash")
        )
    elif args.action == "rollback":
        found = store.rollback(args.target, args.alias)
        print(f"{args.target}@{args.alias} rolled back to {found.ref} ({found.hash[:12]})")
    elif args.action == "history":
        for event in store.history(args.target, args.alias):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event["at"]))
            print(
                f"{when}  {event['alias']:<12} {event['kind']:<8} -> {event['version']} "
                f"(was {event['previous']})  {event['note']}"
            )
    else:
        print("\n".join(str(path) for path in store.gc()) or "Nothing to remove.")
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from lamina.maintain.retrain import retrain

    result = retrain(args.project, args.data, force=args.force)
    return 0 if result.proposed or not result.triggered else 1


def _approve(args: argparse.Namespace) -> int:
    from lamina.maintain.retrain import approve

    found = approve(args.project, args.version, by=args.by)
    print(
        f"{found.ref} ({found.hash[:12]}) is now production; servers following it swap within "
        "their poll time."
    )
    return 0


def add_commands(sub: Any) -> None:
    """Add ``registry``, ``retrain`` and ``approve`` to the ``lamina`` parser's subparsers."""
    registry = sub.add_parser(
        "registry",
        help="versioned models: add, list, promote, rollback, verify, history, gc",
        description="A model registry with immutable, hash-checked versions and aliases "
        "(default folder: $LAMINA_REGISTRY, else ~/.lamina/registry).",
    )
    registry.add_argument(
        "action", choices=("add", "list", "promote", "rollback", "verify", "history", "gc")
    )
    registry.add_argument(
        "target",
        nargs="?",
        help="add: a model folder; promote/verify: NAME:N or NAME@ALIAS; "
        "rollback/history/list: NAME",
    )
    registry.add_argument("--registry", help="the registry folder")
    registry.add_argument("--name", help="add: the model's name")
    registry.add_argument(
        "--alias",
        default=None,
        help="add: set this alias; promote/rollback: the alias (default production)",
    )
    registry.add_argument("--parent", type=int, help="add: the version this one derives from")
    registry.add_argument("--metadata", help="add: JSON facts kept with the version")
    registry.set_defaults(func=_registry_checked)
    retrain = sub.add_parser(
        "retrain",
        help="retrain a project's model on new labelled data when drift or a KPI drop calls for it",
        description="Check drift and the KPI of the production model on "
        "the new rows; if triggered, train a challenger with the project's recipe, compare on "
        "the same holdout and propose it (maintenance: in lamina.yaml sets the policy).",
    )
    retrain.add_argument("project", nargs="?", default=".", help="project folder or lamina.yaml")
    retrain.add_argument("--data", required=True, help="the new labelled rows (file or SQL URL)")
    retrain.add_argument(
        "--force", action="store_true", help="retrain even when nothing triggers it"
    )
    retrain.set_defaults(func=_retrain)
    approve = sub.add_parser(
        "approve", help="promote the version `lamina retrain` proposed to production"
    )
    approve.add_argument("project", nargs="?", default=".", help="project folder or lamina.yaml")
    approve.add_argument(
        "--version", help="a registry reference such as pumps:3 (default: the proposal)"
    )
    approve.add_argument("--by", help="who approves (default: the user name)")
    approve.set_defaults(func=_approve)


def _registry_checked(args: argparse.Namespace) -> int:
    from lamina.core.errors import ConfigError, message

    needs = {
        "add": ("target", "name"),
        "promote": ("target",),
        "rollback": ("target",),
        "verify": ("target",),
        "history": ("target",),
    }.get(args.action, ())
    missing = [n for n in needs if not getattr(args, n)]
    if missing:
        raise ConfigError(
            message(
                f"`lamina registry {args.action}` lacks arguments.",
                missing,
                f"{list(needs)}",
                "E.g. `lamina registry add runs/train/model --name churn`.",
            )
        )
    args.alias = args.alias or ("production" if args.action in ("promote", "rollback") else None)
    return _registry(args)

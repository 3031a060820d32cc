"""A model registry: immutable, content-hashed versions of saved models, aliases, atomic promote and
roll back.

A registry is a folder (``$LAMINA_REGISTRY``, else ``~/.lamina/registry``)::

    registry.db        SQLite (WAL journal, synchronous=FULL): versions, aliases, alias changes
    blobs/<sha256>/    each version's model folder, its files read-only, named by their hash

References name a version: ``"churn"`` (the latest), ``"churn:3"`` (version 3) or
``"churn@production"``.

Surviving kill -9: ``register`` copies the folder into ``blobs/.incoming-<random>/`` (every file and
folder fsync'd), renames it to its hash (atomic) and only then commits the version's row in one
transaction. A commit in WAL mode with synchronous=FULL is on disk, so a kill leaves either a whole
version or none (at worst an unreferenced blob, which ``gc()`` removes). Each alias change is one
transaction with its history row, so ``promote`` and ``rollback`` are atomic; rows of ``versions``
cannot be updated or deleted (SQL triggers).

``checkout`` (what ``lamina serve`` uses) hashes the stored files again: a flipped byte raises
:class:`~lamina.errors.IntegrityError` and nothing is loaded from them.

>>> import lamina, tempfile, torch
>>> model = lamina.Sequential([lamina.layers.Dense(2)])
>>> _ = model.build(torch.ones(1, 3))
>>> registry = ModelRegistry(tempfile.mkdtemp())
>>> first = registry.register(model.save(tempfile.mkdtemp() + "/m"), "churn", alias="production")
>>> registry.checkout("churn@production").version, first.aliases
(1, ('production',))
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.core.errors import ArtifactError, ConfigError, IntegrityError, UnsafeFileError, message

__all__ = ["ModelRegistry", "ModelVersion", "content_hash", "default_root"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (name TEXT NOT NULL, version INTEGER NOT NULL,
    hash TEXT NOT NULL, created REAL NOT NULL, parent INTEGER, metadata TEXT NOT NULL,
    PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS aliases (name TEXT NOT NULL, alias TEXT NOT NULL,
    version INTEGER NOT NULL, PRIMARY KEY (name, alias));
CREATE TABLE IF NOT EXISTS alias_events (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
    alias TEXT NOT NULL, version INTEGER NOT NULL, previous INTEGER, kind TEXT NOT NULL,
    at REAL NOT NULL, note TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS versions_no_update BEFORE UPDATE ON versions
    BEGIN SELECT RAISE(ABORT, 'registered versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS versions_no_delete BEFORE DELETE ON versions
    BEGIN SELECT RAISE(ABORT, 'registered versions are immutable'); END;
"""


def default_root() -> Path:
    """``$LAMINA_REGISTRY``, else ``~/.lamina/registry``."""
    return Path(os.environ.get("LAMINA_REGISTRY") or Path.home() / ".lamina" / "registry")


def _files(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted. A link to a file inside the folder counts as that file;
    any other link (out of the folder, to a folder, or dangling) is refused, so nothing outside is
    ever read or copied."""
    root, found = folder.resolve(), []
    for directory, folders, files in os.walk(folder):
        for entry in (*folders, *files):
            path = Path(directory) / entry
            if path.is_symlink() and (
                path.is_dir() or not path.is_file() or not path.resolve().is_relative_to(root)
            ):
                raise UnsafeFileError(
                    message(
                        "The model folder holds a link that points outside it (or to a "
                        "folder); nothing was copied.",
                        f"{path} -> {os.readlink(path)}",
                        "plain files, or links to files inside the folder",
                        "Replace the link with a copy of the file it points to, inside the "
                        "model folder.",
                    )
                )
        found += [Path(directory) / name for name in files if (Path(directory) / name).is_file()]
    return sorted(found)


def content_hash(folder: str | Path) -> str:
    """The sha256 (64 hex digits) over a folder's files: sorted relative paths, each with its
    bytes."""
    root, digest = Path(folder), hashlib.sha256()
    for path in _files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: ``path`` is its read-only folder, ``hash`` its content hash."""

    name: str
    version: int
    hash: str
    path: Path
    created: float
    parent: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``name:version``."""
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return {
            "name": self.name,
            "version": self.version,
            "hash": self.hash,
            "path": str(self.path),
            "created": self.created,
            "parent": self.parent,
            "metadata": self.metadata,
            "aliases": list(self.aliases),
        }


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ModelRegistry:
    """Versions, aliases and their history in ``root`` (see the module docstring for the layout).

    Args:
        root: the registry folder (created when missing); default :func:`default_root`.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.root / "registry.db", timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            if write:
                db.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes
            try:
                yield db
            except BaseException:
                if write and db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            if write:
                db.execute("COMMIT")
        finally:
            db.close()

    # ------------------------------------------------------------ writing
    def register(
        self,
        folder: str | Path,
        name: str,
        *,
        metadata: dict[str, Any] | None = None,
        parent: int | None = None,
        alias: str | None = None,
    ) -> ModelVersion:
        """Store a copy of a saved model ``folder`` as the next version of ``name``.

        Args:
            folder: a model folder (``lamina.json`` or ``prep.json`` inside).
            name: letters, digits, ``._-``.
            metadata: JSON-able facts kept with the version (metrics, data hash, ...).
            parent: the version it was derived from (lineage).
            alias: set this alias to the new version too.

        Returns:
            The new :class:`ModelVersion` (an identical folder registered again gets a new version
            number that shares the stored files).
        """
        source = Path(folder)
        if not ((source / "lamina.json").is_file() or (source / "prep.json").is_file()):
            raise ArtifactError(
                message(
                    "Not a model folder.",
                    str(source),
                    "a folder with lamina.json or prep.json",
                    "Pass the folder written by model.save or a project's runs/train/model.",
                )
            )
        _check_name(name, "model name")
        extra = json.dumps(metadata or {}, sort_keys=True, default=str)
        incoming = self.blobs / f".incoming-{uuid.uuid4().hex}"
        for path in _files(source):
            relative = path.relative_to(source)
            data = path.read_bytes()
            target = incoming / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            target.chmod(0o444)
        for directory in sorted(
            {p.parent for p in incoming.rglob("*")} | {incoming}, key=lambda p: -len(p.parts)
        ):
            _fsync(directory)
        blob = self.blobs / content_hash(incoming)  # the hash of what was stored
        if blob.exists():
            shutil.rmtree(incoming)
        else:
            os.replace(incoming, blob)
        _fsync(self.blobs)
        with self._db(write=True) as db:
            if (
                parent is not None
                and not db.execute(
                    "SELECT 1 FROM versions WHERE name=? AND version=?", (name, parent)
                ).fetchone()
            ):
                raise ConfigError(
                    message(
                        "Unknown parent version.",
                        f"{name}:{parent}",
                        "a registered version",
                        "Pass parent= one of the numbers `lamina registry list` shows.",
                    )
                )
            version = db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE name=?", (name,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
                (name, version, blob.name, time.time(), parent, extra),
            )
            if alias is not None:
                self._set(db, name, alias, version, "set", "registered")
        return self.get(f"{name}:{version}")

    def _set(
        self, db: sqlite3.Connection, name: str, alias: str, version: int, kind: str, note: str
    ) -> None:
        _check_name(alias, "alias")
        if alias.isdigit():
            raise ConfigError(
                message(
                    "An alias cannot be a number.",
                    repr(alias),
                    "a word such as 'production'",
                    "Versions are numbers; pick a word for the alias.",
                )
            )
        row = db.execute(
            "SELECT version FROM aliases WHERE name=? AND alias=?", (name, alias)
        ).fetchone()
        db.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)", (name, alias, version))
        db.execute(
            "INSERT INTO alias_events (name, alias, version, previous, kind, at, note) VALUES "
            "(?, ?, ?, ?, ?, ?, ?)",
            (name, alias, version, row and row[0], kind, time.time(), note),
        )

    def promote(
        self, ref: str, alias: str = "production", *, note: str = "", verify: bool = True
    ) -> ModelVersion:
        """Point ``alias`` at the version ``ref`` names, atomically (its files are verified
        first)."""
        target = self.verify(ref) if verify else self.get(ref)
        with self._db(write=True) as db:
            self._set(db, target.name, alias, target.version, "set", note)
        return self.get(f"{target.name}@{alias}")

    def rollback(self, name: str, alias: str = "production", *, note: str = "") -> ModelVersion:
        """Undo the last change of ``alias`` (repeatable: each roll back undoes one more),
        atomically."""
        with self._db(write=True) as db:
            undo, target = 0, None
            for kind, previous in db.execute(
                "SELECT kind, previous FROM alias_events WHERE name=? AND alias=? ORDER BY id DESC",
                (name, alias),
            ):
                if kind == "rollback":
                    undo += 1
                elif undo:
                    undo -= 1
                else:
                    target = previous
                    break
            if target is None:
                raise ConfigError(
                    message(
                        "Nothing to roll back to.",
                        f"{name}@{alias}",
                        "an alias that pointed at another version before",
                        f"See `lamina registry history {name}`; promote a version instead.",
                    )
                )
            self._set(db, name, alias, target, "rollback", note)
        return self.get(f"{name}@{alias}")

    def gc(self, older_than_s: float = 3600.0) -> list[Path]:
        """Remove interrupted copies and unreferenced blobs older than ``older_than_s``; returns
        what went."""
        with self._db() as db:
            used = {row[0] for row in db.execute("SELECT hash FROM versions")}
        removed = []
        for path in self.blobs.iterdir():
            if path.name not in used and time.time() - path.stat().st_mtime > older_than_s:
                shutil.rmtree(path)
                removed.append(path)
        return removed

    # ------------------------------------------------------------ reading
    def get(self, ref: str) -> ModelVersion:
        """The version ``ref`` names (``name``, ``name:N`` or ``name@alias``), not verified."""
        parts = re.fullmatch(r"([^:@]+)(?:([:@])(.+))?", ref) if isinstance(ref, str) else None
        if parts is None:
            raise ConfigError(
                message(
                    "Bad model reference.",
                    repr(ref),
                    "'name', 'name:3' or 'name@alias'",
                    "E.g. 'churn@production'.",
                )
            )
        name, sep, rest = parts.group(1), parts.group(2) or "", parts.group(3) or ""
        with self._db() as db:
            if sep == "@":
                row = db.execute(
                    "SELECT version FROM aliases WHERE name=? AND alias=?", (name, rest)
                ).fetchone()
            elif sep == ":":
                row = (int(rest),) if rest.isdigit() else None
            else:
                row = db.execute(
                    "SELECT MAX(version) FROM versions WHERE name=?", (name,)
                ).fetchone()
            found = (
                row
                and row[0] is not None
                and db.execute(
                    "SELECT name, version, hash, created, parent, metadata FROM versions "
                    "WHERE name=? AND version=?",
                    (name, row[0]),
                ).fetchone()
            )
            if not found:
                known = [
                    f"{n}:{v}"
                    for n, v in db.execute(
                        "SELECT name, version FROM versions ORDER BY name, version"
                    )
                ] + [
                    f"{n}@{a}"
                    for n, a in db.execute("SELECT name, alias FROM aliases ORDER BY name, alias")
                ]
                raise ConfigError(
                    message(
                        "No such model version in the registry.",
                        repr(ref),
                        f"one of {known[:20]}" if known else "a registered model",
                        f"Register one with `lamina registry add FOLDER --name NAME` "
                        f"(registry: {self.root}).",
                    )
                )
            aliases = tuple(
                a
                for (a,) in db.execute(
                    "SELECT alias FROM aliases WHERE name=? AND version=? ORDER BY alias",
                    (found[0], found[1]),
                )
            )
        return ModelVersion(
            found[0],
            found[1],
            found[2],
            self.blobs / found[2],
            found[3],
            found[4],
            json.loads(found[5]),
            aliases,
        )

    def verify(self, ref: str) -> ModelVersion:
        """The version ``ref`` names after checking its stored files against its hash
        (IntegrityError if not)."""
        found = self.get(ref)
        actual = content_hash(found.path) if found.path.is_dir() else "missing"
        if actual != found.hash:
            raise IntegrityError(
                message(
                    f"Stored model {found.ref} fails its hash check.",
                    actual[:16],
                    f"{found.hash[:16]} (its files changed on disk)",
                    "Register the model again from its source folder; do not serve this copy.",
                )
            )
        return found

    checkout = verify  # what serving calls: a verified version whose ``path`` can be loaded

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of ``name`` (or of every model), oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT name, version FROM versions"
                + (" WHERE name=?" if name else "")
                + " ORDER BY name, version",
                (name,) if name else (),
            ).fetchall()
        return [self.get(f"{n}:{v}") for n, v in rows]

    def history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Alias changes of ``name``, oldest first: alias, version, previous, kind (set or
        rollback), at, note."""
        with self._db() as db:
            rows = db.execute(
                "SELECT alias, version, previous, kind, at, note FROM alias_events WHERE name=?"
                + (" AND alias=?" if alias else "")
                + " ORDER BY id",
                (name, alias) if alias else (name,),
            )
            keys = ("alias", "version", "previous", "kind", "at", "note")
            return [dict(zip(keys, row)) for row in rows]


def _check_name(value: Any, what: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(
            message(
                f"Bad {what}.",
                repr(value),
                "letters, digits, '.', '_' or '-' (at most 128), starting with a letter or digit",
                "E.g. 'churn' or 'production'.",
            )
        )

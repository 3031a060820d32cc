"""The prediction log: one JSON line per answered request, on disk before the reply leaves.

``PredictionLog(path)`` appends records (``request_id``, ``time``, ``version``, ``endpoint``,
``inputs``, ``outputs``, ``latency_ms``) to a JSON-lines file. All records of one batch go out in a
single ``os.write`` on an ``O_APPEND`` descriptor followed by ``os.fsync`` (group commit), so a
server killed at any moment has logged every reply it sent. Fields named in ``redact`` become
``"<redacted>"``, those in ``hash_fields`` a salted sha256 (the salt lies beside the log, mode
0600). Past ``max_bytes`` the file rotates (``log.jsonl`` -> ``log.1.jsonl``, the newest ``keep``
rotated files kept); ``max_age_days`` drops rotated files older than that.

>>> import tempfile
>>> log = PredictionLog(tempfile.mkdtemp() + "/log.jsonl", redact=("email",))
>>> log.write([{"request_id": "a1", "inputs": [{"email": "x@y.z", "age": 3}],
...             "outputs": {"output": [1]}}])
>>> [record["inputs"] for record in read(log.path)]
[[{'email': '<redacted>', 'age': 3}]]
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import ConfigError, message

__all__ = ["PredictionLog", "jsonable", "read"]

REDACTED = "<redacted>"


def jsonable(value: Any) -> Any:
    """Arrays, data frames, numpy scalars and containers -> plain JSON values (rows of a frame as
    dicts)."""
    # a pandas DataFrame: one dict per row
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return [jsonable(row) for row in value.to_dict(orient="records")]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.dtype != object else [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN (a missing table cell) is not JSON
        return None
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _rotated(path: Path, index: int) -> Path:
    """``log.jsonl`` -> ``log.<index>.jsonl``."""
    return path.with_name(f"{path.stem}.{index}{path.suffix}")


class PredictionLog:
    """An append-only, fsync'd JSON-lines log of answered predictions with redaction and retention.

    Args:
        path: the log file (e.g. ``predictions.jsonl``); its folder is created.
        redact: field names whose values are replaced by ``"<redacted>"`` wherever they appear.
        hash_fields: field names whose values are replaced by ``"sha256:<hex>"``, salted: equal
            values give equal hashes within one log, and the raw value is never written.
        max_bytes: the file rotates once it reaches this size.
        keep: how many rotated files are kept (older ones are deleted).
        max_age_days: rotated files older than this are deleted (None: no age limit).

    Returns:
        A log; ``write(records)`` appends a batch durably, ``read(log.path)`` reads it back.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        redact: Iterable[str] = (),
        hash_fields: Iterable[str] = (),
        max_bytes: int = 100_000_000,
        keep: int = 5,
        max_age_days: float | None = None,
    ) -> None:
        self.path, self.redact, self.hash_fields = (
            Path(path),
            frozenset(redact),
            frozenset(hash_fields),
        )
        for option, value in {"max_bytes": max_bytes, "keep": keep}.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    message(
                        f"{option} must be an int >= 1.",
                        repr(value),
                        "an int >= 1",
                        "E.g. max_bytes=100_000_000, keep=5.",
                    )
                )
        if max_age_days is not None and not max_age_days > 0:
            raise ConfigError(
                message(
                    "max_age_days must be > 0 or None.",
                    repr(max_age_days),
                    "a positive number",
                    "Pass e.g. 30, or None to keep rotated files of any age.",
                )
            )
        both = self.redact & self.hash_fields
        if both:
            raise ConfigError(
                message(
                    "A field is both redacted and hashed.",
                    sorted(both),
                    "disjoint names",
                    "Name each field in redact or in hash_fields, not both.",
                )
            )
        self.max_bytes, self.keep, self.max_age_days = max_bytes, keep, max_age_days
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.salt = self._salt() if self.hash_fields else b""
        self.lock = threading.Lock()
        self.fd = self._open()
        self._expire()

    def _salt(self) -> bytes:
        """The salt file beside the log (created once, mode 0600)."""
        salt_path = self.path.with_name(self.path.name + ".salt")
        try:
            fd = os.open(salt_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return bytes.fromhex(salt_path.read_text().strip())
        salt = secrets.token_bytes(16)
        with os.fdopen(fd, "w") as file:
            file.write(salt.hex())
            file.flush()
            os.fsync(file.fileno())
        return salt

    def _open(self) -> int:
        """An ``O_APPEND`` descriptor; a torn last line from a crash is closed with a newline
        first."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        size = os.fstat(fd).st_size
        if size:
            with open(self.path, "rb") as file:
                file.seek(size - 1)
                if file.read(1) != b"\n":
                    os.write(fd, b"\n")
        return fd

    def scrub(self, value: Any) -> Any:
        """``value`` with the fields in ``redact`` and ``hash_fields`` replaced, at any depth."""
        if isinstance(value, dict):
            return {
                k: REDACTED
                if k in self.redact
                else self._hash(v)
                if k in self.hash_fields
                else self.scrub(v)
                for k, v in value.items()
            }
        return [self.scrub(v) for v in value] if isinstance(value, list) else value

    def _hash(self, value: Any) -> str:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(self.salt + text.encode()).hexdigest()

    def write(self, records: list[dict[str, Any]]) -> None:
        """Append ``records`` (one batch) in one ``os.write`` and ``fsync``; returns once they are
        on disk.

        Each record gets ``time`` (now, epoch seconds) and, when it has ``received`` (epoch
        seconds), ``latency_ms``.
        """
        if not records:
            return
        now = time.time()
        stamped = [
            {
                **r,
                "time": now,
                **({"latency_ms": 1000 * (now - r["received"])} if "received" in r else {}),
            }
            for r in records
        ]
        lines = "".join(
            json.dumps(self.scrub(jsonable(r)), separators=(",", ":")) + "\n" for r in stamped
        )
        with self.lock:
            data = lines.encode()
            while data:  # a regular file takes it whole; the loop only guards a short write
                data = data[os.write(self.fd, data) :]
            os.fsync(self.fd)
            if os.fstat(self.fd).st_size >= self.max_bytes:
                self._rotate()

    def _rotate(self) -> None:
        """``log.jsonl`` -> ``log.1.jsonl`` (older ones shift up, beyond ``keep`` deleted), then a
        fresh file."""
        os.close(self.fd)
        _rotated(self.path, self.keep).unlink(missing_ok=True)
        for index in range(self.keep - 1, 0, -1):
            if _rotated(self.path, index).exists():
                os.replace(_rotated(self.path, index), _rotated(self.path, index + 1))
        os.replace(self.path, _rotated(self.path, 1))
        self.fd = self._open()
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the renames survive a crash too
        finally:
            os.close(directory)
        self._expire()

    def _expire(self) -> None:
        """Delete rotated files past ``max_age_days``."""
        if self.max_age_days is None:
            return
        cutoff = time.time() - self.max_age_days * 86400
        for path in rotated_files(self.path):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the file."""
        with self.lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


def rotated_files(path: str | Path) -> list[Path]:
    """The rotated files of the log at ``path``, oldest first."""
    path = Path(path)
    pattern = re.compile(re.escape(path.stem) + r"\.(\d+)" + re.escape(path.suffix) + "$")
    found = [
        (int(m.group(1)), p)
        for p in path.parent.glob(f"{path.stem}.*{path.suffix}")
        if (m := pattern.match(p.name))
    ]
    return [p for _, p in sorted(found, reverse=True)]


def read(path: str | Path, rotated: bool = True) -> Iterator[dict[str, Any]]:
    """Yield the records of the log at ``path`` (its rotated files first when ``rotated``), oldest
    first.

    Args:
        path: the log file given to :class:`PredictionLog`.
        rotated: also read ``log.N.jsonl`` files, oldest first.

    Returns:
        An iterator of record dicts; a line torn by a crash mid-write (not valid JSON) is skipped.
    """
    for file in [*(rotated_files(path) if rotated else []), Path(path)]:
        if not file.is_file():
            continue
        with open(file, "rb") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue  # a torn write: the crash came before its reply could be sent
                if isinstance(record, dict):
                    yield record

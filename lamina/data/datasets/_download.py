"""Explicit, checksummed downloads into the data directory. Nothing here runs unless asked for."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from lamina.core.errors import ConfigError, DataError, message
from lamina.data.datasets._base import SOURCES, ChecksumError, locate, resolve_data_dir

_SCHEMES = ("http://", "https://", "file://")


def fetch(
    url: str,
    path: str | Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    gzip: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Stream ``url`` to ``path``, verify its checksum, then move it into place.

    The bytes go to a temporary file next to ``path`` while being hashed; only a verified file is
    renamed to ``path`` (so ``path`` is never half-written). On a mismatch the temporary file is
    deleted and :class:`ChecksumError` names both hashes.

    Args:
        url: an ``http://``, ``https://`` or ``file://`` URL.
        path: where the file ends up; parent folders are created.
        sha256: expected SHA-256 hex digest of the bytes at ``url`` (preferred).
        md5: expected MD5 hex digest, for sources that only publish MD5.
        gzip: store the file gzip-compressed (the checksum is still of the bytes at ``url``).
        timeout: seconds to wait for the server.

    Returns:
        ``path`` as a ``Path``.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_bytes(b"hi")
    >>> digest = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
    >>> source = (folder / "a.txt").as_uri()
    >>> lamina.datasets.fetch(source, folder / "b.txt", sha256=digest).read_bytes()
    b'hi'
    """
    if not url.startswith(_SCHEMES):
        raise ConfigError(
            message(
                "Unsupported URL.",
                repr(url),
                "an http://, https:// or file:// URL",
                "Pass a full URL.",
            )
        )
    if not (sha256 or md5):
        raise ConfigError(
            message(
                "A download needs a checksum.",
                "sha256=None, md5=None",
                "the file's published sha256 (or md5)",
                "Pass sha256=... so a corrupted or altered file is caught.",
            )
        )
    import gzip as gzip_module
    import urllib.error
    import urllib.request

    algorithm, expected = ("sha256", sha256) if sha256 else ("md5", md5)
    digest = hashlib.new(algorithm, usedforsecurity=False)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        ) as handle:
            temp = Path(handle.name)
            try:
                # A fresh opener reads the proxy settings (and no_proxy) of this moment.
                with urllib.request.build_opener().open(url, timeout=timeout) as response:
                    writer = (
                        gzip_module.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0)
                        if gzip
                        else handle
                    )
                    while chunk := response.read(1 << 20):
                        digest.update(chunk)
                        writer.write(chunk)
                    if writer is not handle:
                        writer.close()
            except (urllib.error.URLError, OSError) as error:
                raise DataError(
                    message(
                        "Download failed.",
                        f"{url}: {error}",
                        "a reachable URL serving the file",
                        f"Check the connection and the URL, or put the file at {target} by hand.",
                    )
                ) from error
        received = digest.hexdigest()
        if received != str(expected).lower():
            raise ChecksumError(
                message(
                    f"Checksum mismatch for {url}; the download was deleted.",
                    f"{algorithm} {received}",
                    f"{algorithm} {expected}",
                    "Retry; if it persists the source changed or is being tampered with, so get "
                    "the file elsewhere and compare its checksum by hand.",
                )
            )
        os.replace(temp, target)
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
    return target


def download(
    name: str,
    *,
    base_url: str | None = None,
    data_dir: str | Path | None = None,
    force: bool = False,
) -> Path:
    """Fetch the missing files of data set ``name`` into its folder under the data directory.

    Only runs when called (or through ``load(name, download=True)``); every file's checksum is
    verified before it is moved into place.

    Args:
        name: a data set name from ``names()`` (``digits`` is bundled and needs nothing).
        base_url: a mirror holding the files under their published names, e.g. a local
            ``file:///...`` folder or an internal HTTP server; default: each file's canonical URL.
        data_dir: the data directory; default ``LAMINA_DATA`` (see ``lamina.config``).
        force: fetch again even when the file is there.

    Returns:
        The data set's folder.
    """
    if name not in SOURCES:
        raise ConfigError(
            message(
                "This data set cannot be downloaded.",
                repr(name),
                f"one of {sorted(SOURCES)}",
                "Bundled data sets (digits) need no download; check the name.",
            )
        )
    folder = resolve_data_dir(data_dir) / SOURCES[name].folder
    for file in SOURCES[name].files:
        target = folder / file.name
        if target.is_file() and not force:
            continue
        url = f"{base_url.rstrip('/')}/{file.remote_name}" if base_url else file.url
        if url is None:
            continue  # no canonical URL: locate() below says how to get it
        fetch(url, target, sha256=file.sha256, md5=file.md5, gzip=file.gzip)
    return locate(name, data_dir)

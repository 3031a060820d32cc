"""Tables from SQL databases for ``lamina.sources``: a table or a query at a SQLAlchemy URL, whole
or in chunks.

SQLAlchemy and the database's driver are imported only here (``pip install 'lamina[sql]'``).
Passwords never reach an error message: URLs are shown with the password hidden and no driver
exception is chained.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from lamina.core.errors import ConfigError, DataError, message
from lamina.core.optional import require_pandas

__all__ = ["safe_url", "sql_frames"]


def safe_url(text: str) -> str:
    """The database URL with its password hidden.

    Args:
        text: a SQLAlchemy URL such as ``postgresql://user:secret@host/db``.

    Returns:
        The URL with ``***`` for the password; only the scheme when the URL does not parse.
    """
    try:
        from sqlalchemy.engine import make_url

        return cast(str, make_url(text).render_as_string(hide_password=True))
    except Exception:  # an unparsable URL: show its scheme only, the rest may hold a password
        return text.split("://", 1)[0] + "://..."


def sql_frames(text: str, options: dict[str, Any], chunksize: int | None) -> Iterator[Any]:
    """DataFrames of ``table=`` or ``query=`` at the database ``text``; chunks use a server-side
    cursor.

    A DataError is raised after the ``except`` block: no driver exception (it may hold the password)
    is chained.

    Args:
        text: the database URL.
        options: exactly one of ``table`` (a name, ``schema.table`` allowed) or ``query`` (SQL).
        chunksize: rows per DataFrame; None: one DataFrame.

    Returns:
        An iterator of DataFrames.
    """
    import sqlalchemy  # pip install 'lamina[sql]'

    pandas = require_pandas()
    if ("table" in options) == ("query" in options):
        raise ConfigError(
            message(
                "A database source needs table= or query=.",
                sorted(options),
                "table='name' or query='SELECT ...'",
                "Pass exactly one of them.",
            )
        )
    shown, query, stage, failure, engine = safe_url(text), options.get("query"), "url", "", None
    try:
        url = sqlalchemy.engine.make_url(text)
        engine = sqlalchemy.create_engine(url)
        if (
            url.get_backend_name() == "sqlite"
            and url.database not in (None, "", ":memory:")
            and not Path(url.database).is_file()
        ):  # SQLite would create an empty database there
            raise DataError(
                message(
                    "No SQLite database file at this path.",
                    shown,
                    "an existing database file",
                    "Check the path: sqlite:///relative.db or sqlite:////absolute/path.db.",
                )
            )
        stage = "connect"
        with engine.connect() as connection:
            stage = "query"
            if (
                "table" in options
            ):  # quoted by the dialect; "schema.table" names a table in a schema
                schema, _, name = str(options["table"]).rpartition(".")
                table = sqlalchemy.table(name, schema=schema or None)
                query = sqlalchemy.select(sqlalchemy.text("*")).select_from(table)
            if chunksize is not None:
                connection = connection.execution_options(
                    stream_results=True, max_row_buffer=chunksize
                )
            statement = sqlalchemy.text(query) if isinstance(query, str) else query
            frames = pandas.read_sql_query(statement, connection, chunksize=chunksize)
            yield from ([frames] if chunksize is None else frames)
    except (
        sqlalchemy.exc.SQLAlchemyError,
        ImportError,
        pandas.errors.DatabaseError,
        ValueError,
    ) as error:
        if isinstance(error, DataError):  # ours (a missing SQLite file), not the driver's
            raise
        cause = (
            getattr(error, "orig", None) or getattr(error.__cause__, "orig", None) or error
        )  # the driver's words
        failure = type(error).__name__ if stage == "url" else " ".join(str(cause).split())
        failure = (
            failure.replace(str(url.password), "***")
            if stage != "url" and url.password
            else failure
        )
    finally:
        getattr(engine, "dispose", lambda: None)()  # None when the URL was wrong
    fixes = {
        "url": (
            "Cannot use this database URL.",
            "dialect+driver://user:password@host:port/database",
            "Fix the URL, or install its driver (pip install 'lamina[sql]').",
        ),
        "connect": (
            "Cannot connect to the database.",
            "a reachable server, an existing database and valid credentials",
            "Check the host, port, database name, user and password.",
        ),
        "query": (
            f"The SQL query {' '.join(str(query).split())[:200]!r} failed.",
            "a valid query",
            "Check the SQL, or pass table='name'.",
        ),
    }
    if failure:
        raise DataError(message(fixes[stage][0], f"{shown}: {failure[:300]}", *fixes[stage][1:]))

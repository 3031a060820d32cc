"""Fixtures shared by test files: a throwaway PostgreSQL server on loopback, a tiny saved lamina model."""

import os
import shutil
import socket
import subprocess
import tempfile
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import lamina

POSTGRES_PASSWORD = "Pg-s3cret-4711"


def postgres_bin():
    """The directory holding initdb and pg_ctl."""
    found = [str(Path(shutil.which("initdb")).resolve().parent)] if shutil.which("initdb") else []
    if shutil.which("pg_config"):
        found.append(
            subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        )
    found += sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    for folder in found:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. .ci/run installs them "
        "(apt-get install postgresql); install postgresql to run these tests locally."
    )


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 with database 'shop', table 'orders' (300 rows, a NULL)."""
    import sqlalchemy

    bindir, root = postgres_bin(), Path(tempfile.mkdtemp(prefix="lamina-pg-"))
    as_postgres = (
        ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    )  # postgres refuses root

    def run(*command, check=True):
        done = subprocess.run(
            [*as_postgres, *map(str, command)], capture_output=True, text=True, timeout=120
        )
        if check and done.returncode:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            pytest.fail(f"{command[0]} failed: {done.stdout}{done.stderr}{log}")

    (root / "password").write_text(POSTGRES_PASSWORD)
    if as_postgres:
        for path in (root, root / "password"):
            shutil.chown(path, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run(
        bindir / "initdb",
        "-D",
        root / "data",
        "-U",
        "lamina",
        "--auth=scram-sha-256",
        f"--pwfile={root / 'password'}",
        "-E",
        "UTF8",
        "--no-locale",
    )
    run(
        bindir / "pg_ctl",
        "-D",
        root / "data",
        "-l",
        root / "log",
        "-w",
        "-t",
        "60",
        "-o",
        f"-k {root} -h 127.0.0.1 -p {port}",
        "start",
    )
    try:
        server = f"postgresql+psycopg://lamina:{POSTGRES_PASSWORD}@127.0.0.1:{port}"
        engine = sqlalchemy.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("CREATE DATABASE shop"))
        engine.dispose()
        rng = np.random.default_rng(0)
        orders = pd.DataFrame(
            {
                "id": np.arange(300),
                "price": (rng.random(300) * 100).round(2),
                "country": rng.choice(["DE", "FR", "UK"], 300),
                "returned": rng.random(300) < 0.2,
                "day": pd.date_range("2024-01-01", periods=300, freq="D"),
                "note": "ok",
            }
        )
        orders.loc[5, "note"] = None
        engine = sqlalchemy.create_engine(f"{server}/shop")
        orders.to_sql("orders", engine, index=False)
        engine.dispose()
        yield types.SimpleNamespace(
            url=f"{server}/shop",
            server=server,
            port=port,
            orders=orders,
            password=POSTGRES_PASSWORD,
        )
    finally:
        run(bindir / "pg_ctl", "-D", root / "data", "-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory):
    """A saved ``Sequential([Dense(3)])`` on 4 inputs: ``(directory, model)``."""
    torch.manual_seed(0)
    model = lamina.Sequential([lamina.layers.Dense(3)])
    model.build(torch.ones(1, 4))
    return model.save(tmp_path_factory.mktemp("m") / "tiny"), model

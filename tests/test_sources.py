"""lamina.data.load / iter_chunks / Dataset: every source round-trips, errors say what to fix, and a real
PostgreSQL server (started here, on a free local port) is read by table, query, chunks and sample."""

import gzip
import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from lamina.errors import ConfigError, DataError
from PIL import Image

import lamina
from lamina.data import Dataset, iter_chunks, load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def frame():
    """20 rows: int, float, str and bool columns, a missing value, and a string target."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "age": rng.integers(18, 90, 20),
            "score": rng.random(20).round(4),
            "city": rng.choice(["Köln", "Zürich", "Paris"], 20),
            "member": rng.random(20) < 0.5,
            "label": rng.choice(["cat", "dog"], 20),
        }
    )
    table.loc[3, "score"] = np.nan
    return table


def check_table(data, frame, target="label"):
    assert isinstance(data, Dataset) and data.modality == "table" and data.target == target
    pd.testing.assert_frame_equal(data.x, frame.drop(columns=[target]), check_dtype=False)
    assert data.y.tolist() == frame[target].tolist()
    assert data.classes == sorted(set(frame[target])) and data.task == "classification"


def messages(error):
    """The messages of an exception and of everything chained to it."""
    while error is not None:
        yield str(error)
        error = error.__cause__ or error.__context__


# ---------------------------------------------------------------- files
def test_csv_tsv_parquet_jsonl_round_trip(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True, force_ascii=False)
    for name in ("t.csv", "t.tsv", "t.parquet", "t.jsonl"):
        data = load(tmp_path / name, target="label")
        check_table(data, frame)
        assert data.source == str(tmp_path / name) and len(data) == 20
    (tmp_path / "t.ndjson").write_text('{"a": 1, "b": [1, 2]}\n\n{"a": 2, "b": [3]}\n')
    data = load(str(tmp_path / "t.ndjson"))
    assert data.x["a"].tolist() == [1, 2] and data.y is None and data.task is None
    assert (
        len(data.fingerprint()) == 64
    )  # list cells cannot be hashed by pandas; the JSON fallback works


def test_sniffs_delimiters_and_encodings(tmp_path):
    (tmp_path / "semi.csv").write_text("a;b;name\n1;2,5;x\n3;4,5;y\n")
    assert load(tmp_path / "semi.csv").x.columns.tolist() == ["a", "b", "name"]
    (tmp_path / "tab.txt").write_text(
        "a\tb\n1\t2\n3\t4\n"
    )  # a .txt with a tab structure is a table
    assert load(tmp_path / "tab.txt").x.to_numpy().tolist() == [[1, 2], [3, 4]]
    (tmp_path / "pipe.csv").write_text("a|b\n1|2\n")
    assert load(tmp_path / "pipe.csv").x.columns.tolist() == ["a", "b"]
    (tmp_path / "latin.csv").write_bytes("name,city\nJosé,Zürich\nRenée,Köln\n".encode("cp1252"))
    assert load(tmp_path / "latin.csv").x["city"].tolist() == ["Zürich", "Köln"]
    (tmp_path / "bom.csv").write_bytes("name,n\nä,1\n".encode("utf-8-sig"))
    assert load(tmp_path / "bom.csv").x.columns.tolist() == [
        "name",
        "n",
    ]  # no "\ufeff" in the first name
    # A non-UTF-8 byte after the sniffed first 64 KiB: the read falls back to cp1252.
    (tmp_path / "late.csv").write_bytes(b"a,b\n" + b"x,1\n" * 20_000 + "é,2\n".encode("cp1252"))
    assert load(tmp_path / "late.csv").x["a"].iloc[-1] == "é"
    (tmp_path / "single.csv").write_text("value\n1\n2\n")
    assert load(tmp_path / "single.csv").x["value"].tolist() == [1, 2]


def test_text_file_one_document_per_line(tmp_path):
    (tmp_path / "docs.txt").write_text("The cat sat, quietly.\n\nA dog barked!\nRain; then sun.\n")
    data = load(tmp_path / "docs.txt")
    assert data.modality == "text" and data.y is None and data.task is None
    assert data.x == ["The cat sat, quietly.", "A dog barked!", "Rain; then sun."]
    (tmp_path / "tab.txt").write_text("a\tb\n1\t2\n")
    assert load(tmp_path / "tab.txt", modality="text").x == ["a\tb", "1\t2"]


def test_dataframe_input(frame):
    before = frame.copy()
    data = load(frame, target="label")
    check_table(data, frame)
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is left as it was
    assert load(frame).y is None and load(frame).x.shape == (20, 5)


def test_numpy_files(tmp_path):
    x, y = np.arange(24, dtype=np.float32).reshape(6, 4), np.array([0, 1, 0, 1, 2, 2])
    np.save(tmp_path / "x.npy", x)
    data = load(tmp_path / "x.npy")
    assert data.modality == "array" and data.y is None and np.array_equal(data.x, x)
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    data = load(tmp_path / "xy.npz")
    assert np.array_equal(data.y, y) and data.target == "label" and data.classes == [0, 1, 2]
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    np.savez(
        tmp_path / "split.npz",
        x_train=images,
        y_train=np.arange(5),
        x_test=images[:2],
        y_test=np.arange(2),
    )
    data = load(tmp_path / "split.npz")
    assert (
        data.modality == "image"
        and np.array_equal(data.x_test, images[:2])
        and data.y_test.tolist() == [0, 1]
    )
    assert (
        load(tmp_path / "x.npy", modality="image").modality == "image"
    )  # arrays may be declared images


def write_idx(path, array, compress=False):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def test_idx_files_plain_and_gzipped(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (7, 5, 4), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    data = load(tmp_path / "train-images-idx3-ubyte")
    assert (
        data.modality == "image"
        and np.array_equal(data.x, images)
        and data.y.tolist() == labels.tolist()
    )
    write_idx(tmp_path / "digits.idx.gz", images, compress=True)
    data = load(tmp_path / "digits.idx.gz")
    assert np.array_equal(data.x, images) and data.y is None
    (tmp_path / "broken.idx").write_bytes(b"\x00\x00\x08\x03" + (7).to_bytes(4, "big") + b"short")
    with pytest.raises(DataError, match="broken.idx"):
        load(tmp_path / "broken.idx")


def save_image(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    gray = {
        name: [rng.integers(0, 256, (6, 5), dtype=np.uint8) for _ in range(3)]
        for name in ("cat", "dog")
    }
    for name, arrays in gray.items():
        for i, array in enumerate(arrays):
            save_image(tmp_path / "gray" / name / f"{i}.png", array)
    (tmp_path / "gray" / "cat" / ".DS_Store").write_bytes(b"\x00")  # hidden files are skipped
    data = load(tmp_path / "gray")
    assert data.modality == "image" and data.x.shape == (6, 1, 6, 5) and data.x.dtype == np.uint8
    assert np.array_equal(
        data.x[:, 0], np.stack(gray["cat"] + gray["dog"])
    ) and data.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert (
        data.classes == ["cat", "dog"] and data.target == "label" and data.task == "classification"
    )
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    save_image(tmp_path / "gray" / "dog" / "color.png", rgb)  # one RGB image: all become 3 channels
    data = load(tmp_path / "gray")
    assert data.x.shape == (7, 3, 6, 5) and np.array_equal(data.x[-1], rgb.transpose(2, 0, 1))
    assert np.array_equal(data.x[0, 1], gray["cat"][0])  # gray repeated on every channel


def test_image_sizes_must_match_unless_resized(tmp_path):
    save_image(tmp_path / "a" / "small.png", np.zeros((6, 5), np.uint8))
    save_image(tmp_path / "b" / "large.png", np.zeros((9, 7), np.uint8))
    with pytest.raises(DataError, match="differ in size") as caught:
        load(tmp_path)
    assert (
        "(6, 5)" in str(caught.value)
        and "(9, 7)" in str(caught.value)
        and "size=(H, W)" in str(caught.value)
    )
    assert "large.png" in str(caught.value)
    assert load(tmp_path, size=(4, 3)).x.shape == (2, 1, 4, 3)
    with pytest.raises(ConfigError, match="size must be"):
        load(tmp_path, size=4)
    (tmp_path / "b" / "corrupt.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="Cannot read an image") as caught:
        load(tmp_path, size=(4, 3))
    assert "corrupt.png" in str(caught.value)


def test_text_folder(tmp_path):
    for name, texts in {"neg": ["awful", "dull plot"], "pos": ["great fun"]}.items():
        (tmp_path / name).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / name / f"{i}.txt").write_text(text)
    data = load(tmp_path)
    assert data.modality == "text" and data.x == ["awful", "dull plot", "great fun"]
    assert data.y.tolist() == [0, 0, 1] and data.classes == ["neg", "pos"]


# ---------------------------------------------------------------- bundled data sets
def test_bundled_digits():
    data = load("digits")
    splits = lamina.datasets.load("digits", images=True)
    assert (
        data.modality == "image"
        and data.x.shape == (1438, 1, 8, 8)
        and data.x_test.shape == (359, 1, 8, 8)
    )
    assert np.array_equal(data.x, splits.x_train) and np.array_equal(data.y_test, splits.y_test)
    assert (
        data.classes == [str(i) for i in range(10)]
        and data.source == "lamina.datasets.load('digits')"
    )
    assert load("digits", images=False).modality == "array"  # options go to the bundled loader


@pytest.mark.needs_data("adult", "sentiment", "tinyshakespeare", "mnist1d")
def test_bundled_adult_sentiment_and_text():
    data = load("adult")
    assert (
        data.modality == "table"
        and data.target == "income"
        and len(data) == 32561
        and len(data.x_test) == 16281
    )
    assert (
        "income" not in data.x.columns
        and data.classes == ["<=50K", ">50K"]
        and data.task == "classification"
    )
    sentiment = load("sentiment")
    assert (
        sentiment.modality == "text"
        and isinstance(sentiment.x[0], str)
        and len(sentiment.x_test) == 600
    )
    shakespeare = load("tinyshakespeare")
    assert (
        shakespeare.modality == "text"
        and shakespeare.y is None
        and shakespeare.x[0].startswith("First Citizen")
    )
    assert load("mnist1d").modality == "array"


# ---------------------------------------------------------------- Dataset
def test_fingerprint_is_stable_and_content_sensitive(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    script = f"import lamina; print(lamina.data.load({str(tmp_path / 't.csv')!r}, target='label').fingerprint())"
    other = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": "123"},
        cwd=ROOT,
    )
    here = load(tmp_path / "t.csv", target="label").fingerprint()
    assert other.stdout.strip() == here == load(tmp_path / "t.csv", target="label").fingerprint()
    changed = frame.copy()
    changed.loc[7, "age"] += 1
    assert load(changed, target="label").fingerprint() != load(frame, target="label").fingerprint()
    renamed = frame.rename(columns={"age": "years"})
    assert load(renamed, target="label").fingerprint() != load(frame, target="label").fingerprint()
    x = np.zeros((4, 3), np.float32)
    base = Dataset(x, None, "array", "a").fingerprint()
    x2 = x.copy()
    x2[2, 1] = 1e-7
    assert (
        Dataset(x2, None, "array", "b").fingerprint()
        != base
        == Dataset(x.copy(), None, "array", "c").fingerprint()
    )
    assert (
        Dataset(["a", "b"], None, "text", "t").fingerprint()
        != Dataset(["a", "c"], None, "text", "t").fingerprint()
    )
    assert Dataset(x, np.array([0, 1, 0, 1]), "array", "a").fingerprint() != base  # y counts


def test_task_inference():
    def task(y):
        return Dataset(np.zeros((len(y), 1)), np.asarray(y), "array", "t").task

    assert task(["a", "b", "a"]) == "classification"
    assert task([True, False]) == "classification"
    assert task(np.arange(1000) % 50) == "classification"  # 50 values <= max(20, 5% of 1000)
    assert task(np.arange(1000) % 51) == "regression"
    assert task(np.arange(30) % 20) == "classification" and task(np.arange(30) % 21) == "regression"
    assert task(np.linspace(0, 1, 10)) == "regression"
    assert Dataset(np.zeros((3, 1)), None, "array", "t").task is None


def test_summary_is_json(frame):
    summary = load(frame, target="label").summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["rows"] == 20 and summary["columns"] == ["age", "score", "city", "member"]
    assert summary["task"] == "classification" and summary["classes"] == ["cat", "dog"]
    assert load("digits").summary()["shape"] == [1438, 1, 8, 8]
    assert repr(load(frame)).startswith("lamina.data.Dataset('table', rows=20")


# ---------------------------------------------------------------- sampling and chunks
def test_sample_is_seeded_and_streams_to_the_same_rows(tmp_path):
    table = pd.DataFrame({"n": np.arange(25_000), "half": np.arange(25_000) / 2})
    table.to_csv(tmp_path / "big.csv", index=False)
    table.to_parquet(tmp_path / "big.parquet")
    in_memory = load(table, sample=300, seed=7)
    assert len(in_memory) == 300 and in_memory.x["n"].is_monotonic_increasing
    for name in ("big.csv", "big.parquet"):  # read in 10,000-row chunks, sampled on the way
        streamed = load(tmp_path / name, sample=300, seed=7)
        pd.testing.assert_frame_equal(streamed.x, in_memory.x)
    assert load(table, sample=300, seed=8).x["n"].tolist() != in_memory.x["n"].tolist()
    assert len(load(table, sample=10**6)) == 25_000
    data = load("digits", sample=50, seed=1)
    assert data.x.shape == (50, 1, 8, 8) and len(data.y) == 50 and len(data.x_test) == 359
    with pytest.raises(ConfigError, match="sample must be a positive int"):
        load(table, sample=0)


def test_iter_chunks_csv_and_parquet(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        chunks = list(iter_chunks(tmp_path / name, chunksize=6))
        assert [len(chunk) for chunk in chunks] == [6, 6, 6, 2]
        pd.testing.assert_frame_equal(
            pd.concat(chunks, ignore_index=True), frame, check_dtype=False
        )
    with pytest.raises(DataError, match="iter_chunks reads"):
        iter_chunks(tmp_path / "x.npy")
    with pytest.raises(ConfigError, match="chunksize"):
        iter_chunks(tmp_path / "t.csv", chunksize=0)


def test_sqlite(tmp_path, frame):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        frame.to_sql("pets", connection, index=False)
        connection.execute("CREATE TABLE vacant (a INTEGER)")
    url = f"sqlite:///{path}"
    data = load(url, "label", table="pets")
    assert data.source == url and data.classes == ["cat", "dog"] and data.x.shape == (20, 4)
    assert data.x["city"].tolist() == frame["city"].tolist() and np.isnan(data.x["score"][3])
    data = load(url, query="SELECT age, label FROM pets WHERE age > 50", target="label")
    assert data.x["age"].tolist() == frame.loc[frame.age > 50, "age"].tolist()
    assert [len(chunk) for chunk in iter_chunks(url, chunksize=8, table="pets")] == [8, 8, 4]
    sampled = load(url, table="pets", sample=5, seed=2).x["age"]
    assert sampled.tolist() == load(frame, sample=5, seed=2).x["age"].tolist()
    with pytest.raises(DataError, match="empty"):
        load(url, table="vacant")
    with pytest.raises(DataError, match="no such table: missing"):
        load(url, table="missing")
    with pytest.raises(DataError, match="syntax error"):
        load(url, query="SELEC oops")
    with pytest.raises(ConfigError, match="table= or query="):
        load(url)
    for wrong in (
        "nosuchdb://user:hunter2@host/db",
        "postgresql+psycopg://user:hunter2@host:no-port/db",
    ):
        with pytest.raises(DataError, match="Cannot use this database URL") as caught:
            load(wrong, table="pets")
        assert all("hunter2" not in text for text in messages(caught.value))
    with pytest.raises(DataError, match="No SQLite database file"):
        load(f"sqlite:///{tmp_path / 'absent.db'}", table="pets")
    assert not (tmp_path / "absent.db").exists()  # not created as a side effect


# ---------------------------------------------------------------- bad input
def test_malformed_csv_names_the_line(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n")
    with pytest.raises(DataError, match="Malformed row in bad.csv") as caught:
        load(tmp_path / "bad.csv")
    assert "line 4" in str(caught.value) and "7,8,9,10" in str(caught.value)
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match="line 2"):
        load(tmp_path / "bad.jsonl")


def test_missing_target_lists_columns(frame):
    with pytest.raises(DataError, match="target column") as caught:
        load(frame, target="Label")
    assert "['age', 'score', 'city', 'member', 'label']" in str(caught.value)
    with pytest.raises(ConfigError, match="target= names a table column"):
        load("digits", target="digit")


def test_empty_sources(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    (tmp_path / "blank.txt").write_text("\n\n")
    (tmp_path / "folder").mkdir()
    for name in ("empty.csv", "header.csv", "blank.txt"):
        with pytest.raises(DataError, match="The source is empty"):
            load(tmp_path / name)
    with pytest.raises(DataError, match="The folder is empty"):
        load(tmp_path / "folder")
    with pytest.raises(DataError, match="The source is empty"):
        load(pd.DataFrame({"a": []}))


def test_missing_file_unknown_suffix_and_options(tmp_path):
    with pytest.raises(DataError, match="No file or folder") as caught:
        load(tmp_path / "nope.csv")
    assert "nope.csv" in str(caught.value)
    with pytest.raises(DataError, match="No file or folder"):
        load("digitz")
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(ConfigError, match="Unsupported file type") as caught:
        load(tmp_path / "data.xlsx")
    assert ".parquet" in str(caught.value) and ".npz" in str(caught.value)
    (tmp_path / "t.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError, match="Unknown option"):
        load(tmp_path / "t.csv", tabel="x")
    with pytest.raises(ConfigError, match="cannot be read with that modality"):
        load(tmp_path / "t.csv", modality="image")
    with pytest.raises(ConfigError, match="Cannot load this kind of object"):
        load(42)
    np.save(tmp_path / "objects.npy", np.array(["a", None], dtype=object))
    with pytest.raises(DataError, match="pickle"):
        load(tmp_path / "objects.npy")


def test_wiring_into_lamina_data():
    assert (
        lamina.data.load is load
        and lamina.data.Dataset is Dataset
        and "iter_chunks" in lamina.data.__all__
    )
    # lamina.data.Dataset is ours now; torch datasets still batch through as_loader.
    tensors = torch.utils.data.TensorDataset(torch.zeros(5, 2))
    assert len(list(lamina.data.as_loader(tensors, 2, shuffle=False))) == 3
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, lamina; print(sorted(m for m in "
            "('pandas', 'PIL', 'pyarrow', 'sqlalchemy') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.stdout.strip() == "[]", done.stderr  # optional dependencies load lazily


# ---------------------------------------------------------------- PostgreSQL (server: tests/conftest.py)


def test_postgres_table_query_chunks_sample(postgres):
    data = load(postgres.url, "country", table="orders")
    assert data.source == f"postgresql+psycopg://lamina:***@127.0.0.1:{postgres.port}/shop"
    assert postgres.password not in json.dumps(data.summary()) and postgres.password not in repr(
        data
    )
    data.x = data.x.sort_values("id").reset_index(drop=True)
    assert len(data) == 300 and data.classes == ["DE", "FR", "UK"] and data.task == "classification"
    assert (
        data.x["note"].isna().tolist() == postgres.orders["note"].isna().tolist()
    )  # the NULL survives
    assert (
        np.allclose(data.x["price"], postgres.orders["price"]) and data.x["returned"].dtype == bool
    )
    query = "SELECT id, price FROM orders WHERE price > 50 ORDER BY id"
    expected = postgres.orders.loc[postgres.orders.price > 50, "id"]
    assert load(postgres.url, query=query).x["id"].tolist() == expected.tolist()
    chunks = list(
        iter_chunks(postgres.url, chunksize=128, query="SELECT * FROM orders ORDER BY id")
    )
    assert [len(chunk) for chunk in chunks] == [128, 128, 44]
    assert pd.concat(chunks, ignore_index=True)["id"].tolist() == list(range(300))
    sample = load(postgres.url, query="SELECT * FROM orders ORDER BY id", sample=25, seed=3)
    whole = load(postgres.url, query="SELECT * FROM orders ORDER BY id")
    pd.testing.assert_frame_equal(sample.x, load(whole.x, sample=25, seed=3).x)


def test_postgres_wrong_password_database_and_port(postgres):
    wrong = "Wr0ng-pass-0815"
    cases = [
        (
            f"postgresql+psycopg://lamina:{wrong}@127.0.0.1:{postgres.port}/shop",
            "password authentication failed",
        ),
        (f"{postgres.server}/no_such_db", 'database "no_such_db" does not exist'),
    ]
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    cases.append(
        (
            f"postgresql+psycopg://lamina:{postgres.password}@127.0.0.1:{closed}/shop",
            "Connection refused",
        )
    )
    for url, reason in cases:
        with pytest.raises(DataError, match="Cannot connect to the database") as caught:
            load(url, table="orders")
        assert reason in str(caught.value) and "***" in str(caught.value)
        for text in messages(caught.value):
            assert postgres.password not in text and wrong not in text

"""lamina.datasets: every data set's canonical split checked against the counts in its README,
missing-file errors, checksummed downloads from a local mirror (never the network), and the
restricted unpickler behind Cora."""

import functools
import gzip
import hashlib
import http.server
import os
import pickle
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from lamina.datasets import ChecksumError, DatasetNotFoundError, download, fetch, load, names
from lamina.errors import ConfigError, DataError, UnsafeFileError

import lamina

SHARED = Path(
    os.environ["LAMINA_DATA"]
)  # the repository conftest points this at ../shared/datasets
MNIST_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FILE_SETS = [
    "adult",
    "airline_passengers",
    "cora",
    "daily_min_temperatures",
    "fashion_mnist",
    "mnist",
    "mnist1d",
    "online_retail",
    "sentiment",
    "tinyshakespeare",
]


def assert_helpful(text, *fragments):
    for part in ("Received:", "Expected:", "Fix:", *fragments):
        assert part in text, f"{part!r} missing from: {text}"


@pytest.fixture(scope="module")
def mnist():
    return load("mnist")


def test_names_cover_the_issue():
    assert names() == sorted(FILE_SETS + ["digits"])


# --- one test per data set: shapes, dtypes, split sizes and class counts from the READMEs -------------


def test_digits_still_unpacks():
    (x_train, y_train), (x_test, y_test) = load("digits")
    assert x_train.shape == (1438, 64) and x_test.shape == (359, 64) and y_train.dtype == np.int64
    assert load("digits", images=True).x_train.shape == (1438, 1, 8, 8)


@pytest.mark.needs_data("mnist")
def test_mnist(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64 and x_train.flags.writeable
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert round(float(x_train.mean()), 3) == 33.318 and round(float(x_test.mean()), 3) == 33.791
    assert mnist.classes == [str(i) for i in range(10)] and "CC BY-SA 3.0" in mnist.description
    assert repr(mnist) == "lamina.datasets.DatasetSplits('mnist', train=60000, test=10000)"


@pytest.mark.needs_data("mnist")
def test_mnist_flatten_and_normalize(mnist):
    flat = load("mnist", flatten=True, normalize=True)
    assert flat.x_test.shape == (10000, 784) and flat.x_test.dtype == np.float32
    np.testing.assert_allclose(
        flat.x_test[:500], mnist.x_test[:500].reshape(500, 784) / 255, rtol=1e-6
    )


@pytest.mark.needs_data("mnist")
def test_fashion_mnist_reads_the_same_idx_files(tmp_path, monkeypatch, mnist):
    (tmp_path / "fashion-mnist").mkdir()
    for name in MNIST_FILES:  # no Fashion-MNIST copy here: the loader is tested on MNIST's files
        (tmp_path / "fashion-mnist" / name).symlink_to(SHARED / "mnist" / name)
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path))
    fashion = load("fashion_mnist")
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_test.dtype == np.uint8
    np.testing.assert_array_equal(fashion.y_test, mnist.y_test)
    assert fashion.classes[0] == "T-shirt/top" and fashion.classes[9] == "Ankle boot"
    assert load("fashion_mnist", flatten=True).x_train.shape == (60000, 784)


@pytest.mark.needs_data("mnist1d")
def test_mnist1d():
    (x_train, y_train), (x_test, y_test) = data = load("mnist1d")
    assert (
        x_train.shape == (4000, 40)
        and x_test.shape == (1000, 40)
        and data.extra["t"].shape == (40,)
    )
    assert x_train.dtype == np.float64 and y_train.dtype == np.int64
    assert np.bincount(y_train).tolist() == [398, 396, 411, 394, 394, 402, 401, 404, 402, 398]
    assert np.bincount(y_test).tolist() == [102, 104, 89, 106, 106, 98, 99, 96, 98, 102]


@pytest.mark.needs_data("cora")
def test_cora_planetoid_split():
    (x_train, y_train), (x_test, y_test) = cora = load("cora")
    x, y, edges = cora.extra["x"], cora.extra["y"], cora.extra["edge_index"]
    train, val, test = cora.extra["train_mask"], cora.extra["val_mask"], cora.extra["test_mask"]
    assert x.shape == (2708, 1433) and x.dtype == np.float32 and set(np.unique(x)) == {0.0, 1.0}
    assert y.shape == (2708,) and y.dtype == np.int64 and y.max() == 6
    assert (train.sum(), val.sum(), test.sum()) == (140, 500, 1000)
    assert not (train & val).any() and not (train & test).any() and not (val & test).any()
    assert np.flatnonzero(train).tolist() == list(range(140)) and np.flatnonzero(
        val
    ).tolist() == list(range(140, 640))
    assert np.flatnonzero(test).min() == 1708 and np.flatnonzero(test).max() == 2707
    assert np.bincount(y_train).tolist() == [20] * 7
    np.testing.assert_array_equal(x_train, x[train])
    assert x_test.shape == (1000, 1433) and y_test.shape == (1000,)
    # 5,278 undirected edges without self-loops, stored in both directions
    assert (
        edges.shape == (2, 10556) and edges.dtype == np.int64 and not (edges[0] == edges[1]).any()
    )
    assert {tuple(pair) for pair in edges.T} == {tuple(pair) for pair in edges[::-1].T}
    assert edges.min() == 0 and edges.max() == 2707


@pytest.mark.needs_data("tinyshakespeare")
def test_tinyshakespeare():
    data = load("tinyshakespeare")
    (train, y_train), (test, y_test) = data
    assert (len(train), len(test)) == (1003854, 111540) and y_train is None and y_test is None
    assert len(data.extra["vocabulary"]) == 65 and (train + test).count("\n") == 40000
    assert train.startswith("First Citizen:")


@pytest.mark.needs_data("sentiment")
def test_sentiment():
    data = load("sentiment")
    (x_train, y_train), (x_test, y_test) = data
    assert x_train.shape == (2400,) and x_test.shape == (600,) and y_train.dtype == np.int64
    assert isinstance(x_train[0], str) and data.classes == ["negative", "positive"]
    assert np.bincount(y_train).tolist() == [1200, 1200] and np.bincount(y_test).tolist() == [
        300,
        300,
    ]
    sources, counts = np.unique(data.extra["source_test"], return_counts=True)
    assert sources.tolist() == ["amazon", "imdb", "yelp"] and counts.tolist() == [200, 200, 200]
    np.testing.assert_array_equal(load("sentiment").y_test, y_test)  # the split is fixed


@pytest.mark.needs_data("airline_passengers")
def test_airline_passengers():
    data = load("airline_passengers")
    (train, _), (test, _) = data
    assert (len(train), len(test), len(data.frame)) == (115, 29, 144)
    assert (
        train.iloc[0] == 112
        and test.iloc[-1] == 432
        and data.frame.min() == 104
        and data.frame.max() == 622
    )
    assert str(train.index[0].date()) == "1949-01-01" and train.index.max() < test.index.min()


@pytest.mark.needs_data("daily_min_temperatures")
def test_daily_min_temperatures():
    data = load("daily_min_temperatures")
    (train, _), (test, _) = data
    assert (len(train), len(test), len(data.frame)) == (2920, 730, 3650)
    assert (
        train.iloc[0] == 20.7
        and test.iloc[-1] == 13.0
        and round(float(data.frame.mean()), 3) == 11.178
    )
    assert str(test.index[-1].date()) == "1990-12-31" and train.index.max() < test.index.min()


@pytest.mark.needs_data("adult")
def test_adult():
    (x_train, y_train), (x_test, y_test) = data = load("adult")
    assert x_train.shape == (32561, 14) and x_test.shape == (16281, 14) and y_test.dtype == np.int64
    assert list(x_train.columns)[:3] == ["age", "workclass", "fnlwgt"] and data.classes == [
        "<=50K",
        ">50K",
    ]
    assert np.bincount(y_train).tolist() == [24720, 7841] and np.bincount(y_test).tolist() == [
        12435,
        3846,
    ]
    assert (
        int(x_train.isna().any(axis=1).sum()) == 2399
        and int(x_test.isna().any(axis=1).sum()) == 1221
    )
    assert round(1 - y_test.mean(), 4) == 0.7638


@pytest.mark.needs_data("online_retail")
def test_online_retail():
    data = load("online_retail")
    (train, y_train), (test, y_test) = data
    table = data.frame
    assert (
        y_train is None
        and y_test is None
        and (len(train), len(test), len(table)) == (431673, 110236, 541909)
    )
    assert list(table.columns) == [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
    ]
    assert table["CustomerID"].nunique() == 4372 and int(table["CustomerID"].isna().sum()) == 135080
    assert int(table["Quantity"].sum()) == 5176450 and table["Country"].nunique() == 38
    assert train["InvoiceDate"].max() < test["InvoiceDate"].min()


@pytest.mark.needs_data("mnist1d")
def test_import_lamina_does_not_import_pandas():
    code = "import sys, lamina, lamina.datasets; lamina.datasets.load('mnist1d'); assert 'pandas' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# --- errors ----------------------------------------------------------------------------------------------


def test_unknown_name_and_option():
    with pytest.raises(ConfigError, match="mnist"):
        load("minst")
    with pytest.raises(ConfigError) as error:
        load("mnist1d", flatten=True)
    assert_helpful(str(error.value), "['flatten']")


@pytest.mark.parametrize("name", FILE_SETS)
def test_missing_file_says_where_to_put_it(name, tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as error:
        load(name)
    assert isinstance(error.value, DataError) and isinstance(error.value, ValueError)
    text = str(error.value)
    assert_helpful(text, f"no file at {tmp_path}{os.sep}", "LAMINA_DATA")
    if name == "mnist1d":  # no canonical npz URL: say how to make one
        assert "pip install mnist1d" in text
    else:
        assert "download=True" in text and "https://" in text


@pytest.mark.needs_data("mnist")
def test_missing_file_names_the_exact_file(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    for name in MNIST_FILES[1:]:
        (tmp_path / "mnist" / name).symlink_to(SHARED / "mnist" / name)
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as error:
        load("mnist")
    assert_helpful(
        str(error.value),
        f"no file at {tmp_path / 'mnist' / MNIST_FILES[0]}",
        "missing 1 of its 4",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    )


def test_corrupt_idx_file(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    for name in MNIST_FILES:
        (tmp_path / "mnist" / name).write_bytes(gzip.compress(b"\x00\x00\x08\x03" + bytes(12)))
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path))
    assert load("mnist").x_train.shape == (0, 0, 0)  # a well-formed empty file is fine
    (tmp_path / "mnist" / MNIST_FILES[0]).write_bytes(
        gzip.compress(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big"))
    )
    with pytest.raises(DataError, match="train-images"):
        load("mnist")


# --- downloads: local mirrors only ------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_mirror(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving a temporary folder: yields (folder, base URL)."""
    root = tmp_path / "mirror"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root))
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # never route the local server through a proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path / "data"))
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.needs_data("airline_passengers")
def test_download_over_http_verifies_and_loads(http_mirror, tmp_path):
    root, url = http_mirror
    shutil.copy(SHARED / "airline-passengers" / "airline-passengers.csv", root)
    folder = download("airline_passengers", base_url=url)
    assert folder == tmp_path / "data" / "airline-passengers"
    assert (folder / "airline-passengers.csv").read_bytes() == (
        root / "airline-passengers.csv"
    ).read_bytes()
    assert len(load("airline_passengers").frame) == 144
    (root / "airline-passengers.csv").unlink()  # present files are not fetched again
    assert download("airline_passengers", base_url=url) == folder
    assert len(load("airline_passengers", download=True).frame) == 144


def test_download_checksum_mismatch_deletes_the_file(http_mirror, tmp_path):
    root, url = http_mirror
    (root / "airline-passengers.csv").write_bytes(b"Month,Passengers\n1949-01,1\n")
    with pytest.raises(ChecksumError) as error:
        download("airline_passengers", base_url=url)
    received = hashlib.sha256(b"Month,Passengers\n1949-01,1\n").hexdigest()
    assert_helpful(
        str(error.value),
        f"sha256 {received}",
        "sha256 8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
    )
    assert isinstance(error.value, DataError)
    assert (
        list((tmp_path / "data" / "airline-passengers").iterdir()) == []
    )  # no file, no partial download


def test_download_http_error_leaves_nothing(http_mirror, tmp_path):
    _, url = http_mirror
    with pytest.raises(DataError, match="404"):
        fetch(url + "absent.csv", tmp_path / "out" / "absent.csv", sha256="0" * 64)
    assert list((tmp_path / "out").iterdir()) == []


def test_fetch_needs_a_checksum_and_a_known_scheme(tmp_path):
    with pytest.raises(ConfigError, match="checksum"):
        fetch((SHARED / "mnist1d" / "README.md").as_uri(), tmp_path / "x")
    with pytest.raises(ConfigError, match="URL"):
        fetch("ftp://127.0.0.1/x", tmp_path / "x", sha256="0" * 64)


@pytest.mark.parametrize(
    "name",
    [
        "mnist",
        "mnist1d",
        "cora",
        "tinyshakespeare",
        "sentiment",
        "airline_passengers",
        "daily_min_temperatures",
        "online_retail",
    ],
)
@pytest.mark.needs_data(
    "mnist",
    "mnist1d",
    "cora",
    "tinyshakespeare",
    "sentiment",
    "airline_passengers",
    "daily_min_temperatures",
    "online_retail",
)
def test_published_checksums_match_the_shared_files(name, tmp_path):
    folder = {
        "mnist1d": "mnist1d",
        "cora": "cora-planetoid",
        "sentiment": "sentiment-labelled-sentences",
        "airline_passengers": "airline-passengers",
        "daily_min_temperatures": "daily-min-temperatures",
        "online_retail": "online-retail",
    }.get(name, name)
    download(name, base_url=(SHARED / folder).as_uri(), data_dir=tmp_path)
    assert len(load(name, data_dir=tmp_path).x_test) > 0


@pytest.mark.needs_data("adult")
def test_adult_downloads_as_csv_and_is_stored_gzipped(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for split in ("train", "test"):
        (mirror / f"adult-{split}.csv").write_bytes(
            gzip.decompress((SHARED / "adult" / f"adult-{split}.csv.gz").read_bytes())
        )
    download("adult", base_url=mirror.as_uri(), data_dir=tmp_path / "data")
    stored = tmp_path / "data" / "adult" / "adult-test.csv.gz"
    assert gzip.decompress(stored.read_bytes()) == (mirror / "adult-test.csv").read_bytes()
    assert load("adult", data_dir=tmp_path / "data").x_test.shape == (16281, 14)


@pytest.mark.needs_data("mnist")
def test_fashion_mnist_download_refuses_mnist_bytes(tmp_path):
    with pytest.raises(ChecksumError, match="md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d"):
        download("fashion_mnist", base_url=(SHARED / "mnist").as_uri(), data_dir=tmp_path)
    assert not (tmp_path / "fashion-mnist" / MNIST_FILES[0]).exists()


# --- Planetoid pickles: only the published globals ---------------------------------------------------------


class SystemCall:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class EvalCall(SystemCall):
    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.needs_data("cora")
@pytest.mark.parametrize("payload", [SystemCall, EvalCall])
def test_restricted_unpickler_refuses_other_globals(payload, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(payload(marker), protocol=2)
    pickle.loads(evil)  # the payload is real: plain pickle runs it
    assert marker.exists()
    marker.unlink()
    folder = tmp_path / "data" / "cora-planetoid"
    folder.mkdir(parents=True)
    for source in (SHARED / "cora-planetoid").glob("ind.cora.*"):
        (folder / source.name).symlink_to(source)
    (folder / "ind.cora.graph").unlink()
    (folder / "ind.cora.graph").write_bytes(evil)
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path / "data"))
    with pytest.raises(UnsafeFileError) as error:
        load("cora")
    assert_helpful(
        str(error.value),
        "ind.cora.graph",
        "numpy.ndarray",
        f"Received: {'posix.system' if payload is SystemCall else '__builtin__.eval'}",
    )
    assert not marker.exists()


@pytest.mark.needs_data("cora")
def test_planetoid_garbage_is_a_data_error(tmp_path, monkeypatch):
    folder = tmp_path / "cora-planetoid"
    folder.mkdir()
    for source in (SHARED / "cora-planetoid").glob("ind.cora.*"):
        if source.name != "ind.cora.ty":
            (folder / source.name).symlink_to(source)
    (folder / "ind.cora.ty").write_bytes(pickle.dumps([1, 2, 3], protocol=2)[:-3])
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path))
    with pytest.raises(DataError, match="ind.cora.ty"):
        lamina.datasets.load("cora")

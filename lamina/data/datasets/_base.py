"""What every loader shares: the result type, the errors, and where each data set's files live.

The cache under ``LAMINA_DATA`` holds one folder per data set, named as below, with the files
exactly as published (IDX gzip, npz, CSV, Parquet, Planetoid pickles).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lamina.core.errors import DataError, message


class DatasetNotFoundError(DataError):
    """A data set file is not in the data directory (``LAMINA_DATA``)."""


class ChecksumError(DataError):
    """A downloaded file whose checksum differs from the published one."""


@dataclasses.dataclass
class DatasetSplits:
    """A data set with its canonical train/test split.

    Unpacks like Keras: ``(x_train, y_train), (x_test, y_test) = lamina.datasets.load(name)``.
    ``y_*`` is None for unlabelled sets (text, time series, transactions).

    Attributes:
        name: the name given to ``load``.
        x_train, y_train, x_test, y_test: the split (NumPy arrays, strings or pandas objects).
        description: source, license as stated by the source, size, classes and split.
        classes: label names, index = label value; None when there are none (or none are published).
        frame: the whole table or series before splitting (pandas), for the tabular and time-series
            sets.
        extra: anything else, e.g. Cora's ``edge_index`` and masks (see each loader).
    """

    name: str
    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    description: str
    classes: list[str] | None = None
    frame: Any = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return iter([(self.x_train, self.y_train), (self.x_test, self.y_test)])

    def __repr__(self) -> str:
        return (
            f"lamina.datasets.DatasetSplits({self.name!r}, train={len(self.x_train)}, "
            f"test={len(self.x_test)})"
        )


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """One file of a data set: its name in the folder and, when published, where and what it hashes
    to.

    ``sha256``/``md5`` are of the bytes at ``url``; ``gzip`` means the URL serves the file
    uncompressed and it is stored gzipped (Adult).
    """

    name: str
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None
    gzip: bool = False

    @property
    def remote_name(self) -> str:
        """The file name at the URL (or on a mirror): the URL's last part, else the stored name."""
        return self.url.rsplit("/", 1)[1] if self.url else self.name


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a data set lives under the data directory, and how to get it when it is not there."""

    folder: str
    files: tuple[SourceFile, ...]
    hint: str = ""


def _files(
    base: str, names: list[str], hashes: list[str], kind: str = "sha256", gzip: bool = False
) -> tuple[SourceFile, ...]:
    return tuple(
        SourceFile(f"{name}.gz" if gzip else name, base + name, gzip=gzip, **{kind: digest})
        for name, digest in zip(names, hashes)
    )


_IDX = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
_BROWNLEE = (
    "https://raw.githubusercontent.com/jbrownlee/Datasets/d20fcb6402ae34e653d4513b00f39257bb37ed7f/"
)
_PLANETOID = "https://raw.githubusercontent.com/kimiyoung/planetoid/af6abf468a772cc055bec88c52e4d6f51b7c37e3/data/"
_SENTIMENT = (
    "https://raw.githubusercontent.com/omarsar/dm_2018_hw_1/9642488481140b1697ff2dea5637596c4cd43c69/"
    "sentiment%20labelled%20sentences/"
)
CORA_FILES = ["x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"]

# Checksums are those published in shared/datasets/*/README.md (sha256), torchvision's md5s for
# Fashion-MNIST, and for Adult the sha256 of the uncompressed CSVs that the README's .gz files hold.
SOURCES: dict[str, Source] = {
    "mnist": Source(
        "mnist",
        _files(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            _IDX,
            [
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ],
        ),
    ),
    "fashion_mnist": Source(
        "fashion-mnist",
        _files(
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            _IDX,
            [
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ],
            kind="md5",
        ),
    ),
    "mnist1d": Source(
        "mnist1d",
        (
            SourceFile(
                "mnist1d_frozen.npz",
                sha256="1d09005a748f9e244f467fe3ca912d5a177413743e631dd26caeaf00bf8ca08e",
            ),
        ),
        hint=(
            "MNIST-1D is published as a pickle; lamina reads it re-saved as an npz. To build it "
            "offline: `pip install mnist1d`, then data = "
            "mnist1d.data.make_dataset(mnist1d.data.get_dataset_args()) and numpy.savez(path, "
            "**{k: data[k] for k in ('x', 'y', 'x_test', 'y_test', 't')})"
        ),
    ),
    "cora": Source(
        "cora-planetoid",
        _files(
            _PLANETOID,
            [f"ind.cora.{part}" for part in CORA_FILES],
            [
                "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
                "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
                "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
                "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
                "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
                "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
                "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
                "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
            ],
        ),
    ),
    "tinyshakespeare": Source(
        "tinyshakespeare",
        _files(
            "https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/"
            "data/tinyshakespeare/",
            ["input.txt"],
            ["86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"],
        ),
    ),
    "sentiment": Source(
        "sentiment-labelled-sentences",
        _files(
            _SENTIMENT,
            ["amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt"],
            [
                "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3",
                "29cb10b2bfbc60ea33dcbd5abaa8bcf977b142cec7926c627dd76232aaafbfed",
                "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea",
            ],
        ),
    ),
    "airline_passengers": Source(
        "airline-passengers",
        _files(
            _BROWNLEE,
            ["airline-passengers.csv"],
            ["8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621"],
        ),
    ),
    "daily_min_temperatures": Source(
        "daily-min-temperatures",
        _files(
            _BROWNLEE,
            ["daily-min-temperatures.csv"],
            ["8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da"],
        ),
    ),
    "adult": Source(
        "adult",
        _files(
            _BROWNLEE,
            ["adult-train.csv", "adult-test.csv"],
            [
                "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
                "72567b94f5c1a6f8501377dd80f93892c3848ff071cf91ba47e00b0785a28074",
            ],
            gzip=True,
        ),
    ),
    "online_retail": Source(
        "online-retail",
        _files(
            "https://raw.githubusercontent.com/WhiteHorse101/OnlineEcommerce/a41b2cc02dd3c0f81b8333bf9687c825f0d42b0f/"
            "Data/Raw/",
            ["online_retail.parquet"],
            ["399de155a1c07e4bc89d8ef4f75d619c70a6b4ed39cc76ea54d56c2c939fb72b"],
        ),
    ),
}


def resolve_data_dir(override: str | Path | None = None) -> Path:
    """The data directory: ``override``, else the resolved ``data_dir`` (``LAMINA_DATA``)."""
    if override is not None:
        return Path(override).expanduser()
    from lamina.core.config import resolve

    return Path(resolve().data_dir).expanduser()


def locate(name: str, directory: str | Path | None = None) -> Path:
    """The folder holding every file of ``name``; raise DatasetNotFoundError naming what is
    missing."""
    source = SOURCES[name]
    folder = resolve_data_dir(directory) / source.folder
    missing = [file for file in source.files if not (folder / file.name).is_file()]
    if missing:
        first = folder / missing[0].name
        names = ", ".join(file.name for file in missing)
        if missing[0].url:
            fix = (
                f"Run lamina.datasets.load({name!r}, download=True) to fetch {names} from "
                f"{missing[0].url.rsplit('/', 1)[0]}/ (checksums verified), or copy the files into "
                f"{folder}, or set LAMINA_DATA to a directory holding {source.folder}/."
            )
        else:
            fix = (
                f"Copy the file into {folder}, or set LAMINA_DATA to a directory holding "
                f"{source.folder}/. {source.hint}."
            )
        raise DatasetNotFoundError(
            message(
                f"Data set {name!r} is missing {len(missing)} of its {len(source.files)} files.",
                f"no file at {first}",
                f"{names} in {folder}",
                fix,
            )
        )
    return folder


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices holding ``test_fraction`` of every label value out for test."""
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        test.extend(rows[: int(round(len(rows) * test_fraction))])
    mask = np.zeros(len(y), dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def chronological_split(length: int, test_fraction: float = 0.2) -> int:
    """Index of the first test row when the last ``test_fraction`` of ``length`` rows is held
    out."""
    return length - int(round(length * test_fraction))

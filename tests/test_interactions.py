"""Implicit feedback from a transaction log and time-ordered splits (lamina.data.interactions)."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lamina.core.errors import ConfigError, DataError
from lamina.data.interactions import (
    Interactions,
    check_time_leakage,
    interactions,
    leave_last_out,
    time_cut,
)

RETAIL = dict(
    user="CustomerID",
    item="StockCode",
    time="InvoiceDate",
    quantity="Quantity",
    price="UnitPrice",
    invoice="InvoiceNo",
    description="Description",
    country="Country",
)


def retail_log():
    """A tiny online-retail log with one cancellation, one return, one row without a customer."""
    rows = [
        # invoice, stock, description, quantity, date, price, customer, country
        ("1", "A", "MUG", 2, "2011-01-01 10:00", 1.0, 10.0, "France"),
        ("1", "B", "BAG", 1, "2011-01-01 10:00", 3.0, 10.0, "France"),
        ("2", "A", "MUG", 1, "2011-01-05 09:00", 2.0, 10.0, "France"),  # repeat of (10, A)
        ("3", "C", "CUP", 4, "2011-01-07 12:00", 5.0, 10.0, "France"),
        ("C4", "C", "CUP", -4, "2011-01-08 12:00", 5.0, 10.0, "France"),  # cancellation
        ("5", "A", "MUG", 1, "2011-01-02 08:00", 3.0, 20.0, "Spain"),
        ("5", "B", "BAG", -1, "2011-01-02 08:00", 3.0, 20.0, "Spain"),  # a return
        ("6", "B", "BAG", 1, "2011-01-03 08:00", 3.0, 20.0, "Spain"),
        ("7", "C", "CUP", 1, "2011-01-04 08:00", 5.0, None, "Spain"),  # no customer
        ("8", "D", "PEN", 1, "2011-01-06 08:00", 0.5, 30.0, "Spain"),
    ]
    columns = [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
    ]
    return pd.DataFrame(rows, columns=columns)


def pairs(data: Interactions) -> list:
    return data.table[["user", "item"]].values.tolist()


def test_retail_cleaning_keeps_first_purchases_with_features():
    data = interactions(retail_log(), **RETAIL)
    assert data.dropped == {
        "cancelled": 1,
        "non_positive_quantity": 1,
        "missing_user": 1,
        "repeat_purchases": 1,
    }
    assert list(data.users) == [10, 20, 30]  # whole-number float ids become integers
    assert list(data.items) == ["A", "B", "C", "D"]
    assert pairs(data) == [[10, "A"], [10, "B"], [20, "A"], [20, "B"], [30, "D"], [10, "C"]]
    assert list(data.table.columns) == ["user", "item", "time", "quantity", "price", "purchases"]
    assert pd.api.types.is_datetime64_any_dtype(data.table["time"])
    first = data.table.iloc[0]
    assert (first["quantity"], first["price"], first["purchases"]) == (2, 1.0, 2)
    assert data.item_features.loc["A"].tolist() == ["MUG", 2.0]  # median of 1, 2, 3
    assert data.item_features.loc["C", "price"] == 5.0  # the cancelled and anonymous rows left out
    assert data.user_features["country"].to_dict() == {10: "France", 20: "Spain", 30: "Spain"}


def test_all_purchases_kept_without_first_purchase():
    data = interactions(retail_log(), **RETAIL, first_purchase=False)
    assert len(data.table) == 7 and "purchases" not in data.table
    assert "repeat_purchases" not in data.dropped


def test_matrix_and_summary():
    data = interactions(retail_log(), **RETAIL)
    matrix = data.matrix()
    assert matrix.format == "csr" and matrix.shape == (3, 4)
    assert matrix.toarray().tolist() == [[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]]
    summary = data.summary()
    json.dumps(summary)
    assert (summary["users"], summary["items"], summary["interactions"]) == (3, 4, 6)
    assert summary["density"] == pytest.approx(6 / 12)
    assert summary["per_user"]["max"] == 3 and summary["per_user"]["min"] == 1
    assert summary["per_item"]["median"] == 1.5
    assert summary["repeat_rate"] == pytest.approx(1 / 6)
    # without first_purchase the repeated rows give the same repeat rate and a 0/1 matrix
    every = interactions(retail_log(), **RETAIL, first_purchase=False)
    assert every.summary()["repeat_rate"] == pytest.approx(1 / 6)
    assert every.matrix().max() == 1.0


def test_reads_files_through_load(tmp_path):
    path = tmp_path / "log.csv"
    retail_log().to_csv(path, index=False)
    data = interactions(path, **RETAIL)
    assert len(data.table) == 6 and list(data.users) == [10, 20, 30]
    retail_log().to_parquet(tmp_path / "log.parquet")
    assert interactions(tmp_path / "log.parquet", **RETAIL).table.equals(data.table)
    import sqlite3

    with sqlite3.connect(tmp_path / "shop.db") as connection:
        retail_log().to_sql("sales", connection, index=False)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    from_sql = interactions(url, **RETAIL, options={"table": "sales"})
    assert from_sql.table[["user", "item"]].equals(data.table[["user", "item"]])


def test_missing_column_and_empty_log_are_data_errors():
    with pytest.raises(DataError, match=r"Received: \['Customer'\].*StockCode.*Fix"):
        interactions(retail_log(), "Customer", "StockCode", "InvoiceDate")
    log = retail_log().assign(Quantity=0)
    with pytest.raises(DataError, match="No interaction is left.*non_positive_quantity"):
        interactions(log, **RETAIL)


def test_leave_last_out_holds_out_the_latest_new_item():
    data = interactions(retail_log(), **RETAIL)
    train, test = leave_last_out(data)
    # user 10's latest new item is C; user 20's is B; user 30 has one item and stays in train
    assert pairs(test) == [[20, "B"], [10, "C"]]
    assert sorted(pairs(train)) == [[10, "A"], [10, "B"], [20, "A"], [30, "D"]]
    assert test.table["user"].is_unique
    assert list(train.users) == list(test.users) == list(data.users)  # codes agree
    assert list(train.items) == list(test.items) == list(data.items)
    assert check_time_leakage(train, test) == []
    _, strict = leave_last_out(data, min_items=3)
    assert pairs(strict) == [[10, "C"]]


def test_leave_last_out_draws_among_items_of_the_latest_basket_with_a_seed():
    log = pd.DataFrame(
        {"u": [1, 1, 1], "i": ["b", "c", "a"], "t": ["2024-01-01", "2024-01-02", "2024-01-02"]}
    )
    data = interactions(log, "u", "i", "t")
    held = {pairs(leave_last_out(data, seed=seed)[1])[0][1] for seed in range(20)}
    assert held == {"a", "c"}  # both lines of the last basket, never the earlier "b"
    train, test = leave_last_out(data, seed=3)
    assert sorted(pairs(train) + pairs(test)) == [[1, "a"], [1, "b"], [1, "c"]]
    shuffled = interactions(log.iloc[::-1], "u", "i", "t")
    for seed in range(5):  # the draw does not depend on the order of the log
        assert pairs(leave_last_out(shuffled, seed=seed)[1]) == pairs(
            leave_last_out(data, seed=seed)[1]
        )


def test_leave_last_out_without_first_purchase_leaves_no_future_in_train():
    log = pd.DataFrame({"u": [1, 1, 1, 1], "i": ["a", "b", "a", "b"], "t": [1, 2, 3, 4]})
    train, test = leave_last_out(interactions(log, "u", "i", "t", first_purchase=False))
    assert pairs(test) == [[1, "b"]]
    assert pairs(train) == [[1, "a"]] and train.dropped == {"after_test": 2}
    assert check_time_leakage(train, test) == []


def test_leave_last_out_rejects_min_items_below_two():
    with pytest.raises(ConfigError, match="Received: 1.*Fix"):
        leave_last_out(interactions(retail_log(), **RETAIL), min_items=1)


def test_time_cut_drops_unknown_users_and_items():
    data = interactions(retail_log(), **RETAIL)
    train, test = time_cut(data, "2011-01-05")
    assert sorted(pairs(train)) == [[10, "A"], [10, "B"], [20, "A"], [20, "B"]]
    # on/after the cut: (30, D) has an unknown user; (10, C) an unknown item
    assert pairs(test) == []
    assert test.dropped == {"unknown_user": 1, "unknown_item": 1}
    train, test = time_cut(data, pd.Timestamp("2011-01-03"))
    assert sorted(pairs(train)) == [[10, "A"], [10, "B"], [20, "A"]]
    assert pairs(test) == [[20, "B"]] and test.dropped == {"unknown_user": 1, "unknown_item": 1}
    assert check_time_leakage(train, test) == []


def test_time_cut_errors():
    data = interactions(retail_log(), **RETAIL)
    with pytest.raises(ConfigError, match="Received: 'soon'"):
        time_cut(data, "soon")
    with pytest.raises(DataError, match="train part empty.*Fix"):
        time_cut(data, "2000-01-01")
    with pytest.raises(DataError, match="test part empty"):
        time_cut(data, "2030-01-01")


def test_check_time_leakage_catches_a_random_split():
    data = interactions(retail_log(), **RETAIL)
    table = data.table
    early = table["time"] == table.loc[table["user"] == 10, "time"].min()
    leaky_test = Interactions(table[early & (table["user"] == 10)], data.users, data.items)
    leaky_train = Interactions(table[~(early & (table["user"] == 10))], data.users, data.items)
    findings = check_time_leakage(leaky_train, leaky_test)
    assert [(f["check"], f["severity"], f["count"]) for f in findings] == [
        ("time order", "fatal", 2)
    ]
    assert "1 users" in findings[0]["message"]
    # the same pair on both sides is a warning
    last = Interactions(
        table[(table["user"] == 10) & (table["item"] == "C")], data.users, data.items
    )
    findings = check_time_leakage(data, last)
    assert [f["check"] for f in findings] == ["seen pair"]


@pytest.mark.needs_data("online-retail")
def test_benchmark_protocol_on_online_retail():
    """First purchase of each (customer, item) after cleaning; customers with >= 2 items; hold out
    each customer's latest new item."""
    path = Path(os.environ["LAMINA_DATA"]) / "online-retail" / "online_retail.parquet"
    data = interactions(path, **RETAIL)
    assert len(data.table) == 266_802  # distinct (customer, item) pairs of the data set's README
    assert len(data.users) > 4000 and len(data.items) > 3000
    train, test = leave_last_out(data, min_items=2)
    assert test.table["user"].is_unique
    counts = data.table.groupby("user")["item"].nunique()
    assert len(test.table) == int((counts >= 2).sum()) > 4000
    assert len(train.table) + len(test.table) == len(data.table)
    assert check_time_leakage(train, test) == []
    assert np.isin(test.table["item"], data.items).all()

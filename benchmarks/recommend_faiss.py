"""FAISS against exact retrieval on Online Retail item vectors (issue 18: identical top 10 on >= 99%).

Vectors: a 64-factor truncated SVD of the protocol's training matrix (``benchmarks.recommend.load_split``;
customer vectors ``U * sqrt(s)``, item vectors ``V * sqrt(s)``), and a lamina
``MatrixFactorization`` (64 factors and an item bias, BPR, 20 epochs) trained on the same split
(``embed`` and ``item_embeddings``); a customer's scores are ``u @ V.T`` in both. Every customer is queried for the
top 10 with their training items excluded (the recommend protocol) and, as a harder check, with
nothing excluded. ``ItemIndex`` at its DEFAULT settings, once exact (``exact_below`` above the
catalogue) and once forced onto FAISS HNSW (``exact_below=0``). Reported: the share of customers
whose top 10 (ids and order) is identical, the hit rate of both on the held-out items, the build
time and the query time per customer (one query at a time and all at once), on one thread.
A synthetic catalogue of 100,000 items (Gaussian vectors, the size where FAISS takes over by
default) shows the timings there.

    LAMINA_DATA=../shared/datasets python -m benchmarks.recommend_faiss
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse.linalg as linalg
import torch

from benchmarks.recommend import load_split
from lamina.models.recommend.retrieval import EXACT_BELOW, ItemIndex, require_faiss

TARGET = 0.99
FACTORS = 64
EPOCHS = 20


def timed(index: ItemIndex, queries: np.ndarray, exclude: list, single: int = 1000) -> tuple:
    """(codes of all queries, seconds per query in one batch, seconds per query one by one)."""
    started = time.perf_counter()
    codes, _ = index.search(queries, 10, exclude)
    batch = (time.perf_counter() - started) / len(queries)
    started = time.perf_counter()
    for row in range(min(single, len(queries))):
        index.search(queries[row : row + 1], 10, exclude[row : row + 1])
    one = (time.perf_counter() - started) / min(single, len(queries))
    return codes, batch, one


def compare(items: np.ndarray, queries: np.ndarray, exclude: list) -> dict:
    """Exact and FAISS at the default settings on the same queries."""
    exact = ItemIndex(items, exact_below=len(items) + 1)
    started = time.perf_counter()
    graph = ItemIndex(items, exact_below=0)
    build = time.perf_counter() - started
    expected, exact_batch, exact_one = timed(exact, queries, exclude)
    found, faiss_batch, faiss_one = timed(graph, queries, exclude)
    return {
        "expected": expected,
        "found": found,
        "identical": float((expected == found).all(axis=1).mean()),
        "same_set": float(np.mean([set(a) == set(b) for a, b in zip(expected, found)])),
        "build_s": build,
        "ms": {
            "exact batch": 1e3 * exact_batch,
            "exact one": 1e3 * exact_one,
            "faiss batch": 1e3 * faiss_batch,
            "faiss one": 1e3 * faiss_one,
        },
    }


def vectors(train) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(customer vectors, item vectors) of each source: an SVD and a trained MatrixFactorization."""
    from lamina.models import MatrixFactorization

    matrix = train.matrix().astype(np.float64)
    started = time.perf_counter()
    left, values, right = linalg.svds(matrix, k=FACTORS, random_state=0)
    sources = {
        f"SVD, {FACTORS} factors ({time.perf_counter() - started:.1f} s)": (
            np.ascontiguousarray(left * np.sqrt(values), dtype=np.float32),
            np.ascontiguousarray(right.T * np.sqrt(values), dtype=np.float32),
        )
    }
    started = time.perf_counter()
    model = MatrixFactorization(embedding_dim=FACTORS).compile(learning_rate=0.01)
    model.fit(train, epochs=EPOCHS, batch_size=1024, verbose=0, seed=0)
    name = (
        f"MatrixFactorization (BPR), {FACTORS} factors + item bias, {EPOCHS} epochs "
        f"({time.perf_counter() - started:.0f} s)"
    )
    sources[name] = (model.embed(users=list(train.users)), model.item_embeddings())
    return sources


def main() -> int:
    """Print the tables; 0 when the identical share meets the target with exclusions, else 1."""
    torch.set_num_threads(1)
    require_faiss().omp_set_num_threads(1)
    _, train, test = load_split()
    matrix = train.matrix()
    seen = [matrix.indices[matrix.indptr[u] : matrix.indptr[u + 1]] for u in range(matrix.shape[0])]
    held = dict(zip(test.table["user"], test.table["item"]))
    target = np.array([train.items.get_loc(held[u]) if u in held else -1 for u in train.users])
    print(
        f"{matrix.shape[0]:,} customers, {matrix.shape[1]:,} items; ItemIndex defaults: "
        f"exact_below={EXACT_BELOW:,}, HNSW M=32, efConstruction=200, efSearch=256; one thread"
    )
    rows = []
    for source, (users, items) in vectors(train).items():
        for name, exclude in (
            ("training items excluded", seen),
            ("nothing excluded", [[]] * len(users)),
        ):
            result = compare(items, users, exclude)
            hits = [
                float(np.mean([(t in row) for t, row in zip(target, codes) if t >= 0]))
                for codes in (result["expected"], result["found"])
            ]
            rows.append((source, name, result, hits))
    print(
        "\n| vectors | queries | identical top 10 | same set | HR@10 exact | HR@10 FAISS | target | result |"
    )
    print("|---|---|--:|--:|--:|--:|--:|---|")
    for source, name, result, hits in rows:
        ok = result["identical"] >= TARGET
        print(
            f"| {source} | {name} | {result['identical']:.4f} | {result['same_set']:.4f} | "
            f"{hits[0]:.4f} | {hits[1]:.4f} | >= {TARGET} | {'PASS' if ok else 'FAIL'} |"
        )
    rng = np.random.default_rng(0)
    synthetic = rng.normal(size=(EXACT_BELOW, FACTORS)).astype(np.float32)
    queries = rng.normal(size=(500, FACTORS)).astype(np.float32)
    large = compare(synthetic, queries, [[]] * len(queries))
    print(
        "\n| catalogue | build FAISS s | exact ms/query (batch, one) | FAISS ms/query (batch, one) | identical |"
    )
    print("|---|--:|--:|--:|--:|")
    timings = [
        (f"Online Retail, {source}, training items excluded", result)
        for source, name, result, _ in rows
        if name == "training items excluded"
    ]
    timings.append((f"synthetic Gaussian, {EXACT_BELOW:,} items, nothing excluded", large))
    for name, result in timings:
        ms = result["ms"]
        print(
            f"| {name} | {result['build_s']:.2f} | {ms['exact batch']:.3f}, {ms['exact one']:.3f} | "
            f"{ms['faiss batch']:.3f}, {ms['faiss one']:.3f} | {result['identical']:.4f} |"
        )
    shares = [
        result["identical"] for _, name, result, _ in rows if name == "training items excluded"
    ]
    ok = min(shares) >= TARGET
    print(
        f"\n{'PASS' if ok else 'FAIL'}: identical top 10 (training items excluded) for "
        f"{', '.join(f'{share:.2%}' for share in shares)} of customers (target >= {TARGET:.0%}) "
        "at the default settings"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Serve a recommender over HTTP: ``POST /recommend``, health, metrics, a request log.

``create_recommend_app(model_dir)`` is a FastAPI app for a saved recommender (a folder
``save_recommender`` or a network's ``save`` wrote); ``serve_recommender`` runs it under uvicorn;
``lamina serve FOLDER`` picks it when the folder (or a project's ``runs/train/model``) holds a
recommender. ::

    POST /recommend  {"customer": 17850, "basket": null, "k": 10, "exclude_seen": true}
    200  {"items": [{"id": "22423", "name": "REGENCY CAKESTAND 3 TIER", "score": 1.7}, ...],
          "customer_known": true, "fallback": null, "note": "From customer 17850's 297 ..."}

A known customer is scored by the model on their history (plus the basket, when sent); an
unknown one with a basket falls back to the basket (``"fallback": "basket"``), without a basket
to the most popular items (``"popular"``); ``note`` says which and why. What the customer already
bought and the basket are left out (``exclude_seen``). Every refusal is a 4xx naming the value,
never a 5xx: 422 for a malformed body, a wrong type (customer and item ids must have the JSON type
of the catalogue's ids), an unknown field, no customer and no basket, an empty basket, a ``k``
outside ``1 .. min(max_k, catalogue size)``, a basket longer than ``max_basket`` or an unknown
item id (``"type": "unknown_item"``, the ids named); 413 for a body over ``max_body_bytes``.

With ``log_path`` each answered request, and each refused for unknown items, is appended to a
JSON-lines ``lamina.deploy.predlog.PredictionLog`` (``request_id``, ``status``, ``customer``,
``customer_known``, ``basket``, ``unknown_items``, ``k``, ``fallback``, ``items``,
``latency_ms``), one write and fsync per group of concurrent requests, in the background: unlike
the prediction log of ``/predict``, a reply does not wait for its record to reach the disk (that
wait put p99 at 117 ms in ``benchmarks/recommend_serve.py``), so a crash may lose the records of
its last moment. ``lamina.maintain.recommend_monitor`` reads the log.

>>> import pandas as pd, tempfile
>>> from fastapi.testclient import TestClient
>>> from lamina.data.interactions import interactions
>>> from lamina.project.recommenders import Popularity
>>> log = pd.DataFrame({"u": [1, 1, 2], "i": ["a", "b", "a"], "t": [1, 2, 1]})
>>> model = Popularity().fit(interactions(log, "u", "i", "t"))
>>> with TestClient(create_recommend_app(model)) as client:
...     client.post("/recommend", json={"customer": 2, "k": 1}).json()["items"][0]["id"]
'b'
"""

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from lamina.core.errors import ConfigError, LaminaError, message
from lamina.deploy.asgi import Metrics, offline_docs
from lamina.deploy.predlog import PredictionLog
from lamina.deploy.recommender import Recommending
from lamina.models.recommend.base import UnknownIdError
from lamina.models.recommend.retrieval import EXACT_BELOW

__all__ = ["MAX_K", "create_recommend_app", "serve_recommender"]

MAX_K = 1000  # the largest k a request may ask for (and never more than the catalogue)
MAX_BASKET = 1000  # the most items a basket may hold


class GroupLog:
    """Writes request records in the background, all those waiting in one ``PredictionLog.write``.

    A reply does not wait for its record's fsync (a crash loses at most the records of the
    moment); records still waiting when the app stops are written then.
    """

    def __init__(self, log: PredictionLog) -> None:
        self.log, self.failures = log, 0
        self.pending: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, record: dict[str, Any]) -> None:
        """Queue ``record``; a background task writes it with the others queued by then."""
        self.pending.append(record)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        """Write what is queued (and what arrives meanwhile) until nothing is left."""
        loop = asyncio.get_running_loop()
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                await loop.run_in_executor(None, self.log.write, batch)
            except Exception:  # a full disk: counted in /metrics, serving goes on
                self.failures += len(batch)


def _schemas() -> tuple[Any, Any]:
    from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

    class RecommendRequest(BaseModel):
        """A customer id, a basket of item ids, or both."""

        model_config = ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"customer": 17850, "k": 10}, {"basket": ["22423"]}]},
        )
        customer: StrictInt | StrictStr | None = Field(None, description="a customer id")
        basket: list[StrictInt | StrictStr] | None = Field(
            None, description="item ids in the current basket (not empty; leave out for none)"
        )
        k: StrictInt = Field(10, description="how many items to return")
        exclude_seen: StrictBool = Field(True, description="leave out past items and the basket")

    class Item(BaseModel):
        id: int | str
        name: str | None
        score: float

    class RecommendResponse(BaseModel):
        items: list[Item]
        customer_known: bool
        fallback: str | None = Field(description='null, "basket" or "popular"')
        note: str

    return RecommendRequest, RecommendResponse


def _refusal(status: int, loc: list[Any], text: str, kind: str) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": [{"loc": loc, "msg": text, "type": kind}]}, status)


def create_recommend_app(
    model: Any,
    *,
    name: str | None = None,
    max_k: int = MAX_K,
    max_basket: int = MAX_BASKET,
    max_body_bytes: int = 1_000_000,
    log_path: str | Path | None = None,
    exact_below: int = EXACT_BELOW,
) -> Any:
    """A FastAPI app answering ``POST /recommend`` for a recommender (see the module doc).

    Args:
        model: a saved recommender's folder, or a fitted recommender.
        name: the model's name (default: the folder's name, else the class name).
        max_k: the largest ``k`` a request may ask for (also capped at the catalogue size).
        max_basket: the most items a basket may hold.
        max_body_bytes: larger bodies get 413.
        log_path: a JSON-lines request log (``lamina.deploy.predlog.PredictionLog``).
        exact_below: a network's catalogue from this size on is searched with FAISS.

    Returns:
        A ``fastapi.FastAPI`` app; ``/v2/health/ready`` answers 200 once a canary recommendation
        ran.
    """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse, Response
    from pydantic import ValidationError

    for option, value in {"max_k": max_k, "max_basket": max_basket, "mb": max_body_bytes}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                message(f"{option} must be an int >= 1.", repr(value), "an int >= 1", "E.g. 100.")
            )
    version = None
    if isinstance(model, (str, Path)):
        from lamina.deploy.served import folder_version
        from lamina.project.recommender_files import load_recommender

        version, name = folder_version(model), name or Path(model).resolve().name
        model = load_recommender(model)
    serving = Recommending(model, exact_below=exact_below)
    name = name or type(model).__name__
    largest = min(max_k, serving.num_items)
    request_schema, response_schema = _schemas()
    metrics, state = Metrics(), dict[str, Any](ready=False, error=None)
    fallbacks = {"none": 0, "basket": 0, "popular": 0, "unknown_items": 0}
    writer = None if log_path is None else GroupLog(PredictionLog(log_path))
    headers = {"X-Model-Version": version} if version else {}

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        try:  # a canary: the most popular item's neighbours
            serving.answer(basket=[serving.ids[int(serving.popular[0])]], k=1)
            state["ready"] = True
        except Exception as exc:  # reported by /v2/health/ready
            state["error"] = f"{type(exc).__name__}: {exc}"
        yield
        if writer is not None:  # what is still queued
            if writer.task is not None:
                await writer.task
            await writer.flush()
            writer.log.close()

    app = FastAPI(
        title=f"{name}: lamina recommender",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        version=version or "unsaved",
    )
    offline_docs(app, f"{name}: lamina recommender")

    def check_id(value: Any, kind: type | None, loc: list[Any], what: str) -> Any:
        if kind is None or isinstance(value, kind):
            return None
        example = serving.ids[0] if what == "item" else next(iter(serving.customers))
        word = {"int": "an integer", "str": "a string"}.get(kind.__name__, kind.__name__)
        return _refusal(
            422,
            loc,
            message(
                f"{what.capitalize()} ids of this catalogue are JSON {kind.__name__}s.",
                json.dumps(value),
                f"{word}, e.g. {json.dumps(example)}",
                f"Send the id as {word}.",
            ),
            "type_error",
        )

    async def read_body(request: Request) -> bytes | None:
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > max_body_bytes:
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                return None
        return body

    def validate(body: bytes) -> Any:
        """The parsed request, or a refusal (422 naming the field)."""
        try:
            parsed = request_schema.model_validate_json(body)
        except ValidationError as exc:
            detail = [
                {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
                for error in exc.errors()[:20]
            ]
            return JSONResponse({"detail": detail}, 422)
        if parsed.customer is None and parsed.basket is None:
            return _refusal(
                422,
                ["body"],
                message(
                    "Nothing to recommend from.",
                    body.decode("utf-8", "replace")[:200],
                    'a customer id, a basket, or both: {"customer": 17850} or {"basket": [...]}',
                    "Send the customer's id; for a new customer, the basket.",
                ),
                "missing",
            )
        if parsed.basket is not None and not 1 <= len(parsed.basket) <= max_basket:
            text = "The basket is empty." if not parsed.basket else "The basket is too long."
            return _refusal(
                422,
                ["body", "basket"],
                message(
                    text,
                    f"{len(parsed.basket)} items",
                    f"1 to {max_basket} item ids",
                    "Leave basket out (or null) when there is none.",
                ),
                "value_error",
            )
        if not 1 <= parsed.k <= largest:
            return _refusal(
                422,
                ["body", "k"],
                message(
                    "k is out of range.",
                    f"k={parsed.k}",
                    f"1 <= k <= {largest} (max_k {max_k}, {serving.num_items} items)",
                    "Ask for e.g. k=10.",
                ),
                "value_error",
            )
        if parsed.customer is not None and (
            refused := check_id(
                parsed.customer, serving.customer_kind, ["body", "customer"], "customer"
            )
        ):
            return refused
        for position, item in enumerate(parsed.basket or []):
            if refused := check_id(item, serving.item_kind, ["body", "basket", position], "item"):
                return refused
        return parsed

    def logged(record: dict[str, Any]) -> None:
        if writer is not None:
            writer.add(record)

    @app.post(
        "/recommend",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request_schema.model_json_schema()}},
            }
        },
        responses={
            200: {"model": response_schema},
            413: {"description": "body over max_body_bytes"},
            422: {"description": "malformed body, wrong type, unknown item id or k out of range"},
            503: {"description": "not ready"},
        },
    )
    async def recommend(request: Request) -> Any:
        """The top ``k`` items for a customer and/or a basket, with the fallback used."""
        started, received = time.perf_counter(), time.time()
        response = await answer(request, received)
        metrics.observe("/recommend", response.status_code, time.perf_counter() - started)
        return response

    async def answer(request: Request, received: float) -> Any:
        if not state["ready"]:
            return JSONResponse({"detail": "Not ready."}, 503, {"Retry-After": "1"})
        body = await read_body(request)
        if body is None:
            return JSONResponse({"detail": f"The body is over {max_body_bytes} bytes."}, 413)
        parsed = validate(body)
        if isinstance(parsed, Response):
            return parsed
        record = {
            "request_id": uuid.uuid4().hex,
            "endpoint": "/recommend",
            "received": received,
            "customer": parsed.customer,
            "basket": parsed.basket,
            "k": parsed.k,
        }
        try:
            result = serving.answer(parsed.customer, parsed.basket, parsed.k, parsed.exclude_seen)
        except UnknownIdError as exc:
            fallbacks["unknown_items"] += 1
            known = parsed.customer in serving.customers
            logged({**record, "status": 422, "customer_known": known, "unknown_items": exc.unknown})
            where = ["body", "basket", (parsed.basket or []).index(exc.unknown[0])]
            return _refusal(422, where, str(exc), "unknown_item")
        except LaminaError as exc:  # a bad value the checks above missed: still the client's
            return _refusal(422, ["body"], str(exc), "value_error")
        fallbacks[result.fallback or "none"] += 1
        logged(
            {
                **record,
                "status": 200,
                "customer_known": result.customer_known,
                "unknown_items": [],
                "fallback": result.fallback,
                "items": result.ids,
            }
        )
        ids = {"X-Request-Id": record["request_id"]} if writer is not None else {}
        return Response(
            json.dumps(result.to_dict()), 200, {**headers, **ids}, media_type="application/json"
        )

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Any:
        return JSONResponse(
            {"ready": state["ready"], "error": state["error"]}, 200 if state["ready"] else 503
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> Any:
        lines = ["# TYPE lamina_recommendations_total counter"] + [
            f'lamina_recommendations_total{{fallback="{kind}"}} {count}'
            for kind, count in fallbacks.items()
        ]
        if writer is not None:
            lines += [
                "# TYPE lamina_log_failures_total counter",
                f"lamina_log_failures_total {writer.failures}",
            ]
        text = metrics.text() + "\n".join(lines) + "\n"
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    app.state.lamina = {"serving": serving, "state": state}
    return app


def serve_recommender(
    model: Any, host: str = "127.0.0.1", port: int = 8000, *, threads: int = 1, **options: Any
) -> None:
    """Run :func:`create_recommend_app` (``options``: its keywords) under uvicorn on
    ``host:port``, torch at ``threads``."""
    import torch
    import uvicorn

    torch.set_num_threads(threads)
    uvicorn.run(
        create_recommend_app(model, **options),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )

"""Serve a saved model over HTTP: the KServe v2 / Open Inference Protocol, a friendly ``/predict``
and metrics.

``create_app(model_dir)``: a FastAPI app for a project's model folder (``prep.json``, its
preprocessing applied) or a lamina model directory (``lamina.json``), with dynamic batching and a
bounded queue; ``serve`` runs it (uvicorn).

Status codes (``STATUS``, also in the OpenAPI schema), plus 422 for bad input (``detail`` gives the
field path; NaN, Infinity and 1e309 are bad input). Responses carry ``X-Model-Version``, predictions
``X-Request-Id``.

>>> import lamina, tempfile, torch
>>> from fastapi.testclient import TestClient
>>> model = lamina.Sequential([lamina.layers.Dense(2)])
>>> _ = model.build(torch.ones(1, 3))
>>> folder = model.save(tempfile.mkdtemp() + "/tiny")
>>> with TestClient(create_app(folder)) as client:
...     client.post("/predict", json={"inputs": [[1, 2, 3]]}).status_code
200
"""

import asyncio
import hmac
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lamina.core.errors import ConfigError, LaminaError, message
from lamina.deploy.asgi import Envelope, Metrics, offline_docs, parse_json
from lamina.deploy.batching import Batcher
from lamina.deploy.predlog import PredictionLog
from lamina.deploy.served import (
    MISSING_HINT,
    NUMPY_V2,
    InputError,
    Served,
    decode_image,
    folder_version,
    predict_schema,
    v2_inputs,
)
from lamina.deploy.store import ModelRegistry

__all__ = ["InputError", "Served", "create_app", "folder_version", "serve"]

STATUS = {
    401: "management without a token",
    403: "read-only token",
    404: "no such model",
    409: "promotion refused (no registry, hash check or canary failed; the old version serves on)",
    413: "body over max_body_bytes",
    429: "queue full (see Retry-After)",
    503: "not ready",
    504: "no answer within timeout_s",
}


def create_app(
    model_dir: str | Path,
    *,
    name: str | None = None,
    max_batch_size: int = 32,
    max_wait_ms: float = 5.0,
    queue_size: int = 64,
    timeout_s: float = 10.0,
    max_body_bytes: int = 10_000_000,
    admin_token: str | None = None,
    read_token: str | None = None,
    cors_origins: list[str] | None = None,
    log_path: str | Path | None = None,
    redact: Iterable[str] = (),
    hash_fields: Iterable[str] = (),
    registry: str | Path | None = None,
    poll_s: float = 2.0,
    allow_missing: Iterable[str] = (),
) -> Any:
    """A FastAPI app serving the model in ``model_dir``.

    Args:
        model_dir: a project's model folder (``prep.json``) or a lamina model directory
            (``lamina.json``).
        name: the model's name in URLs (default: the folder's name).
        max_batch_size: most requests per prediction.
        max_wait_ms: longest wait to fill a batch.
        queue_size: most waiting requests (more get 429).
        timeout_s: a request waiting longer gets 504.
        max_body_bytes: larger bodies get 413.
        cors_origins: allowed origins (CORS off when None).
        admin_token: bearer token for ``/v2/repository/...``.
        read_token: a token refused there (403).
        log_path: a ``lamina.predlog.PredictionLog`` file: each answered prediction is logged
            (fsync'd) before its reply, with the ``X-Request-Id`` sent.
        redact, hash_fields: fields hidden in that log.
        registry: a ``lamina.model_registry`` folder; ``model_dir`` is then a reference
            (``churn@production``), its files are hash-checked before loading, and a server on
            ``name@alias`` follows the alias (checked every ``poll_s`` seconds; a version failing
            its hash check or canary is refused and the old one serves on).
            ``/v2/repository/models/{name}/promote`` and ``/rollback`` (admin token) change aliases
            and swap.
        allow_missing: table columns a request may leave out or send as null (the saved
            preprocessing imputes them); any other missing or null column is refused with 422 naming
            it.

    Returns: a ``fastapi.FastAPI`` app; the model is loaded and a canary prediction runs at startup.
    """
    from contextlib import asynccontextmanager

    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from fastapi.routing import APIRoute
    from pydantic import BaseModel, Field

    sizes = {
        "max_batch_size": max_batch_size,
        "queue_size": queue_size,
        "max_body_bytes": max_body_bytes,
    }
    for option, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(
                message(f"{option} must be an int >= 1.", repr(value), "an int >= 1", "E.g. 32.")
            )
    store = None if registry is None else ModelRegistry(registry)
    following = store is not None and "@" in str(model_dir) and str(model_dir)
    if store is not None:
        found = store.checkout(str(model_dir))
        name, model_dir, registered = name or found.name, found.path, found
    first, metrics, allowed = Served(model_dir, name), Metrics(), set(allow_missing)
    if first.columns and allowed - set(first.columns):
        raise ConfigError(
            message(
                "allow_missing names columns the model does not take.",
                sorted(allowed - set(first.columns)),
                f"some of {list(first.columns)[:30]}",
                "Fix the names (serving: {allow_missing: [...]} in lamina.yaml).",
            )
        )
    log = (
        None
        if log_path is None
        else PredictionLog(log_path, redact=redact, hash_fields=hash_fields)
    )
    state: dict[str, Any] = {
        "served": first,
        "ref": store and registered.ref,
        "ready": False,
        "log": log,
    }

    # a swap keeps the published schema: the new model takes the same inputs
    def canary(served: Served) -> Served:
        inputs = [(t["name"], t["datatype"], t["shape"]) for t in served.metadata()["inputs"]]
        if served is not first and inputs != [
            (t["name"], t["datatype"], t["shape"]) for t in first.metadata()["inputs"]
        ]:
            raise ValueError(
                f"The new model takes other inputs ({inputs[:8]}) than this server's schema "
                "publishes; serve it from a new server."
            )
        served.predict(served.example())
        return served

    # blocking: the registry's hash check, loading and a canary prediction
    def opened(ref: str) -> Served:
        return canary(Served(store.checkout(ref).path, first.name))  # type: ignore[union-attr]

    # a server started on name@alias serves what the alias points at
    async def follow(ref: str) -> None:
        loop, refused = asyncio.get_running_loop(), set()
        while True:
            await asyncio.sleep(poll_s)
            try:
                found = await loop.run_in_executor(None, store.get, ref)  # type: ignore[union-attr]
                if found.hash[:12] != state["served"].version and found.hash not in refused:
                    refused.add(found.hash)
                    state["served"], state["ref"] = (
                        await loop.run_in_executor(None, opened, found.ref),
                        found.ref,
                    )
                    refused.discard(found.hash)
            except Exception as exc:  # the old version keeps serving
                state["swap_error"], metrics.swap_failures = str(exc), metrics.swap_failures + 1

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        state["batcher"] = batcher = Batcher(
            max_batch_size, max_wait_ms, queue_size, metrics, state["log"]
        )
        task = asyncio.get_running_loop().create_task(batcher.run())
        follower = (
            asyncio.get_running_loop().create_task(follow(str(following))) if following else None
        )
        try:
            await asyncio.get_running_loop().run_in_executor(batcher.executor, canary, first)
            state["ready"] = True
        except Exception as exc:
            state["error"] = str(exc)
        yield
        task.cancel()
        if follower is not None:
            follower.cancel()
        batcher.executor.shutdown(wait=False)

    class StrictRequest(Request):
        async def json(self) -> Any:  # the body bytes are cached by Request.body
            return parse_json(await self.body())

    class StrictRoute(APIRoute):
        def get_route_handler(self) -> Any:
            handler = super().get_route_handler()

            async def strict(request: Request) -> Any:
                return await handler(StrictRequest(request.scope, request.receive))

            return strict

    app = FastAPI(
        title="lamina model server",
        lifespan=lifespan,
        version=first.version,
        docs_url=None,
        redoc_url=None,
        responses={code: {"description": text} for code, text in STATUS.items()},
    )
    offline_docs(app, f"{first.name}: lamina model server")
    app.router.route_class = StrictRoute
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=cors_origins, allow_methods=["*"], allow_headers=["*"]
        )

    app.add_middleware(Envelope, state=state, metrics=metrics, max_body_bytes=max_body_bytes)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Any:
        return JSONResponse(
            {"detail": [{"loc": list(exc.loc), "msg": str(exc), "type": "value_error"}]}, 422
        )

    # missing and null columns named
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        errors, seen = [], set()
        for error in exc.errors():
            loc = tuple(error["loc"])
            if (
                len(loc) >= 4
                and loc[1] in ("inputs", "rows")
                and first.columns
                and (error["type"] == "missing" or error.get("input", 0) is None)
            ):
                loc = loc[:4]  # one error per column, not one per type of the union
                error = {
                    **error,
                    "loc": loc,
                    "msg": f"{'No value' if error['type'] == 'missing' else 'null'} "
                    f"for {loc[3]!r} in row {loc[2]}. {MISSING_HINT % loc[3]}",
                    "type": "missing",
                }
            if loc not in seen:
                seen.add(loc)
                errors.append(error)
        return JSONResponse({"detail": jsonable_encoder(errors)}, 422)

    def model_named(name: str) -> Served:
        served: Served = state["served"]
        if name != served.name:
            raise HTTPException(404, f"No model named {name!r}; this server has {served.name!r}.")
        return served

    async def submit(request: Request, served: Served, x: Any, count: int) -> dict[str, np.ndarray]:
        if not state["ready"]:
            raise HTTPException(503, "The model is not ready.", headers={"Retry-After": "1"})
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        meta = {
            "request_id": uuid.uuid4().hex,
            "endpoint": request.url.path,
            "received": time.time(),
        }
        try:
            state["batcher"].queue.put_nowait((served, x, count, future, meta))
        except asyncio.QueueFull:
            raise HTTPException(
                429, "The server is busy: the queue is full.", headers={"Retry-After": "1"}
            ) from None
        metrics.queue_depth = state["batcher"].queue.qsize()
        request.scope["lamina.version"], request.scope["lamina.request_id"] = (
            served.version,
            meta["request_id"],
        )
        try:
            result = await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except asyncio.TimeoutError:
            future.cancel()
            raise HTTPException(504, f"No answer within {timeout_s} s.") from None
        if isinstance(result, Exception):  # InputError (422) or a failed log write (500)
            raise result
        return result  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- request models (in OpenAPI)
    PredictRequest, PredictResponse = predict_schema(first, allowed)

    class V2Input(BaseModel):
        name: str
        shape: list[int]
        datatype: Literal["FP32", "FP64", "INT64", "INT32", "BOOL", "BYTES"]
        data: list[Any]

    class V2Request(BaseModel):
        id: str | None = None
        inputs: list[V2Input] = Field(min_length=1)

    # ---------------------------------------------------------------- endpoints
    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:  # the v2 server metadata
        from lamina.core.version import __version__

        return {"name": "lamina", "version": __version__, "extensions": []}

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Any:
        return JSONResponse(
            {"ready": state["ready"], "error": state.get("error")}, 200 if state["ready"] else 503
        )

    @app.get("/v2/models/{name}")
    async def metadata(name: str) -> dict[str, Any]:
        return model_named(name).metadata()

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> Any:
        return JSONResponse(
            {"name": model_named(name).name, "ready": state["ready"]},
            200 if state["ready"] else 503,
        )

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, body: V2Request, request: Request) -> dict[str, Any]:
        served = model_named(name)
        x, count, unbatched = v2_inputs(served, body.inputs, allowed)
        outputs = await submit(request, served, x, count)
        return {
            "model_name": served.name,
            "model_version": served.version,
            "id": body.id,
            "outputs": [
                {
                    "name": k,
                    "datatype": NUMPY_V2.get(str(v.dtype), "BYTES"),
                    "shape": list(v.shape[unbatched:]),
                    "data": v.reshape(-1).tolist()
                    if v.dtype != object
                    else [str(t) for t in v.reshape(-1)],
                }
                for k, v in outputs.items()
            ],
        }

    @app.post("/predict", response_model=None, responses={200: {"model": PredictResponse}})
    async def predict(body: PredictRequest, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        """One request and answer shape for every model: ``{"inputs": [...]}`` -> ``{"model",
        "version", "predictions"}``, plus ``probabilities`` and ``classes`` for a classifier."""
        served: Served = state["served"]
        items, loc = body.inputs, ("body", "inputs")  # type: ignore[attr-defined]
        if served.modality == "table":
            x: Any = served.table(
                [
                    r.model_dump(by_alias=True, exclude_unset=True) | (r.model_extra or {})
                    for r in items
                ]
            )
        elif served.modality == "text":
            x = list(items)
        else:
            decoded = [decode_image(item, (*loc, i)) for i, item in enumerate(items)]
            x = (
                np.concatenate(
                    [served.check_array(d, (*loc, i), one=True) for i, d in enumerate(decoded)]
                )
                if served.modality == "image"
                else served.check_array(decoded, loc)
            )
        outputs = await submit(request, served, x, len(x))
        return {
            "model": served.name,
            "version": served.version,
            **{k: v.tolist() for k, v in outputs.items()},
            **({} if served.classes is None else {"classes": served.classes}),
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> Any:
        return PlainTextResponse(metrics.text(), media_type="text/plain; version=0.0.4")

    def admin(request: Request) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        # constant time: no timing leak
        is_admin, is_reader = (
            bool(token and known and hmac.compare_digest(token.encode(), known.encode()))
            for known in (admin_token, read_token)
        )
        if not (is_admin or is_reader):
            raise HTTPException(
                401, "Send Authorization: Bearer <admin token>.", {"WWW-Authenticate": "Bearer"}
            )
        if not is_admin:
            raise HTTPException(403, "This token may not manage models.")

    class LoadRequest(BaseModel):
        path: str

    @app.post("/v2/repository/models/{name}/load", dependencies=[Depends(admin)])
    async def load_model(name: str, body: LoadRequest) -> dict[str, Any]:
        try:
            served = await asyncio.get_running_loop().run_in_executor(
                None, lambda: canary(Served(body.path, name))
            )
        except Exception as exc:
            raise InputError(
                f"The model could not be loaded; the old one keeps serving: {exc}", ("body", "path")
            ) from None
        # queued requests finish on the model they were checked against (no await here)
        state["served"] = served
        return {"name": served.name, "version": served.version}

    class PromoteRequest(BaseModel):
        version: str = Field(description="a registry reference, e.g. churn:3 or churn@staging")
        alias: str = "production"

    class RollbackRequest(BaseModel):
        alias: str = "production"

    async def change(alias: str, act: Any) -> dict[str, Any]:
        """Run ``act`` (an alias change); swap now when this server follows the alias; undo it when
        that fails."""
        if store is None:
            raise HTTPException(409, "This server has no model registry; start it with --registry.")
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(None, act)
        except LaminaError as exc:
            raise HTTPException(409, f"Refused; the old version keeps serving. {exc}") from None
        if str(following) == f"{found.name}@{alias}" and found.hash[:12] != state["served"].version:
            try:
                state["served"], state["ref"] = (
                    await loop.run_in_executor(None, opened, found.ref),
                    found.ref,
                )
            except Exception as exc:
                old = state["ref"]
                await loop.run_in_executor(
                    None, lambda: store.promote(old, alias, note="undone: did not load")
                )
                raise HTTPException(409, f"Refused; the old version keeps serving. {exc}") from None
        return {
            "name": found.name,
            "version": found.version,
            "alias": alias,
            "hash": found.hash[:12],
            "serving": state["served"].version,
        }

    @app.post("/v2/repository/models/{name}/promote", dependencies=[Depends(admin)])
    async def promote(name: str, body: PromoteRequest) -> dict[str, Any]:
        model_named(name)
        return await change(body.alias, lambda: store.promote(body.version, body.alias))  # type: ignore[union-attr]

    @app.post("/v2/repository/models/{name}/rollback", dependencies=[Depends(admin)])
    async def rollback(name: str, body: RollbackRequest) -> dict[str, Any]:
        model_named(name)
        return await change(body.alias, lambda: store.rollback(registered.name, body.alias))  # type: ignore[union-attr]

    app.state.lamina = state
    return app


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    threads: int = 1,
    **options: Any,
) -> None:
    """Run :func:`create_app` (``options``: its keywords) under uvicorn on ``host:port``, torch at
    ``threads``."""
    import torch
    import uvicorn

    torch.set_num_threads(threads)
    uvicorn.run(
        create_app(model_dir, **options),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )

"""The HTTP pieces of the model server: strict JSON, Prometheus metrics, the envelope middleware,
offline docs."""

import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ASSETS = "/docs-assets"  # where the Swagger UI and ReDoc files are served
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _finite(text: str) -> float:
    if not math.isfinite(value := float(text)):
        raise ValueError(f"{text[:40]} is not allowed: send finite numbers")
    return value


def parse_json(body: bytes) -> Any:
    """Strict JSON: NaN, Infinity, -Infinity and numbers beyond float range raise
    ``json.JSONDecodeError``."""
    try:
        return json.loads(body, parse_float=_finite, parse_constant=_finite)
    except ValueError as exc:  # from _finite, or bytes that are not UTF-8
        raise (
            exc if isinstance(exc, json.JSONDecodeError) else json.JSONDecodeError(str(exc), "", 0)
        ) from None


class Metrics:
    """Prometheus counters: requests by endpoint and status, latency and batch-size histograms,
    queue depth."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum, self.batches, self.batch_items, self.queue_depth, self.swap_failures = (
            0.0,
            0,
            0,
            0,
            0,
        )

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests[(endpoint, status)] += 1
        self.latency[
            next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))
        ] += 1
        self.latency_sum += seconds

    def text(self) -> str:
        lines = [
            "# TYPE lamina_requests_total counter",
            *(
                f'lamina_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                for (e, s), n in sorted(self.requests.items())
            ),
            "# TYPE lamina_request_seconds histogram",
        ]
        lines += [
            f'lamina_request_seconds_bucket{{le="{bound}"}} {sum(self.latency[: i + 1])}'
            for i, bound in enumerate((*LATENCY_BUCKETS, "+Inf"))
        ]
        lines += [
            f"lamina_request_seconds_sum {self.latency_sum:.6f}",
            f"lamina_request_seconds_count {sum(self.latency)}",
            "# TYPE lamina_batch_size summary",
            f"lamina_batch_size_sum {self.batch_items}",
            f"lamina_batch_size_count {self.batches}",
            "# TYPE lamina_queue_depth gauge",
            f"lamina_queue_depth {self.queue_depth}",
            "# TYPE lamina_swap_failures_total counter",
            f"lamina_swap_failures_total {self.swap_failures}",
        ]
        return "\n".join(lines) + "\n"


class Envelope:
    """ASGI middleware: the body limit (413), ``X-Model-Version`` on every response and request
    metrics."""

    def __init__(
        self, app: Any, state: dict[str, Any], metrics: Metrics, max_body_bytes: int
    ) -> None:
        self.app, self.state, self.metrics, self.limit = app, state, metrics, max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from fastapi.responses import JSONResponse

        started, status = time.perf_counter(), [500]
        scope["lamina.version"] = self.state[
            "served"
        ].version  # a prediction sets the version that answered it

        async def send_with_version(event: Any) -> None:
            if event["type"] == "http.response.start":
                status[0] = event["status"]
                headers = [
                    (k, v) for k, v in event.get("headers", []) if k.lower() != b"x-model-version"
                ]
                ids = {
                    b"x-model-version": scope["lamina.version"],
                    b"x-request-id": scope.get("lamina.request_id"),
                }
                event = {
                    **event,
                    "headers": [*headers, *((k, v.encode()) for k, v in ids.items() if v)],
                }
            await send(event)

        batcher = self.state.get("batcher")
        # refused before the body is read
        if (
            batcher is not None
            and batcher.queue.full()
            and scope["method"] == "POST"
            and (scope["path"] == "/predict" or scope["path"].endswith("/infer"))
        ):
            busy = JSONResponse(
                {"detail": "The queue is full; retry after a second."}, 429, {"Retry-After": "1"}
            )
            await busy(scope, receive, send_with_version)
            return self.metrics.observe("busy", 429, time.perf_counter() - started)
        length = dict(scope.get("headers", [])).get(b"content-length", b"0")
        body, more, too_big = b"", True, not length.isdigit() or int(length) > self.limit
        while more and not too_big:
            event = await receive()
            body += event.get("body", b"")
            more, too_big = event.get("more_body", False), len(body) > self.limit
        if too_big:
            response = JSONResponse(
                {"detail": f"The body is over the limit of {self.limit} bytes."}, 413
            )
            await response(scope, receive, send_with_version)
        else:
            events = iter([{"type": "http.request", "body": body, "more_body": False}])

            # the body read above, then the client's later events (disconnect)
            async def replay() -> Any:
                return next(events, None) or await receive()

            await self.app(scope, replay, send_with_version)
        self.metrics.observe(
            getattr(scope.get("route"), "path", "other"), status[0], time.perf_counter() - started
        )


def offline_docs(app: Any, title: str) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` served from the installed ``fastapi_offline`` package,
    not a CDN.

    Args:
        app: a FastAPI app created with ``docs_url=None, redoc_url=None``.
        title: the page title.
    """
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount(
        "/docs-assets",
        StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"),
        "docs-assets",
    )

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> Any:  # validatorUrl null: the page calls no outside validator
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Any:
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

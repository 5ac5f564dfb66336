"""A JSON HTTP API over an export (FastAPI on uvicorn).

Endpoints::

    GET  /recommend?user=U&domain=D&k=10   top-k for a known user (popularity, flagged,
                                           for an unknown one)
    POST /recommend  {"domain": D, "k": 10, "items": ["m12", ...], "user": optional}
                                           fold-in from an item history (any domain)
    GET  /items/{item_id}                  item metadata
    GET  /healthz                          liveness + export summary
    GET  /metrics                          request counts by route and status, latency
                                           quantiles (all workers merged)

Every error is a JSON object ``{"error": message}`` with a 4xx status: unknown
domain or k out of range (422), malformed JSON (400), body over the limit
(413), unknown item (404), unknown route (404), wrong method (405). Unknown
history items are ignored and listed in the answer. Responses are serialised
with orjson; the guard middleware is plain ASGI (no per-request task).
"""

from __future__ import annotations

import os
import sys
import time
import asyncio
import contextlib
import logging
import shutil
import tempfile
from typing import Any, Awaitable, Callable

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from gnnrec.export.metrics import SharedMetrics
from gnnrec.export.query import MAX_K, QueryError, Retriever

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024          # bytes
CLIENT_ABORT = 499            # status of a request whose client hung up (counted as client_abort)
MAX_HISTORY = 5000            # item ids in one fold-in history
_ROUTES = ("/recommend", "/items/{item_id}", "/healthz", "/metrics")

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message, "status": status}, status)


def _route_of(method: str, path: str) -> str:
    if path.startswith("/items/"):
        return f"{method} /items/{{item_id}}"
    return f"{method} {path}" if path in _ROUTES else f"{method} (unmatched)"


class Guard:
    """Plain ASGI middleware: body size limit (413) and request metrics."""

    def __init__(self, app: ASGIApp, metrics: SharedMetrics, max_body: int) -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]
        route = _route_of(scope["method"], scope["path"])

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        length = dict(scope["headers"]).get(b"content-length")
        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await _error(f"request body over the limit of {self.max_body} bytes", 413)(
                    scope, receive, send_status)
            else:
                await self.app(scope, self._limited(receive), send_status)
        finally:
            code = "client_abort" if status[0] == CLIENT_ABORT else status[0]
            self.metrics.observe(route, code, time.perf_counter() - t0)

    def _limited(self, receive: Callable) -> Callable:
        seen = [0]

        async def wrapped() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body:
                    raise _BodyTooLarge()
            return message
        return wrapped


class _BodyTooLarge(Exception):
    pass


def _parse_k(raw: Any) -> int:
    if isinstance(raw, bool):
        raise QueryError(f"k must be an integer, got {raw!r}")
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw))
    except ValueError:
        raise QueryError(f"k must be an integer, got {raw!r}") from None


def create_app(rec: Retriever, max_body: int = MAX_BODY, title: str = "gnnrec",
               metrics_dir: str | None = None) -> Any:
    """The ASGI application serving ``rec`` (FastAPI wrapped in :class:`Guard`).

    ``metrics_dir``: folder shared by the workers of one server, where each
    publishes its metrics once a second (see :mod:`gnnrec.export.metrics`).
    """
    metrics = SharedMetrics(metrics_dir)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        async def publish_forever() -> None:
            while True:
                metrics.publish()
                await asyncio.sleep(1.0)
        task = asyncio.create_task(publish_forever()) if metrics_dir else None
        yield
        if task is not None:
            task.cancel()

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    health = {"status": "ok", "model": rec.exp.manifest.get("model"),
              "dataset": (rec.exp.manifest.get("dataset") or {}).get("name"),
              "users": len(rec.exp.user_ids), "items": len(rec.exp.item_ids),
              "domains": rec.domain_names, "dim": rec.exp.dim,
              "dtype": rec.exp.manifest.get("dtype"), "foldin_rule": rec.foldin_rule,
              "max_k": rec.max_k}

    @app.exception_handler(QueryError)
    async def _query_error(_: Request, e: QueryError) -> Response:
        return _error(str(e), e.status)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, _: ClientDisconnect) -> Response:
        log.warning("client disconnected mid-request (%s %s); nothing answered", request.method,
                    request.url.path)
        return Response(status_code=CLIENT_ABORT)

    @app.exception_handler(_BodyTooLarge)
    async def _too_large(_: Request, e: _BodyTooLarge) -> Response:
        return _error(f"request body over the limit of {max_body} bytes", 413)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException) -> Response:
        msg = {404: f"no such endpoint {request.url.path}; see GET /healthz",
               405: f"method {request.method} not allowed on {request.url.path}"}
        return _error(msg.get(e.status_code, str(e.detail)), e.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> Response:
        return _error(f"invalid request: {e.errors()}", 422)

    @app.exception_handler(Exception)
    async def _internal(_: Request, e: Exception) -> Response:
        return _error(f"internal error ({type(e).__name__}); please report it", 500)

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json(health)

    @app.get("/metrics")
    async def get_metrics() -> Response:
        return _json(metrics.snapshot())

    @app.get("/items/{item_id}")
    async def get_item(item_id: str) -> Response:
        return _json(rec.item(item_id))

    async def get_recommend(request: Request) -> Response:
        q = request.query_params
        unknown = set(q.keys()) - {"user", "domain", "k"}
        if unknown:
            raise QueryError(f"unknown query parameters {sorted(unknown)}; use user, domain, k")
        if "domain" not in q:
            raise QueryError(f"missing query parameter 'domain' (one of {rec.domain_names})")
        res = rec.recommend(q["domain"], _parse_k(q.get("k", "10")), user=q.get("user"))
        return _json(res.to_dict())

    async def post_recommend(request: Request) -> Response:
        body = await request.body()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise QueryError(f"malformed JSON body: {e}", status=400) from None
        if not isinstance(data, dict):
            raise QueryError('the body must be a JSON object like {"domain": "drama", '
                             '"k": 10, "items": ["m12", "m55"]}', status=400)
        unknown = set(data) - {"domain", "k", "items", "user"}
        if unknown:
            raise QueryError(f"unknown fields {sorted(unknown)}; use domain, k, items, user")
        items = data.get("items", [])
        if not isinstance(items, list) or not all(isinstance(i, (str, int)) for i in items):
            raise QueryError("'items' must be a list of item ids (strings)")
        if len(items) > MAX_HISTORY:
            raise QueryError(f"'items' has {len(items)} ids; at most {MAX_HISTORY} are accepted")
        user = data.get("user")
        if user is not None and not isinstance(user, str):
            raise QueryError("'user' must be a string")
        domain = data.get("domain")
        if not isinstance(domain, str):
            raise QueryError(f"'domain' must be one of {rec.domain_names}")
        res = rec.recommend(domain, _parse_k(data.get("k", 10)), user=user,
                            history=[str(i) for i in items])
        return _json(res.to_dict())

    # the hot paths as plain Starlette routes, matched first: no dependency solving per request
    app.router.routes.insert(0, Route("/recommend", get_recommend, methods=["GET"]))
    app.router.routes.insert(1, Route("/recommend", post_recommend, methods=["POST"]))

    return Guard(app, metrics, max_body)


ENV_EXPORT = "GNNREC_SERVE_EXPORT"
ENV_BACKEND = "GNNREC_SERVE_BACKEND"
ENV_MAX_K = "GNNREC_SERVE_MAX_K"
ENV_METRICS = "GNNREC_SERVE_METRICS_DIR"


def app_from_env() -> Any:
    """Factory for multi-worker uvicorn: reads the export path etc. from the environment."""
    rec = Retriever.load(os.environ[ENV_EXPORT], backend=os.environ.get(ENV_BACKEND, "auto"),
                           max_k=int(os.environ.get(ENV_MAX_K, MAX_K)))
    return create_app(rec, metrics_dir=os.environ.get(ENV_METRICS))


def run(export: str, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
        backend: str = "auto", max_k: int = MAX_K, log_level: str = "warning") -> None:
    """Serve ``export`` until interrupted (validates the export before binding)."""
    import uvicorn
    rec = Retriever.load(export, backend=backend, max_k=max_k)
    print(f"serving {export} ({len(rec.exp.user_ids)} users, {len(rec.exp.item_ids)} items, "
          f"domains {rec.domain_names}) on http://{host}:{port} with {workers} worker(s); "
          f"Ctrl-C stops", file=sys.stderr, flush=True)
    fast = {"http": "httptools" if _has("httptools") else "h11",
            "loop": "uvloop" if _has("uvloop") else "asyncio"}
    common = dict(host=host, port=port, log_level=log_level, access_log=False, backlog=2048, **fast)
    if workers == 1:
        uvicorn.run(create_app(rec), **common)
        return
    metrics_dir = tempfile.mkdtemp(prefix="gnnrec-serve-metrics-")
    os.environ.update({ENV_EXPORT: str(export), ENV_BACKEND: backend, ENV_MAX_K: str(max_k),
                       ENV_METRICS: metrics_dir})
    try:
        uvicorn.run("gnnrec.export.serve:app_from_env", factory=True, workers=workers, **common)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None

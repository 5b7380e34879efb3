"""create_app(): assemble routes, middleware and start-up checks. No logic of its own."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from cds import __version__
from cds.api import ops, routes
from cds.api.middleware import GuardMiddleware, ObservabilityMiddleware
from cds.api.server_protocol import HeadDeadlineProtocol
from cds.auth.clients import ClientAuthenticator
from cds.errors import ServiceError, ServiceUnavailable, Unauthorized, operation_outcome
from cds.fhir.client import Fetcher, HttpFetcher
from cds.memory import keep_large_blocks
from cds.observability import configure_logging
from cds.pathway.knowledge import load_knowledge
from cds.service import PatientViewService
from cds.settings import Settings, get_settings
from cds.store import FeedbackStore, ShownCounter

log = logging.getLogger("cds.app")


def _error_response(status: int, outcome: object, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(outcome, status_code=status, headers=headers)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)  # noqa: S101 - registered for ServiceError only
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        log.warning("client refused: %s", exc.diagnostics)
        # RFC 6750: the scheme, and invalid_token when a token was sent (never why: that is logged)
        sent = request.headers.get("authorization")
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if sent else "Bearer"
    elif isinstance(exc, ServiceUnavailable):
        headers["Retry-After"] = str(exc.retry_after_s)
    return _error_response(exc.status_code, exc.outcome(), headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
    # the exception's headers: Allow on a 405
    return _error_response(exc.status_code, operation_outcome(str(exc.detail), code=code), exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    return _error_response(400, operation_outcome("The request is not valid.", code="invalid"))


def build_fetcher(settings: Settings) -> Fetcher:
    """Fetch from allowlisted FHIR servers only: with an empty CDS_FHIR_SERVER_ALLOWLIST (the default)
    no server is contacted and a call lacking required prefetch gets a 412 naming the allowlist."""
    if "*" in settings.allowed_fhir_servers:
        log.warning("CDS_FHIR_SERVER_ALLOWLIST=*: any fhirServer a caller names is contacted. Testing only.")
    return HttpFetcher(settings)


def uvicorn_options(settings: Settings) -> dict[str, object]:
    """How ``cds-mbc serve`` runs uvicorn, beyond host, port and workers.

    No ``limit_concurrency``: uvicorn counts open connections against it, so idle ones (255 sockets that
    send nothing) made every request, /healthz included, a 503. Calls in processing are limited by the
    app instead (``ProcessingLimit``, CDS_MAX_CONCURRENCY). The protocol is uvicorn's httptools one with
    a deadline (CDS_HEADER_TIMEOUT_S) and a 64 KiB limit on the request head (cds.api.server_protocol):
    uvicorn has neither for httptools, and its ``h11_max_incomplete_event_size`` applies to h11 only.
    ``timeout_keep_alive`` closes a connection idle after its last answer.
    """
    return {
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": True,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "http": partial(HeadDeadlineProtocol, head_timeout_s=settings.header_timeout_s),
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    knowledge = load_knowledge(
        settings.knowledge_dir, override_reason_system_uri=settings.override_reason_system
    )  # a bad rule file stops start-up here

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = FeedbackStore(settings.resolved_database_url)
        store.migrate()
        app.state.store = store
        app.state.shown = ShownCounter(store)
        app.state.shown.start()
        keep_large_blocks()  # a large body's pages are reused, not faulted in afresh (cds.memory)
        gc.collect()
        gc.freeze()  # the long-lived heap (models, knowledge) is not rescanned by every collection
        try:
            yield
        finally:
            app.state.authenticator.close()
            app.state.service.fetcher.close()
            app.state.shown.close()
            store.close()

    app = FastAPI(
        title="Metastatic breast cancer treatment options (CDS Hooks)",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # a redirect's Location would come from the Host header
    )
    app.state.settings = settings
    app.state.knowledge = knowledge
    app.state.service = PatientViewService(settings, knowledge, build_fetcher(settings))
    app.state.authenticator = ClientAuthenticator(settings)
    app.state.limit = routes.ProcessingLimit(settings.max_concurrency)
    app.include_router(routes.router)
    app.include_router(ops.router)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # outermost last: CORS wraps the guard, so errors, 413s and 500s carry CORS headers too
    app.add_middleware(
        GuardMiddleware, max_bytes=settings.max_body_bytes, body_timeout_s=settings.body_timeout_s
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        expose_headers=[
            "Origin",
            "Accept",
            "Content-Location",
            "Location",
            "X-Requested-With",
            "X-Request-Id",
        ],
        max_age=600,
    )
    app.add_middleware(ObservabilityMiddleware)  # outermost: times everything, ids every log line
    return app

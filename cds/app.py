"""create_app(): assemble routes, middleware and start-up checks. No logic of its own."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from cds import __version__
from cds.api import ops, routes
from cds.api.middleware import CorsMiddleware, GuardMiddleware, ObservabilityMiddleware
from cds.auth.clients import ClientAuthenticator
from cds.errors import ServiceError, operation_outcome
from cds.fhir.client import Fetcher, HttpFetcher
from cds.memory import keep_large_blocks
from cds.observability import configure_logging
from cds.pathway.knowledge import load_knowledge
from cds.service import PatientViewService
from cds.settings import Settings, get_settings
from cds.store import FeedbackStore, ShownCounter

log = logging.getLogger("cds.app")


class ServiceApp(FastAPI):
    """FastAPI, with a POST handed straight to the service's own middleware.

    The service's middleware (request id and latency, CORS, limits and the last-resort 500) sits
    outermost in the stack of user middleware, so for a POST FastAPI's layers above it (its
    server-error, exception-telemetry and body-limit middleware, and the calls between them) have
    nothing to do: GuardMiddleware answers every exception they would. They are skipped, ~2% of a hook
    call's CPU, unless one of them would act: FastAPI's own telemetry is on, a root path or a FastAPI
    body limit is set, or the stack does not hold the service's middleware. tests/api/test_lane.py.
    """

    _lane: ASGIApp | None = None
    _looked = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and "fastapi.telemetry" not in scope:
            lane = self._lane if self._looked else self._find_lane()
            if lane is not None and not self._traced():
                scope["app"] = self  # as Starlette sets it
                await lane(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _find_lane(self) -> ASGIApp | None:
        self._looked = True
        if self.root_path or getattr(self, "max_body_size", None) is not None:
            return None
        if self.middleware_stack is None:  # built on the first request, as Starlette does
            self.middleware_stack = self.build_middleware_stack()
        layer: Any = self.middleware_stack
        while layer is not None and not isinstance(layer, ObservabilityMiddleware):
            layer = getattr(layer, "app", None)
        self._lane = layer
        return self._lane

    def _traced(self) -> bool:
        """True when FastAPI's own OpenTelemetry instrumentation (FastAPI >= 0.16x) is on."""
        telemetry = getattr(self, "_native_telemetry", None)
        return telemetry is not None and bool(telemetry.enabled())


def _error_response(status: int, outcome: object) -> JSONResponse:
    return JSONResponse(outcome, status_code=status)


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)  # noqa: S101 - registered for ServiceError only
    if exc.status_code == 401:
        log.warning("client refused: %s", exc.diagnostics)
    return _error_response(exc.status_code, exc.outcome())


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
    return _error_response(exc.status_code, operation_outcome(str(exc.detail), code=code))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    return _error_response(400, operation_outcome("The request is not valid.", code="invalid"))


def build_fetcher(settings: Settings) -> Fetcher:
    """Fetch from allowlisted FHIR servers only: with an empty CDS_FHIR_SERVER_ALLOWLIST (the default)
    no server is contacted and a call lacking required prefetch gets a 412 naming the allowlist."""
    if "*" in settings.allowed_fhir_servers:
        log.warning("CDS_FHIR_SERVER_ALLOWLIST=*: any fhirServer a caller names is contacted. Testing only.")
    return HttpFetcher(settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    knowledge = load_knowledge(settings.knowledge_dir)  # a bad rule file stops start-up here

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = FeedbackStore(settings.resolved_database_url)
        store.migrate()
        app.state.store = store
        app.state.shown = ShownCounter(store)
        app.state.shown.start()
        if settings.auth == "off":
            log.warning("CDS_AUTH=off: calls are accepted WITHOUT a signed JWT. For local testing only.")
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

    app = ServiceApp(
        title="Metastatic breast cancer treatment options (CDS Hooks)",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.knowledge = knowledge
    app.state.service = PatientViewService(settings, knowledge, build_fetcher(settings))
    app.state.authenticator = ClientAuthenticator(settings)
    app.include_router(routes.router)
    app.include_router(ops.router)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # outermost last: CORS wraps the guard, so errors, 413s and 500s carry CORS headers too
    app.add_middleware(routes.CallRoute)  # innermost: the hook call, answered before the router
    app.add_middleware(
        GuardMiddleware, max_bytes=settings.max_body_bytes, body_timeout_s=settings.body_timeout_s
    )
    app.add_middleware(
        CorsMiddleware,
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

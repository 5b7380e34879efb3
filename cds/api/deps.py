"""What the CDS endpoints share: the service, and the caller's authentication before anything else.

Both are read straight from ``app.state`` rather than injected with ``Depends``: FastAPI solves
dependencies anew on every call, which cost more than the authentication itself when it is off.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import Scope

from cds.api.middleware import header
from cds.auth.clients import ClientAuthenticator
from cds.service import PatientViewService
from cds.settings import Settings


def service_of(request: Request) -> PatientViewService:
    service: PatientViewService = request.app.state.service
    return service


def authenticate(request: Request) -> None:
    """A bearer JWT whose ``aud`` is this exact endpoint's public URL; nothing is checked with CDS_AUTH=off.

    Verification is CPU work (well under a millisecond) done on the event loop; only a JWKS refresh
    on an unknown ``kid`` does I/O, rate-limited per issuer and bounded by CDS_JWKS_TIMEOUT_S.
    """
    authenticate_scope(request.scope)


def authenticate_scope(scope: Scope) -> None:
    """:func:`authenticate` from the ASGI scope alone (the hook call's route builds no ``Request``)."""
    state = scope["app"].state
    authenticator: ClientAuthenticator = state.authenticator
    if not authenticator.enabled:
        return
    settings: Settings = state.settings
    # scope["path"] is request.url.path without building the URL (it differs only for a path holding
    # "?", "#" or "\", which no endpoint has)
    audience = settings.public_base_url + scope["path"]
    authenticator.authenticate(header(scope, b"authorization"), audience)


class AuthenticatedRoute(APIRoute):
    """A route that authenticates the caller before its endpoint runs (or reads the body).

    ``APIRouter(route_class=AuthenticatedRoute)`` so that no endpoint of the router can forget it.

    Its endpoints are plain: they take the ``Request`` and string path parameters, read their own
    body and return a ``Response``. So the endpoint is called directly, without FastAPI's per-call
    dependency solving and response handling (~40 us a call, a twentieth of the hook call); FastAPI
    still documents the route. An endpoint asking for anything else is refused when the route is built.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        request_name = _plain_endpoint(self.dependant, self.path)

        async def authenticated(request: Request) -> Response:
            authenticate(request)
            response: Response = await endpoint(**request.path_params, **{request_name: request})
            return response

        return authenticated


def _plain_endpoint(dependant: Dependant, path: str) -> str:
    """The name of the endpoint's ``Request`` parameter; TypeError unless it is a plain endpoint."""
    if not inspect.iscoroutinefunction(dependant.call):
        raise TypeError(f"{path}: an authenticated endpoint must be async (it runs on the event loop)")
    asks = [
        kind
        for kind, params in (
            ("query", dependant.query_params),
            ("header", dependant.header_params),
            ("cookie", dependant.cookie_params),
            ("body", dependant.body_params),
            ("dependency", dependant.dependencies),
        )
        if params
    ]
    asks += [
        f"non-string path parameter {p.name}"
        for p in dependant.path_params
        if p.field_info.annotation is not str
    ]
    if asks or dependant.request_param_name is None:
        missing = [] if dependant.request_param_name else ["no Request parameter"]
        raise TypeError(
            f"{path}: an authenticated endpoint takes only the Request and str path "
            f"parameters ({', '.join(asks + missing)})"
        )
    return dependant.request_param_name

"""What the CDS endpoints share: the service, and the caller's authentication before anything else.

Both are read straight from ``app.state`` rather than injected with ``Depends``: FastAPI solves
dependencies anew on every call, which cost more than the authentication itself when it is off.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

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
    authenticator: ClientAuthenticator = request.app.state.authenticator
    if not authenticator.enabled:
        return
    settings: Settings = request.app.state.settings
    # scope["path"] is request.url.path without building the URL (it differs only for a path holding
    # "?", "#" or "\", which no endpoint has)
    audience = settings.public_base_url + request.scope["path"]
    authenticator.authenticate(request.headers.get("authorization"), audience)


class AuthenticatedRoute(APIRoute):
    """A route that authenticates the caller before its endpoint runs (or reads the body).

    ``APIRouter(route_class=AuthenticatedRoute)`` so that no endpoint of the router can forget it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            authenticate(request)
            return await handle(request)

        return authenticated

"""What the CDS endpoints share: the caller's authentication (a dependency of the router, so no endpoint
can forget it), the service, and the request body checked to be sent as JSON."""

from __future__ import annotations

from fastapi import Request

from cds.auth.clients import ClientAuthenticator
from cds.errors import UnsupportedMediaType
from cds.service import PatientViewService
from cds.settings import Settings


async def authenticate(request: Request) -> None:
    """A bearer JWT whose ``aud`` is this exact endpoint's public URL; nothing is checked with CDS_AUTH=off.

    Verification is CPU work (well under a millisecond) done on the event loop; a key fetch for an
    unknown ``kid`` and the shared replay check are awaited, never waited for on the loop.
    """
    authenticator: ClientAuthenticator = request.app.state.authenticator
    if not authenticator.enabled:
        return
    settings: Settings = request.app.state.settings
    audience = settings.public_base_url + request.url.path
    await authenticator.authenticate(request.headers.get("authorization"), audience)


def service_of(request: Request) -> PatientViewService:
    service: PatientViewService = request.app.state.service
    return service


def is_json(content_type: str | None) -> bool:
    """``application/json``, with parameters (a charset) or not; the CDS Hooks body is JSON."""
    if not content_type:
        return False
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "application/json":
        return False
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


async def json_body(request: Request) -> bytes:
    """The body of a POST: 415 unless it is sent as JSON (a browser cannot send that cross-origin without
    a CORS preflight). Its decoder refuses invalid UTF-8 anywhere in it (cds.fhir.request).

    Called by the endpoints, not declared as a dependency: each dependency FastAPI solves costs a
    share of a small call (the service and the body as dependencies cost ~0.1 ms a call, measured)."""
    if not is_json(request.headers.get("content-type")):
        raise UnsupportedMediaType("The request body must be sent as Content-Type: application/json.")
    return await request.body()

"""Shared route dependencies, as Annotated aliases so route signatures read like sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cds.service import PatientViewService
from cds.settings import Settings

# Both dependencies are ``async def``: a sync dependency costs a threadpool hop on every call.


async def get_service(request: Request) -> PatientViewService:
    service: PatientViewService = request.app.state.service
    return service


async def authenticate(request: Request) -> None:
    """Every endpoint but the ops ones: a bearer JWT whose ``aud`` is this exact endpoint's public URL.

    Verification is CPU work (well under a millisecond) done on the event loop; only a JWKS refresh
    on an unknown ``kid`` does I/O, rate-limited per issuer and bounded by CDS_JWKS_TIMEOUT_S.
    """
    settings: Settings = request.app.state.settings
    audience = settings.public_base_url + request.url.path
    request.app.state.authenticator.authenticate(request.headers.get("authorization"), audience)


ServiceDep = Annotated[PatientViewService, Depends(get_service)]
Authenticated = Depends(authenticate)

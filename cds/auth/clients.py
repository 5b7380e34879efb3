"""Who may call the service. STUB until the JWT work lands: with CDS_AUTH=jwt every call is refused."""

from __future__ import annotations

from cds.errors import Unauthorized
from cds.settings import Settings


class ClientAuthenticator:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.auth != "off"

    def authenticate(self, authorization: str | None, audience: str) -> None:
        """Raise Unauthorized(reason-for-the-log) unless the bearer JWT is valid for ``audience``."""
        if self.enabled:
            raise Unauthorized("JWT verification is not implemented yet")

    def close(self) -> None:
        return None

"""The code system of the override reasons on every card: the deployer's (``CDS_OVERRIDE_REASON_SYSTEM``),
else a URN that names no real domain. Read once, when the knowledge base is loaded (cds.pathway.knowledge)."""

from __future__ import annotations

import re
from typing import Final

from cds.errors import KnowledgeError

OVERRIDE_SYSTEM_ENV: Final = "CDS_OVERRIDE_REASON_SYSTEM"
DEFAULT_OVERRIDE_SYSTEM: Final = "urn:cds-mbc:override-reason"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def override_reason_system(configured: str | None = None) -> str:
    """The code system of the override reasons: the deployer's (CDS_OVERRIDE_REASON_SYSTEM, passed in
    by the app), else a URN that names no real domain. A value that is not a URI stops the service at
    start (load_knowledge)."""
    value = (configured or "").strip()
    if not value:
        return DEFAULT_OVERRIDE_SYSTEM
    if not _URI.match(value):
        raise KnowledgeError(OVERRIDE_SYSTEM_ENV, "(setting)", "must be a URI such as urn:example:override")
    return value

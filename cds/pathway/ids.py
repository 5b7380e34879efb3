"""Card uuids that carry their rule: RFC 9562 version-8 UUIDs, first 48 bits = hash of the rule id.

Feedback echoes the card uuid; the service maps it back to the rule without storing each card shown.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from functools import cache


def rule_key(rule_id: str) -> str:
    """12 hex digits identifying a rule inside a card uuid."""
    return hashlib.blake2b(rule_id.encode(), digest_size=6).hexdigest()


@cache  # one entry per rule id in the knowledge base
def _key_bytes(rule_id: str) -> bytes:
    return bytes.fromhex(rule_key(rule_id))


def card_uuid(rule_id: str) -> str:
    """A fresh random uuid for one card; its first 48 bits name the rule (see key_of)."""
    raw = bytearray(_key_bytes(rule_id) + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122/9562 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def key_of(card_uuid_text: str) -> str | None:
    """The rule key of a card uuid this service issued, or None for any other string."""
    try:
        parsed = uuid.UUID(card_uuid_text)
    except (ValueError, AttributeError, TypeError):
        return None
    return parsed.hex[:12] if parsed.version == 8 else None

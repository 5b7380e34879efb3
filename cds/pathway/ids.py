"""Card uuids that carry their rule: RFC 9562 version-8 UUIDs, first 48 bits = hash of the rule id.

Feedback echoes the card uuid; the service maps it back to the rule without storing each card shown.
"""

from __future__ import annotations

import hashlib
import os
import uuid


def rule_key(rule_id: str) -> str:
    """12 hex digits identifying a rule inside a card uuid."""
    return hashlib.blake2b(rule_id.encode(), digest_size=6).hexdigest()


def card_uuid(rule_id: str) -> str:
    raw = bytearray(bytes.fromhex(rule_key(rule_id)) + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122/9562 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def key_of(card_uuid_text: str) -> str | None:
    """The rule key of a card uuid this service issued, or None for any other string."""
    try:
        parsed = uuid.UUID(card_uuid_text)
    except (ValueError, AttributeError, TypeError):
        return None
    return parsed.hex[:12] if parsed.version == 8 else None

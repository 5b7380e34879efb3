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


def uuid_head(rule_id: str) -> str:
    """How every card uuid of a rule begins: its key, then the version digit (8) of the third group."""
    key = rule_key(rule_id)
    return f"{key[:8]}-{key[8:12]}-8"


# The variant digit (binary 10xx, RFC 4122/9562) for a random hex digit: its two low bits kept.
_VARIANT = {f"{n:x}": f"{8 | (n & 3):x}" for n in range(16)}


def card_uuids(heads: list[str]) -> list[str]:
    """A fresh random uuid for each head (see uuid_head), in order; its first 48 bits name the rule.

    74 random bits each, as uuid4 has 122: the rest of the third group, two bits of the variant digit
    and the rest of the fourth, the fifth. One read of os.urandom for all: a call's seven or eight cards
    cost one system call, not one each, and the text is sliced from its hex digits, not formatted.
    """
    if not heads:
        return []
    digits = os.urandom(10 * len(heads)).hex()  # 20 digits a uuid, the last one unused
    uuids: list[str] = []
    at = 0
    for head in heads:
        uuids.append(
            f"{head}{digits[at : at + 3]}-{_VARIANT[digits[at + 3]]}{digits[at + 4 : at + 7]}"
            f"-{digits[at + 7 : at + 19]}"
        )
        at += 20
    return uuids


def card_uuid(rule_id: str) -> str:
    """A fresh random uuid for one card of a rule (see card_uuids and key_of)."""
    return card_uuids([uuid_head(rule_id)])[0]


def key_of(card_uuid_text: str) -> str | None:
    """The rule key of a card uuid this service issued, or None for any other string."""
    try:
        parsed = uuid.UUID(card_uuid_text)
    except (ValueError, AttributeError, TypeError):
        return None
    return parsed.hex[:12] if parsed.version == 8 else None

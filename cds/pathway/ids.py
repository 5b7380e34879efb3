"""Uuids that carry what they stand for: RFC 9562 version-8 UUIDs whose first 48 bits name it.

* A **card** uuid names its card group (``group_key``: the warnings, options-now, at-progression, tests
  or supportive card).
* A **suggestion** uuid names the rule behind it (``rule_key``): a therapy option, or a test order.

Feedback echoes the card uuid and, for a chosen option, the suggestion uuid; the service maps them
back to the card and the rule (``key_of``, then ``Knowledge``) without storing each card it showed.
A group key hashes ``card:<group>``; a rule id cannot hold ``:``, so the two never share a name.
"""

from __future__ import annotations

import hashlib
import os
import uuid


def _key(name: str) -> str:
    return hashlib.blake2b(name.encode(), digest_size=6).hexdigest()


def rule_key(rule_id: str) -> str:
    """12 hex digits identifying a rule inside a suggestion uuid (and a card uuid of earlier releases)."""
    return _key(rule_id)


def group_key(group: str) -> str:
    """12 hex digits identifying a card group inside a card uuid."""
    return _key(f"card:{group}")


def _head(key: str) -> str:
    """How every uuid with this key begins: the key, then the version digit (8) of the third group."""
    return f"{key[:8]}-{key[8:12]}-8"


def uuid_head(rule_id: str) -> str:
    """How every suggestion uuid of a rule begins."""
    return _head(rule_key(rule_id))


def group_head(group: str) -> str:
    """How every card uuid of a card group begins."""
    return _head(group_key(group))


# The variant digit (binary 10xx, RFC 4122/9562) for a random hex digit: its two low bits kept.
_VARIANT = {f"{n:x}": f"{8 | (n & 3):x}" for n in range(16)}


def card_uuids(heads: list[str]) -> list[str]:
    """A fresh random uuid for each head (see uuid_head, group_head), in order.

    74 random bits each, as uuid4 has 122: the rest of the third group, two bits of the variant digit
    and the rest of the fourth, the fifth. One read of os.urandom for all of a call's uuids.
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
    """A fresh random uuid naming a rule (a suggestion's; see card_uuids and key_of)."""
    return card_uuids([uuid_head(rule_id)])[0]


def group_uuid(group: str) -> str:
    """A fresh random uuid naming a card group (a card's)."""
    return card_uuids([group_head(group)])[0]


def key_of(uuid_text: object) -> str | None:
    """The key (rule or group) of a uuid this service issued, or None for any other value."""
    if not isinstance(uuid_text, str):
        return None
    try:
        parsed = uuid.UUID(uuid_text)
    except (ValueError, AttributeError, TypeError):
        return None
    return parsed.hex[:12] if parsed.version == 8 else None

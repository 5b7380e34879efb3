"""A large request parsed one resource at a time, so its cost grows linearly with the chart.

Parsed whole, a 10,000-resource prefetch is a million Python objects: far beyond the CPU caches, so
building them, filtering them and freeing them slow down per object as the chart grows (parse and free
alone grew 23x from 1,000 to 10,000 resources here). A plain request is decoded straight into read
models at any size (cds.fhir.wire, faster still); for a large one that is not plain, above
``SPLIT_ABOVE_BYTES``, the service instead
scans the body once with msgspec, keeping each Bundle entry's resource as a ``Raw`` slice of the body
(no objects), and parses each slice with orjson only when the selector reaches it; what the selector
drops is freed while still in cache. Below it, one orjson parse is faster (the scan costs ~50 us a
100-resource chart), so small requests never come here.

The values are orjson's either way: every value the service reads is parsed by orjson from its slice
of the body. Only well-formed shapes are split; anything else (a prefetch value that is not an object,
``entry`` that is not a list, an unknown top-level member, invalid JSON) returns None or the value
parsed whole, and the usual path answers it exactly as it answers a small request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from cds.errors import BadRequest

# Where splitting starts to pay for the compiled build on this 2-core machine: about even at 3,000
# resources (2.1 MB), 1.7x faster at 10,000 (`python -m bench.split`; bench/README.md, "Large charts").
# Where exactly depends on the CPU's cache sizes.
SPLIT_ABOVE_BYTES = 3_000_000

_ABSENT = msgspec.Raw()


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    """The CDS Hooks request members, each kept as its slice of the body (empty when absent)."""

    hook: msgspec.Raw = _ABSENT
    hookInstance: msgspec.Raw = _ABSENT
    fhirServer: msgspec.Raw = _ABSENT
    fhirAuthorization: msgspec.Raw = _ABSENT
    context: msgspec.Raw = _ABSENT
    prefetch: msgspec.Raw = _ABSENT
    extension: msgspec.Raw = _ABSENT


class _Search(msgspec.Struct):
    mode: Any = None


class _Entry(msgspec.Struct):
    resource: msgspec.Raw = _ABSENT
    search: _Search | None = None


class _Bundle(msgspec.Struct):
    resourceType: msgspec.Raw = _ABSENT
    entry: list[_Entry] | None = None
    link: msgspec.Raw = _ABSENT


_request = msgspec.json.Decoder(_Request)
_prefetch = msgspec.json.Decoder(dict[str, msgspec.Raw] | None)
_bundle = msgspec.json.Decoder(_Bundle)


def loads(raw: msgspec.Raw | bytes) -> Any:
    """A body, or a slice of one, parsed by orjson; invalid JSON is a BadRequest. An empty slice (an
    absent member) is None."""
    if isinstance(raw, msgspec.Raw) and not raw:
        return None
    try:
        return orjson.loads(memoryview(raw))  # the slice, not a copy of it
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc.msg}") from exc


def split_request(body: bytes) -> dict[str, Any] | None:
    """The request's members, parsed, with each prefetch value left as a ``Raw`` slice (see
    ``open_value``); None when the body is not a plainly shaped request object."""
    try:
        members = _request.decode(body)
        prefetch = _prefetch.decode(members.prefetch) if members.prefetch else _ABSENT
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    data = {
        name: loads(value)
        for name in _Request.__struct_fields__
        if name != "prefetch" and (value := getattr(members, name))
    }
    if prefetch is not _ABSENT:
        data["prefetch"] = prefetch
    return data


@dataclass(frozen=True, slots=True)
class SplitBundle:
    """A Bundle whose entries are still slices: (resource, is an outcome by its search mode), in order."""

    entries: list[tuple[msgspec.Raw, bool]]
    link: Any  # the Bundle's link member, parsed


def open_value(raw: msgspec.Raw) -> Any:
    """A prefetch value: a ``SplitBundle`` for a well-formed Bundle, else the value parsed whole."""
    try:
        bundle = _bundle.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return loads(raw)
    if bytes(bundle.resourceType) != b'"Bundle"':
        return loads(raw)
    entries = [(e.resource, e.search is not None and e.search.mode == "outcome") for e in bundle.entry or ()]
    return SplitBundle(entries, loads(bundle.link))

"""FHIR base URLs: normalised as RFC 3986 says (so the URL checked is the URL sent), compared, and
whether a page URL lies under a base. The fetcher (cds.fhir.client) contacts nothing else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# Encoded "/", "\" and "%" in a path: servers differ on whether they decode them before resolving
# dot segments (and so on where "..%2F" leads); no FHIR base or query path needs them.
_AMBIGUOUS = ("%2F", "%5C", "%25")


def _decode_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match[1], 16))
    return char if char in _UNRESERVED else "%" + match[1].upper()


def normal_path(path: str) -> str | None:
    """``path`` normalised as RFC 3986 section 6 does (percent-encoded unreserved characters
    decoded, ``.``/``..`` segments resolved, empty segments dropped, no final ``/``), or None when
    it holds something servers resolve differently (a backslash, an encoded separator, a dot
    segment with ``;`` parameters as in ``..;``). A ``..`` above the root stays at the root."""
    if "\\" in path:
        return None
    decoded = _PERCENT.sub(_decode_unreserved, path)
    if any(code in decoded for code in _AMBIGUOUS):
        return None
    segments: list[str] = []
    for segment in decoded.split("/"):
        bare = segment.split(";", 1)[0]
        if bare != segment and bare in {".", ".."}:
            return None
        if segment in {"", "."}:
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "".join("/" + segment for segment in segments)


@dataclass(frozen=True, slots=True)
class Base:
    """A normalised FHIR base URL: lower-case scheme and host, explicit port, path without a final /
    and without dot or empty segments (:func:`normal_path`)."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        default = _DEFAULT_PORTS[self.scheme] == self.port
        netloc = self.host if default else f"{self.host}:{self.port}"
        if ":" in self.host:  # IPv6 literal
            netloc = f"[{self.host}]" if default else f"[{self.host}]:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}"

    def contains(self, other: Base) -> bool:
        """``other`` is this base or lies under it (same origin, path on a segment boundary)."""
        if (other.scheme, other.host, other.port) != (self.scheme, self.host, self.port):
            return False
        return other.path == self.path or other.path.startswith(self.path + "/")


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None  # credentials in a URL are never used (nor echoed)
    return parts


def _normal(parts: SplitResult) -> Base | None:
    path = normal_path(parts.path)
    if path is None:
        return None
    scheme = parts.scheme.lower()
    return Base(scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS[scheme], path)


def parse_base(url: str) -> Base | None:
    """A FHIR base URL, normalised, or None if it is not a plain absolute http(s) URL without query,
    fragment or userinfo, or its path is ambiguous (:func:`normal_path`)."""
    parts = _split(url)
    if parts is None or parts.query or parts.fragment:
        return None
    return _normal(parts)


def url_under(url: str, base: Base) -> str | None:
    """The normalised form of a page URL (query kept) when it lies under ``base``, else None.

    The normalised form is what is requested, so the URL checked is the URL sent: ``base/../x``,
    ``base/%2e%2e/x``, ``base/..//x`` and ``BASE:80/..`` all normalise outside the base and are refused.
    """
    parts = _split(url)
    if parts is None or parts.fragment:
        return None
    here = _normal(parts)
    if here is None or not base.contains(here):
        return None
    return here.url + (f"?{parts.query}" if parts.query else "")


def safe_label(url: str) -> str:
    """How a caller-supplied server URL is named in errors: scheme, host, port and path only."""
    base = parse_base(url)
    if base is not None:
        return base.url
    parts = _split(url.split("?", 1)[0].split("#", 1)[0])
    return "(an invalid URL)" if parts is None else f"{parts.scheme}://{parts.hostname}"

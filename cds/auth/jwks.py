"""JWK sets fetched over HTTP: a timeout, a size cap, a cache, and rate-limited refreshes.

- A set is fetched only from a URL the trust file names (the issuer's ``jwks_url`` or a ``jku`` on its
  allowlist); the caller checks that before asking here, so an attacker's ``jku`` is never fetched.
- Keys are cached per (issuer, URL) for CDS_JWKS_CACHE_S.
- A token with an unknown ``kid`` triggers a refresh (key rotation works without a restart), but at most
  one fetch per (issuer, URL) every CDS_JWKS_MIN_REFRESH_INTERVAL_S: a flood of made-up ``kid`` values
  costs the issuer at most one request per interval from each instance.
- If a refresh fails the keys already known stay in use (the issuer's JWKS endpoint being down must not
  lock every user out); the failure is logged.

Thread-safe: authentication runs in the thread pool. A fetch holds only its own entry's lock, and
tokens whose key is cached never take a lock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping

import orjson
import requests

from cds.auth.keys import VerificationKey, parse_jwks

log = logging.getLogger("cds.auth")

MAX_JWKS_BYTES = 256 * 1024


class JwksFetchError(Exception):
    pass


@dataclasses.dataclass(slots=True)
class _Entry:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    keys: Mapping[str, VerificationKey] = dataclasses.field(default_factory=dict)
    fetched_at: float | None = None
    attempted_at: float | None = None


class JwksCache:
    def __init__(
        self,
        *,
        timeout_s: float,
        cache_s: float,
        min_refresh_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
        max_bytes: int = MAX_JWKS_BYTES,
    ) -> None:
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self.min_refresh_interval_s = min_refresh_interval_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._session = session or requests.Session()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._entries_lock = threading.Lock()
        self.fetches = 0  # network fetches attempted (for tests and metrics)

    def _entry(self, issuer: str, url: str) -> _Entry:
        key = (issuer, url)
        entry = self._entries.get(key)
        if entry is None:
            with self._entries_lock:
                entry = self._entries.setdefault(key, _Entry())
        return entry

    def _fresh(self, entry: _Entry, now: float) -> bool:
        return entry.fetched_at is not None and now - entry.fetched_at < self.cache_s

    def key(self, issuer: str, url: str, kid: str) -> VerificationKey | None:
        """The key ``kid`` of the set at ``url`` (already allowed for ``issuer``), or None."""
        entry = self._entry(issuer, url)
        found = entry.keys.get(kid)
        if found is not None and self._fresh(entry, self._clock()):
            return found  # the hot path: no lock, no I/O
        with entry.lock:
            now = self._clock()
            found = entry.keys.get(kid)
            if found is not None and self._fresh(entry, now):
                return found  # another thread refreshed while this one waited
            if entry.attempted_at is None or now - entry.attempted_at >= self.min_refresh_interval_s:
                entry.attempted_at = now
                try:
                    entry.keys = self._fetch(url)
                    entry.fetched_at = self._clock()
                except JwksFetchError as exc:
                    log.warning("JWKS fetch for issuer %r from %s failed: %s", issuer, url, exc)
            elif found is None:
                log.info(
                    "JWKS refresh for issuer %r skipped: last attempt less than %ss ago",
                    issuer,
                    self.min_refresh_interval_s,
                )
            return entry.keys.get(kid)

    def _fetch(self, url: str) -> dict[str, VerificationKey]:
        self.fetches += 1
        deadline = time.monotonic() + self.timeout_s
        try:
            with self._session.get(
                url,
                timeout=self.timeout_s,
                allow_redirects=False,  # a redirect could lead anywhere: only configured URLs are used
                stream=True,
                headers={"Accept": "application/jwk-set+json, application/json"},
            ) as response:
                if response.status_code != 200:
                    raise JwksFetchError(f"HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_content(chunk_size=16384):
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise JwksFetchError(f"larger than {self.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise JwksFetchError(f"took longer than {self.timeout_s}s")
        except requests.RequestException as exc:
            raise JwksFetchError(type(exc).__name__) from None
        try:
            keys, skipped = parse_jwks(orjson.loads(bytes(body)))
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise JwksFetchError(f"not a JWK set: {exc}") from None
        for reason in skipped:
            log.info("JWKS %s: %s (skipped)", url, reason)
        return keys

    def close(self) -> None:
        self._session.close()

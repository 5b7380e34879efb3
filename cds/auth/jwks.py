"""JWK sets fetched over HTTP: a total deadline, a size cap, a cache, one fetch at a time, rate limits.

- A set is fetched only from a URL the trust file names (the issuer's ``jwks_url`` or a ``jku`` on its
  allowlist); the caller checks that before asking here, so an attacker's ``jku`` is never fetched.
- Keys are cached per (issuer, URL) for CDS_JWKS_CACHE_S.
- A token with an unknown ``kid`` triggers a refresh (key rotation works without a restart), but at most
  one fetch per (issuer, URL) every CDS_JWKS_MIN_REFRESH_INTERVAL_S: a flood of made-up ``kid`` values
  costs the issuer at most one request per interval from each instance.
- One fetch per (issuer, URL) runs at a time, on its own thread, and ends by CDS_JWKS_TIMEOUT_S after
  it started, however slowly the key server sends (a total deadline, not one per read: issue 23,
  finding 3). Other requests for that issuer wait on the same fetch, never longer than its deadline.
- The event loop never waits: :meth:`JwksCache.key` awaits the fetch.
- If a refresh fails the keys already known stay in use (the issuer's JWKS endpoint being down must not
  lock every user out); the failure is logged.

Thread-safe: tokens whose key is cached take no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future

import orjson
import requests

from cds.auth.keys import VerificationKey, parse_jwks
from cds.http_deadlines import deadline_session, request_deadline

log = logging.getLogger("cds.auth")

MAX_JWKS_BYTES = 256 * 1024
_WAIT_GRACE_S = 0.25  # beyond the fetch's own deadline, for its thread to report


class JwksFetchError(Exception):
    pass


@dataclasses.dataclass(slots=True)
class _Entry:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    keys: Mapping[str, VerificationKey] = dataclasses.field(default_factory=dict)
    fetched_at: float | None = None
    attempted_at: float | None = None
    running: Future[None] | None = None  # the fetch in progress, which every waiter shares


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
        self._session = session or deadline_session(pool_maxsize=4)
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

    def _cached(self, entry: _Entry, kid: str) -> VerificationKey | None:
        found = entry.keys.get(kid)
        return found if found is not None and self._fresh(entry, self._clock()) else None

    def _refresh(self, issuer: str, url: str, entry: _Entry) -> tuple[Future[None] | None, bool]:
        """(the fetch to wait for, True if this call started it): the one running for this entry,
        or a new one; None when the last attempt is too recent (rate limit)."""
        with entry.lock:
            if entry.running is not None:
                return entry.running, False
            now = self._clock()
            if entry.attempted_at is not None and now - entry.attempted_at < self.min_refresh_interval_s:
                log.info(
                    "JWKS refresh for issuer %r skipped: last attempt less than %ss ago",
                    issuer,
                    self.min_refresh_interval_s,
                )
                return None, False
            entry.attempted_at = now
            running: Future[None] = Future()
            entry.running = running
        threading.Thread(
            target=self._run, args=(issuer, url, entry, running), name="jwks-fetch", daemon=True
        ).start()
        return running, True

    def _run(self, issuer: str, url: str, entry: _Entry, running: Future[None]) -> None:
        try:
            keys = self._fetch(url)
            with entry.lock:
                entry.keys = keys
                entry.fetched_at = self._clock()
        except JwksFetchError as exc:
            log.warning("JWKS fetch for issuer %r from %s failed: %s", issuer, url, exc)
        except Exception:  # a bug must not leave every waiter hanging
            log.exception("JWKS fetch for issuer %r from %s failed", issuer, url)
        finally:
            with entry.lock:
                entry.running = None
            running.set_result(None)

    async def key(self, issuer: str, url: str, kid: str) -> VerificationKey | None:
        """The key ``kid`` of the set at ``url`` (already allowed for ``issuer``), or None.

        Fetches the set when ``kid`` is not cached and awaits the fetch for at most its deadline: the
        event loop keeps running while the fetch does (on its own thread)."""
        entry = self._entry(issuer, url)
        found = self._cached(entry, kid)
        if found is not None:
            return found
        running, _ = self._refresh(issuer, url, entry)
        if running is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(asyncio.wrap_future(running)), self.timeout_s + _WAIT_GRACE_S
                )
        return entry.keys.get(kid)

    def _fetch(self, url: str) -> dict[str, VerificationKey]:
        self.fetches += 1
        deadline = time.monotonic() + self.timeout_s
        try:
            with (
                request_deadline(deadline),  # the socket is shut at the deadline, whatever arrives
                self._session.get(
                    url,
                    timeout=self.timeout_s,
                    allow_redirects=False,  # a redirect could lead anywhere: only configured URLs
                    stream=True,
                    headers={"Accept": "application/jwk-set+json, application/json"},
                ) as response,
            ):
                if time.monotonic() >= deadline:
                    raise JwksFetchError(f"took longer than {self.timeout_s}s")
                if response.status_code != 200:
                    raise JwksFetchError(f"HTTP {response.status_code}")
                body = bytearray()
                while chunk := response.raw.read1(16384, decode_content=True):
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise JwksFetchError(f"larger than {self.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise JwksFetchError(f"took longer than {self.timeout_s}s")
                if time.monotonic() >= deadline:
                    raise JwksFetchError(f"took longer than {self.timeout_s}s")
        except (requests.RequestException, OSError) as exc:
            if time.monotonic() >= deadline:
                raise JwksFetchError(f"took longer than {self.timeout_s}s") from None
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

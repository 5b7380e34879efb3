"""The ``jti`` replay cache: each (iss, jti) is accepted once while the token is alive.

:class:`ReplayCache`: in memory, per process, thread-safe and bounded. An entry lives until the token's
``exp`` plus the clock skew (after that the token itself is refused as expired, so remembering it is
pointless). Several instances (or uvicorn worker processes) each have their own cache, so with SQLite a
token replayed to a *different* process within its lifetime is not detected.

:class:`SharedReplayCache`: with PostgreSQL (CDS_DATABASE_URL), seen ids are recorded in the database
(one insert, primary key issuer + jti, rows expiring with the token), so a replay is refused by every
replica and worker. If the database cannot be reached, the in-process cache answers meanwhile (logged):
a database outage must not refuse every clinician, and a replay to the same process is still caught.

When the cache is full, the entry closest to expiry is dropped (and a warning logged) rather than
refusing valid new tokens: only tokens signed by trusted clients are ever stored, so filling it takes
real traffic, and the service should not fail closed on its own success.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

log = logging.getLogger("cds.auth")

DEFAULT_MAX_ENTRIES = 500_000


class ReplayCache:
    blocking = False  # in memory: safe to call on the event loop

    def __init__(
        self, *, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.time
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self._warned_full = False

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: float) -> None:
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            if expiry.get(key) == when:
                del expiry[key]

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Remember (issuer, jti) until ``expires_at``; False if it was already seen and is still alive."""
        key = (issuer, jti)
        with self._lock:
            now = self._clock()
            self._purge(now)
            if key in self._expiry:
                return False
            while len(self._expiry) >= self.max_entries and self._heap:
                when, old = heapq.heappop(self._heap)
                if self._expiry.get(old) == when:
                    del self._expiry[old]
                    if not self._warned_full:
                        self._warned_full = True
                        log.warning(
                            "jti replay cache full (%d entries): dropping the entries closest to expiry",
                            self.max_entries,
                        )
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return True


class _JtiStore(Protocol):
    def first_use_jti(self, issuer: str, jti: str, expires_at: float, now: float) -> bool: ...

    def close(self) -> None: ...


class SharedReplayCache:
    """The replay check in the shared database, with the in-process cache as its fallback.

    A database that fails or does not answer within ``timeout_s`` is skipped for ``pause_s``: the
    in-process cache answers alone meanwhile (logged), so a frozen database costs one call
    ``timeout_s`` per pause rather than every call hanging. The queries run on a small pool of their
    own, which a frozen database can hold, but nothing else.
    """

    blocking = True  # a database round trip: run it off the event loop

    def __init__(
        self,
        store: _JtiStore,
        *,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 1.0,
        pause_s: float = 30.0,
    ) -> None:
        self.store = store
        self._clock = clock
        self.timeout_s = timeout_s
        self.pause_s = pause_s
        self.local = ReplayCache(clock=clock)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jti-check")
        self._skip_until = 0.0

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        if not self.local.first_use(issuer, jti, expires_at):  # cheap, and the fallback
            return False
        now = self._clock()
        if now < self._skip_until:
            return True
        try:
            answer = self._pool.submit(self.store.first_use_jti, issuer, jti, expires_at, now)
            return answer.result(timeout=self.timeout_s)
        except Exception as exc:  # StoreUnavailable, a timeout, any database error: fall back
            self._skip_until = now + self.pause_s
            log.warning(
                "jti replay check: the database is unavailable (%s); for the next %gs replays are "
                "caught by this process only",
                type(exc).__name__,
                self.pause_s,
            )
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()

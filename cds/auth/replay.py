"""The ``jti`` replay cache: each (iss, jti) is accepted once while the token is alive.

In memory, per process, thread-safe and bounded. An entry lives until the token's ``exp`` plus the clock
skew (after that the token itself is refused as expired, so remembering it is pointless).

Several instances (or uvicorn worker processes) each have their own cache: a token replayed to a
*different* instance within its lifetime is not detected. docs/security.md discusses the options.

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

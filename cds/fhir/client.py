"""Fetching what the prefetch did not bring, from the client's FHIR server.

``HttpFetcher`` runs every missing query at once on a shared thread pool over one pooled ``requests``
session, so a call that must fetch costs about one FHIR round trip, not the sum of them. Bounds, all
from Settings (docs/fhir-fetch.md): a per-request timeout, the hook call's overall deadline, pages and
resources per key, and bytes per response (enforced while streaming, so a huge or trickling answer
cannot hold a worker). Only servers on ``CDS_FHIR_SERVER_ALLOWLIST`` are contacted; the access token
goes to ``fhirServer`` and nowhere else (redirects are not followed, ``next`` links that leave the
server's base are not followed), and it never appears in an error, an issue or a log line.

This module decides whom to contact (the allowlist) and runs the keys (threads, per-server caps, the
deadline). Below it, one job each: cds.fhir.fetch_pages (one key: its search pages, its FetchResult,
metric and log line), cds.fhir.fetch_http (one bounded GET), cds.fhir.urls (base URLs, normalised)
and cds.http_deadlines (a session whose requests end by their deadline).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from cds.fhir.fetch_http import BoundedGet
from cds.fhir.fetch_pages import FetchResult, PageReader
from cds.fhir.urls import Base, parse_base, safe_label
from cds.http_deadlines import deadline_session
from cds.settings import Settings

log = logging.getLogger("cds.fhir.client")


class Fetcher(Protocol):
    def fetch(
        self,
        *,
        server: str,
        access_token: str | None,
        queries: Mapping[str, str],
        continuations: Mapping[str, str],
        deadline: float,
    ) -> dict[str, FetchResult]:
        """Run ``queries`` (key -> relative URL) and follow ``continuations`` (key -> next-page URL)
        concurrently against ``server`` until ``deadline`` (time.monotonic()). Never raises for
        network or server problems: they come back as ``FetchResult.error``."""

    def saturation(self) -> str | None:
        """Why fetching is starved right now, for /readyz; None when it is not."""
        ...

    def close(self) -> None: ...


class NoFetcher:
    """A fetcher that never contacts a server: every query fails with a clear reason (tests, tools)."""

    def fetch(
        self,
        *,
        server: str,
        access_token: str | None,
        queries: Mapping[str, str],
        continuations: Mapping[str, str],
        deadline: float,
    ) -> dict[str, FetchResult]:
        reason = "this service does not fetch from FHIR servers"
        return {key: FetchResult(error=reason) for key in [*queries, *continuations]}

    def close(self) -> None:
        return None


class Allowlist:
    """``CDS_FHIR_SERVER_ALLOWLIST``: FHIR bases the service may call. ``*`` allows any (testing only)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.any = False
        self.bases: list[Base] = []
        for entry in entries:
            if entry.strip() == "*":
                self.any = True
                continue
            base = parse_base(entry)
            if base is None:
                raise ValueError(f"CDS_FHIR_SERVER_ALLOWLIST: {entry!r} is not an absolute http(s) base URL")
            self.bases.append(base)

    def allows(self, base: Base) -> bool:
        return self.any or any(allowed.contains(base) for allowed in self.bases)


# Fetch threads one FHIR server (scheme, host, port) may hold at once, of the 64 of a worker.
MAX_PER_SERVER = 16


class HttpFetcher:
    """The production Fetcher: concurrent, pooled, bounded (see the module docstring)."""

    def __init__(
        self, settings: Settings, *, max_workers: int = 64, per_server: int = MAX_PER_SERVER
    ) -> None:
        self.allowlist = Allowlist(settings.allowed_fhir_servers)
        self.max_workers = max_workers
        # One server may hold at most this many fetch threads, so a slow or hostile one cannot take
        # them all (issue 23, finding 5); a key that finds no free slot by the deadline fails alone.
        self.per_server = min(per_server, max_workers)
        self.session = deadline_session(pool_maxsize=max_workers)
        http = BoundedGet(
            self.session, timeout_s=settings.fhir_timeout_s, max_bytes=settings.fhir_max_response_bytes
        )
        self.pages = PageReader(
            http, max_pages=settings.fhir_max_pages, max_resources=settings.fhir_max_resources
        )
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fhir-fetch")
        self._slots: dict[tuple[str, str, int], threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()
        self._in_flight = 0
        self._closed = False

    def _server_slots(self, base: Base) -> threading.BoundedSemaphore:
        origin = (base.scheme, base.host, base.port)
        with self._slots_lock:
            slots = self._slots.get(origin)
            if slots is None:
                slots = self._slots[origin] = threading.BoundedSemaphore(self.per_server)
            return slots

    def _task_done(self, slots: threading.BoundedSemaphore) -> None:
        slots.release()
        with self._slots_lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """Fetch tasks submitted and not finished."""
        with self._slots_lock:
            return self._in_flight

    def saturation(self) -> str | None:
        """Why fetching is starved right now (every fetch thread busy), for /readyz; None when not."""
        with self._slots_lock:
            busy = self._in_flight
        if busy >= self.max_workers:
            return f"all {self.max_workers} FHIR fetch threads are busy"
        return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.session.close()

    # --- the Fetcher protocol -----------------------------------------------------------------------

    def fetch(
        self,
        *,
        server: str,
        access_token: str | None,
        queries: Mapping[str, str],
        continuations: Mapping[str, str],
        deadline: float,
    ) -> dict[str, FetchResult]:
        keys = [*queries, *continuations]
        base = parse_base(server)
        if base is None:
            reason = f"fhirServer {safe_label(server)} is not a plain http(s) base URL"
            return {key: FetchResult(error=reason) for key in keys}
        if not self.allowlist.allows(base):
            log.warning("fhirServer %s is not on CDS_FHIR_SERVER_ALLOWLIST; nothing fetched", base.url)
            reason = (
                f"fhirServer {base.url} is not on this service's CDS_FHIR_SERVER_ALLOWLIST, "
                "so it was not contacted"
            )
            return {key: FetchResult(error=reason) for key in keys}

        headers = {"Accept": "application/fhir+json, application/json;q=0.9"}
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        stop = threading.Event()  # set when the caller stops waiting: pending page loops end early
        futures: dict[str, Future[FetchResult]] = {}
        results: dict[str, FetchResult] = {}
        slots = self._server_slots(base)
        work = [(key, f"{base.url}/{relative.lstrip('/')}", 0) for key, relative in queries.items()]
        work += [(key, url, 1) for key, url in continuations.items()]
        for key, url, pages_before in work:
            if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                log.warning(
                    "fhirServer %s: %d fetches already running; %s not fetched",
                    base.url,
                    self.per_server,
                    key,
                )
                results[key] = FetchResult(
                    error=f"this service was already running its limit of {self.per_server} fetches "
                    "against that FHIR server until the hook call's deadline"
                )
                continue
            with self._slots_lock:
                self._in_flight += 1
            future = self.executor.submit(
                self.pages.read, key, url, base, headers, deadline, stop, pages_before
            )
            future.add_done_callback(lambda _done, slots=slots: self._task_done(slots))  # type: ignore[misc]
            futures[key] = future

        # Each task enforces the deadline itself; the small grace lets it report its own reason.
        wait(
            futures.values(), timeout=max(0.0, deadline - time.monotonic()) + 0.05, return_when=ALL_COMPLETED
        )
        stop.set()
        for key, future in futures.items():
            if future.done() and future.exception() is None:
                results[key] = future.result()
            elif future.done():
                exc = future.exception()
                log.error("fetching %s failed unexpectedly: %s", key, type(exc).__name__)
                results[key] = FetchResult(error="an internal error occurred while fetching it")
            else:
                future.cancel()
                results[key] = FetchResult(
                    error="the FHIR server did not answer before the hook call's deadline"
                )
        return results

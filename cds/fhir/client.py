"""Fetching what the prefetch did not bring, from the client's FHIR server.

``HttpFetcher`` runs every missing query at once on a shared thread pool over one pooled ``requests``
session, so a call that must fetch costs about one FHIR round trip, not the sum of them. Bounds, all
from Settings (docs/fhir-fetch.md): a per-request timeout, the hook call's overall deadline, pages and
resources per key, and bytes per response (enforced while streaming, so a huge or trickling answer
cannot hold a worker). Only servers on ``CDS_FHIR_SERVER_ALLOWLIST`` are contacted; the access token
goes to ``fhirServer`` and nowhere else (redirects are not followed, ``next`` links that leave the
server's base are not followed), and it never appears in an error, an issue or a log line.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

import orjson
import requests
import urllib3
import urllib3.connection
from requests.adapters import HTTPAdapter

from cds.evidence import DataIssue, Evidence
from cds.observability import observe_fhir_fetch
from cds.settings import Settings

log = logging.getLogger("cds.fhir.client")


@dataclass(slots=True)
class FetchResult:
    """One key's outcome. ``error`` (no token, no patient data) set when the data could not be had."""

    resources: list[Mapping[str, Any]] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    error: str | None = None


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


# --- total deadlines for HTTP requests ---------------------------------------------------------------


class _Watchdog:
    """Shuts the socket of a request that outlives its deadline, so the thread blocked on it is freed.

    ``requests``' timeouts bound each socket operation, not the whole request: a server that sends a
    byte every few seconds (in its headers or its body) holds the calling thread for as long as it
    likes. Here every request made inside :func:`request_deadline` is registered with the deadline
    when its connection starts the request; one daemon thread shuts the connection's socket when the
    deadline passes, the blocked read returns at once, and ``requests`` raises. Shared by every
    session of the process (the FHIR fetcher, the JWKS cache).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, Any]] = {}  # id(connection) -> (deadline, connection)
        self._local = threading.local()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def deadline(self, ends: float) -> Iterator[None]:
        """Requests this thread makes inside the block end by ``ends`` (time.monotonic())."""
        self._local.ends = ends
        self._local.armed = []
        try:
            yield
        finally:
            self._local.ends = None
            with self._cond:
                for key in self._local.armed:
                    self._armed.pop(key, None)
            self._local.armed = []

    def arm(self, connection: Any) -> None:
        ends: float | None = getattr(self._local, "ends", None)
        if ends is None:
            return
        with self._cond:
            self._armed[id(connection)] = (ends, connection)
            self._local.armed.append(id(connection))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                due = [key for key, (ends, _) in self._armed.items() if ends <= now]
                for key in due:
                    _, connection = self._armed.pop(key)
                    sock = getattr(connection, "sock", None)
                    if sock is not None:
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                upcoming = min((ends for ends, _ in self._armed.values()), default=None)
                self._cond.wait(None if upcoming is None else max(0.0, upcoming - now))


_WATCHDOG = _Watchdog()
request_deadline = _WATCHDOG.deadline


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _WATCHDOG.arm(self)
        super().request(*args, **kwargs)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _WATCHDOG.arm(self)
        super().request(*args, **kwargs)


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose requests honour :func:`request_deadline` (see :class:`_Watchdog`)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def deadline_session(*, pool_maxsize: int = 10) -> requests.Session:
    """A session for the service's outgoing calls: no environment settings (proxies, ~/.netrc), no
    cookies kept between callers, no retries, and total deadlines through :func:`request_deadline`."""
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = DeadlineAdapter(pool_connections=8, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --- URLs and the allowlist -----------------------------------------------------------------------

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


def _safe_label(url: str) -> str:
    """How a caller-supplied server URL is named in errors: scheme, host, port and path only."""
    base = parse_base(url)
    if base is not None:
        return base.url
    parts = _split(url.split("?", 1)[0].split("#", 1)[0])
    return "(an invalid URL)" if parts is None else f"{parts.scheme}://{parts.hostname}"


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


# --- reading one key ----------------------------------------------------------------------------


class FetchError(Exception):
    """Why one key could not be read; the message is shown to clinicians and callers (no token)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # low-cardinality metrics label


JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
_RETRY_STATUSES = frozenset({429, 503})
_MAX_ATTEMPTS = 4
_BACKOFF_S = 0.1
_CHUNK = 64 * 1024
_OLD_TYPES = {  # resource types that exist in DSTU2/STU3 but not in R4
    "MedicationOrder": "DSTU2",
    "DiagnosticOrder": "DSTU2",
    "DeviceUseRequest": "DSTU2",
    "ProcedureRequest": "STU3",
    "ReferralRequest": "STU3",
    "ProcessRequest": "STU3",
}


def _not_r4(resource: Mapping[str, Any]) -> str | None:
    """A cheap sign that a resource is DSTU2/STU3 rather than R4, described for a person, or None."""
    rtype = resource.get("resourceType")
    if isinstance(rtype, str) and rtype in _OLD_TYPES:
        return f"it returned {rtype} resources, which exist only in FHIR {_OLD_TYPES[rtype]}"
    if rtype == "Condition":
        if "patient" in resource and "subject" not in resource:
            return "its Conditions name the patient in Condition.patient, as in FHIR DSTU2"
        for name in ("clinicalStatus", "verificationStatus"):
            if isinstance(resource.get(name), str):
                return f"its Conditions carry {name} as a plain code, as in FHIR DSTU2/STU3"
    if rtype in {"MedicationStatement", "MedicationRequest"} and "patient" in resource:
        return f"its {rtype}s name the patient in {rtype}.patient, as in FHIR DSTU2"
    if rtype == "Observation" and isinstance(resource.get("comments"), str):
        return "its Observations carry Observation.comments, as in FHIR DSTU2"
    return None


def _outcome_text(outcome: Mapping[str, Any]) -> str:
    texts = []
    for issue in outcome.get("issue") or ():
        if isinstance(issue, Mapping):
            details = issue.get("details")
            detail = (
                issue.get("diagnostics")
                or (details.get("text") if isinstance(details, Mapping) else None)
                or issue.get("code")
            )
            if isinstance(detail, str):
                texts.append(detail[:200])
    return "; ".join(texts) or "no details"


@dataclass(slots=True)
class _Page:
    resources: list[Mapping[str, Any]]
    issues: list[DataIssue]
    next_url: str | None


# Fetch threads one FHIR server (scheme, host, port) may hold at once, of the 64 of a worker.
MAX_PER_SERVER = 16


class HttpFetcher:
    """The production Fetcher: concurrent, pooled, bounded (see the module docstring)."""

    def __init__(
        self, settings: Settings, *, max_workers: int = 64, per_server: int = MAX_PER_SERVER
    ) -> None:
        self.allowlist = Allowlist(settings.allowed_fhir_servers)
        self.timeout_s = settings.fhir_timeout_s
        self.max_pages = settings.fhir_max_pages
        self.max_resources = settings.fhir_max_resources
        self.max_bytes = settings.fhir_max_response_bytes
        self.max_workers = max_workers
        # One server may hold at most this many fetch threads, so a slow or hostile one cannot take
        # them all (issue 23, finding 5); a key that finds no free slot by the deadline fails alone.
        self.per_server = min(per_server, max_workers)
        self.session = deadline_session(pool_maxsize=max_workers)
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
            reason = f"fhirServer {_safe_label(server)} is not a plain http(s) base URL"
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
                self._read_key, key, url, base, headers, deadline, stop, pages_before
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

    # --- one key: its pages ---------------------------------------------------------------------------

    def _read_key(
        self,
        key: str,
        url: str,
        base: Base,
        headers: Mapping[str, str],
        deadline: float,
        stop: threading.Event,
        pages_before: int,
    ) -> FetchResult:
        started = time.monotonic()
        result = FetchResult()
        try:
            target = url_under(url, base)
            if target is None and pages_before:
                raise FetchError("its next page lies outside fhirServer and was not followed", "foreign_next")
            if target is None:
                raise FetchError("its query leads outside fhirServer and was not sent", "foreign_query")
            if not pages_before and target.split("?", 1)[0] != url.split("?", 1)[0]:
                # the service builds queries from FHIR ids: '..', '.', '//' or '%2e' come from an id
                # that is not one (e.g. patientId '..' would read the server's base URL)
                raise FetchError("its query holds a path segment no FHIR id can make; not sent", "bad_query")
            url = target
            relative = url[len(base.url) :]
            is_read = pages_before == 0 and "?" not in relative and relative.count("/") >= 2
            pages = pages_before
            while url:
                if stop.is_set():
                    raise FetchError("the hook call's deadline passed while reading it", "deadline")
                body = self._get(url, headers, deadline)
                pages += 1
                page = self._page(body, key, is_read=is_read)
                room = self.max_resources - len(result.resources)
                if len(page.resources) > room:
                    result.resources.extend(page.resources[:room])
                    result.issues.extend(page.issues)
                    result.issues.append(
                        self._truncated(key, f"only the first {self.max_resources} resources")
                    )
                    break
                result.resources.extend(page.resources)
                result.issues.extend(page.issues)
                if page.next_url is None:
                    break
                target = url_under(page.next_url, base)
                if target is None:
                    result.issues.append(
                        self._truncated(
                            key, "only the first page: the next link leaves fhirServer and was not followed"
                        )
                    )
                    break
                if pages >= self.max_pages:
                    result.issues.append(self._truncated(key, f"only the first {self.max_pages} pages"))
                    break
                url = target
            non_r4 = next((hint for r in result.resources if (hint := _not_r4(r))), None)
            if non_r4:
                raise FetchError(
                    f"the FHIR server's data is not FHIR R4 ({non_r4}); this service reads FHIR R4 only",
                    "not_r4",
                )
        except FetchError as exc:
            observe_fhir_fetch(time.monotonic() - started, ok=False, reason=exc.reason)
            log.warning("could not fetch prefetch key %s from %s: %s", key, base.url, exc)
            return FetchResult(error=str(exc))
        observe_fhir_fetch(time.monotonic() - started, ok=True)
        return result

    @staticmethod
    def _truncated(key: str, how: str) -> DataIssue:
        return DataIssue(
            "data",
            "truncated",
            f"{key}: the FHIR server had more data than this service reads; {how} were used.",
            (Evidence(f"search ({key})", None, "cut short"),),
        )

    def _page(self, body: bytes, key: str, *, is_read: bool) -> _Page:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise FetchError("the FHIR server returned something that is not FHIR JSON", "not_json") from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FetchError("the FHIR server returned something that is not FHIR JSON", "not_fhir")
        rtype = data["resourceType"]
        if rtype == "OperationOutcome":
            raise FetchError(f"the FHIR server reported a problem: {_outcome_text(data)}", "outcome")
        if is_read:
            if rtype == "Bundle":
                raise FetchError("the FHIR server answered a read with a Bundle", "unexpected")
            return _Page([data], [], None)
        if rtype != "Bundle":
            raise FetchError(
                f"the FHIR server answered a search with a {rtype[:64]}, not a Bundle", "unexpected"
            )
        if "type" not in data:
            raise FetchError(
                "the FHIR server returned a Bundle without a type, which is not FHIR R4", "not_r4"
            )
        entries = data.get("entry") or []
        if not isinstance(entries, list):
            raise FetchError("the FHIR server returned a Bundle whose entry is not a list", "not_fhir")
        resources: list[Mapping[str, Any]] = []
        issues: list[DataIssue] = []
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                if isinstance(entry, dict) and "content" in entry:
                    raise FetchError(
                        "the FHIR server returned Bundle entries with content instead of resource, "
                        "which is FHIR DSTU1, not R4",
                        "not_r4",
                    )
                issues.append(DataIssue("data", "unreadable", f"{key}: Bundle entry {i} holds no resource."))
                continue
            search = entry.get("search")
            mode = search.get("mode") if isinstance(search, dict) else None
            if resource.get("resourceType") == "OperationOutcome" or mode == "outcome":
                issues.append(
                    DataIssue(
                        "data",
                        "unreadable",
                        f"The FHIR server reported a problem reading {key}: {_outcome_text(resource)}.",
                        (Evidence(f"OperationOutcome ({key})", None, "server"),),
                    )
                )
                continue
            resources.append(resource)
        next_url = None
        for link in data.get("link") or ():
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                next_url = link["url"]
        return _Page(resources, issues, next_url)

    # --- one HTTP GET -------------------------------------------------------------------------------

    def _get(self, url: str, headers: Mapping[str, str], deadline: float) -> bytes:
        """The body of a 2xx JSON answer, retrying 429/503 while the deadline allows."""
        for attempt in range(_MAX_ATTEMPTS):
            remaining = deadline - time.monotonic()
            if remaining <= 0.01:
                raise FetchError(
                    "the hook call's deadline passed before the FHIR server answered", "deadline"
                )
            budget = min(self.timeout_s, remaining)
            ends = time.monotonic() + budget
            with request_deadline(ends):  # the whole request, headers and body: not per read
                body = self._get_once(url, headers, ends, budget, remaining, attempt, deadline)
            if body is not None:
                return body
        raise FetchError(
            "the FHIR server stayed busy (HTTP 429/503) on every retry", "busy"
        )  # pragma: no cover

    def _get_once(
        self,
        url: str,
        headers: Mapping[str, str],
        ends: float,
        budget: float,
        remaining: float,
        attempt: int,
        deadline: float,
    ) -> bytes | None:
        """One attempt: the body, or None to retry (after sleeping the server's Retry-After)."""
        try:
            response = self.session.get(
                url, headers=headers, timeout=(budget, budget), stream=True, allow_redirects=False
            )
        except requests.Timeout:
            raise self._timeout(budget, remaining) from None
        except requests.RequestException:
            if time.monotonic() >= ends - 0.01:  # the deadline shut the socket
                raise self._timeout(budget, remaining) from None
            raise FetchError("could not connect to the FHIR server", "connection") from None
        with response:
            if time.monotonic() >= ends:  # headers cut short by the deadline read as if complete
                raise self._timeout(budget, remaining)
            status = response.status_code
            if status in _RETRY_STATUSES and attempt + 1 < _MAX_ATTEMPTS:
                delay = self._retry_delay(response, attempt)
                if delay is not None and time.monotonic() + delay + 0.05 < deadline:
                    time.sleep(delay)
                    return None
            if not 200 <= status < 300:
                raise self._status_error(status)
            ctype = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if ctype and ctype not in JSON_TYPES and not ctype.endswith("+json"):
                raise FetchError(
                    f"the FHIR server returned something that is not FHIR JSON (content type {ctype[:64]})",
                    "not_json",
                )
            self._check_version(response.headers.get("Content-Type", ""))
            body = self._read_body(response, ends, budget, remaining)
            if time.monotonic() >= ends:  # a body cut short by the deadline reads as if complete
                raise self._timeout(budget, remaining)
            return body

    def _timeout(self, budget: float, remaining: float) -> FetchError:
        if budget < self.timeout_s or remaining <= budget:
            return FetchError("the hook call's deadline passed before the FHIR server answered", "deadline")
        return FetchError(f"the FHIR server did not answer within {self.timeout_s:g} s", "timeout")

    @staticmethod
    def _retry_delay(response: requests.Response, attempt: int) -> float | None:
        after = response.headers.get("Retry-After")
        if after is not None:
            try:
                return max(0.0, float(after))
            except ValueError:
                return None  # an HTTP date: too far away for a hook call
        return _BACKOFF_S * (1 << attempt) * (0.5 + random.random())  # noqa: S311 - jitter, not crypto

    @staticmethod
    def _status_error(status: int) -> FetchError:
        if status in {401, 403}:
            return FetchError(f"the FHIR server refused access (HTTP {status})", f"http_{status}")
        if status == 404:
            return FetchError("the FHIR server has no such resource (HTTP 404)", "http_404")
        if status in _RETRY_STATUSES:
            return FetchError(
                f"the FHIR server was busy (HTTP {status}) and no retry fitted before the deadline",
                f"http_{status}",
            )
        if 300 <= status < 400:
            return FetchError(
                f"the FHIR server answered with a redirect (HTTP {status}), which is not followed", "redirect"
            )
        if status >= 500:
            return FetchError(f"the FHIR server failed (HTTP {status})", "http_5xx")
        return FetchError(f"the FHIR server answered HTTP {status}", "http_4xx")

    @staticmethod
    def _check_version(content_type: str) -> None:
        for param in content_type.split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "fhirversion":
                version = value.strip().strip('"')
                if version and not version.startswith("4.0"):
                    raise FetchError(
                        f"the FHIR server returned FHIR version {version[:16]} data; "
                        "this service reads FHIR R4 (4.0) only",
                        "not_r4",
                    )

    def _read_body(self, response: requests.Response, ends: float, budget: float, remaining: float) -> bytes:
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        try:
            # read1 returns what has arrived: a trickling answer is caught by the clock, not held
            # until a whole chunk is in.
            while chunk := response.raw.read1(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large()
                if time.monotonic() > ends:
                    raise self._timeout(budget, remaining)
                chunks.append(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            if time.monotonic() > ends - 0.01:
                raise self._timeout(budget, remaining) from None
            raise FetchError(
                "the connection to the FHIR server broke while reading its answer", "connection"
            ) from None
        return b"".join(chunks)

    def _too_large(self) -> FetchError:
        return FetchError(
            f"the FHIR server's answer is larger than this service reads ({self.max_bytes} bytes)",
            "too_large",
        )

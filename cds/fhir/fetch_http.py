"""One HTTP GET of a FHIR answer, bounded: the request's timeout and the hook call's deadline over the
whole request (headers and body, cds.http_deadlines), retries of 429/503 while the deadline allows,
no redirects, JSON and FHIR R4 only, and a cap on the bytes read while streaming. Every failure is a
:class:`FetchError` whose message names no token and no patient data."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping

import requests
import urllib3

from cds.http_deadlines import request_deadline


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


class BoundedGet:
    """GETs from one session with the per-request timeout and the per-response byte cap of Settings."""

    def __init__(self, session: requests.Session, *, timeout_s: float, max_bytes: int) -> None:
        self.session = session
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

    def get(self, url: str, headers: Mapping[str, str], deadline: float) -> bytes:
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

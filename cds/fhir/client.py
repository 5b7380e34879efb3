"""Fetching what the prefetch did not bring, from the client's FHIR server.

STUB until the FHIR fetch work lands: it fetches nothing, so a missing required key answers 412.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cds.profile.model import DataIssue


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
        ...

    def close(self) -> None: ...


class NoFetcher:
    """Used until fetching is configured: every query fails with a clear reason."""

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

"""Issue 23, finding 5: a FHIR server trickling its headers must not hold fetch threads past the hook
call's deadline, and one misbehaving server must not starve fetches from the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from cds.fhir.client import HttpFetcher
from cds.settings import Settings
from tests.fhir.helpers import sample_resources
from tests.servers.hostile import Trickler, trickling_server, wait_until
from tests.servers.stub_fhir import StubFhir, running_stub

QUERIES = {f"k{i}": f"Condition?patient=p1&i={i}" for i in range(4)}


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    with trickling_server(interval_s=0.05) as server:
        yield server


@pytest.fixture
def healthy() -> Iterator[StubFhir]:
    with running_stub() as stub:
        stub.load(sample_resources())
        yield stub


def _fetcher(allow: str, per_server: int = 4) -> HttpFetcher:
    settings = Settings(auth="off", fhir_server_allowlist=allow, fhir_timeout_s=1.0)
    return HttpFetcher(settings, max_workers=4, per_server=per_server)


def _call_in_background(fetcher: HttpFetcher, server: str, budget_s: float) -> threading.Thread:
    """A hook call's fetch of QUERIES against ``server``, on a thread of its own (started)."""
    call = threading.Thread(
        target=fetcher.fetch,
        kwargs={
            "server": server,
            "access_token": None,
            "queries": QUERIES,
            "continuations": {},
            "deadline": time.monotonic() + budget_s,
        },
    )
    call.start()
    return call


def test_a_trickling_server_is_cut_off_at_the_deadline_and_its_threads_freed(trickler: Trickler) -> None:
    fetcher = _fetcher(f"{trickler.origin}/fhir")
    try:
        started = time.monotonic()
        results = fetcher.fetch(
            server=f"{trickler.origin}/fhir",
            access_token=None,
            queries=QUERIES,
            continuations={},
            deadline=started + 0.6,
        )
        answered = time.monotonic() - started
        assert all(r.error and "deadline" in r.error for r in results.values())
        assert answered < 1.0
        # the threads and connections are free at the deadline, not when the server stops trickling
        assert wait_until(lambda: fetcher.in_flight == 0 and trickler.open == 0, 0.5)
        assert max(trickler.held_s) < 1.0
    finally:
        fetcher.close()


def test_a_trickling_server_cannot_starve_fetches_from_a_healthy_one(
    trickler: Trickler, healthy: StubFhir
) -> None:
    """The attack as run: waves of calls against a trickling server, then a call to a healthy one."""
    fetcher = _fetcher(f"{trickler.origin}/fhir,{healthy.base_url}", per_server=2)
    waves: list[threading.Thread] = []
    try:
        for _ in range(3):  # three calls of four keys each against a pool of four threads
            waves.append(_call_in_background(fetcher, f"{trickler.origin}/fhir", 3.0))
        assert wait_until(lambda: trickler.open == 2, 2.0)  # the cap: two of the four threads
        results = fetcher.fetch(
            server=healthy.base_url,
            access_token=None,
            queries={"conditions": "Condition?patient=p1"},
            continuations={},
            deadline=time.monotonic() + 1.0,
        )
        assert results["conditions"].error is None  # answered within its own 1 s deadline
        most = 0
        while any(wave.is_alive() for wave in waves):  # the cap holds while the waves last
            most = max(most, fetcher.in_flight)
            time.sleep(0.01)
        assert most <= 2
    finally:
        for wave in waves:
            wave.join(5)
        fetcher.close()


def test_saturation_is_reported_while_every_fetch_thread_is_busy(trickler: Trickler) -> None:
    fetcher = _fetcher(f"{trickler.origin}/fhir", per_server=4)
    try:
        assert fetcher.saturation() is None
        wave = _call_in_background(fetcher, f"{trickler.origin}/fhir", 0.8)
        assert wait_until(lambda: fetcher.saturation() is not None, 0.5)
        wave.join(3)
        assert wait_until(lambda: fetcher.saturation() is None, 0.5)
    finally:
        fetcher.close()

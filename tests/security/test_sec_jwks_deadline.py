"""Issue 23, finding 3: a key server trickling 10 bytes a second froze a worker for 256 s per request
(the JWKS fetch ran on the event loop with a per-read timeout). The fetch has a total deadline, runs
off the event loop, and one fetch per issuer runs at a time: other requests wait on it or fail fast."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds.auth.clients import ClientAuthenticator
from cds.errors import Unauthorized
from cds.settings import Settings
from tests.auth.helpers import BASE, ISS, SERVICE_PATH, SigningKey, authenticate, claims, write_trust
from tests.servers.hostile import Trickler, trickling_server, wait_until

AUDIENCE = BASE + SERVICE_PATH
HEADERS_TRICKLE = b"HTTP/1.1 200 OK\r\n"  # then header bytes, one every 50 ms, forever
BODY_TRICKLE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


@pytest.fixture(params=[HEADERS_TRICKLE, BODY_TRICKLE], ids=["headers", "body"])
def key_server(request: pytest.FixtureRequest) -> Iterator[Trickler]:
    with trickling_server(interval_s=0.05, head=request.param) as server:
        yield server


def _authenticator(tmp_path: Path, server: Trickler) -> ClientAuthenticator:
    trust = write_trust(tmp_path / "trust.json", {"iss": ISS, "jwks_url": f"{server.origin}/jwks.json"})
    settings = Settings(
        auth="jwt", trust_file=trust, public_base_url=BASE, data_dir=tmp_path, jwks_timeout_s=0.5
    )
    return ClientAuthenticator(settings)


def _token(key: SigningKey) -> str:
    return f"Bearer {key.sign(claims())}"  # a trusted issuer, a made-up kid: the attack as run


def test_a_trickling_key_server_is_cut_off_at_the_total_deadline(
    tmp_path: Path, key_server: Trickler
) -> None:
    auth = _authenticator(tmp_path, key_server)
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            authenticate(auth, _token(SigningKey.new()), AUDIENCE)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(5)  # before the fix it stayed for as long as the server trickled
    took = time.monotonic() - started
    try:
        assert not thread.is_alive()
        assert isinstance(outcome[0], Unauthorized)
        assert took < 1.5
        assert wait_until(lambda: key_server.open == 0, 0.5)  # the connection is closed too
    finally:
        auth.close()


def test_the_event_loop_keeps_running_and_one_fetch_serves_every_waiting_request(
    tmp_path: Path, key_server: Trickler
) -> None:
    auth = _authenticator(tmp_path, key_server)
    key = SigningKey.new()

    async def scenario() -> tuple[float, list[BaseException | None], float]:
        lags: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                before = time.monotonic()
                await asyncio.sleep(0.01)
                lags.append(time.monotonic() - before - 0.01)

        async def one() -> BaseException | None:
            try:
                await auth.authenticate(_token(key), AUDIENCE)
            except Unauthorized as exc:
                return exc
            return None

        tick = asyncio.create_task(ticker())
        started = time.monotonic()
        outcomes = await asyncio.gather(*(one() for _ in range(20)))
        took = time.monotonic() - started
        stop.set()
        await tick
        return max(lags), list(outcomes), took

    try:
        max_lag, outcomes, took = asyncio.run(scenario())
        assert max_lag < 0.1  # before the fix the loop stood still for the whole fetch
        assert all(isinstance(o, Unauthorized) for o in outcomes)
        assert took < 1.5
        assert key_server.accepted == 1  # one fetch for the issuer, shared by all twenty requests
    finally:
        auth.close()

"""Shared jti replay protection: with PostgreSQL, a token used once is refused by every replica.

Two service processes (each its own ClientAuthenticator, as two replicas or two uvicorn workers)
share one PostgreSQL database; with SQLite each process keeps its in-process cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cds.auth.replay import SharedReplayCache
from cds.store import FeedbackStore, StoreUnavailable
from tests.auth.helpers import BASE, ISS, SERVICE_PATH, SigningKey, claims, write_trust

REPLICA = """
import asyncio
import sys
from cds.auth.clients import ClientAuthenticator
from cds.errors import Unauthorized
from cds.settings import Settings

auth = ClientAuthenticator(Settings())
print("ready", flush=True)
for line in sys.stdin:
    try:
        asyncio.run(auth.authenticate("Bearer " + line.strip(), sys.argv[1]))
        print("accepted", flush=True)
    except Unauthorized as exc:
        print("refused: " + exc.diagnostics, flush=True)
auth.close()
"""


class Replica:
    """A process holding its own authenticator, fed tokens on stdin, one answer line per token."""

    def __init__(self, trust: Path, database_url: str, tmp_path: Path) -> None:
        env = {
            **os.environ,
            "CDS_AUTH": "jwt",
            "CDS_TRUST_FILE": str(trust),
            "CDS_DATABASE_URL": database_url,
            "CDS_PUBLIC_BASE_URL": BASE,
            "CDS_DATA_DIR": str(tmp_path),
        }
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this test's script
            [sys.executable, "-c", REPLICA, BASE + SERVICE_PATH],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.answer() == "ready"

    def send(self, token: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(token + "\n")
        self.process.stdin.flush()

    def answer(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def ask(self, token: str) -> str:
        self.send(token)
        return self.answer()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def trust(tmp_path: Path) -> tuple[Path, SigningKey]:
    key = SigningKey.new("ES384")
    return write_trust(tmp_path / "trust.json", {"iss": ISS, "jwks": {"keys": [key.jwk()]}}), key


def test_a_token_is_accepted_by_one_replica_only(
    store_url: str, store: FeedbackStore, trust: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    if store.backend != "postgresql":
        pytest.skip("SQLite is one process's store: each process keeps its own in-process cache")
    path, key = trust
    first, second = Replica(path, store_url, tmp_path), Replica(path, store_url, tmp_path)
    try:
        token = key.sign(claims())
        assert first.ask(token) == "accepted"
        assert second.ask(token).startswith("refused: JWT jti replayed")  # the other replica
        assert first.ask(token).startswith("refused: JWT jti replayed")
        assert second.ask(key.sign(claims())) == "accepted"  # a fresh token still goes through

        raced = key.sign(claims())  # sent to both at once: exactly one accepts it
        first.send(raced)
        second.send(raced)
        answers = sorted([first.answer(), second.answer()])
        assert answers[0] == "accepted"
        assert answers[1].startswith("refused: JWT jti replayed")
    finally:
        first.stop()
        second.stop()


def test_rows_expire_with_the_token(store: FeedbackStore) -> None:
    now = time.time()
    assert store.first_use_jti(ISS, "j1", now + 300, now)
    assert not store.first_use_jti(ISS, "j1", now + 300, now + 10)
    assert store.first_use_jti("https://other.example.org", "j2", now + 5, now)  # per issuer
    # after the token's expiry the same id is a new token (its row is taken over, then purged)
    assert store.first_use_jti(ISS, "j1", now + 700, now + 400)


def test_a_database_outage_falls_back_to_the_process_cache() -> None:
    class Down:
        def first_use_jti(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
            raise StoreUnavailable("OperationalError")

        def close(self) -> None:
            return None

    replay = SharedReplayCache(Down())
    try:
        expires = time.time() + 300
        assert replay.first_use(ISS, "j", expires)  # accepted: an outage must not refuse every user
        assert not replay.first_use(ISS, "j", expires)  # and a replay to this process is still caught
    finally:
        replay.close()


def test_a_frozen_database_costs_one_call_its_timeout_then_is_skipped() -> None:
    release = threading.Event()
    calls: list[str] = []

    class Frozen:
        def first_use_jti(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
            calls.append(jti)
            release.wait(10)
            return True

        def close(self) -> None:
            return None

    replay = SharedReplayCache(Frozen(), timeout_s=0.3, pause_s=30)
    try:
        expires = time.time() + 300
        started = time.monotonic()
        assert replay.first_use(ISS, "a", expires)
        assert 0.25 < time.monotonic() - started < 1.0  # waited its timeout, then the local answer
        started = time.monotonic()
        assert replay.first_use(ISS, "b", expires)  # the database is skipped for a while
        assert not replay.first_use(ISS, "a", expires)  # replays to this process are still caught
        assert time.monotonic() - started < 0.1
        assert calls == ["a"]
    finally:
        release.set()
        replay.close()

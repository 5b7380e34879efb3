"""Outgoing HTTP with a total deadline per request: a ``requests`` session whose requests end by the
deadline set with :func:`request_deadline`, however slowly the server sends. Used by every outgoing
call of the service: the FHIR fetcher (cds.fhir.client) and the JWKS cache (cds.auth.jwks)."""

from __future__ import annotations

import contextlib
import http.cookiejar
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
import urllib3.connection
from requests.adapters import HTTPAdapter


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

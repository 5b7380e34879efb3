"""A POST goes straight to the service's own middleware, past FastAPI's outer layers (cds.app.ServiceApp).

Those layers (server errors, exception telemetry, FastAPI's body limit) have nothing to do for a POST
that the service's middleware does not already do; the answers are the same either way
(tests/api/test_call_route.py compares the hook call's answers with the whole stack's). These tests
check the lane is taken when, and only when, it may be.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastapi.applications
import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.middleware.errors import ServerErrorMiddleware

from cds.app import ServiceApp
from tests.api.test_call_route import send_through
from tests.conftest import SERVICE_PATH, hook_request


@pytest.fixture
def outer_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests that went through FastAPI's outermost layer."""
    calls: list[str] = []
    original = ServerErrorMiddleware.__call__

    async def counted(self: ServerErrorMiddleware, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            calls.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(ServerErrorMiddleware, "__call__", counted)
    return calls


def test_a_hook_call_skips_fastapis_outer_layers_and_is_answered_in_full(
    client: TestClient, outer_calls: list[str]
) -> None:
    sent, _ = send_through(client.app, SERVICE_PATH, orjson.dumps(hook_request()), [])
    start = sent[0]
    assert start["status"] == 200
    assert (b"x-request-id", b"req-1") in start["headers"]  # the service's middleware all ran
    assert (b"vary", b"Origin") in start["headers"]
    assert (b"x-content-type-options", b"nosniff") in start["headers"]
    assert "cards" in orjson.loads(sent[1]["body"])
    assert outer_calls == []


def test_other_methods_go_through_the_whole_stack(client: TestClient, outer_calls: list[str]) -> None:
    assert client.get("/cds-services").status_code == 200
    assert outer_calls == ["/cds-services"]


def test_an_error_in_the_lane_is_still_an_operation_outcome(
    client: TestClient, outer_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(client.app.state.service, "prepare", boom)  # type: ignore[attr-defined]
    response = client.post(SERVICE_PATH, json=hook_request())
    assert response.status_code == 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert outer_calls == []


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param(lambda app: setattr(app, "root_path", "/cds"), id="root path"),
        pytest.param(lambda app: setattr(app, "_traced", lambda: True), id="FastAPI telemetry on"),
    ],
)
def test_the_whole_stack_runs_when_one_of_its_layers_would_act(
    client_factory: Callable[..., TestClient], outer_calls: list[str], setup: Callable[[ServiceApp], None]
) -> None:
    client = client_factory()
    app = client.app
    assert isinstance(app, ServiceApp)
    setup(app)
    sent, _ = send_through(app, SERVICE_PATH, orjson.dumps(hook_request()), [])
    assert sent[0]["status"] == 200
    assert outer_calls == [SERVICE_PATH]


def test_fastapis_telemetry_switch_is_where_the_lane_looks(client: TestClient) -> None:
    """FastAPI versions with native OpenTelemetry keep it on ``_native_telemetry``: were it renamed,
    the lane would bypass FastAPI's tracing of POSTs unnoticed."""
    if not hasattr(fastapi.applications, "NativeTelemetry"):
        pytest.skip("this FastAPI has no native telemetry")
    assert callable(client.app._native_telemetry.enabled)  # type: ignore[attr-defined]

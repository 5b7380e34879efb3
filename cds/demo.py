"""`cds-mbc demo`: start the real service on a loopback port and send it every fixture scenario.

Nothing else needs to run or be configured: JWT checking is off for this local run only, feedback
goes to a temporary SQLite file, and the cards are printed in a readable form.
"""

from __future__ import annotations

import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import requests
import uvicorn

from cds.app import create_app
from cds.settings import Settings, default_fixtures_dir

_ICON = {"critical": "!!", "warning": "! ", "info": "i "}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_service(settings_overrides: dict[str, Any] | None = None) -> Iterator[str]:
    """The service under uvicorn in a thread; yields its base URL."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="cds-mbc-demo-") as data_dir:
        values: dict[str, Any] = {
            "auth": "off",
            "data_dir": Path(data_dir),
            "public_base_url": f"http://127.0.0.1:{port}",
        }
        values.update(settings_overrides or {})
        app = create_app(Settings(**values))
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def _plain(markdown: str) -> str:
    text = re.sub(r"\\(.)", r"\1", markdown)
    text = re.sub(r"\*\*|__|(?<!\w)_|_(?!\w)", "", text)
    return text.replace("&amp;", "&")


def _why(detail: str, heading: str = "Why this card") -> list[str]:
    """The facts list of a card's detail (the block under its "Why this card" heading)."""
    if f"**{heading}**" not in detail:
        return []
    block = detail.split(f"**{heading}**", 1)[1].split("\n\n**", 1)[0].split("\n\n_", 1)[0]
    return [_plain(line) for line in block.strip().splitlines() if line.strip()]


def format_cards(cards: list[dict[str, Any]], *, verbose: bool = False) -> str:
    if not cards:
        return "  (no cards: nothing in the pathway applies)"
    out: list[str] = []
    for card in cards:
        out.append(f"  [{_ICON.get(card['indicator'], '  ')}{card['indicator']}] {card['summary']}")
        if verbose:
            out.extend(f"      {line}" for line in _plain(card.get("detail", "")).splitlines())
        else:
            out.extend(f"      {line}" for line in _why(card.get("detail", "")))
        out.append(f"      source: {card['source']['label']} <{card['source'].get('url', '')}>")
    return "\n".join(out)


def run_demo(fixtures: str | None = None, *, verbose: bool = False) -> int:
    root = Path(fixtures) if fixtures else default_fixtures_dir()
    scenarios = sorted(p for p in root.iterdir() if (p / "request.json").is_file()) if root.is_dir() else []
    if not scenarios:
        print(f"No fixture scenarios found under {root}")
        return 1
    with running_service() as base, requests.Session() as http:
        url = f"{base}/cds-services/mbc-treatment-options"
        for folder in scenarios:
            body = (folder / "request.json").read_bytes()
            try:  # every run gets a fresh hookInstance, as a real EHR would send
                request = orjson.loads(body)
                if isinstance(request, dict):
                    request["hookInstance"] = str(uuid.uuid4())
                    body = orjson.dumps(request)
            except orjson.JSONDecodeError:
                pass  # a deliberately malformed fixture goes as it is
            response = http.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
            print(f"\n=== {folder.name} — HTTP {response.status_code}")
            payload = response.json()
            if response.ok:
                print(format_cards(payload["cards"], verbose=verbose))
            else:
                for issue in payload.get("issue", []):
                    print(f"  {issue.get('severity')}: {issue.get('diagnostics')}")
    print(f"\n{len(scenarios)} scenarios sent to the service at {base}.")
    return 0

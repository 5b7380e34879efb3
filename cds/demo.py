"""`cds-mbc demo`: start the real service on a loopback port and send it every fixture patient.

Nothing else needs to run or be configured: JWT checking is off for this local run only, feedback
goes to a temporary SQLite file, and the cards are printed as a clinician would scan them: one card
per decision (warnings, options now, at progression, tests, supportive care), each regimen to choose
from on a line.
``--verbose`` also prints each patient's profile in a clinician's words and each card's detail.

``python -m cds.demo --write-snapshot`` rewrites docs/card-summaries.txt, every fixture patient's
card summaries and options, computed in-process on a fixed date; a test checks it is current, so a
change in what clinicians see shows in the diff of that file.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import requests
import uvicorn
from fastapi import FastAPI

from cds.app import build_fetcher, create_app
from cds.errors import ServiceError
from cds.pathway.issue_summary import summarize_issues
from cds.pathway.knowledge import load_knowledge
from cds.pathway.labels import describe_profile
from cds.service import PatientViewService
from cds.settings import Settings, default_fixtures_dir, scenario_folders

_ICON = {"critical": "!!", "warning": "! ", "info": "i "}
#: The date the snapshot is computed on, so that it changes only when the cards do.
SNAPSHOT_TODAY = date(2026, 12, 1)
SNAPSHOT_PATH = Path(__file__).resolve().parent.parent / "docs" / "card-summaries.txt"
_OPENING = (
    "cds-mbc demo: every fixture patient's chart is sent to the service as an EHR sends it.\n"
    "For each patient, the cards come back one per decision (warnings, options now, at progression,\n"
    "tests, supportive care), each with its summary and the regimens to choose from, by the guideline's\n"
    "preference (equal ones in the documented order of cards/option-order.yaml)."
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_service(settings_overrides: dict[str, Any] | None = None) -> Iterator[tuple[str, FastAPI]]:
    """The service under uvicorn in a thread; yields its base URL and the app."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="cds-mbc-demo-") as data_dir:
        values: dict[str, Any] = {
            "auth": "off",
            "log_level": "WARNING",  # the demo prints the cards, not the service's call log
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
            yield f"http://127.0.0.1:{port}", app
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def _plain(markdown: str) -> str:
    text = re.sub(r"\\(.)", r"\1", markdown)
    text = re.sub(r"\*\*|__|(?<!\w)_|_(?!\w)", "", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _group(card: dict[str, Any]) -> str:
    return str(card.get("source", {}).get("topic", {}).get("code", "?"))


def card_lines(card: dict[str, Any]) -> list[str]:
    """A card as two or more short lines: its summary, then its suggestions, one a line: the regimens
    to choose from (one at most; the summary counts options, and one option may hold several
    regimens of a drug family) or the orders."""
    out = [f"[{_group(card)}] {card['summary']}"]
    kind = "- choose:" if card.get("selectionBehavior") == "at-most-one" else "- order:"
    out += [f"    {kind} {suggestion['label']}" for suggestion in card.get("suggestions", [])]
    return out


def format_cards(cards: list[dict[str, Any]], *, verbose: bool = False) -> str:
    if not cards:
        return "  (no cards: nothing in the pathway applies)"
    out: list[str] = []
    for card in cards:
        lines = card_lines(card)
        out.append(f"  {_ICON.get(card['indicator'], '  ')}{lines[0]}")
        out.extend(f"  {line}" for line in lines[1:])
        if verbose:
            out.extend(f"        {line}" for line in _plain(card.get("detail", "")).splitlines() if line)
            out.append(f"        links: {', '.join(link['label'] for link in card.get('links', []))}")
    return "\n".join(out)


@dataclass
class Tally:
    patients: int = 0
    answered: int = 0
    refused: int = 0
    cards: int = 0
    warnings: int = 0
    most: int = 0

    def add(self, cards: list[dict[str, Any]] | None) -> None:
        self.patients += 1
        if cards is None:
            self.refused += 1
            return
        self.answered += 1
        self.cards += len(cards)
        self.warnings += sum(1 for c in cards if _group(c) == "warnings")
        self.most = max(self.most, len(cards))

    def closing(self) -> str:
        average = self.cards / self.answered if self.answered else 0.0
        return (
            f"{self.patients} patients: {self.answered} answered with {self.cards} cards "
            f"({average:.1f} a patient, at most {self.most}; {self.warnings} of them warnings cards), "
            f"{self.refused} refused as bad input."
        )


def _fresh(body: bytes) -> bytes:
    """Every run gets a fresh hookInstance, as a real EHR would send; a malformed fixture goes as it is."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if isinstance(request, dict):
        request["hookInstance"] = str(uuid.uuid4())
        return orjson.dumps(request)
    return body


def _profile_lines(service: PatientViewService, body: bytes) -> list[str]:
    """The patient's profile in a clinician's words (nothing for a request the service refuses)."""
    try:
        pending = service.prepare(body)
        if pending.needs_io:
            return []
        profile = service.profile(pending.keyed, pending.context.patientId, date.today())
    except ServiceError:
        return []
    issues = summarize_issues(profile.issues).lines
    return describe_profile(profile, service.knowledge.drugs) + [_plain(line) for line in issues]


def run_demo(fixtures: str | None = None, *, verbose: bool = False) -> int:
    root = Path(fixtures) if fixtures else default_fixtures_dir()
    scenarios = scenario_folders(root)
    if not scenarios:
        print(f"No fixture scenarios found under {root}")
        return 1
    print(_OPENING)
    tally = Tally()
    with running_service() as (base, app), requests.Session() as http:
        url = f"{base}/cds-services/mbc-treatment-options"
        service: PatientViewService = app.state.service
        for folder in scenarios:
            body = _fresh((folder / "request.json").read_bytes())
            response = http.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
            payload = response.json()
            cards = payload["cards"] if response.ok else None
            tally.add(cards)
            count = f", {len(cards)} cards" if cards is not None else ""
            print(f"\n=== {folder.name} (HTTP {response.status_code}{count})")
            if verbose:
                print("\n".join(f"  {line}" for line in _profile_lines(service, body)))
            if cards is not None:
                print(format_cards(cards, verbose=verbose))
            else:
                for issue in payload.get("issue", []):
                    print(f"  {issue.get('severity')}: {issue.get('diagnostics')}")
    print(f"\n{tally.closing()}")
    return 0


# --- the snapshot of every fixture's card summaries ---------------------------------------------------


def fixture_cards(
    fixtures: Path | None = None, today: date = SNAPSHOT_TODAY
) -> list[tuple[str, list[dict[str, Any]] | None, int]]:
    """Every fixture patient's cards (None when refused) and HTTP status, in-process on ``today``."""
    settings = Settings(auth="off")
    service = PatientViewService(
        settings,
        load_knowledge(settings.knowledge_dir, override_reason_system_uri=settings.override_reason_system),
        build_fetcher(settings),
    )
    answers: list[tuple[str, list[dict[str, Any]] | None, int]] = []
    try:
        for folder in scenario_folders(fixtures or default_fixtures_dir()):
            try:
                cards = service.call((folder / "request.json").read_bytes(), today=today)["cards"]
            except ServiceError as exc:
                answers.append((folder.name, None, exc.status_code))
            else:
                answers.append((folder.name, cards, 200))
    finally:
        service.fetcher.close()
    return answers


def snapshot(fixtures: Path | None = None, today: date = SNAPSHOT_TODAY) -> str:
    """Every fixture patient's card summaries and options (the text of docs/card-summaries.txt)."""
    tally = Tally()
    out = [
        "# Card summaries of every fixture patient: generated by `python -m cds.demo --write-snapshot`,",
        f"# computed on {today.isoformat()}; tests/pathway/test_snapshot.py checks it is current.",
    ]
    for name, cards, status in fixture_cards(fixtures, today):
        tally.add(cards)
        if cards is None:
            out.append(f"\n## {name}: refused, HTTP {status}")
        else:
            out.append(f"\n## {name}: {len(cards)} card{'' if len(cards) == 1 else 's'}")
            out.extend(line for card in cards for line in card_lines(card))
    out.append(f"\n{tally.closing()}")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cds.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-snapshot", action="store_true", help=f"rewrite {SNAPSHOT_PATH.name}")
    parser.add_argument(
        "--fixtures", default=None, help="fixtures folder (default: the bundled fhir_fixtures)"
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.write_snapshot:
        SNAPSHOT_PATH.write_text(snapshot(Path(args.fixtures) if args.fixtures else None), encoding="utf-8")
        print(f"wrote {SNAPSHOT_PATH}")
        return 0
    return run_demo(args.fixtures, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())

"""Load the fhir_fixtures/ scenarios (request.json + expected.yaml) for any test that wants them.

A scenario's request body is kept as raw bytes: some scenarios are deliberately malformed JSON.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from cds.pathway.knowledge import OPTION_ORDER, Knowledge, load_knowledge
from cds.pathway.render import card_rules
from cds.pathway.rules import card_group
from cds.settings import Settings, default_knowledge_dir

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fhir_fixtures"
#: The day the fixtures' charts are written as of: what is recent, current or held is judged on it, so a
#: fixture reads the same whatever day the suite runs (a hold of November is a pause in December, not in
#: March; an ECOG score of September is current for a year).
FIXTURES_TODAY = date(2026, 12, 6)
_EXPECTED_KEYS = {"description", "status", "must", "must_not", "near_miss"}


@dataclass(frozen=True)
class Scenario:
    name: str
    folder: Path
    body: bytes  # request.json exactly as stored
    description: str
    status: int
    must: tuple[str, ...]
    must_not: tuple[str, ...]
    near_miss: tuple[str, ...]

    @property
    def request(self) -> dict[str, Any] | None:
        """The parsed request, or None for a deliberately malformed body."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def __str__(self) -> str:
        return self.name


def _ids(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a list of rule ids")
    return tuple(value)


def load_scenario(folder: Path) -> Scenario:
    expected_path = folder / "expected.yaml"
    data = yaml.safe_load(expected_path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{expected_path}: must be a mapping")
    unknown = set(data) - _EXPECTED_KEYS
    if unknown:
        raise ValueError(f"{expected_path}: unknown keys {sorted(unknown)}")
    status = data.get("status", 200)
    if not isinstance(status, int):
        raise ValueError(f"{expected_path}: status must be an integer")
    return Scenario(
        name=folder.name,
        folder=folder,
        body=(folder / "request.json").read_bytes(),
        description=str(data.get("description", "")).strip(),
        status=status,
        must=_ids(data.get("must"), f"{expected_path}: must"),
        must_not=_ids(data.get("must_not"), f"{expected_path}: must_not"),
        near_miss=_ids(data.get("near_miss"), f"{expected_path}: near_miss"),
    )


@cache
def _load_all(root: Path) -> tuple[Scenario, ...]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / "request.json").is_file())
    return tuple(load_scenario(folder) for folder in folders)


def load_scenarios(root: Path = FIXTURES_DIR) -> Sequence[Scenario]:
    """Every scenario folder under ``root`` (sorted by name)."""
    return _load_all(root.resolve())


def write_option_order(folder: Path) -> None:
    """A test knowledge base's option-order.yaml: its active therapy rules in file-name order (the order
    of the shipped rules is cards/option-order.yaml's; tests of the order write their own)."""
    listed = []
    for path in sorted((folder / "rules").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("status") != "active":
            continue  # a broken rule file is the loader's to refuse
        if card_group(str(data.get("category", ""))) == "therapy":
            listed.append(data["id"])
    (folder / OPTION_ORDER).write_text(yaml.safe_dump(listed), encoding="utf-8")


def knowledge_with(tmp_path: Path, *rules: dict[str, Any]) -> Knowledge:
    """A knowledge base of the shipped service text and code lists with only ``rules``."""
    real = default_knowledge_dir()
    shutil.copy(real / "service.yaml", tmp_path / "service.yaml")
    shutil.copytree(real / "codes", tmp_path / "codes")
    (tmp_path / "rules").mkdir()
    for item in rules:
        (tmp_path / "rules" / f"{item['id']}.yaml").write_text(yaml.safe_dump(item))
    write_option_order(tmp_path)
    return load_knowledge(tmp_path)


def rule_ids(cards: Sequence[dict[str, Any]]) -> list[str]:
    """The ids of the rules behind the cards (each card's ``extension``, see cds.pathway.render)."""
    return [rule for card in cards for rule in card_rules(card)]


# --- a real server on 127.0.0.1, for the tests that need sockets -------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(script: str, env: dict[str, str], *, timeout_s: float = 60) -> Iterator[str]:
    """Run ``python -c script PORT`` (a script that starts the service on 127.0.0.1:PORT) with ``env``
    added to this environment; yield its base URL once /healthz answers; terminate it at the end."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - this interpreter, a script of the tests
        [sys.executable, "-c", script, str(port)], env={**os.environ, **env}, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


BASE = "http://testserver"


SERVICE_PATH = "/cds-services/mbc-treatment-options"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"auth": "off", "data_dir": tmp_path, "public_base_url": BASE}
    values.update(overrides)
    return Settings(**values)


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def hook_request(patient_id: str = "p1", **changes: Any) -> dict[str, Any]:
    """A valid patient-view request with a complete (empty but present) prefetch."""
    request: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": patient_id},
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": patient_id,
                "gender": "female",
                "birthDate": "1960-01-01",
            },
            "conditions": bundle(),
            "observations": bundle(),
            "medicationRequests": bundle(),
            "medicationStatements": None,
            "medicationAdministrations": None,
            "procedures": None,
        },
    }
    request.update(changes)
    return request

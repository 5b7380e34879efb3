"""The pathway at each decision point of a fixture patient's journey.

A fixture folder may hold ``decisions.yaml``: the journey its chart describes (what the patient is on,
progressed on, relapsed early after, safety findings) and the options the pathway must give **now**
and **at progression**, and the options a safety finding rules out. Two checks:

* ``test_options_at_each_decision_point``: the rules, on the chart's profile with the stated journey,
  give exactly those options. This checks the rules whatever the journey derivation does.
* ``test_the_chart_yields_the_stated_journey``: the profile derived from the chart has that journey
  (the derivation in cds/profile).
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cds.evidence import Fact
from cds.pathway.engine import evaluate
from cds.pathway.knowledge import Knowledge
from cds.profile.model import FIELDS, THERAPY_SETS, PatientProfile
from cds.settings import default_knowledge_dir
from tests.fixtures_support import FIXTURES_DIR, FIXTURES_TODAY

_KEYS = {"journey", "now", "at_progression", "ruled_out", "order"}


def _with_decisions() -> list[Path]:
    return sorted(p for p in FIXTURES_DIR.iterdir() if (p / "decisions.yaml").is_file())


@cache
def _drug_classes() -> dict[str, frozenset[str]]:
    """An agent and its classes: letrozole -> letrozole, aromatase_inhibitor, endocrine_therapy."""
    data = yaml.safe_load(
        (default_knowledge_dir() / "codes" / "medications.yaml").read_text(encoding="utf-8")
    )
    out: dict[str, frozenset[str]] = {}
    for drug in sorted(data["drugs"], key=lambda d: -len(d["classes"])):  # the smallest class set wins
        out[drug["classes"][-1]] = frozenset(drug["classes"])
    return out


def _expand(names: list[str]) -> frozenset[str]:
    classes = _drug_classes()
    return frozenset(c for name in names for c in classes.get(name, frozenset({name})))


def _read(folder: Path) -> dict[str, Any]:
    data = yaml.safe_load((folder / "decisions.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict) and set(data) <= _KEYS, (folder.name, set(data) - _KEYS)
    journey = data.get("journey") or {}
    assert set(journey) <= set(FIELDS), (folder.name, set(journey) - set(FIELDS))
    return data


def _profile(client: TestClient, folder: Path) -> PatientProfile:
    service = client.app.state.service  # type: ignore[attr-defined]
    pending = service.prepare((folder / "request.json").read_bytes())
    profile: PatientProfile = service.profile(pending.keyed, pending.context.patientId, FIXTURES_TODAY)
    return profile


def _with_journey(profile: PatientProfile, journey: dict[str, Any]) -> PatientProfile:
    changes: dict[str, Fact[Any]] = {}
    for name, value in journey.items():
        if name in THERAPY_SETS:
            value = _expand(list(value))
        changes[name] = Fact(value, (), "stated in decisions.yaml")
    return dataclasses.replace(profile, **changes)


@pytest.mark.parametrize("folder", _with_decisions(), ids=lambda p: p.name)
def test_options_at_each_decision_point(
    folder: Path, knowledge_client: TestClient, knowledge: Knowledge
) -> None:
    data = _read(folder)
    profile = _with_journey(_profile(knowledge_client, folder), data.get("journey") or {})
    result = evaluate(profile, knowledge)
    now = [item.rule.id for item in result.now]
    later = [item.rule.id for item in result.at_progression]
    if "now" in data:
        assert sorted(now) == sorted(data["now"]), f"options now: {now}"
    if "at_progression" in data:
        assert sorted(later) == sorted(data["at_progression"]), f"at progression: {later}"
    if profile.on_therapy.value == "yes":
        assert not now, "no new option is offered while the patient is on therapy"
    if "ruled_out" in data:
        assert sorted({r.item.rule.id for r in result.ruled_out}) == sorted(data["ruled_out"])
    for first, then in zip(data.get("order", []), data.get("order", [])[1:], strict=False):
        options = now or later
        assert options.index(first) < options.index(then), f"{first} before {then}: {options}"


@pytest.mark.parametrize("folder", _with_decisions(), ids=lambda p: p.name)
def test_the_chart_yields_the_stated_journey(folder: Path, knowledge_client: TestClient) -> None:
    journey = _read(folder).get("journey") or {}
    profile = _profile(knowledge_client, folder)
    for name, value in journey.items():
        expected = _expand(list(value)) if name in THERAPY_SETS else value
        got = profile.fact(name).value
        if name in THERAPY_SETS:  # the derivation may name more classes; the stated ones must be there
            assert expected <= got, (name, sorted(expected - got))  # type: ignore[operator]
        else:
            assert got == expected, (name, got, expected)


def test_decision_files_name_active_rules(knowledge: Knowledge) -> None:
    active = {item.rule.id for item in knowledge.rules}
    for folder in _with_decisions():
        data = _read(folder)
        for key in ("now", "at_progression", "ruled_out", "order"):
            assert set(data.get(key, [])) <= active, (folder.name, key, set(data.get(key, [])) - active)

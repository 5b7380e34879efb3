"""`cds-mbc feedback-report`: per card and per option, from stored feedback, in a clinician's words."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds import report
from cds.app import create_app
from cds.pathway.ids import card_uuid, group_uuid
from cds.pathway.knowledge import Knowledge, load_knowledge
from cds.settings import get_settings
from cds.store import FeedbackRecord, FeedbackStore
from tests.fixtures_support import FIXTURES_DIR, SERVICE_PATH, make_settings
from tests.pathway.support import knowledge_dir

T0 = datetime(2026, 3, 1, tzinfo=UTC)
AI_CDK46 = "ai-cdk46-first-line"
FULVESTRANT_CDK46 = "fulvestrant-cdk46-first-line"


def rec(
    group: str,
    outcome: str,
    *chosen: str,
    display: str | None = None,
    code: str | None = None,
    at: int = 0,
) -> FeedbackRecord:
    """Feedback as the route stores it: the card's group as its rule id, chosen options by uuid."""
    return FeedbackRecord(
        "mbc",
        group,
        group_uuid(group),
        outcome,
        tuple(card_uuid(rule) for rule in chosen),
        code,
        None,
        display,
        None,
        T0.replace(minute=at),
    )


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    return knowledge_dir(tmp_path)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'data' / 'feedback.db'}"
    store = FeedbackStore(url)
    store.migrate()
    store.add(
        [
            rec("options-now", "accepted", AI_CDK46, at=1),
            rec("options-now", "accepted", AI_CDK46, at=2),
            rec("options-now", "accepted", FULVESTRANT_CDK46, at=3),
            rec("options-now", "overridden", display="Patient declined", at=4),
            rec("options-now", "overridden", display="Patient declined", at=5),
            rec("warnings", "overridden", code="data-incorrect", at=6),
        ]
    )
    store.add_shown({"options-now": 10, AI_CDK46: 10, FULVESTRANT_CDK46: 10, "warnings": 4, "supportive": 3})
    store.close()
    return url


def rows(db_url: str, kb_dir: Path) -> list[dict[str, str]]:
    store = FeedbackStore(db_url)
    try:
        text = report.feedback_report(store, load_knowledge(kb_dir), "csv")
    finally:
        store.close()
    return list(csv.DictReader(io.StringIO(text)))


def test_report_has_a_row_per_card_then_per_option(db_url: str, kb_dir: Path) -> None:
    got = rows(db_url, kb_dir)
    assert [(r["level"], r["id"]) for r in got] == [
        ("card", "warnings"),
        ("card", "options-now"),
        ("card", "supportive"),
        ("option", AI_CDK46),
        ("option", FULVESTRANT_CDK46),
    ]
    cards = {r["id"]: r for r in got if r["level"] == "card"}
    now = cards["options-now"]
    assert now["label"] == "Options now"
    assert (now["shown"], now["accepted"], now["overridden"]) == ("10", "3", "2")
    assert now["acceptance_rate"] == "60%"
    assert now["override_reasons"] == "Patient declined (2)"
    assert cards["warnings"]["override_reasons"] == "data-incorrect (1)"
    assert cards["supportive"]["acceptance_rate"] == "-"  # shown, never answered
    options = {r["id"]: r for r in got if r["level"] == "option"}
    ai = options[AI_CDK46]
    assert ai["label"] == "Aromatase inhibitor + CDK4/6 inhibitor"  # the option as the card says it
    assert (ai["shown"], ai["accepted"], ai["acceptance_rate"]) == ("10", "2", "20%")
    assert options[FULVESTRANT_CDK46]["accepted"] == "1"


def test_table_report_is_aligned_and_readable(db_url: str, kb_dir: Path) -> None:
    store = FeedbackStore(db_url)
    try:
        text = report.feedback_report(store, load_knowledge(kb_dir), "table")
    finally:
        store.close()
    lines = text.splitlines()
    assert lines[0].split() == list(report.HEADER)
    assert set(lines[1]) <= {"-", " "}
    now = next(line for line in lines if line.split()[:2] == ["card", "options-now"])
    assert "Options now" in now and now.rstrip().endswith("Patient declined (2)")
    end = lines[0].index("shown") + len("shown")  # numbers are right-aligned under their heading
    assert all(line[end - 1].isdigit() for line in lines[2:])


def test_an_option_chosen_in_the_app_is_stored_and_reported_per_option(tmp_path: Path, kb_dir: Path) -> None:
    """End to end: the hook call's options card, the clinician picks an option, the report counts it."""
    settings = make_settings(tmp_path, knowledge_dir=kb_dir)
    body = (FIXTURES_DIR / "hr-pos-her2-neg-postmenopausal-first-line" / "request.json").read_bytes()
    with TestClient(create_app(settings)) as client:
        response = client.post(SERVICE_PATH, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 200
        [now] = [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "options-now"]
        chosen = now["suggestions"][0]
        item = {
            "card": now["uuid"],
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": chosen["uuid"]}],
            "outcomeTimestamp": "2026-11-20T10:00:00Z",
        }
        stored = client.post(f"{SERVICE_PATH}/feedback", json={"feedback": [item]})
        assert stored.status_code == 200 and stored.json()["stored"] == 1
    knowledge: Knowledge = load_knowledge(kb_dir)
    rule = knowledge.rule_for_suggestion(chosen["uuid"])
    assert rule is not None and knowledge.all_rules[rule].option == chosen["label"]
    got = {(r["level"], r["id"]): r for r in rows(settings.resolved_database_url, kb_dir)}
    assert got[("option", rule)]["accepted"] == "1"
    assert got[("card", "options-now")]["accepted"] == "1"


def test_main_prints_csv_for_the_given_database(
    db_url: str, kb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report.main(["--format", "csv", "--database-url", db_url, "--knowledge-dir", str(kb_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(",".join(report.HEADER) + "\n")
    assert "option,fulvestrant-cdk46-first-line,Fulvestrant + CDK4/6 inhibitor,10,1,0,10%,\n" in out


def test_main_defaults_to_the_configured_database_and_knowledge(
    db_url: str, kb_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", db_url)
    monkeypatch.setenv("CDS_KNOWLEDGE_DIR", str(kb_dir))
    get_settings.cache_clear()
    try:
        assert report.main([]) == 0
    finally:
        get_settings.cache_clear()
    assert "Aromatase inhibitor + CDK4/6 inhibitor" in capsys.readouterr().out


def test_main_on_a_new_database_says_there_is_nothing(
    tmp_path: Path, kb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'feedback.db'}"
    assert report.main(["--database-url", url, "--knowledge-dir", str(kb_dir)]) == 0
    assert capsys.readouterr().out == "No feedback and no cards shown yet.\n"


def test_main_unreachable_database_fails_without_leaking_the_password(
    kb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+psycopg://cds:s3cret-pw@127.0.0.1:1/cds?connect_timeout=2"
    assert report.main(["--database-url", url, "--knowledge-dir", str(kb_dir)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cannot read the feedback store" in captured.err
    assert "s3cret-pw" not in captured.err


def test_main_rejects_a_bad_url(kb_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--database-url", "not a url", "--knowledge-dir", str(kb_dir)]) == 2
    assert "bad database URL" in capsys.readouterr().err


def test_main_rejects_a_missing_knowledge_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    assert report.main(["--database-url", url, "--knowledge-dir", str(tmp_path / "nowhere")]) == 2
    assert "cannot load the knowledge base" in capsys.readouterr().err


def test_main_rejects_an_unknown_format() -> None:
    with pytest.raises(SystemExit) as exc:
        report.main(["--format", "xml"])
    assert exc.value.code == 2

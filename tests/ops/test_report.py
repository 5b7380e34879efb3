from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds import report
from cds.settings import get_settings
from cds.store import FeedbackRecord, FeedbackStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def rec(
    card: str, rule: str, outcome: str, display: str | None = None, code: str | None = None
) -> FeedbackRecord:
    return FeedbackRecord("mbc", rule, card, outcome, (), code, None, display, None, T0)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'data' / 'feedback.db'}"
    store = FeedbackStore(url)
    store.migrate()
    store.add(
        [
            rec("1", "cdk46-first-line", "accepted"),
            rec("2", "cdk46-first-line", "overridden", "Patient declined"),
            rec("3", "cdk46-first-line", "overridden", "Patient declined"),
            rec("4", "cdk46-first-line", "overridden", None, "CONTRA"),
            rec("5", "her2-tdxd", "accepted"),
        ]
    )
    store.add_shown({"cdk46-first-line": 10, "her2-tdxd": 4, "pik3ca-alpelisib": 2})
    store.close()
    return url


def test_csv_report_has_one_row_per_rule(db_url: str) -> None:
    store = FeedbackStore(db_url)
    try:
        text = report.feedback_report(store, "csv")
    finally:
        store.close()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["rule_id"] for r in rows] == ["cdk46-first-line", "her2-tdxd", "pik3ca-alpelisib"]
    cdk = rows[0]
    assert (cdk["shown"], cdk["accepted"], cdk["overridden"]) == ("10", "1", "3")
    assert cdk["acceptance_rate"] == "25%"
    assert cdk["override_reasons"] == "Patient declined (2); CONTRA (1)"
    assert rows[2]["acceptance_rate"] == "-"  # shown but never answered
    assert rows[2]["override_reasons"] == ""


def test_table_report_is_aligned_and_readable(db_url: str) -> None:
    store = FeedbackStore(db_url)
    try:
        text = report.feedback_report(store, "table")
    finally:
        store.close()
    lines = text.splitlines()
    assert lines[0].split() == [
        "rule_id",
        "shown",
        "accepted",
        "overridden",
        "acceptance_rate",
        "override_reasons",
    ]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split()[:5] == ["cdk46-first-line", "10", "1", "3", "25%"]
    assert lines[2].endswith("Patient declined (2); CONTRA (1)")
    assert lines[3].split() == ["her2-tdxd", "4", "1", "0", "100%"]
    # Columns line up: every row's "shown" column ends at the same offset as the header's.
    end = lines[0].index("shown") + len("shown")
    assert all(line[end - 1].isdigit() for line in lines[2:])


def test_main_prints_csv_for_the_given_database(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--format", "csv", "--database-url", db_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rule_id,shown,accepted,overridden,acceptance_rate,override_reasons\n")
    assert "her2-tdxd,4,1,0,100%,\n" in out


def test_main_defaults_to_the_configured_database(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        assert report.main([]) == 0
    finally:
        get_settings.cache_clear()
    assert "cdk46-first-line" in capsys.readouterr().out


def test_main_on_a_new_database_says_there_is_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'feedback.db'}"
    assert report.main(["--database-url", url]) == 0
    assert capsys.readouterr().out == "No feedback and no cards shown yet.\n"


def test_main_unreachable_database_fails_without_leaking_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+psycopg://cds:s3cret-pw@127.0.0.1:1/cds?connect_timeout=2"
    assert report.main(["--database-url", url]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cannot read the feedback store" in captured.err
    assert "s3cret-pw" not in captured.err


def test_main_rejects_a_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--database-url", "not a url"]) == 2
    assert "bad database URL" in capsys.readouterr().err


def test_main_rejects_an_unknown_format() -> None:
    with pytest.raises(SystemExit) as exc:
        report.main(["--format", "xml"])
    assert exc.value.code == 2

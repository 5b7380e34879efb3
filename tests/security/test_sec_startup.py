"""Issue 22: what `cds-mbc` says at start-up and on the command line, for the person who runs it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds import __version__
from cds.auth.sandbox import SANDBOX_ISS, SANDBOX_JKU
from cds.auth.trust import load_trust_file
from cds.cli import main, startup_lines
from cds.settings import Settings, get_settings
from cds.store import FeedbackStore
from tests.auth.helpers import SigningKey, write_trust


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    for name in ("CDS_AUTH", "CDS_TRUST_FILE", "CDS_DATABASE_URL", "CDS_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"cds-mbc {__version__}"


def test_serve_help_describes_every_option_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option, default in (("--host", "127.0.0.1"), ("--port", "8080"), ("--workers", "1")):
        assert option in text
        assert f"(default: {default})" in text
    assert "CDS_" in text  # where the rest of the configuration lives


def test_trust_entry_sandbox_prints_a_ready_trust_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["trust-entry", "--sandbox"]) == 0
    out = capsys.readouterr()
    path = tmp_path / "trust.json"
    path.write_text(out.out)
    issuer = load_trust_file(path, frozenset({"ES384", "RS384"})).issuers[SANDBOX_ISS]
    assert issuer.allows_jku(SANDBOX_JKU)
    assert "prove nothing" in out.err


@pytest.mark.parametrize(
    ("trust", "expected"),
    [
        (None, "CDS_TRUST_FILE"),
        ("missing.json", "cannot be read"),
        ("{not json", "not valid JSON"),
        ('{"issuers": [{"iss": "https://ehr.example.org"}]}', "no way to find its keys"),
    ],
)
def test_a_missing_or_invalid_trust_file_ends_start_up_with_one_line_and_exit_code_2(
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trust: str | None,
    expected: str,
) -> None:
    env.setenv("CDS_AUTH", "jwt")
    if trust is not None:
        path = tmp_path / "trust.json"
        if trust != "missing.json":
            path.write_text(trust)
        env.setenv("CDS_TRUST_FILE", str(path))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cds-mbc serve: ")
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_a_bad_setting_ends_start_up_with_one_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("CDS_PUBLIC_BASE_URL", "cds.example.org")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cds-mbc serve: CDS_PUBLIC_BASE_URL")
    assert len(err.strip().splitlines()) == 1


def test_start_up_says_what_is_in_effect_without_credentials(tmp_path: Path) -> None:
    key = SigningKey.new("ES384")
    trust = write_trust(
        tmp_path / "trust.json",
        {"iss": "https://ehr.example.org", "jwks": {"keys": [key.jwk()]}},
        {"iss": SANDBOX_ISS, "jwks": {"keys": [key.jwk(kid="sandbox")]}, "jku": [SANDBOX_JKU]},
    )
    settings = Settings(
        auth="jwt",
        trust_file=trust,
        public_base_url="https://cds.example.org,http://localhost:8080",
        fhir_server_allowlist="https://EHR.example.org:443/fhir/",
        database_url="postgresql+psycopg://cds:s3cret-pw@db.example.org:5432/cds",
    )
    info, warnings = startup_lines(settings, "127.0.0.1", 9090, 4)
    text = "\n".join(info)
    assert "listening on http://127.0.0.1:9090 (4 worker(s))" in text
    assert "https://cds.example.org, http://localhost:8080" in text
    assert "auth: jwt, 2 trusted issuer(s)" in text
    assert "FHIR server allowlist: https://ehr.example.org/fhir" in text
    assert "feedback store: postgresql+psycopg://cds:***@db.example.org:5432/cds" in text
    assert "s3cret-pw" not in text + "\n".join(warnings)
    assert len(warnings) == 1 and "prove nothing" in warnings[0]


def test_auth_off_is_one_warning_from_the_parent_process(tmp_path: Path) -> None:
    info, warnings = startup_lines(Settings(auth="off", data_dir=tmp_path), "127.0.0.1", 8080, 4)
    assert "auth: off (no JWT checked)" in info
    assert [w for w in warnings if "CDS_AUTH=off" in w] == [warnings[0]]
    assert "FHIR server allowlist: empty" in "\n".join(info)


def test_the_default_store_is_in_the_per_user_data_folder_not_the_current_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CDS_DATA_DIR", raising=False)
    monkeypatch.delenv("CDS_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert Settings().resolved_database_url == f"sqlite:///{tmp_path / 'xdg' / 'cds-mbc' / 'feedback.db'}"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "share" / "cds-mbc" / "feedback.db"
    assert Settings().resolved_database_url == f"sqlite:///{expected}"


def test_feedback_report_says_which_store_it_read(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["feedback-report"]) == 0
    out = capsys.readouterr()
    assert f"reading the feedback store at sqlite:///{tmp_path / 'data' / 'feedback.db'}" in out.err
    assert "approximate" in out.err
    assert main(["feedback-report", "--database-url", "postgresql+psycopg://u:pw@127.0.0.1:1/x"]) == 1
    err = capsys.readouterr().err
    assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in err
    assert ":pw@" not in err


def test_migrations_do_not_log_alembic_steps(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}")
    try:
        with caplog.at_level(logging.INFO):
            store.migrate()
    finally:
        store.close()
    assert not [r for r in caplog.records if r.name.startswith("alembic")]

"""Feedback store fixtures: every test runs against SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cds.store import FeedbackStore

PG_ENV = "CDS_TEST_POSTGRES_URL"


def _postgres_url_or_skip() -> str:
    url = os.environ.get(PG_ENV, "")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f'{PG_ENV} is not set in CI: .ci/run must `eval "$(bash .ci/postgres.sh)"`')
    pytest.skip(f'{PG_ENV} not set (run `eval "$(bash .ci/postgres.sh)"` to test PostgreSQL)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with an empty schema, private to this test."""
    if request.param == "sqlite":
        # A folder that does not exist yet: migrate() must create it.
        yield f"sqlite:///{tmp_path / 'nested' / 'data' / 'feedback.db'}"
        return
    base = make_url(_postgres_url_or_skip())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[[], FeedbackStore]]:
    """Opens migrated stores on the test's URL; all are closed at the end."""
    opened: list[FeedbackStore] = []

    def factory() -> FeedbackStore:
        store = FeedbackStore(store_url)
        store.migrate()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], FeedbackStore]) -> FeedbackStore:
    return make_store()

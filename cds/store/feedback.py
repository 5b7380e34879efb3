"""The feedback store: CDS Hooks feedback outcomes and per-rule "cards shown" counters.

SQLite (the default, a file under ``CDS_DATA_DIR``) or PostgreSQL through psycopg 3
(``postgresql+psycopg://user:pass@host/db``). The schema is owned by the Alembic migrations shipped
in ``cds/store/migrations``; :meth:`FeedbackStore.migrate` runs them (``upgrade head``) at start-up.

Writes are idempotent: every record carries a sha256 of its content under a unique constraint and is
inserted with ``INSERT ... ON CONFLICT DO NOTHING``, so an EHR that re-sends the same feedback (or two
replicas receiving it at once) stores it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, case, create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool

from cds.errors import ServiceUnavailable
from cds.store._schema import feedback, jwt_seen, rule_shown

__all__ = [
    "OUTCOMES",
    "UNKNOWN_RULE",
    "FeedbackRecord",
    "FeedbackStore",
    "RuleFeedbackSummary",
    "StoreUnavailable",
]

log = logging.getLogger(__name__)

OUTCOMES = frozenset({"accepted", "overridden"})
NO_REASON = "(no reason given)"
# Feedback whose card uuid maps to no known rule is reported under this pseudo rule id.
UNKNOWN_RULE = "(unknown rule)"
_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant: serialises concurrent `migrate()` calls of several replicas on PostgreSQL.
_PG_MIGRATION_LOCK = 0x63_64_73_6D_62_63  # "cdsmbc"
_JTI_PURGE_INTERVAL_S = 60.0
_INSERT_CHUNK = 50  # rows per INSERT statement (13 bound parameters each; SQLite allows 32766)


class StoreUnavailable(ServiceUnavailable):
    """The database cannot be reached (down, refusing connections, locked): 503, retry later.

    Raised instead of SQLAlchemy's errors for outages only; a bug (a constraint, a bad statement)
    still surfaces as itself. Writes are idempotent, so a client retrying after a 503 stores each
    record once even when the first attempt did reach the database.
    """

    status_code = 503
    issue_code = "transient"
    retry_after_s = 5

    def __init__(self, cause: str) -> None:
        super().__init__("The feedback store is unavailable; please retry later.")
        self.cause = cause  # for the log: the exception type, never the URL or its password
        self.headers = {"Retry-After": str(self.retry_after_s)}  # for the HTTP layer's handler


def _cause(exc: Exception) -> str:
    """The driver's exception type (never its message: it can hold the URL)."""
    orig = getattr(exc, "orig", None)
    return type(orig if isinstance(orig, BaseException) else exc).__name__


@contextlib.contextmanager
def _outage_is_unavailable() -> Iterator[None]:
    try:
        yield
    except (OperationalError, PoolTimeout) as exc:
        log.warning("feedback store unavailable: %s", _cause(exc))
        raise StoreUnavailable(type(exc).__name__) from exc
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("feedback store unavailable: connection lost")
        raise StoreUnavailable(type(exc).__name__) from exc


@dataclass(frozen=True)
class FeedbackRecord:
    service_id: str
    rule_id: str | None  # None when the card uuid maps to no known rule
    card_uuid: str
    outcome: str  # "accepted" | "overridden"
    accepted_suggestions: tuple[str, ...]
    override_code: str | None
    override_system: str | None
    override_display: str | None
    user_comment: str | None
    outcome_timestamp: datetime  # timezone-aware UTC

    def content_hash(self) -> str:
        """sha256 over everything the client sent (``rule_id`` is derived from the uuid, so not in it)."""
        content = [
            self.service_id,
            self.card_uuid,
            self.outcome,
            sorted(self.accepted_suggestions),
            self.override_system,
            self.override_code,
            self.override_display,
            self.user_comment,
            _utc(self.outcome_timestamp).isoformat(),
        ]
        blob = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class RuleFeedbackSummary:
    rule_id: str
    shown: int
    accepted: int
    overridden: int
    override_reasons: dict[str, int]  # reason display (or code, or "(no reason given)") -> count


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("outcome_timestamp must be timezone-aware")
    return value.astimezone(UTC)


def _row(record: FeedbackRecord) -> dict[str, Any]:
    if record.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {record.outcome!r}")
    return {
        "content_hash": record.content_hash(),
        "service_id": record.service_id,
        "rule_id": record.rule_id,
        "card_uuid": record.card_uuid,
        "outcome": record.outcome,
        "accepted_suggestions": json.dumps(list(record.accepted_suggestions)),
        "override_code": record.override_code,
        "override_system": record.override_system,
        "override_display": record.override_display,
        "user_comment": record.user_comment,
        "outcome_timestamp": _utc(record.outcome_timestamp),
    }


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the report read while the service writes; busy_timeout makes writers queue.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


class FeedbackStore:
    """Thread-safe: every method takes its own pooled connection."""

    def __init__(self, url: str) -> None:
        self._url: URL = make_url(url)
        backend = self._url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database backend {backend!r} (use sqlite or postgresql)")
        self._backend = backend
        connect_args: dict[str, Any] = {}
        if backend == "sqlite":
            connect_args["timeout"] = 30
            connect_args["check_same_thread"] = False
        elif "connect_timeout" not in self._url.query:
            connect_args["connect_timeout"] = 5
        self._engine: Engine = create_engine(self._url, pool_pre_ping=True, connect_args=connect_args)
        if backend == "sqlite":
            event.listen(self._engine, "connect", _sqlite_on_connect)
        self._jti_purged_at = 0.0
        self._ping_lock = threading.Lock()
        self._pinging: threading.Thread | None = None
        self._ping_engine_for: tuple[float, Engine] | None = None

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._backend

    @property
    def url(self) -> str:
        """The URL with any password masked (safe to log)."""
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        return self._engine

    # --- schema -----------------------------------------------------------------------------------
    def _ensure_sqlite_dir(self) -> None:
        database = self._url.database
        if (
            self._backend == "sqlite"
            and database
            and database != ":memory:"
            and not database.startswith("file:")
        ):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    def migrate(self) -> None:
        """``alembic upgrade head`` on this store's database; safe to call from several replicas."""
        self._ensure_sqlite_dir()
        # Alembic reports each step at INFO ("Context impl ...", "Will assume ..."): noise in the
        # service's log and in `cds-mbc demo`; its warnings and errors still show.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        from alembic import command  # imported here: importing alembic logs its plugins at INFO
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS_DIR))
        with self._engine.begin() as connection:
            if self._backend == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        log.info("feedback store migrated", extra={"database": self.url})

    # --- writes -----------------------------------------------------------------------------------
    def _insert_ignore(self, connection: Connection, rows: list[dict[str, Any]]) -> int:
        dialect_insert = postgresql.insert if self._backend == "postgresql" else sqlite.insert
        stmt = (
            dialect_insert(feedback)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["content_hash"])
            .returning(feedback.c.id)
        )
        return len(connection.execute(stmt).all())

    def add(self, records: Sequence[FeedbackRecord]) -> int:
        """Store records; returns how many were new (identical records are stored once)."""
        unique: dict[str, dict[str, Any]] = {}
        for record in records:
            row = _row(record)
            unique.setdefault(row["content_hash"], row)
        if not unique:
            return 0
        rows = list(unique.values())
        new = 0
        with _outage_is_unavailable(), self._engine.begin() as connection:
            for start in range(0, len(rows), _INSERT_CHUNK):
                new += self._insert_ignore(connection, rows[start : start + _INSERT_CHUNK])
        return new

    def add_shown(self, counts: Mapping[str, int]) -> None:
        """Add to the per-rule "cards shown" counters (insert or increment)."""
        rows = [{"rule_id": rule_id, "shown": n} for rule_id, n in sorted(counts.items()) if n > 0]
        if not rows:
            return
        insert = postgresql.insert if self._backend == "postgresql" else sqlite.insert
        stmt = insert(rule_shown).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["rule_id"], set_={"shown": rule_shown.c.shown + stmt.excluded.shown}
        )
        with _outage_is_unavailable(), self._engine.begin() as connection:
            connection.execute(stmt)

    def first_use_jti(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
        """Record (issuer, jti) until ``expires_at`` (epoch seconds); False if it is already recorded
        and alive. One statement: the primary key decides between concurrent replicas, and a row of
        an expired token is taken over rather than refused. Rows expire with their token: those
        past ``now`` are deleted once a minute by each process."""
        insert = postgresql.insert if self._backend == "postgresql" else sqlite.insert
        values = insert(jwt_seen).values(issuer=issuer, jti=jti, expires_at=expires_at)
        stmt = values.on_conflict_do_update(
            index_elements=["issuer", "jti"],
            set_={"expires_at": values.excluded.expires_at},
            where=jwt_seen.c.expires_at <= now,
        ).returning(jwt_seen.c.jti)
        with _outage_is_unavailable(), self._engine.begin() as connection:
            first = connection.execute(stmt).first() is not None
            if now - self._jti_purged_at >= _JTI_PURGE_INTERVAL_S:
                self._jti_purged_at = now
                connection.execute(jwt_seen.delete().where(jwt_seen.c.expires_at <= now))
        return first

    # --- reads ------------------------------------------------------------------------------------
    def report(self) -> list[RuleFeedbackSummary]:
        """Per rule (sorted by rule id): cards shown, accepted, overridden and override reasons."""
        rule = func.coalesce(feedback.c.rule_id, UNKNOWN_RULE)
        reason = case(
            (func.coalesce(feedback.c.override_display, "") != "", feedback.c.override_display),
            (func.coalesce(feedback.c.override_code, "") != "", feedback.c.override_code),
            else_=NO_REASON,
        )
        shown: dict[str, int] = {}
        outcomes: dict[str, dict[str, int]] = {}
        reasons: dict[str, dict[str, int]] = {}
        with _outage_is_unavailable(), self._engine.connect() as connection:
            for rule_id, n in connection.execute(select(rule_shown.c.rule_id, rule_shown.c.shown)):
                shown[rule_id] = int(n)
            by_outcome = select(rule, feedback.c.outcome, func.count()).group_by(rule, feedback.c.outcome)
            for rule_id, outcome, n in connection.execute(by_outcome):
                outcomes.setdefault(rule_id, {})[outcome] = int(n)
            by_reason = (
                select(rule, reason, func.count())
                .where(feedback.c.outcome == "overridden")
                .group_by(rule, reason)
            )
            for rule_id, why, n in connection.execute(by_reason):
                reasons.setdefault(rule_id, {})[why] = int(n)
        summaries = []
        for rule_id in sorted(shown.keys() | outcomes.keys()):
            counts = outcomes.get(rule_id, {})
            rule_reasons = reasons.get(rule_id, {})
            summaries.append(
                RuleFeedbackSummary(
                    rule_id=rule_id,
                    shown=shown.get(rule_id, 0),
                    accepted=counts.get("accepted", 0),
                    overridden=counts.get("overridden", 0),
                    override_reasons=dict(sorted(rule_reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                )
            )
        return summaries

    def ping(self, timeout: float = 2.0) -> bool:
        """True when the database answers a trivial query within ``timeout`` seconds (for /readyz).

        A frozen database must not freeze the probe: the query runs on its own connection (not the
        pool's) with the database's own timeouts set to ``timeout``, on a helper thread this call
        waits for at most ``timeout``. While an earlier ping is still stuck, the answer is False at
        once, so probes never pile up threads.
        """
        with self._ping_lock:
            if self._pinging is not None and self._pinging.is_alive():
                log.warning("feedback store unreachable: the previous check has not returned")
                return False
            answer: list[bool] = []
            thread = threading.Thread(
                target=self._ping_once, args=(timeout, answer), name="store-ping", daemon=True
            )
            self._pinging = thread
            thread.start()
        thread.join(timeout)
        if not answer:
            log.warning("feedback store unreachable: no answer within %gs", timeout)
            return False
        return answer[0]

    def _ping_once(self, timeout: float, answer: list[bool]) -> None:
        try:
            with self._ping_engine(timeout).connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.warning("feedback store unreachable: %s", _cause(exc))
            answer.append(False)
            return
        answer.append(True)

    def _ping_engine(self, timeout: float) -> Engine:
        if self._ping_engine_for is None or self._ping_engine_for[0] != timeout:
            args: dict[str, Any] = {}
            if self._backend == "postgresql":
                seconds = max(1, round(timeout))  # libpq's connect_timeout is whole seconds
                args = {"connect_timeout": seconds, "options": f"-c statement_timeout={int(timeout * 1000)}"}
            else:
                args = {"timeout": timeout, "check_same_thread": False}  # SQLite's busy timeout
            self._ping_engine_for = (timeout, create_engine(self._url, poolclass=NullPool, connect_args=args))
        return self._ping_engine_for[1]

    def close(self) -> None:
        self._engine.dispose()
        if self._ping_engine_for is not None:
            self._ping_engine_for[1].dispose()

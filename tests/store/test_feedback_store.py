from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cds.store import UNKNOWN_RULE, FeedbackRecord, FeedbackStore, RuleFeedbackSummary
from cds.store._schema import metadata

T0 = datetime(2026, 3, 1, 12, 30, 0, tzinfo=UTC)


def rec(
    card: str = "card-1",
    *,
    rule: str | None = "rule-a",
    outcome: str = "accepted",
    suggestions: tuple[str, ...] = (),
    code: str | None = None,
    display: str | None = None,
    comment: str | None = None,
    ts: datetime = T0,
) -> FeedbackRecord:
    return FeedbackRecord(
        service_id="mbc-therapy",
        rule_id=rule,
        card_uuid=card,
        outcome=outcome,
        accepted_suggestions=suggestions,
        override_code=code,
        override_system="http://example.org/override-reasons" if code else None,
        override_display=display,
        user_comment=comment,
        outcome_timestamp=ts,
    )


def by_rule(store: FeedbackStore) -> dict[str, RuleFeedbackSummary]:
    return {s.rule_id: s for s in store.report()}


def test_sqlite_parent_folder_is_created_and_data_survives_a_new_instance(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'feedback.db'}"
    first = FeedbackStore(url)
    assert not (tmp_path / "a").exists(), "the constructor must not touch the disk"
    first.migrate()
    assert first.add([rec("c1"), rec("c2", outcome="overridden", display="Patient declined")]) == 2
    first.add_shown({"rule-a": 7})
    first.close()

    second = FeedbackStore(url)
    second.migrate()  # a restart migrates again: must be a no-op, not an error
    assert second.ping()
    assert second.report() == [
        RuleFeedbackSummary(
            "rule-a", shown=7, accepted=1, overridden=1, override_reasons={"Patient declined": 1}
        )
    ]
    # A re-sent record after the restart is still recognised as a duplicate.
    assert second.add([rec("c1")]) == 0
    second.close()


def test_durable_across_instances(make_store: Callable[[], FeedbackStore]) -> None:
    writer = make_store()
    writer.add([rec("c1"), rec("c2", rule="rule-b", outcome="overridden", code="C1")])
    writer.add_shown({"rule-a": 3, "rule-b": 2})
    writer.close()
    reader = make_store()
    assert reader.report() == [
        RuleFeedbackSummary("rule-a", shown=3, accepted=1, overridden=0, override_reasons={}),
        RuleFeedbackSummary("rule-b", shown=2, accepted=0, overridden=1, override_reasons={"C1": 1}),
    ]


def test_identical_record_is_stored_once(store: FeedbackStore) -> None:
    record = rec("c1", outcome="overridden", code="X", display="Contraindicated", comment="see note")
    assert store.add([record]) == 1
    assert store.add([record]) == 0
    assert store.add([record, record]) == 0
    # The same instant written with another UTC offset is the same feedback.
    same_instant = replace(record, outcome_timestamp=T0.astimezone(timezone(timedelta(hours=2))))
    assert store.add([same_instant]) == 0
    assert by_rule(store)["rule-a"].overridden == 1


def test_duplicates_inside_one_batch_count_once(store: FeedbackStore) -> None:
    assert store.add([rec("c1"), rec("c1"), rec("c2")]) == 2
    assert by_rule(store)["rule-a"].accepted == 2


@pytest.mark.parametrize(
    "change",
    [
        {"comment": "different comment"},
        {"ts": T0 + timedelta(seconds=1)},
        {"suggestions": ("s-1",)},
        {"outcome": "overridden"},
        {"card": "card-2"},
        {"display": "Other reason", "outcome": "overridden"},
    ],
)
def test_records_differing_in_content_are_both_kept(store: FeedbackStore, change: dict[str, object]) -> None:
    assert store.add([rec()]) == 1
    assert store.add([rec(**change)]) == 1  # type: ignore[arg-type]


def test_suggestion_order_does_not_make_a_new_record(store: FeedbackStore) -> None:
    assert store.add([rec(suggestions=("a", "b"))]) == 1
    assert store.add([rec(suggestions=("b", "a"))]) == 0


def test_concurrent_identical_adds_store_one_record(make_store: Callable[[], FeedbackStore]) -> None:
    # Two "replicas" (separate engines) and several threads each, all sending the same feedback at once.
    stores = [make_store(), make_store()]
    record = rec("c-race", outcome="overridden", display="Patient declined")
    barrier = threading.Barrier(8)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results.append(stores[i % 2].add([record, rec(f"own-{i}")]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # Every thread's own record is new; the shared one is new for exactly one of them.
    assert sum(results) == 8 + 1
    summary = by_rule(stores[0])["rule-a"]
    assert (summary.accepted, summary.overridden) == (8, 1)


def test_concurrent_shown_counts_add_up(make_store: Callable[[], FeedbackStore]) -> None:
    stores = [make_store(), make_store()]
    barrier = threading.Barrier(6)

    def worker(i: int) -> None:
        barrier.wait()
        for _ in range(5):
            stores[i % 2].add_shown({"rule-a": 1, "rule-b": 2})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = by_rule(stores[1])
    assert report["rule-a"].shown == 30
    assert report["rule-b"].shown == 60


def test_report_aggregates_outcomes_and_reasons(store: FeedbackStore) -> None:
    store.add(
        [
            rec("a1"),
            rec("a2", suggestions=("s1",)),
            rec("a3", outcome="overridden", code="R1", display="Patient declined"),
            rec("a4", outcome="overridden", code="R1", display="Patient declined"),
            rec("a5", outcome="overridden", code="R2"),  # no display: the code is the reason
            rec("a6", outcome="overridden"),  # no reason at all
            rec("b1", rule="rule-b", outcome="overridden", display="Already on therapy"),
            rec("x1", rule=None),  # card uuid of no known rule
        ]
    )
    store.add_shown({"rule-a": 10, "rule-c": 4})
    store.add_shown({"rule-a": 5})
    assert store.report() == [
        RuleFeedbackSummary(UNKNOWN_RULE, shown=0, accepted=1, overridden=0, override_reasons={}),
        RuleFeedbackSummary(
            "rule-a",
            shown=15,
            accepted=2,
            overridden=4,
            override_reasons={"Patient declined": 2, "(no reason given)": 1, "R2": 1},
        ),
        RuleFeedbackSummary(
            "rule-b", shown=0, accepted=0, overridden=1, override_reasons={"Already on therapy": 1}
        ),
        RuleFeedbackSummary("rule-c", shown=4, accepted=0, overridden=0, override_reasons={}),
    ]


def test_empty_store_reports_nothing(store: FeedbackStore) -> None:
    assert store.report() == []
    assert store.add([]) == 0
    store.add_shown({})
    store.add_shown({"rule-a": 0})
    assert store.report() == []


def test_rejects_naive_timestamps_and_unknown_outcomes(store: FeedbackStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add([rec(ts=datetime(2026, 3, 1, 12, 0))])
    with pytest.raises(ValueError, match="outcome"):
        store.add([rec(outcome="ignored")])
    # Nothing of a rejected batch is stored.
    with pytest.raises(ValueError):
        store.add([rec("ok"), rec("bad", outcome="maybe")])
    assert store.report() == []


def test_migrations_match_the_tables_the_code_uses(store: FeedbackStore) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_ping_is_false_when_the_database_is_unreachable() -> None:
    store = FeedbackStore("postgresql+psycopg://u:secret@127.0.0.1:1/nothing?connect_timeout=2")
    try:
        assert store.ping() is False
        assert "secret" not in store.url
    finally:
        store.close()


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        FeedbackStore("mysql://u:p@localhost/db")

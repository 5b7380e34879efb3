"""``cds-mbc feedback-report``: per card and per option, how often shown, accepted or chosen, overridden.

A card uuid names its card group and an option's suggestion uuid its rule (cds.pathway.ids), so the
report maps stored feedback back without any record of the cards shown:

* a **card** row (warnings, options now, at progression, tests, supportive care): times shown, feedback
  accepted and overridden, and the override reasons given;
* an **option** row (a rule: a therapy option or a test order): times shown, and times chosen (accepted
  feedback naming its suggestion). Feedback on cards of earlier releases, one per rule, counts on the
  rule's row.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from cds.errors import KnowledgeError
from cds.pathway.knowledge import CARD_GROUPS, Knowledge, load_knowledge
from cds.store import FeedbackStore, RuleFeedbackSummary
from cds.store._schema import feedback

Format = Literal["table", "csv"]
HEADER = ("level", "id", "label", "shown", "accepted", "overridden", "acceptance_rate", "override_reasons")
_NUMERIC = {3, 4, 5, 6}
UNKNOWN_OPTION = "(unknown option)"


@dataclass(frozen=True)
class Row:
    level: Literal["card", "option"]
    id: str
    label: str
    shown: int
    accepted: int  # a card: feedback accepted; an option: times chosen
    overridden: int
    override_reasons: dict[str, int]

    @property
    def rate(self) -> str:
        """Accepted of answered for a card; chosen of shown for an option."""
        base = self.accepted + self.overridden if self.level == "card" else self.shown
        return f"{self.accepted / base:.0%}" if base else "-"

    def cells(self) -> tuple[str, ...]:
        reasons = "; ".join(f"{reason} ({n})" for reason, n in self.override_reasons.items())
        return (
            self.level,
            self.id,
            self.label,
            str(self.shown),
            str(self.accepted),
            str(self.overridden),
            self.rate,
            reasons,
        )


def chosen_options(store: FeedbackStore, knowledge: Knowledge) -> Counter[str]:
    """How often each rule's option was chosen: accepted feedback naming its suggestion's uuid."""
    chosen: Counter[str] = Counter()
    query = select(feedback.c.accepted_suggestions).where(feedback.c.outcome == "accepted")
    with store.engine.connect() as connection:
        for (stored,) in connection.execute(query):
            try:
                ids = json.loads(stored)
            except ValueError:
                continue
            for suggestion in ids if isinstance(ids, list) else ():
                chosen[knowledge.rule_for_suggestion(suggestion) or UNKNOWN_OPTION] += 1
    return chosen


def report_rows(store: FeedbackStore, knowledge: Knowledge) -> list[Row]:
    """Card rows in the order cards are shown, then option rows by rule id."""
    summaries: dict[str, RuleFeedbackSummary] = {s.rule_id: s for s in store.report()}
    chosen = chosen_options(store, knowledge)
    empty = RuleFeedbackSummary("", 0, 0, 0, {})
    rows = []
    for group in CARD_GROUPS:
        s = summaries.get(group, empty)
        if s is not empty:
            title = knowledge.service.cards[group].title  # type: ignore[index]
            rows.append(Row("card", group, title, s.shown, s.accepted, s.overridden, s.override_reasons))
    for rule_id in sorted((summaries.keys() | chosen.keys()) - set(CARD_GROUPS)):
        s = summaries.get(rule_id, empty)
        rule = knowledge.all_rules.get(rule_id)
        label = (rule.option or rule.title) if rule else rule_id
        rows.append(
            Row(
                "option",
                rule_id,
                label,
                s.shown,
                s.accepted + chosen.get(rule_id, 0),
                s.overridden,
                s.override_reasons,
            )
        )
    return rows


def _table(rows: list[tuple[str, ...]]) -> str:
    if not rows:
        return "No feedback and no cards shown yet.\n"
    widths = [max(len(HEADER[i]), *(len(r[i]) for r in rows)) for i in range(len(HEADER) - 1)]

    def line(cells: tuple[str, ...]) -> str:
        fixed = [
            cell.rjust(widths[i]) if i in _NUMERIC else cell.ljust(widths[i])
            for i, cell in enumerate(cells[:-1])
        ]
        return ("  ".join([*fixed, cells[-1]])).rstrip()

    rule = "  ".join("-" * w for w in widths) + "  " + "-" * len(HEADER[-1])
    return "\n".join([line(HEADER), rule, *(line(r) for r in rows)]) + "\n"


def _csv(rows: list[tuple[str, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


def feedback_report(store: FeedbackStore, knowledge: Knowledge, fmt: Format) -> str:
    """The report as text: an aligned table for people or CSV (one row per card and option)."""
    rows = [row.cells() for row in report_rows(store, knowledge)]
    if fmt == "table":
        return _table(rows)
    if fmt == "csv":
        return _csv(rows)
    raise ValueError(f"unknown format {fmt!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cds-mbc feedback-report",
        description="Per card and per option: times shown, accepted or chosen, overridden, and why.",
    )
    parser.add_argument("--format", choices=("table", "csv"), default="table", dest="fmt")
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the feedback store (default: CDS_DATABASE_URL, else SQLite in CDS_DATA_DIR)",
    )
    parser.add_argument(
        "--knowledge-dir",
        default=None,
        type=Path,
        help="knowledge base that names the options (default: CDS_KNOWLEDGE_DIR, else the bundled cards/)",
    )
    args = parser.parse_args(argv)
    url: str | None = args.database_url
    directory: Path | None = args.knowledge_dir
    if url is None or directory is None:
        from cds.settings import get_settings

        settings = get_settings()
        url = url or settings.resolved_database_url
        directory = directory or settings.knowledge_dir
    try:
        knowledge = load_knowledge(directory)
    except KnowledgeError as exc:
        print(f"feedback-report: cannot load the knowledge base: {exc}", file=sys.stderr)
        return 2
    try:
        store = FeedbackStore(url)
    except (ValueError, SQLAlchemyError) as exc:
        print(f"feedback-report: bad database URL: {type(exc).__name__}", file=sys.stderr)
        return 2
    try:
        store.migrate()  # an empty or older database gets the current schema; a no-op otherwise
        sys.stdout.write(feedback_report(store, knowledge, args.fmt))
    except SQLAlchemyError as exc:
        print(
            f"feedback-report: cannot read the feedback store at {store.url}: {type(exc).__name__}",
            file=sys.stderr,
        )
        return 1
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

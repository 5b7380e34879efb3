"""``cds-mbc feedback-report``: per rule, cards shown, accepted, overridden and override reasons."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from cds.store import FeedbackStore, RuleFeedbackSummary

Format = Literal["table", "csv"]
HEADER = ("rule_id", "shown", "accepted", "overridden", "acceptance_rate", "override_reasons")


def _rate(summary: RuleFeedbackSummary) -> str:
    answered = summary.accepted + summary.overridden
    return f"{summary.accepted / answered:.0%}" if answered else "-"


def _reasons(summary: RuleFeedbackSummary) -> str:
    return "; ".join(f"{reason} ({n})" for reason, n in summary.override_reasons.items())


def _rows(summaries: list[RuleFeedbackSummary]) -> list[tuple[str, ...]]:
    return [
        (s.rule_id, str(s.shown), str(s.accepted), str(s.overridden), _rate(s), _reasons(s))
        for s in summaries
    ]


def _table(rows: list[tuple[str, ...]]) -> str:
    if not rows:
        return "No feedback and no cards shown yet.\n"
    widths = [max(len(HEADER[i]), *(len(r[i]) for r in rows)) for i in range(len(HEADER) - 1)]
    numeric = {1, 2, 3, 4}

    def line(cells: tuple[str, ...]) -> str:
        fixed = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
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


def feedback_report(store: FeedbackStore, fmt: Format) -> str:
    """The report as text: an aligned table for people or CSV (one row per rule) for spreadsheets."""
    rows = _rows(store.report())
    if fmt == "table":
        return _table(rows)
    if fmt == "csv":
        return _csv(rows)
    raise ValueError(f"unknown format {fmt!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cds-mbc feedback-report",
        description="Per rule: cards shown, accepted, overridden and the override reasons given.",
    )
    parser.add_argument("--format", choices=("table", "csv"), default="table", dest="fmt")
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the feedback store (default: CDS_DATABASE_URL, else SQLite in CDS_DATA_DIR)",
    )
    args = parser.parse_args(argv)
    url: str | None = args.database_url
    if url is None:
        from cds.settings import get_settings

        url = get_settings().resolved_database_url
    try:
        store = FeedbackStore(url)
    except (ValueError, SQLAlchemyError) as exc:
        print(f"feedback-report: bad database URL: {type(exc).__name__}", file=sys.stderr)
        return 2
    try:
        store.migrate()  # an empty or older database gets the current schema; a no-op otherwise
        sys.stdout.write(feedback_report(store, args.fmt))
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

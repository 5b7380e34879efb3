"""`cds-mbc`: serve the service, run the demo over the fixtures, print the feedback report."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cds.settings import get_settings

    settings = get_settings()
    uvicorn.run(
        "cds.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        timeout_keep_alive=settings.keep_alive_timeout_s,
        limit_concurrency=settings.max_concurrency,
        h11_max_incomplete_event_size=64 * 1024,  # request line and headers; bodies have their own limit
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from cds.demo import run_demo

    return run_demo(args.fixtures, verbose=args.verbose)


def _report(rest: Sequence[str]) -> int:
    from cds.report import main as report_main

    return report_main(list(rest))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cds-mbc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the CDS Hooks service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument("--workers", type=int, default=1)
    demo = sub.add_parser("demo", help="send every fixture scenario through the service and print the cards")
    demo.add_argument("--fixtures", default=None, help="fixtures folder (default: the bundled fhir_fixtures)")
    demo.add_argument("--verbose", action="store_true", help="print each card's full detail")
    sub.add_parser(
        "feedback-report", help="per-rule feedback: shown, accepted, overridden, reasons", add_help=False
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        return _demo(args)
    return _report(rest)


if __name__ == "__main__":
    sys.exit(main())

"""`cds-mbc`: serve the service, run the demo over the fixtures, print the feedback report, print a
trust-file entry, load a fixture patient on a FHIR server for the CDS Hooks Sandbox."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from cds import __version__

log = logging.getLogger("cds.serve")


def _fail(command: str, message: str) -> int:
    print(f"cds-mbc {command}: {message}", file=sys.stderr)
    return 2


def _load_settings(command: str) -> Any:
    """The settings, or None after one clear line on stderr (a bad CDS_* variable)."""
    from pydantic import ValidationError

    from cds.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        name = "CDS_" + str(first["loc"][0]).upper() if first.get("loc") else "a CDS_ variable"
        _fail(command, f"{name}: {first['msg']}")
        return None


def startup_lines(settings: Any, host: str, port: int, workers: int) -> tuple[list[str], list[str]]:
    """(what ``serve`` reports at start-up, the warnings), once for every worker.

    Raises TrustFileError (from cds.auth) when CDS_AUTH=jwt and the trust file is missing or invalid.
    """
    from cds.auth.clients import ClientAuthenticator
    from cds.auth.sandbox import SANDBOX_WARNING, uses_sandbox_key
    from cds.fhir.client import Allowlist
    from cds.store import FeedbackStore

    info = [
        f"cds-mbc {__version__} listening on http://{host}:{port} ({workers} worker(s))",
        "public base URL(s); a JWT's aud must be one of them + the endpoint path: "
        + ", ".join(settings.public_base_urls),
    ]
    warnings: list[str] = []
    if settings.auth == "off":
        info.append("auth: off (no JWT checked)")
        warnings.append("CDS_AUTH=off: calls are accepted WITHOUT a signed JWT. For local testing only.")
    else:
        authenticator = ClientAuthenticator(settings)
        try:
            issuers = authenticator.trust.issuers
            info.append(
                f"auth: jwt, {len(issuers)} trusted issuer(s) from {authenticator.trust.file}: "
                + ", ".join(sorted(issuers))
            )
            for issuer in issuers.values():
                if uses_sandbox_key(frozenset(issuer.static_keys), issuer.iss):
                    warnings.append(SANDBOX_WARNING.format(iss=issuer.iss))
        finally:
            authenticator.close()
    servers = settings.allowed_fhir_servers
    allowlist = Allowlist(servers)  # ValueError naming a bad entry
    if not servers:
        info.append("FHIR server allowlist: empty (no FHIR server is contacted; missing data gives 412)")
    else:
        info.append(
            "FHIR server allowlist: " + ", ".join(["*"] * allowlist.any + [b.url for b in allowlist.bases])
        )
        if allowlist.any:
            warnings.append("CDS_FHIR_SERVER_ALLOWLIST=*: any fhirServer a caller names is contacted.")
    store = FeedbackStore(settings.resolved_database_url)
    info.append(f"feedback store: {store.url}")  # the password masked
    store.close()
    return info, warnings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from sqlalchemy.exc import ArgumentError

    from cds.errors import ConfigFileError
    from cds.observability import configure_logging

    settings = _load_settings("serve")
    if settings is None:
        return 2
    configure_logging(settings.log_level)
    try:
        info, warnings = startup_lines(settings, args.host, args.port, args.workers)
    except ConfigFileError as exc:
        return _fail("serve", str(exc))
    except (ValueError, ArgumentError) as exc:  # CDS_DATABASE_URL or CDS_FHIR_SERVER_ALLOWLIST
        return _fail("serve", str(exc).splitlines()[0])
    for line in info:
        log.info(line)
    for line in warnings:
        log.warning(line)
    from cds.app import uvicorn_options
    from cds.observability import prepare_multiprocess_metrics

    prepare_multiprocess_metrics(args.workers)  # /metrics of any worker adds up all of them
    uvicorn.run(
        "cds.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **uvicorn_options(settings),  # type: ignore[arg-type]
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from cds.demo import run_demo

    return run_demo(args.fixtures, verbose=args.verbose)


def _report(rest: Sequence[str]) -> int:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from cds.report import main as report_main

    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--database-url", default=None)
    known, _ = peek.parse_known_args(list(rest))
    if "-h" not in rest and "--help" not in rest:
        url = known.database_url
        if url is None:
            settings = _load_settings("feedback-report")
            if settings is None:
                return 2
            url = settings.resolved_database_url
        try:
            shown = make_url(url).render_as_string(hide_password=True)
        except ArgumentError:
            shown = "(an invalid URL)"
        print(f"feedback-report: reading the feedback store at {shown}", file=sys.stderr)
        print(
            "feedback-report: 'shown' counts are approximate: a worker killed without shutting down "
            "loses at most its last second of counts",
            file=sys.stderr,
        )
    return report_main(list(rest))


def _trust_entry(args: argparse.Namespace) -> int:
    import json

    from cds.auth.sandbox import SANDBOX_ISS, SANDBOX_WARNING, sandbox_trust_entry

    if not args.sandbox:
        return _fail(
            "trust-entry",
            "only --sandbox is built in; for your EHR, ask for its iss and JWKS URL (docs/security.md)",
        )
    print(f"WARNING: {SANDBOX_WARNING.format(iss=SANDBOX_ISS)}", file=sys.stderr)
    print(json.dumps({"issuers": [sandbox_trust_entry()]}, indent=2))
    return 0


def _load_patient(args: argparse.Namespace) -> int:
    from cds.load_patient import LoadError, list_fixtures, load_patient

    if args.list:
        print(list_fixtures())
        return 0
    if not args.fixture or not args.fhir_server:
        return _fail(
            "load-patient",
            "name a fixture and --fhir-server URL (cds-mbc load-patient --list lists the fixtures)",
        )
    settings = _load_settings("load-patient")
    if settings is None:
        return 2
    try:
        print(load_patient(args.fixture, args.fhir_server, settings.public_base_url))
    except LoadError as exc:
        return _fail("load-patient", str(exc))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds-mbc", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the CDS Hooks service",
        description="Run the CDS Hooks service. Everything else is set with CDS_* environment "
        "variables (README: Configuration); start-up prints what is in effect.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8080")),
        help="TCP port to listen on (the default is $PORT when set)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes; each holds the knowledge base and its own caches",
    )
    demo = sub.add_parser("demo", help="send every fixture scenario through the service and print the cards")
    demo.add_argument("--fixtures", default=None, help="fixtures folder (default: the bundled fhir_fixtures)")
    demo.add_argument("--verbose", action="store_true", help="print each card's full detail")
    sub.add_parser(
        "feedback-report",
        help="feedback per card and option: shown, accepted, overridden, reasons",
        add_help=False,
    )
    trust = sub.add_parser(
        "trust-entry",
        help="print a trust file (CDS_TRUST_FILE) for a known CDS client",
        description="Print a ready trust file on stdout (redirect it to a file and set CDS_TRUST_FILE).",
    )
    trust.add_argument(
        "--sandbox",
        action="store_true",
        help="the public CDS Hooks Sandbox (its published key: for test deployments only)",
    )
    load = sub.add_parser(
        "load-patient",
        help="store a fixture patient on a FHIR server and print the CDS Hooks Sandbox link to it",
        description="Store one fhir_fixtures/ patient on a FHIR R4 server (one transaction of PUTs with "
        "the fixture's ids: loading again replaces them) and print the CDS Hooks Sandbox link that opens "
        "this patient with the service at CDS_PUBLIC_BASE_URL. Public test servers are open to anyone: "
        "fixtures are synthetic, load nothing else there.",
    )
    load.add_argument("fixture", nargs="?", help="the fixture's folder name (see --list)")
    load.add_argument(
        "--fhir-server", metavar="URL", help="FHIR R4 base URL, e.g. https://hapi.fhir.org/baseR4"
    )
    load.add_argument("--list", action="store_true", help="list the fixture patients and what each is")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader of the output went away (`cds-mbc demo | head`): stop quietly, as the Python
        # documentation advises for SIGPIPE (stdout to devnull, so that the exit's flush cannot fail).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(argv: Sequence[str] | None) -> int:
    args, rest = _parser().parse_known_args(argv)
    if args.command == "feedback-report":
        return _report(rest)
    if rest:
        _parser().error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        return _demo(args)
    if args.command == "load-patient":
        return _load_patient(args)
    return _trust_entry(args)


if __name__ == "__main__":
    sys.exit(main())

"""JSON logs (one object per line, with request id and hook instance) and Prometheus metrics.

Logs never carry tokens, JWTs or patient data. Code must not log them in the first place; as defence
in depth, :class:`JsonFormatter` blanks anything that looks like a bearer token, a JWT (three
base64url segments) or a ``token=...`` pair in messages, arguments, extra fields and tracebacks.

Metrics live in :data:`METRICS`, a dedicated ``CollectorRegistry`` (not the process-global one), so
tests can build many apps in one process. With several uvicorn worker *processes* each worker has
its own registry and a scrape sees only the worker that answered, unless ``PROMETHEUS_MULTIPROC_DIR``
is set: then prometheus-client's multiprocess mode is used (values in mmap files in that folder, which
must exist, be empty at start-up and be writable; ``/metrics`` aggregates all workers). Call
:func:`mark_process_dead` from the server's worker-exit hook in that mode.

One module, about 410 lines: the log redaction, the JSON formatter and the metrics share the request
context and are configured together at start.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

__all__ = [
    "METRICS",
    "REDACTED",
    "REDACTIONS",
    "JsonFormatter",
    "Metrics",
    "call_log",
    "call_log_var",
    "configure_logging",
    "count_cards",
    "count_feedback",
    "hook_instance_var",
    "log_call",
    "mark_process_dead",
    "observe_fhir_fetch",
    "observe_request",
    "prepare_multiprocess_metrics",
    "redact",
    "render_metrics",
    "request_id_var",
    "route_template",
]

# --- context ----------------------------------------------------------------------------------
request_id_var: ContextVar[str | None] = ContextVar("cds_request_id", default=None)
hook_instance_var: ContextVar[str | None] = ContextVar("cds_hook_instance", default=None)
# What the current CDS call has to say in its log line (set per request by the middleware)
call_log_var: ContextVar[dict[str, Any] | None] = ContextVar("cds_call_log", default=None)

# --- redaction --------------------------------------------------------------------------------
REDACTED = "[REDACTED]"
_B64URL = r"[A-Za-z0-9_\-]"
REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Bearer <anything token-like>" (RFC 6750 b64token)
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + REDACTED),
    # JWS/JWE compact serialisation: the header is base64url JSON, so it starts with "eyJ".
    (re.compile(rf"\beyJ{_B64URL}*\.{_B64URL}*\.{_B64URL}*(?:\.{_B64URL}*\.{_B64URL}*)?"), REDACTED),
    # Any other three long base64url segments joined by dots.
    (re.compile(rf"(?<![\w.\-]){_B64URL}{{16,}}\.{_B64URL}{{16,}}\.{_B64URL}{{16,}}(?![\w.\-])"), REDACTED),
    # "Authorization: Basic <credentials>" (and the other schemes whose credentials follow a word)
    (
        re.compile(r"""(?i)(authorization["']?\s*[:=]\s*["']?)(?:basic|digest|negotiate)\s+[^\s"',;&}]+"""),
        r"\1" + REDACTED,
    ),
    # token=..., "access_token": "...", Authorization: ... (whatever the value)
    (
        re.compile(
            r"""(?i)((?:access_|id_|refresh_)?token|authorization|client_secret|password)(["']?\s*[:=]\s*["']?)"""
            r"""(?!\[REDACTED\]|bearer\b)[^\s"',;&}]+"""
        ),
        r"\1\2" + REDACTED,
    ),
)


# Every match of the patterns above contains one of these words (case aside) or a run of 16 base64url
# characters followed by a dot: text with neither is returned as it is, without the substitutions.
_SUSPECT_WORDS = ("bearer", "token", "authorization", "client_secret", "password", "eyj")
_SEGMENT_END = re.compile(rf"{_B64URL}{{16}}\.")


def redact(text: str) -> str:
    """``text`` with every bearer token, JWT and token/password value replaced by ``[REDACTED]``."""
    lowered = text.lower()
    if not any(word in lowered for word in _SUSPECT_WORDS) and _SEGMENT_END.search(text) is None:
        return text
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes | bytearray):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return redact(str(value))


# LogRecord attributes that are not user "extra" fields.
_RESERVED = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, hook_instance, extras, exc.

    The one place a record becomes text, so the one place secrets are blanked: the message (after its
    arguments are merged in), every extra field, the traceback and the stack."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record nor leak its args
            message = f"{record.msg!s} (unformattable arguments dropped)"
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(message),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        hook_instance = hook_instance_var.get()
        if hook_instance is not None:
            entry["hook_instance"] = redact(hook_instance)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key not in entry:
                entry[key] = _redact_value(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["exc"] = redact("".join(traceback.format_exception(*record.exc_info)))
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


_HANDLER_NAME = "cds-json"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (test runners and servers may swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str) -> None:
    """Send every logger (uvicorn's too) to stderr as JSON lines through the redaction filter.

    Idempotent: calling it again replaces the handler it installed before.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    # uvicorn installs its own plain-text handlers; route its records through ours instead.
    for name in ("uvicorn", "uvicorn.error"):
        uv_logger = logging.getLogger(name)
        uv_logger.handlers.clear()
        uv_logger.propagate = True
    # No access log (``cds-mbc serve`` runs uvicorn with access_log=False): a logger without handlers
    # that does not propagate, as uvicorn leaves it. uvicorn formats a line for every request, even one
    # the level drops, whenever the access logger has a handler up its chain.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False


# --- metrics ----------------------------------------------------------------------------------
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry  # what /metrics exposes
    request_seconds: Histogram
    cards_returned: Counter
    fhir_fetch_seconds: Histogram
    fhir_fetch_failures: Counter
    feedback_outcomes: Counter
    multiprocess: bool

    @classmethod
    def create(cls, multiprocess_dir: str | None = None) -> Metrics:
        """Metrics in a fresh registry; multiprocess mode when ``multiprocess_dir`` is given."""
        # In multiprocess mode the values live in mmap files; the collector reads them all.
        own = CollectorRegistry(auto_describe=True)
        if multiprocess_dir:
            exposed = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(exposed, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        else:
            exposed = own
        return cls(
            registry=exposed,
            request_seconds=Histogram(
                "cds_http_request_duration_seconds",
                "HTTP request latency by route template and status code.",
                ["endpoint", "status"],
                buckets=_LATENCY_BUCKETS,
                registry=own,
            ),
            cards_returned=Counter(
                "cds_cards_returned",
                "Cards returned to CDS clients, by rule.",
                ["rule_id"],
                registry=own,
            ),
            fhir_fetch_seconds=Histogram(
                "cds_fhir_fetch_duration_seconds",
                "Latency of fetches from the client's FHIR server, by outcome (ok|error).",
                ["outcome"],
                buckets=_LATENCY_BUCKETS,
                registry=own,
            ),
            fhir_fetch_failures=Counter(
                "cds_fhir_fetch_failures",
                "Failed fetches from the client's FHIR server, by reason.",
                ["reason"],
                registry=own,
            ),
            feedback_outcomes=Counter(
                "cds_feedback_outcomes",
                "Feedback outcomes received, by rule and outcome (accepted|overridden).",
                ["rule_id", "outcome"],
                registry=own,
            ),
            multiprocess=bool(multiprocess_dir),
        )


METRICS = Metrics.create(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None)
UNKNOWN_LABEL = "unknown"


# The labelled children are kept: label values come from bounded sets (route templates, status codes,
# rule ids), as any metric's must, so these caches stay small.
@cache
def _request_seconds(endpoint: str, status: int | str) -> Histogram:
    return METRICS.request_seconds.labels(endpoint=endpoint, status=str(status))


@cache
def _cards_returned(rule_id: str) -> Counter:
    return METRICS.cards_returned.labels(rule_id=rule_id)


def observe_request(endpoint: str, status: int | str, seconds: float) -> None:
    """``endpoint`` must be the route template (``/cds-services/{id}``), never the raw path."""
    _request_seconds(endpoint, status).observe(seconds)


def count_cards(rule_ids: Iterable[str]) -> None:
    for rule_id in rule_ids:
        _cards_returned(rule_id).inc()


def observe_fhir_fetch(seconds: float, ok: bool, reason: str | None = None) -> None:
    METRICS.fhir_fetch_seconds.labels(outcome="ok" if ok else "error").observe(seconds)
    if not ok:
        METRICS.fhir_fetch_failures.labels(reason=reason or UNKNOWN_LABEL).inc()


def count_feedback(rule_id: str | None, outcome: str) -> None:
    METRICS.feedback_outcomes.labels(rule_id=rule_id or UNKNOWN_LABEL, outcome=outcome).inc()


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text exposition of :data:`METRICS` and its content type."""
    return generate_latest(METRICS.registry), CONTENT_TYPE_LATEST


def route_template(scope: dict[str, Any] | Any, fallback: str = "(unmatched)") -> str:
    """The matched route's path template from an ASGI scope (or a Request), for the endpoint label.

    Unmatched requests (404s) share one label so that scanning random paths cannot grow the metric.
    """
    actual = getattr(scope, "scope", scope)
    route = actual.get("route") if isinstance(actual, dict) else None
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else fallback


# --- the log line of a CDS call ---------------------------------------------------------------
call_logger = logging.getLogger("cds.call")
CDS_PREFIX = "/cds-services"


def call_log() -> dict[str, Any]:
    """The current CDS call's log details, to fill in (a throwaway dict outside a request)."""
    details = call_log_var.get()
    return details if details is not None else {}


#: How much of an unmatched path under /cds-services its log line shows.
MAX_PATH_SHOWN = 80
TRAILING_SLASH_HINT = "the discovery URL was entered with a trailing slash: use .../cds-services"


def _shown_path(path: str) -> str:
    """An unmatched path as its log line shows it: cut at MAX_PATH_SHOWN, unprintable characters as ?."""
    cut = path[:MAX_PATH_SHOWN]
    return "".join(c if c.isprintable() else "?" for c in cut) + ("..." if len(path) > len(cut) else "")


def log_call(method: str, endpoint: str, status: int, seconds: float, path: str = "") -> None:
    """One INFO line per CDS call (discovery, hook, feedback): endpoint, status, hookInstance, prefetch
    keys given / fetched / missing, cards, duration. Only what the route noted: never patient data or
    tokens (the route notes ids, key names and counts).

    A request whose ``path`` (never the query string) is under /cds-services but matched no route gets
    its line too, with the path shortened: a CDS client calling a wrong URL is otherwise invisible. A
    ``//`` in it is what the Sandbox sends after a discovery URL entered with a trailing slash."""
    hint = None
    if not endpoint.startswith(CDS_PREFIX):
        if not path.startswith(CDS_PREFIX):
            return
        endpoint = _shown_path(path)
        if "//" in path:
            hint = TRAILING_SLASH_HINT
    details = call_log()
    prefetch = details.get("prefetch") or {}
    extra: dict[str, Any] = {
        "endpoint": f"{method} {endpoint}",
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "hookInstance": details.get("hookInstance"),
        "prefetch_given": prefetch.get("given", []),
        "prefetch_fetched": prefetch.get("fetched", []),
        "prefetch_missing": prefetch.get("missing", []),
        "cards": details.get("cards"),
        "feedback_items": details.get("feedback"),
    }
    if hint:
        extra["hint"] = hint
    call_logger.info(
        "%s %s %d in %.1f ms%s",
        method,
        endpoint,
        status,
        seconds * 1000,
        f" ({hint})" if hint else "",
        extra=extra,
    )


# --- several worker processes -----------------------------------------------------------------
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_metrics(workers: int) -> str | None:
    """Before starting ``workers`` > 1 worker processes: a fresh, empty folder for prometheus-client's
    multiprocess mode in ``PROMETHEUS_MULTIPROC_DIR`` (the workers inherit it), so that ``/metrics``
    of any worker aggregates all of them. An operator's own setting is kept. Returns the folder."""
    if workers <= 1:
        return os.environ.get(MULTIPROC_ENV) or None
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        folder = tempfile.mkdtemp(prefix=f"cds-metrics-{int(time.time())}-")
        os.environ[MULTIPROC_ENV] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # in the process that made it
    return folder


def mark_process_dead(pid: int) -> None:
    """Multiprocess mode: drop a dead worker's live-gauge files (call from the worker-exit hook)."""
    if METRICS.multiprocess:
        prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]

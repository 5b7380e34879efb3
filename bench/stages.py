"""Where a call's time goes, in process: each step of the pipeline, and the whole ASGI app around it.

    .venv/bin/python -m bench.stages                  # 5-30 and 100 resources, 200 patients each
    .venv/bin/python -m bench.stages --size 1000      # any size class of bench.run

No server and no load tool: the bodies of a size class (the ones bench.run sends, bench.run.size_class)
go through the service's own steps (decode, select, profile, rules, cards), each timed on its own over
all the bodies; through the five steps one call at a time (``PatientViewService.call``, as the route
runs them); through the whole ASGI app (FastAPI, its middleware and the route, CDS_AUTH=off, log level
WARNING as in bench.run); and through the app with the pipeline replaced by an empty answer (the HTTP
framework and middleware alone). Prints the best of ``--rounds`` interleaved rounds per row in ms a
call. The steps cost more one call at a time than each over all the bodies (the same instructions under
valgrind, colder caches); "the rest" is the whole app minus the framework and the steps one call at a
time. Ratios between rows are what to read: absolute times drift on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from collections.abc import Callable
from datetime import date
from typing import Any
from unittest import mock

import orjson

from bench.run import SERVICE_PATH, SIZE_CLASSES, size_class


def timed_ms(step: Callable[[], object], calls: int) -> float:
    """One run of ``step``, in ms a call, with the cyclic collector paused as the service pauses it
    during a call (the parsed charts of all the bodies, held at once by the batched steps, would
    otherwise be traced again and again)."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        step()
        return (time.perf_counter() - started) * 1000 / calls
    finally:
        gc.enable()


def measure(bodies: list[bytes], rounds: int) -> dict[str, float]:
    """Best of ``rounds`` per row, the rows measured in turn within each round (interleaved), so that a
    burst of load from elsewhere on the machine does not land on one row only."""
    from cds.api import routes
    from cds.app import create_app

    app = create_app()
    service = app.state.service
    n = len(bodies)
    best: dict[str, float] = {}

    def note(name: str, ms: float) -> None:
        best[name] = min(ms, best.get(name, float("inf")))

    for _ in range(rounds):
        note(WHOLE, asyncio.run(_app_ms(app, bodies)))
        with mock.patch.object(routes, "_answer_from_prefetch", lambda service, body: {"cards": []}):
            note(FRAMEWORK, asyncio.run(_app_ms(app, bodies)))
        note(ONE_AT_A_TIME, timed_ms(lambda: [service.call(b) for b in bodies], n))
        for name, step in _batched_steps(service, bodies).items():
            note(name, timed_ms(step, n))
    steps_ms = sum(best[name] for name in STEPS)
    figures = {name: best[name] for name in STEPS}
    figures[ONE_AT_A_TIME] = best[ONE_AT_A_TIME]
    figures[CACHES] = best[ONE_AT_A_TIME] - steps_ms
    figures[FRAMEWORK] = best[FRAMEWORK]
    figures[REST] = best[WHOLE] - best[FRAMEWORK] - best[ONE_AT_A_TIME]
    figures[WHOLE] = best[WHOLE]
    return figures


STEPS = (
    "decode the request",
    "select and check resources",
    "derive the profile",
    "match the rules",
    "write the cards",
)
ONE_AT_A_TIME = "the five steps one call at a time (PatientViewService.call for each body)"
CACHES = "... of which running them one call at a time rather than each over all the bodies"
FRAMEWORK = "HTTP framework and middleware (the app answering no cards)"
REST = "the rest: the route around the steps, and running them inside the app"
WHOLE = "whole ASGI app"


def _batched_steps(service: Any, bodies: list[bytes]) -> dict[str, Callable[[], object]]:
    """Each step over all the bodies at once (its inputs made beforehand): what each step costs."""
    from cds.fhir.prefetch import chart_of
    from cds.fhir.select import select_resources
    from cds.pathway.engine import evaluate
    from cds.pathway.render import render_cards
    from cds.profile.derive import build_profile

    terminology = service.knowledge.terminology
    today = date.today()
    calls = [service.prepare(body) for body in bodies]
    selections = [
        select_resources(chart_of(c.keyed), patient_id=c.context.patientId, terminology=terminology)
        for c in calls
    ]
    issues = [
        [*(i for d in c.keyed.values() for i in d.issues.list()), *s.issues]
        for c, s in zip(calls, selections, strict=True)
    ]

    def profiles() -> list[Any]:
        return [
            build_profile(
                s.resources,
                patient_id=c.context.patientId,
                today=today,
                terminology=terminology,
                thresholds=service.thresholds,
                issues=i,
            )
            for c, s, i in zip(calls, selections, issues, strict=True)
        ]

    built = profiles()
    matched = [evaluate(p, service.knowledge) for p in built]
    return dict(
        zip(
            STEPS,
            [
                lambda: [service.prepare(b) for b in bodies],
                lambda: [
                    select_resources(
                        chart_of(c.keyed), patient_id=c.context.patientId, terminology=terminology
                    )
                    for c in calls
                ],
                profiles,
                lambda: [evaluate(p, service.knowledge) for p in built],
                lambda: [
                    orjson.dumps({"cards": render_cards(m, p, service.knowledge)})
                    for m, p in zip(matched, built, strict=True)
                ],
            ],
            strict=True,
        )
    )


async def _app_ms(app: Any, bodies: list[bytes]) -> float:
    """One pass over the bodies through the app, after a warm-up pass, in ms a call."""

    async def call(body: bytes) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": SERVICE_PATH,
            "raw_path": SERVICE_PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"status {message['status']}")

        await app(scope, receive, send)

    async with app.router.lifespan_context(app):
        for body in bodies:  # warm-up
            await call(body)
        started = time.perf_counter()
        for body in bodies:
            await call(body)
        return (time.perf_counter() - started) * 1000 / len(bodies)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", action="append", choices=list(SIZE_CLASSES), help="size class; repeatable")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20260601)
    args = ap.parse_args(argv)
    os.environ.update({"CDS_AUTH": "off", "CDS_LOG_LEVEL": "WARNING"})
    os.environ.setdefault("CDS_DATA_DIR", tempfile.mkdtemp(prefix="cds-stages-"))
    for size in args.size or ["5-30", "100"]:
        bodies = [orjson.dumps(request) for request in size_class(size, args.seed)]
        figures = measure(bodies, args.rounds)
        print(f"\n{size} resources, {len(bodies)} patients, ms a call (best of {args.rounds} rounds)\n")
        print("| step | ms a call | share of the app |\n|---|---|---|")
        whole = figures["whole ASGI app"]
        for name, ms in figures.items():
            print(f"| {name} | {ms:.3f} | {100 * ms / whole:.0f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where splitting a large request pays (cds.fhir.split): whole-body parse against split, in process.

    .venv/bin/python -m bench.split                 # sources (the dev venv)
    bench/.venvs/service/bin/python -m bench.split  # the compiled build, once bench.run has built it

For charts of 1,000 to 10,000 resources (bench.generate), times a whole hook call both ways with the
same service, in turn, the collector paused as the route does, and prints the median of each and the
ratio split/whole measured in the same run: below 1, splitting is faster. SPLIT_ABOVE_BYTES sits where
the ratio crosses 1.
"""

from __future__ import annotations

import argparse
import statistics
import time

import orjson

from bench.generate import make_request, strip_private
from cds.fhir.client import NoFetcher
from cds.fhir.split import SPLIT_ABOVE_BYTES
from cds.pathway.knowledge import load_knowledge
from cds.service import PatientViewService, collector_paused
from cds.settings import Settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,2000,3000,5000,10000")
    ap.add_argument("--patients", type=int, default=4, help="distinct patients per size")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    settings = Settings(auth="off")
    knowledge = load_knowledge(settings.knowledge_dir)
    services = {
        "whole": PatientViewService(settings, knowledge, NoFetcher(), split_above_bytes=2**62),
        "split": PatientViewService(settings, knowledge, NoFetcher(), split_above_bytes=0),
    }
    print(f"SPLIT_ABOVE_BYTES = {SPLIT_ABOVE_BYTES:,}\n")
    print("| resources | body KB | whole p50 ms | split p50 ms | split/whole |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        bodies = [orjson.dumps(strip_private(make_request(i, size))) for i in range(args.patients)]
        times: dict[str, list[float]] = {name: [] for name in services}
        for _ in range(args.rounds):
            for body in bodies:
                for name, service in services.items():  # in turn: drift hits both alike
                    started = time.perf_counter()
                    with collector_paused():
                        answer = service.call(body)
                        del answer
                    times[name].append(time.perf_counter() - started)
        whole, split = (statistics.median(times[n]) * 1e3 for n in ("whole", "split"))
        kb = statistics.median(len(b) for b in bodies) / 1024
        print(f"| {size:,} | {kb:,.0f} | {whole:.2f} | {split:.2f} | {split / whole:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

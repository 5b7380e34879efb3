"""Where the service's time goes under the benchmark's load: py-spy on a live worker.

    .venv/bin/python -m bench.profile                 # 1 worker, 16 connections, 15 s of samples
    .venv/bin/python -m bench.profile --resources 10000 --connections 1

Starts ``cds-mbc serve`` (1 worker), drives it with the same NDJSON bodies and load tool as
``bench.run`` (run that once first, or this generates the bodies), samples the worker with py-spy
(installed into bench/.venvs/tools on first use) and prints the share of samples per function, inclusive
(the function and what it calls) and self. Idle threads are left out. The collapsed stacks are written
to bench/results/profile.collapsed (load into speedscope.app or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import generate, run

TOOLS = run.BENCH / ".venvs" / "tools"


def ensure_pyspy() -> Path:
    exe = TOOLS / "bin" / "py-spy"
    if not exe.exists():
        run.log("installing py-spy into bench/.venvs/tools")
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(TOOLS)], check=True)
        subprocess.run([str(TOOLS / "bin" / "pip"), "install", "-q", "py-spy"], check=True)
    return exe


def summarise(collapsed: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(f) for f in stack.split(";")]
        if any(f.startswith(("Condition.wait", "Queue.get", "select ", "_worker ")) for f in frames[-1:]):
            continue  # idle threads
        n = int(count)
        total += n
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples (busy threads only)", "", "| inclusive % | function |", "|---|---|"]
    ours = [(k, v) for k, v in inclusive.most_common() if "(cds/" in k and "cds/cli.py" not in k]
    lines += [f"| {100 * v / total:.1f} | `{k}` |" for k, v in ours[:top]]
    lines += ["", "| self % | function |", "|---|---|"]
    lines += [f"| {100 * v / total:.1f} | `{k}` |" for k, v in own.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """'func (/x/site-packages/pkg/file.py:12)' -> 'func (pkg/file.py)'; project files keep 'cds/...'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if path.startswith("cds/") or "/cds/" in path:
        return f"{name} (cds/{('/' + path).rsplit('/cds/', 1)[1]})"
    parts = path.split("/")
    return f"{name} ({'/'.join(parts[-2:])})" if path else name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument(
        "--resources", type=int, default=None, help="fixed record size (default: the 500 patients)"
    )
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args(argv)
    pyspy = ensure_pyspy()
    run.WORK.mkdir(parents=True, exist_ok=True)
    run.RESULTS.mkdir(parents=True, exist_ok=True)
    if args.resources:
        bodies = run.WORK / f"profile-size{args.resources}.ndjson"
        run.write_ndjson(bodies, [generate.make_request(50_000 + i, args.resources) for i in range(5)])
    else:
        bodies = run.WORK / "prefetch.ndjson"
        if not bodies.exists():
            run.write_ndjson(bodies, list(generate.iter_requests(500)))
    tool = run.ensure_wrk()
    out = run.RESULTS / "profile.collapsed"
    with tempfile.TemporaryDirectory(prefix="cds-profile-") as tmp:
        server = run.make_servers(1, Path(tmp), with_peer=False)[1]
        if server.error:
            print(f"service not available: {server.error}")
            return 1
        with run.running(server, run.first_line(bodies)):
            if server.error or server.proc is None:
                print(f"service did not start: {server.error}")
                return 1
            worker = run.worker_pids(server.proc.pid)[0]
            result: dict[str, object] = {}

            def drive() -> None:
                result.update(
                    run.load(tool, server.port, server.path, bodies, args.connections, args.seconds + 3)
                )

            loader = threading.Thread(target=drive)
            loader.start()
            subprocess.run(
                [str(pyspy), "record", "-p", str(worker), "-d", str(int(args.seconds)), "-r", str(args.rate),
                 "--format", "raw", "-o", str(out), "--nonblocking"],
                check=False, capture_output=True,
            )  # fmt: skip
            loader.join()
    print(f"load: {result.get('rps')} req/s, p50 {result.get('p50_ms')} ms, p99 {result.get('p99_ms')} ms")
    print(summarise(out, args.top))
    print(f"\ncollapsed stacks: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

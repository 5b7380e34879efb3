"""The benchmark in one command: service vs HTTP floor vs HealthChain, on this machine.

One module (~1,100 lines) on purpose: it is read top to bottom in the order it runs (utilities, servers,
load tool, data, build, phases, report), and nothing in it is shared with the service.

    .venv/bin/python -m bench.run --soak 100000   # full run, ~15 minutes on 2 cores
    .venv/bin/python -m bench.run --quick         # smoke run, ~3 minutes

What it does (all on 127.0.0.1; every loop is bounded by a duration or a call count):
 0. installs the service as the container image does (``pip install .``) into bench/.venvs/service;
 1. generates distinct synthetic patients (bench/generate.py) in request size classes (5-30, 100, 1,000
    and 10,000 resources) and the 10..10,000-resource patients, as NDJSON request bodies in bench/work/;
 2. makes sure a load tool exists: wrk (``apt-get install -y wrk`` when root), else bench/loadgen.py;
 3. makes the HealthChain peer's own venv (bench/.venvs/healthchain) if missing;
 4. throughput per size class: floor, service and HealthChain, 1 uvicorn worker, 16 connections, every
    request a different patient; request and response bytes; start-up time to the first answered call;
 5. latency vs record size (10..10,000 resources), single connection, service and floor;
 6. fetch path: no prefetch, the service fetches from bench/fhir_stub.py which answers after 50 ms;
 7. memory: RSS of each service worker after warm-up and through a soak of N calls;
 8. writes bench/results/latest.json and bench/results/latest.md and prints the Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import generate

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
RESULTS = BENCH / "results"
PEER_VENV = BENCH / ".venvs" / "healthchain"
#: The HealthChain release the peer runs: pinned, so that runs on different days meet the same peer (the
#: unpinned install of 2026-12-07 17:55 took 0.16.1, which cost 0.98 ms of CPU a call at 5-30 resources
#: where the peer of the run before, release not recorded, had cost 2.13).
PEER_VERSION = "0.16.1"
SERVICE_VENV = BENCH / ".venvs" / "service"  # the service installed as the container installs it
LUA = BENCH / "wrk_cycle.lua"
SERVICE_PATH = "/cds-services/mbc-treatment-options"
PEER_PATH = "/cds/cds-services/mbc-treatment-options"
PY = Path(sys.executable)
SERVER_PY = PY  # the venv the service and the floor run from (main() switches it to the installed build)
# Request sizes: what this service's prefetch templates return for most patients (5-30 resources, a
# different size each request), and larger charts
SIZE_CLASSES: dict[str, tuple[int, int, int]] = {  # name: (fewest, most resources, distinct patients)
    "5-30": (5, 30, 200),
    "100": (100, 100, 200),
    "1000": (1000, 1000, 40),
    "10000": (10000, 10000, 6),
}
SCALING_SIZES = (10, 30, 100, 1000, 10000)


# --- small utilities ------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(port: int, path: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ms(us: float) -> float:
    return round(us / 1000.0, 3)


# --- process tree and memory (from /proc, no extra dependency) ----------------------------------------


def _children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root`` and all its descendants (contention-independent cost)."""
    kids = _children_map()
    total = 0.0
    stack = [root]
    while stack:
        pid = stack.pop()
        stack.extend(kids.get(pid, []))
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    return total


def worker_pids(root: int) -> list[int]:
    """Processes that serve requests: the leaves of the server's process tree (not resource trackers)."""
    kids = _children_map()
    leaves: list[int] = []
    stack = [root]
    while stack:
        pid = stack.pop()
        children = [c for c in kids.get(pid, []) if "resource_tracker" not in _cmdline(c)]
        if children:
            stack.extend(children)
        else:
            leaves.append(pid)
    return sorted(leaves)


# --- servers --------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    kind: str  # service | floor | peer
    workers: int
    cmd: list[str]
    path: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    startup_s: float | None = None
    error: str | None = None
    log_path: Path | None = None

    def start(self, probe_body: bytes, timeout: float = 60.0) -> bool:
        self.port = free_port()
        cmd = [c.replace("{port}", str(self.port)) for c in self.cmd]
        env = {**os.environ, **{k: v.replace("{port}", str(self.port)) for k, v in self.env.items()}}
        self.log_path = WORK / f"server-{self.name}.log"
        logfile = self.log_path.open("wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
        )
        logfile.close()
        deadline = t0 + timeout
        last = ""
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                self.error = f"exited with {self.proc.returncode}: {self.tail()}"
                return False
            try:
                status, body = post(self.port, self.path, probe_body, timeout=10)
                if status == 200:
                    self.startup_s = round(time.perf_counter() - t0, 3)
                    return True
                last = f"HTTP {status}: {body[:300]!r}"
                if status not in (502, 503):
                    self.error = f"first call answered {last}"
                    self.startup_s = round(time.perf_counter() - t0, 3)
                    return False
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.02)
        self.error = f"no answer within {timeout}s ({last}); {self.tail()}"
        return False

    def tail(self, n: int = 600) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-n:]
        return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def rss(self) -> dict[str, Any]:
        if self.proc is None:
            return {}
        pids = worker_pids(self.proc.pid)
        per = {str(p): rss_mb(p) for p in pids}
        return {"master_mb": rss_mb(self.proc.pid) if pids != [self.proc.pid] else None, "workers_mb": per}


@contextlib.contextmanager
def running(server: Server, probe_body: bytes) -> Iterator[Server]:
    try:
        server.start(probe_body)
        yield server
    finally:
        server.stop()


def uvicorn_args(workers: int) -> list[str]:
    return [
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def service_cmd(workers: int) -> list[str] | None:
    exe = SERVER_PY.parent / "cds-mbc"
    if exe.exists():
        return [str(exe), "serve", "--host", "127.0.0.1", "--port", "{port}", "--workers", str(workers)]
    if (ROOT / "cds" / "cli.py").exists():
        return [
            str(PY),
            "-m",
            "cds.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            str(workers),
        ]
    return None


def make_servers(workers: int, data_dir: Path, with_peer: bool) -> list[Server]:
    servers = [
        Server(
            f"floor-w{workers}",
            "floor",
            workers,
            [str(SERVER_PY), "-m", "uvicorn", "bench.floor:app", *uvicorn_args(workers)],
            SERVICE_PATH,
        ),
    ]
    cmd = service_cmd(workers)
    svc_env = {
        "CDS_AUTH": "off",
        "CDS_DATA_DIR": str(data_dir),
        "CDS_LOG_LEVEL": "WARNING",
        "CDS_FHIR_SERVER_ALLOWLIST": "*",
        "CDS_PUBLIC_BASE_URL": "http://127.0.0.1:{port}",
    }
    svc = Server(f"service-w{workers}", "service", workers, cmd or [], SERVICE_PATH, svc_env)
    if cmd is None:
        svc.error = "no `cds-mbc` console script and no cds/cli.py yet"
    servers.append(svc)
    if with_peer:
        servers.append(
            Server(
                f"healthchain-w{workers}",
                "peer",
                workers,
                [
                    str(PEER_VENV / "bin" / "uvicorn"),
                    "app:app",
                    "--app-dir",
                    str(BENCH / "peer_healthchain"),
                    *uvicorn_args(workers),
                ],
                PEER_PATH,
                {"PYTHONDONTWRITEBYTECODE": "1"},
            )
        )
    return servers


# --- load tool ------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    if shutil.which("wrk"):
        return "wrk"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk missing: apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        rc = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True
        ).returncode
        if rc != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True)
        if shutil.which("wrk"):
            return "wrk"
    log("wrk unavailable: using the Python load generator (bench/loadgen.py)")
    return "python"


def load(tool: str, port: int, path: str, bodies: Path, connections: int, seconds: float) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}{path}"
    if tool == "wrk":
        threads = min(2, connections)
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "60s",
            "-s",
            str(LUA),
            url,
            "--",
            str(bodies),
        ]
    else:
        cmd = [str(PY), "-m", "bench.loadgen", url, str(bodies), "-c", str(connections), "-d", str(seconds)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            raw = json.loads(line[8:])
            lat = raw["latency_us"]
            dur = raw["duration_us"] / 1e6
            errors = raw["errors"]
            return {
                "requests": raw["requests"],
                "seconds": round(dur, 2),
                "rps": round(raw["requests"] / dur, 1) if dur else 0.0,
                "p50_ms": ms(lat["p50"]),
                "p90_ms": ms(lat["p90"]),
                "p99_ms": ms(lat["p99"]),
                "p999_ms": ms(lat["p999"]),
                "max_ms": ms(lat["max"]),
                "mean_ms": ms(lat["mean"]),
                "errors": {k: v for k, v in errors.items() if v},
                "connections": connections,
                "bytes_per_response": round(raw["bytes"] / raw["requests"]) if raw["requests"] else None,
            }
    raise RuntimeError(f"load tool gave no summary (rc={out.returncode}): {out.stderr[-500:]}")


# --- data -----------------------------------------------------------------------------------------


def write_ndjson(path: Path, requests: list[dict[str, Any]]) -> None:
    with path.open("wb") as fh:
        for req in requests:
            fh.write(orjson.dumps(generate.strip_private(req)) + b"\n")


def size_class(name: str, seed: int) -> list[dict[str, Any]]:
    """The requests of a size class (SIZE_CLASSES): distinct patients, each of a size drawn in the range."""
    fewest, most, count = SIZE_CLASSES[name]
    rng = random.Random(seed)
    return [generate.make_request(20_000 + i, rng.randint(fewest, most), seed) for i in range(count)]


def prepare_data(n_patients: int, scaling_variants: int, seed: int) -> dict[str, Any]:
    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    reqs = [generate.make_request(i, None, seed) for i in range(n_patients)]
    write_ndjson(WORK / "prefetch.ndjson", reqs)
    sizes = [generate.count_resources(r) for r in reqs]
    bytes_ = [len(orjson.dumps(r)) for r in reqs]
    sized: dict[str, Path] = {}
    for name in SIZE_CLASSES:
        path = WORK / f"class{name}.ndjson"
        write_ndjson(path, size_class(name, seed))
        sized[name] = path
    scaling: dict[int, Path] = {}
    for size in SCALING_SIZES:
        path = WORK / f"size{size}.ndjson"
        write_ndjson(path, [generate.make_request(10_000 + v, size, seed) for v in range(scaling_variants)])
        scaling[size] = path
    info = {
        "patients": n_patients,
        "distinct_patient_ids": len({r["context"]["patientId"] for r in reqs}),
        "resources_min": min(sizes),
        "resources_median": statistics.median(sizes),
        "resources_max": max(sizes),
        "body_kb_median": round(statistics.median(bytes_) / 1024, 1),
        "seed": seed,
        "generate_s": round(time.perf_counter() - t0, 2),
    }
    return {
        "info": info,
        "prefetch": WORK / "prefetch.ndjson",
        "sized": sized,
        "scaling": scaling,
        "requests": reqs,
    }


def first_line(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.readline().strip()


# --- the build the container runs ---------------------------------------------------------------


def _source_digest() -> str:
    digest = hashlib.sha256()
    files = [ROOT / "pyproject.toml", *(ROOT / "cds").rglob("*.py"), *(ROOT / "cards").rglob("*")]
    for path in sorted(p for p in files if p.is_file()):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def ensure_installed() -> str | None:
    """bench/.venvs/service: ``pip install .``, as docker/Dockerfile installs the service (a wheel of
    the sources), pinned to this venv's package versions; the floor runs from it too (the same Python
    and uvicorn, by construction). Rebuilt when cds/, cards/ or pyproject.toml change. None when ready,
    else the error."""
    py = SERVICE_VENV / "bin" / "python"
    stamp = SERVICE_VENV / "source.sha256"
    digest = _source_digest()
    if py.exists() and stamp.exists() and stamp.read_text() == digest:
        return None
    log("installing the service as the container does (pip install .) into bench/.venvs/service")
    shutil.rmtree(SERVICE_VENV, ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    constraints = WORK / "constraints.txt"
    frozen = subprocess.run(
        [str(PY), "-m", "pip", "freeze", "--exclude", "cds-mbc"], capture_output=True, text=True, check=True
    )
    constraints.write_text(frozen.stdout)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(SERVICE_VENV)],
        [str(py), "-m", "pip", "install", "-q", "-c", str(constraints), str(ROOT)],
        [str(py), "-c", "import cds; assert '.venvs/service' in cds.__file__, cds.__file__"],
    ]
    for step in steps:
        out = subprocess.run(step, capture_output=True, text=True, timeout=1200, cwd=WORK)
        if out.returncode != 0:
            return f"`{' '.join(step)}` failed: {out.stderr[-800:]}"
    stamp.write_text(digest)
    return None


# --- peer -----------------------------------------------------------------------------------------


def ensure_peer() -> str | None:
    """Create bench/.venvs/healthchain with HealthChain ``PEER_VERSION`` and uvicorn; None when ready."""
    uvicorn = PEER_VENV / "bin" / "uvicorn"
    if uvicorn.exists() and (PEER_VENV / "bin" / "python").exists():
        probe = subprocess.run(
            [str(PEER_VENV / "bin" / "python"), "-c", "import healthchain.gateway"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and peer_version() == PEER_VERSION:
            return None
    log(f"making the HealthChain venv (bench/.venvs/healthchain): pip install healthchain=={PEER_VERSION}")
    PEER_VENV.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(PEER_VENV)],
        [str(PEER_VENV / "bin" / "pip"), "install", "-q", f"healthchain=={PEER_VERSION}", "uvicorn"],
    ]
    for step in steps:
        try:
            out = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(step)}` timed out after 900 s"
        if out.returncode != 0:
            return f"`{' '.join(step)}` failed: {out.stderr[-800:]}"
    return None


def peer_version() -> str | None:
    out = subprocess.run(
        [
            str(PEER_VENV / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('healthchain'))",
        ],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or None


# --- phases ---------------------------------------------------------------------------------------


def sanity(server: Server, bodies: Path, n: int = 20) -> dict[str, Any]:
    """POST the first n bodies once; count statuses and cards (so a 4xx storm is never reported as speed)."""
    statuses: dict[str, int] = {}
    cards: list[int] = []
    sizes: list[int] = []
    requests: list[int] = []
    with bodies.open("rb") as fh:
        for _, line in zip(range(n), fh, strict=False):
            status, raw = post(server.port, server.path, line.strip())
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            requests.append(len(line.strip()))
            if status == 200:
                sizes.append(len(raw))
                with contextlib.suppress(Exception):
                    cards.append(len(orjson.loads(raw).get("cards", [])))
    return {
        "statuses": statuses,
        "cards_per_call": cards,
        "request_bytes_median": statistics.median(requests) if requests else None,
        "response_bytes_median": statistics.median(sizes) if sizes else None,
        "response_bytes_max": max(sizes, default=None),
    }


def phase_throughput(
    args: argparse.Namespace, tool: str, data: dict[str, Any], data_dir: Path, with_peer: bool
) -> list[dict[str, Any]]:
    """Each server is started fresh per round; rounds interleave servers so drift hits all alike.

    The reported row is the round with the highest req/s (other tenants of a shared machine only ever
    slow a run down); every round is kept under ``rounds``.
    """
    by_name: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rnd in range(args.rounds):
        for size, bodies in data["sized"].items():
            probe = first_line(bodies)
            for workers in args.workers:
                for server in make_servers(workers, data_dir, with_peer):
                    row: dict[str, Any] = {
                        "name": server.name,
                        "kind": server.kind,
                        "size": size,
                        "workers": workers,
                        "round": rnd,
                    }
                    by_name.setdefault((server.name, size), []).append(row)
                    if server.error:
                        row["error"] = server.error
                        log(f"{server.name}: skipped ({server.error})")
                        continue
                    with running(server, probe):
                        row["startup_s"] = server.startup_s
                        if server.error:
                            row["error"] = server.error
                            log(f"{server.name}: {server.error}")
                            continue
                        row["sanity"] = sanity(server, bodies)
                        # a 10,000-resource call takes ~0.1-0.4 s: a longer window, so that each server
                        # answers enough of them at 16 connections
                        longer = {"1000": 1.5, "10000": 4.0}.get(size, 1.0)
                        load(tool, server.port, server.path, bodies, args.connections, args.warmup * longer)
                        row["loadavg_before"] = os.getloadavg()[0]
                        cpu0 = cpu_seconds(server.proc.pid) if server.proc else 0.0
                        seconds = args.duration * longer
                        result = load(tool, server.port, server.path, bodies, args.connections, seconds)
                        cpu1 = cpu_seconds(server.proc.pid) if server.proc else 0.0
                        if result["requests"]:
                            result["cpu_ms_per_req"] = round((cpu1 - cpu0) * 1000 / result["requests"], 3)
                        row.update(result)
                        if server.kind == "service":
                            row["rss_after_load"] = server.rss()
                        log(
                            f"round {rnd + 1}/{args.rounds} {server.name} {size} resources: {result['rps']} "
                            f"req/s p50 {result['p50_ms']} ms p99 {result['p99_ms']} ms "
                            f"errors {result['errors']}"
                        )
    rows: list[dict[str, Any]] = []
    for runs in by_name.values():
        measured = [r for r in runs if "rps" in r]
        best = dict(max(measured, key=lambda r: r["rps"]) if measured else runs[-1])
        best["rounds"] = [
            {
                k: r.get(k)
                for k in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req", "startup_s", "loadavg_before", "error")
            }
            for r in runs
        ]
        starts = [r["startup_s"] for r in runs if r.get("startup_s") is not None]
        if starts:
            best["startup_s"] = max(starts)
        rows.append(best)
    return rows


def phase_scaling(
    args: argparse.Namespace, tool: str, data: dict[str, Any], data_dir: Path
) -> list[dict[str, Any]]:
    """Single-connection latency per record size; sizes interleaved over rounds, best p50 reported."""
    rows: list[dict[str, Any]] = []
    for server in make_servers(1, data_dir, with_peer=False):
        if server.error:
            rows.append({"name": server.name, "error": server.error})
            continue
        with running(server, first_line(data["prefetch"])):
            if server.error:
                rows.append({"name": server.name, "error": server.error})
                continue
            by_size: dict[int, dict[str, Any]] = {}
            for size, path in data["scaling"].items():
                row: dict[str, Any] = {
                    "name": server.name,
                    "kind": server.kind,
                    "resources": size,
                    "body_kb": round(len(first_line(path)) / 1024, 1),
                    "rounds": [],
                }
                row["sanity"] = sanity(server, path, n=2)
                if "200" not in row["sanity"]["statuses"]:
                    row["error"] = f"status {row['sanity']['statuses']}"
                by_size[size] = row
            chunk = max(2.0, args.scaling_seconds / args.rounds)
            for _ in range(args.rounds):
                for size, path in data["scaling"].items():
                    row = by_size[size]
                    if "error" in row:
                        continue
                    seconds = chunk * (2 if size >= 10000 else 1)
                    cpu0 = cpu_seconds(server.proc.pid) if server.proc else 0.0
                    result = load(tool, server.port, server.path, path, 1, seconds)
                    cpu1 = cpu_seconds(server.proc.pid) if server.proc else 0.0
                    if result["requests"]:
                        result["cpu_ms_per_req"] = round((cpu1 - cpu0) * 1000 / result["requests"], 3)
                    row["rounds"].append(result)
            rss_after = server.rss() if server.kind == "service" else None
            for size, row in by_size.items():
                if rss_after is not None:
                    row["rss_after_all_sizes"] = rss_after
                if row["rounds"]:
                    best = min(row["rounds"], key=lambda r: r["p50_ms"])
                    row.update({k: v for k, v in best.items() if k != "rounds"})
                    row["p50_ms_all_rounds"] = [r["p50_ms"] for r in row["rounds"]]
                    row["cpu_ms_per_req"] = min(r.get("cpu_ms_per_req", 1e9) for r in row["rounds"])
                    del row["rounds"]
                    log(f"{server.name} {size} resources: p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms")
                rows.append(row)
    return rows


def phase_fetch(args: argparse.Namespace, tool: str, data: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    stub_port = free_port()
    base = f"http://127.0.0.1:{stub_port}/fhir"
    reqs = [
        generate.make_request(i, None, args.seed, fhir_base=base, prefetch=False)
        for i in range(args.patients)
    ]
    stub_data = WORK / "fetch-stub.ndjson"
    with stub_data.open("wb") as fh:
        for req in reqs:
            fh.write(orjson.dumps(req) + b"\n")
    write_ndjson(WORK / "fetch.ndjson", reqs)
    out: dict[str, Any] = {"delay_ms": args.fhir_delay_ms, "patients": len(reqs)}
    stub_log = (WORK / "fhir-stub.log").open("wb")
    stub = subprocess.Popen(
        [
            str(PY),
            "-m",
            "bench.fhir_stub",
            "--data",
            str(stub_data),
            "--port",
            str(stub_port),
            "--delay-ms",
            str(args.fhir_delay_ms),
            "--max-seconds",
            "900",
        ],
        cwd=ROOT,
        stdout=stub_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stub_log.close()
    try:
        one_query = _stub_query_latency(stub_port, reqs[0]["context"]["patientId"])
        out["one_query_ms"] = one_query
        server = make_servers(1, data_dir, with_peer=False)[1]
        if server.error:
            out["error"] = server.error
            return out
        with running(server, first_line(WORK / "fetch.ndjson")):
            out["startup_s"] = server.startup_s
            if server.error:
                out["error"] = server.error
                return out
            before = _stub_stats(stub_port)
            out["sanity"] = sanity(server, WORK / "fetch.ndjson", n=5)
            after = _stub_stats(stub_port)
            out["queries_per_call"] = round((after - before) / 5, 2)
            out["single"] = load(tool, server.port, server.path, WORK / "fetch.ndjson", 1, args.fetch_seconds)
            out["c16"] = load(
                tool, server.port, server.path, WORK / "fetch.ndjson", args.connections, args.fetch_seconds
            )
            log(
                f"fetch path: one query {one_query} ms; call p50 {out['single']['p50_ms']} ms "
                f"({out['queries_per_call']} queries/call); c16 {out['c16']['rps']} req/s"
            )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stub.pid, signal.SIGTERM)
        stub.wait(10)
    return out


def _stub_stats(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/_stats")
        return int(json.loads(conn.getresponse().read())["queries"])
    finally:
        conn.close()


def _stub_query_latency(port: int, patient_id: str, n: int = 20) -> float:
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            _stub_stats(port)
            break
        except OSError:
            time.sleep(0.05)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", f"/fhir/Observation?patient={patient_id}")
            conn.getresponse().read()
            times.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return round(statistics.median(times) * 1000, 2)


def phase_memory(
    args: argparse.Namespace, tool: str, data: dict[str, Any], data_dir: Path, est_rps: float | None
) -> dict[str, Any]:
    workers = max(args.workers)
    server = make_servers(workers, data_dir, with_peer=False)[1]
    out: dict[str, Any] = {"workers": workers, "target_calls": args.soak}
    if server.error:
        out["error"] = server.error
        return out
    with running(server, first_line(data["prefetch"])):
        if server.error:
            out["error"] = server.error
            return out
        out["startup_s"] = server.startup_s
        out["rss_idle"] = server.rss()
        load(tool, server.port, server.path, data["prefetch"], args.connections, args.warmup)
        out["rss_after_warmup"] = server.rss()
        rps = est_rps or 300.0
        chunk = min(10.0, max(2.0, args.soak / rps / 10))
        samples: list[dict[str, Any]] = []
        chunks: list[dict[str, Any]] = []
        total = 0
        t0 = time.perf_counter()
        while total < args.soak and time.perf_counter() - t0 < args.soak_max_seconds:
            left = (args.soak - total) / max(rps, 1.0)
            result = load(
                tool, server.port, server.path, data["prefetch"], args.connections, min(chunk, left + 1)
            )
            chunks.append(result)
            total += result["requests"]
            if result["requests"] and result["seconds"]:
                rps = result["rps"]
            samples.append({"calls": total, "t_s": round(time.perf_counter() - t0, 1), **server.rss()})
        seconds = sum(c["seconds"] for c in chunks)
        out["soak"] = {
            "requests": total,
            "seconds": round(seconds, 1),
            "rps": round(total / seconds, 1) if seconds else 0.0,
            "p50_ms_median_of_chunks": statistics.median(c["p50_ms"] for c in chunks) if chunks else None,
            "p99_ms_max_of_chunks": max((c["p99_ms"] for c in chunks), default=None),
            "errors": sum(sum(c["errors"].values()) for c in chunks),
        }
        out["rss_after_soak"] = server.rss()
        out["samples"] = samples
        warm = out["rss_after_warmup"]["workers_mb"]
        end = out["rss_after_soak"]["workers_mb"]
        half = next((x for x in samples if x["calls"] >= total / 2), None)
        mid = half["workers_mb"] if half else warm
        out["growth_mb"] = {p: round((end.get(p) or 0) - (warm.get(p) or 0), 1) for p in end}
        out["growth_second_half_mb"] = {p: round((end.get(p) or 0) - (mid.get(p) or 0), 1) for p in end}
        log(f"memory: {total} calls; RSS per worker {end} MB; growth {out['growth_mb']} MB")
    return out


# --- report ---------------------------------------------------------------------------------------


def _row(
    rows: list[dict[str, Any]], kind: str, workers: int, size: str | None = None
) -> dict[str, Any] | None:
    for r in rows:
        if r.get("kind") == kind and r.get("workers") == workers and "rps" in r and r.get("size") == size:
            return r
    return None


def evaluate(res: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def check(name: str, value: float | None, limit: str, ok: bool | None) -> None:
        checks.append({"target": name, "value": value, "limit": limit, "pass": None if value is None else ok})
        if ok is None and value is not None:
            checks[-1]["pass"] = None  # information, not a target

    rows = res.get("throughput", [])
    for size in SIZE_CLASSES:
        for w in res["config"]["workers"]:
            svc, floor, peer = (_row(rows, kind, w, size) for kind in ("service", "floor", "peer"))
            at = f"{size} resources, {w} worker(s)"
            r = round(svc["rps"] / peer["rps"], 2) if svc and peer and peer["rps"] else None
            check(f"throughput service/HealthChain, {at}", r, ">= 2", r is not None and r >= 2)
            r = round(svc["p99_ms"] / floor["p99_ms"], 2) if svc and floor and floor["p99_ms"] else None
            check(
                f"p99 service/floor at {res['config']['connections']} conn, {at}",
                r,
                "<= 3",
                r is not None and r <= 3,
            )
            r = round(svc["rps"] / floor["rps"], 3) if svc and floor and floor["rps"] else None
            check(f"(info) throughput service/floor, {at}", r, "-", None)
            c = (
                round(floor["cpu_ms_per_req"] / svc["cpu_ms_per_req"], 3)
                if svc and floor and svc.get("cpu_ms_per_req") and floor.get("cpu_ms_per_req")
                else None
            )
            check(f"(info) CPU per call floor/service, {at}", c, "-", None)
    scal = {r["resources"]: r for r in res.get("scaling", []) if r.get("kind") == "service" and "p50_ms" in r}
    v = scal.get(100, {}).get("p50_ms")
    check("single connection, 100 resources, p50 ms", v, "< 3", v is not None and v < 3)
    v = scal.get(10000, {}).get("p50_ms")
    check("single connection, 10,000 resources, p50 ms", v, "< 150", v is not None and v < 150)
    if 1000 in scal and 10000 in scal:
        g = round(scal[10000]["p50_ms"] / scal[1000]["p50_ms"], 2)
        check("growth p50(10,000)/p50(1,000) (10 = linear)", g, "<= ~12", g <= 12)
    fetch = res.get("fetch", {})
    if "single" in fetch:
        v = fetch["single"]["p50_ms"]
        lim = 2 * fetch["one_query_ms"]
        check("fetch path p50 ms (50 ms per query)", v, f"< 2 x one query = {lim:.1f}", v < lim)
    mem = res.get("memory", {})
    if "rss_after_soak" in mem:
        per = [v for v in mem["rss_after_soak"]["workers_mb"].values() if v is not None]
        v = max(per) if per else None
        check("RSS per worker after soak, MB", v, "< 200", v is not None and v < 200)
        g = max(mem["growth_second_half_mb"].values()) if mem["growth_second_half_mb"] else None
        check(
            f"RSS growth over second half of {mem['soak']['requests']} calls, MB",
            g,
            "flat (< 5)",
            g is not None and g < 5,
        )
    starts = [r["startup_s"] for r in rows if r.get("kind") == "service" and r.get("startup_s") is not None]
    v = max(starts) if starts else None
    check("start-up to first answered call, s (slowest start)", v, "<= 3", v is not None and v <= 3)
    return checks


def markdown(res: dict[str, Any]) -> str:
    cfg = res["config"]
    lines = [
        f"## Benchmark {res['meta']['date']} (commit {res['meta']['commit']}, {res['meta']['cpus']} cores, "
        f"load tool {res['meta']['load_tool']}, {cfg['mode']} run, "
        f"service build {res['meta'].get('service_build', 'source')}, "
        f"HealthChain {res['meta'].get('healthchain') or 'not run'})",
        "",
        "Data: a different patient every request, in each size class "
        + ", ".join(f"{k} resources ({v[2]} patients)" for k, v in SIZE_CLASSES.items())
        + "; request and response bytes are medians of each server's first 20 answers.",
        "",
        f"### Throughput, {cfg['connections']} connections, {cfg['duration']} s each "
        f"(after {cfg['warmup']} s warm-up)",
        "",
        "| resources | server | workers | req/s | p50 ms | p99 ms | max ms | errors | start-up s "
        "| vs floor req/s | vs floor p99 | server CPU ms/req | request bytes | response bytes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = res.get("throughput", [])
    for r in rows:
        if "rps" not in r:
            lines.append(
                f"| {r.get('size')} | {r['name']} | {r['workers']} | - | - | - | - | "
                f"{r.get('error', '')[:120]} | "
                f"{r.get('startup_s', '-')} | - | - | - | - | - |"
            )
            continue
        floor = _row(rows, "floor", r["workers"], r.get("size"))
        rr = f"{r['rps'] / floor['rps']:.2f}" if floor and floor["rps"] else "-"
        pr = f"{r['p99_ms'] / floor['p99_ms']:.2f}" if floor and floor["p99_ms"] else "-"
        sane = r.get("sanity", {})
        lines.append(
            f"| {r.get('size')} | {r['name']} | {r['workers']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['max_ms']:.1f} | {r['errors'] or 0} | {r.get('startup_s', '-')} | "
            f"{rr} | "
            f"{pr} | {r.get('cpu_ms_per_req', '-')} | {sane.get('request_bytes_median', '-')} | "
            f"{sane.get('response_bytes_median', '-')} |"
        )
    if any(r.get("kind") == "peer" and r.get("error") for r in rows) or res.get("peer_error"):
        lines += ["", f"HealthChain peer: {res.get('peer_error') or 'see errors above'}"]
    lines += (
        []
        if "scaling" not in res
        else [
            "",
            "### Latency vs record size, single connection",
            "",
            "| server | resources | body KB | req/s | p50 ms | p99 ms | server CPU ms/req "
            "| p50 of each round | errors |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
    )
    for r in res.get("scaling", []):
        if "p50_ms" in r:
            lines.append(
                f"| {r['name']} | {r['resources']:,} | {r['body_kb']:,} | {r['rps']:,.1f} | "
                f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r.get('cpu_ms_per_req', '-')} | "
                f"{r.get('p50_ms_all_rounds', '-')} | {r['errors'] or 0} |"
            )
        else:
            lines.append(
                f"| {r['name']} | {r.get('resources', '-')} | {r.get('body_kb', '-')} | - | - | - | - | - | "
                f"{r.get('error', '')[:100]} |"
            )
    big = next((r for r in res.get("scaling", []) if r.get("rss_after_all_sizes")), None)
    if big:
        lines += [
            "",
            f"Service RSS after the size runs (up to 10,000 resources): {big['rss_after_all_sizes']}",
        ]
    f = res.get("fetch", {})
    if f:
        lines += [
            "",
            f"### Fetch path (no prefetch; loopback FHIR stub, {f['delay_ms']:.0f} ms per query)",
            "",
        ]
        if "single" in f:
            lines += [
                "| load | req/s | p50 ms | p99 ms | errors |",
                "|---|---|---|---|---|",
                f"| 1 connection | {f['single']['rps']:,.1f} | {f['single']['p50_ms']:.1f} | "
                f"{f['single']['p99_ms']:.1f} | {f['single']['errors'] or 0} |",
                f"| {cfg['connections']} connections | {f['c16']['rps']:,.1f} | {f['c16']['p50_ms']:.1f} | "
                f"{f['c16']['p99_ms']:.1f} | {f['c16']['errors'] or 0} |",
                "",
                f"One query alone: {f['one_query_ms']} ms; queries per call: {f['queries_per_call']}; "
                f"first calls' statuses: {f['sanity']['statuses']}.",
            ]
        else:
            lines.append(f"Not measured: {f.get('error')}")
    m = res.get("memory", {})
    if m:
        lines += ["", f"### Memory ({m['workers']} workers)", ""]
        if "soak" in m:
            lines += [
                "| point | RSS per worker MB |",
                "|---|---|",
                f"| idle after start | {m['rss_idle']['workers_mb']} |",
                f"| after warm-up | {m['rss_after_warmup']['workers_mb']} |",
                f"| after {m['soak']['requests']:,} calls ({m['soak']['rps']:,.0f} req/s) | "
                f"{m['rss_after_soak']['workers_mb']} |",
                "",
                f"Growth warm-up -> end: {m['growth_mb']} MB; second half of the soak: "
                f"{m['growth_second_half_mb']} MB.",
            ]
        else:
            lines.append(f"Not measured: {m.get('error')}")
    lines += ["", "### Targets", "", "| target | value | limit | pass |", "|---|---|---|---|"]
    for c in res.get("checks", []):
        mark = "n/a" if c["pass"] is None else ("yes" if c["pass"] else "**no**")
        lines.append(
            f"| {c['target']} | {c['value'] if c['value'] is not None else '-'} | {c['limit']} | {mark} |"
        )
    return "\n".join(lines) + "\n"


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Issue 5 benchmark: service vs floor vs HealthChain")
    ap.add_argument("--quick", action="store_true", help="smoke run (~2 minutes): short phases")
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20260601)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", default="1", help="comma-separated uvicorn worker counts")
    ap.add_argument("--duration", type=float, default=None, help="seconds of measured load per server")
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--scaling-seconds", type=float, default=None)
    ap.add_argument("--fetch-seconds", type=float, default=None)
    ap.add_argument("--fhir-delay-ms", type=float, default=50.0)
    ap.add_argument("--soak", type=int, default=None, help="calls in the memory soak (issue: 100000)")
    ap.add_argument("--soak-max-seconds", type=float, default=900.0)
    ap.add_argument(
        "--rounds", type=int, default=None, help="throughput rounds per server (best is reported)"
    )
    ap.add_argument("--no-peer", action="store_true", help="skip HealthChain")
    ap.add_argument(
        "--build",
        choices=("installed", "source"),
        default="installed",
        help="the service installed as the container installs it (pip install .), or the dev venv's",
    )
    ap.add_argument("--phases", default="throughput,scaling,fetch,memory")
    ap.add_argument("--load-tool", choices=("auto", "wrk", "python"), default="auto")
    args = ap.parse_args(argv)
    quick = args.quick
    args.mode = "quick" if quick else "full"
    args.duration = args.duration or (4.0 if quick else 8.0)
    args.warmup = args.warmup or (2.0 if quick else 3.0)
    args.scaling_seconds = args.scaling_seconds or (3.0 if quick else 9.0)
    args.fetch_seconds = args.fetch_seconds or (4.0 if quick else 10.0)
    args.soak = args.soak or (3_000 if quick else 30_000)
    args.rounds = args.rounds or (1 if quick else 2)
    args.workers = [int(w) for w in str(args.workers).split(",") if w]
    args.phases = set(args.phases.split(","))
    if args.patients < 500:
        log(f"note: {args.patients} patients (issue 5 asks for at least 500)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    tool = ensure_wrk() if args.load_tool in ("auto", "wrk") else "python"
    if args.build == "installed":
        build_error = ensure_installed()
        if build_error:
            log(f"the installed build failed: {build_error}")
            return 1
        global SERVER_PY
        SERVER_PY = SERVICE_VENV / "bin" / "python"
    peer_error = None if args.no_peer else ensure_peer()
    if peer_error:
        log(f"HealthChain peer unavailable: {peer_error}")
    with_peer = not args.no_peer and peer_error is None
    log(f"generating {args.patients} patients and the scaling patients")
    data = prepare_data(args.patients, 3 if args.quick else 5, args.seed)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    res: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_tool": tool,
            "service_build": args.build,
            "healthchain": peer_version() if with_peer else None,
            "loadavg_at_start": os.getloadavg(),
        },
        "config": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(args).items()},
        "data": data["info"],
        "peer_error": peer_error,
    }
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as tmp:
        data_dir = Path(tmp)
        if "throughput" in args.phases:
            res["throughput"] = phase_throughput(args, tool, data, data_dir, with_peer)
        if "scaling" in args.phases:
            res["scaling"] = phase_scaling(args, tool, data, data_dir)
        if "fetch" in args.phases:
            res["fetch"] = phase_fetch(args, tool, data, data_dir)
        if "memory" in args.phases:
            svc = _row(res.get("throughput", []), "service", max(args.workers))
            res["memory"] = phase_memory(args, tool, data, data_dir, svc["rps"] if svc else None)
    res["checks"] = evaluate(res)
    res["meta"]["elapsed_s"] = round(time.perf_counter() - started, 1)
    res["meta"]["loadavg_at_end"] = os.getloadavg()
    (RESULTS / "latest.json").write_bytes(orjson.dumps(res, option=orjson.OPT_INDENT_2))
    md = markdown(res)
    (RESULTS / "latest.md").write_text(md)
    print(md)
    log(f"done in {res['meta']['elapsed_s']} s: bench/results/latest.json, bench/results/latest.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

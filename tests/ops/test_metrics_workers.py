"""With several worker processes, /metrics adds up every worker's counts (issue 22): the server is
started as ``cds-mbc serve --workers 2`` starts it, after cds.observability.prepare_multiprocess_metrics."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.fixtures_support import serving

SERVER = """
import sys, uvicorn
from cds.app import uvicorn_options
from cds.observability import prepare_multiprocess_metrics
from cds.settings import get_settings
prepare_multiprocess_metrics(2)
uvicorn.run("cds.app:create_app", factory=True, host="127.0.0.1", port=int(sys.argv[1]), workers=2,
            **uvicorn_options(get_settings()))
"""


def discovery_count(text: str) -> float:
    pattern = r'cds_http_request_duration_seconds_count\{endpoint="/cds-services",status="200"\} (\S+)'
    return sum(float(v) for v in re.findall(pattern, text))


@pytest.mark.slow
def test_metrics_count_the_calls_of_every_worker(tmp_path: Path) -> None:
    env = {"CDS_AUTH": "off", "CDS_DATA_DIR": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": ""}
    with serving(SERVER, env) as base:
        calls = 40
        for _ in range(calls):  # new connections: the kernel spreads them over both workers
            assert httpx.get(base + "/cds-services", timeout=5).status_code == 200
        scrapes = {discovery_count(httpx.get(base + "/metrics", timeout=5).text) for _ in range(6)}
        assert scrapes == {calls}, scrapes  # every scrape, whichever worker answers, sees all calls

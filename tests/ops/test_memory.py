"""A large body's memory is reused by the next call, not faulted in afresh (cds.memory).

Each case runs in its own interpreter: the allocator's settings are per process and cannot be undone.
The program allocates and frees twenty 7 MB blocks of different sizes, as twenty 10,000-resource
requests would, and counts the page faults that costs.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

BLOCK_PAGES = 7 * 1024 * 1024 // 4096
CALLS = 20

PROGRAM = f"""
import resource, sys, tempfile
mode = sys.argv[1]
if mode == "helper":
    from cds.memory import keep_large_blocks
    assert keep_large_blocks()
elif mode == "app":
    from fastapi.testclient import TestClient
    from cds.app import create_app
    from cds.settings import Settings
    client = TestClient(create_app(Settings(auth="off", data_dir=tempfile.mkdtemp())))
    client.__enter__()  # the lifespan: what each server worker runs at start-up
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
before = faults()
for i in range({CALLS}):
    block = b"x" * (7 * 1024 * 1024 + i * 4096)
    del block
print(faults() - before)
"""

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the allocator settings are glibc's",
)


def faults_for(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(  # noqa: S603 - this interpreter, our own program
        [sys.executable, "-c", PROGRAM, mode],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return int(out.stdout.split()[-1])


def test_without_the_setting_every_large_block_is_faulted_in_afresh() -> None:
    # what the service would pay per large call if it left glibc's defaults alone
    assert faults_for("plain") > CALLS // 2 * BLOCK_PAGES


def test_the_helper_keeps_large_blocks_mapped_for_reuse() -> None:
    assert faults_for("helper") < 2 * BLOCK_PAGES


def test_the_started_service_keeps_large_blocks_mapped_for_reuse() -> None:
    assert faults_for("app") < 2 * BLOCK_PAGES


def test_the_operators_own_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from cds.memory import keep_large_blocks

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert keep_large_blocks() is False

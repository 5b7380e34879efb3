from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cds.store import FeedbackStore, ShownCounter


class Sink:
    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[dict[str, int]] = []
        self.fail_times = fail_times
        self.written = threading.Event()

    def add_shown(self, counts: dict[str, int]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("database down")
        self.calls.append(dict(counts))
        self.written.set()

    def total(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for call in self.calls:
            for k, v in call.items():
                out[k] = out.get(k, 0) + v
        return out


def test_add_does_not_write_and_close_flushes() -> None:
    sink = Sink()
    counter = ShownCounter(sink, interval_s=60)
    counter.start()
    counter.add(["r1", "r2", "r1"])
    assert sink.calls == []  # a hook call never reaches the database
    assert counter.pending() == {"r1": 2, "r2": 1}
    counter.close()
    assert sink.total() == {"r1": 2, "r2": 1}
    assert counter.pending() == {}


def test_background_thread_flushes_periodically() -> None:
    sink = Sink()
    with ShownCounter(sink, interval_s=0.05) as counter:
        counter.add(["r1"])
        assert sink.written.wait(5), "no flush within 5 s with a 50 ms interval"
        assert sink.total() == {"r1": 1}


def test_failed_flush_keeps_counts_for_the_next_one() -> None:
    sink = Sink(fail_times=1)
    counter = ShownCounter(sink, interval_s=60)
    counter.add(["r1", "r1"])
    with pytest.raises(RuntimeError):
        counter.flush()
    counter.add(["r1"])
    counter.flush()
    assert sink.total() == {"r1": 3}


def test_concurrent_adds_are_not_lost() -> None:
    sink = Sink()
    counter = ShownCounter(sink, interval_s=0.01)
    counter.start()

    def worker() -> None:
        for _ in range(2000):
            counter.add(["r1", "r2"])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counter.close()
    assert sink.total() == {"r1": 8000, "r2": 8000}


def test_flushes_into_a_real_store(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}")
    store.migrate()
    counter = ShownCounter(store, interval_s=0.05)
    counter.start()
    counter.add(["rule-a"] * 3)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not store.report():
        time.sleep(0.02)
    counter.add(["rule-a"])
    counter.close()
    assert [(s.rule_id, s.shown) for s in store.report()] == [("rule-a", 4)]
    store.close()

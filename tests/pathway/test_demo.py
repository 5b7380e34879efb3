"""`cds-mbc demo` shows the card shape a clinician sees, and the profile in a clinician's words."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds.demo import run_demo
from cds.evidence import Fact
from cds.pathway.knowledge import load_knowledge
from cds.pathway.labels import describe_profile
from cds.settings import default_knowledge_dir
from tests.fixtures_support import FIXTURES_DIR
from tests.pathway.support import hr_positive


@pytest.fixture
def uvicorn_logging_restored() -> Iterator[None]:
    """The demo runs uvicorn in this process, which sets its loggers' levels and handlers: put them back
    so later tests see logging as the service configures it."""
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    yield
    for lg, (level, handlers, propagate, disabled) in zip(loggers, saved, strict=True):
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate = propagate
        lg.disabled = disabled


@pytest.mark.usefixtures("uvicorn_logging_restored")
def test_demo_opens_says_each_patients_cards_and_options_and_sums_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("hr-pos-her2-neg-postmenopausal-first-line", "bad-input-wrong-hook"):
        shutil.copytree(FIXTURES_DIR / name, tmp_path / name)
    assert run_demo(str(tmp_path), verbose=True) == 0
    out = capsys.readouterr().out
    assert out.startswith("cds-mbc demo: every fixture patient's chart is sent to the service")
    block = out.split("=== hr-pos-her2-neg-postmenopausal-first-line", 1)[1].split("===", 1)[0]
    cards = int(re.search(r"\(HTTP 200, (\d+) cards\)", block).group(1))  # type: ignore[union-attr]
    # the profile in a clinician's words (issue 18), never enum names
    assert "Subtype: HR-positive, HER2-negative" in block
    assert "Journey: no current therapy recorded" in block
    assert "hr_positive" not in out and "her2_negative" not in out
    # one card per decision: the regimens to choose from, then the options numbered in the card's detail
    assert re.search(r"\[options-now\] First line for HR-positive, HER2-negative metastatic disease", block)
    assert re.search(r"\n\s+- choose: Ribociclib", block)
    assert re.search(r"\n\s+1\. \S", block) and re.search(r"\n\s+2\. \S", block)
    assert "error: This service answers the patient-view hook" in out
    closing = out.strip().splitlines()[-1]
    assert closing.startswith(f"2 patients: 1 answered with {cards} cards")
    assert closing.endswith("1 refused as bad input.")


@pytest.mark.parametrize(
    ("sex", "suppressed", "expected"),
    [
        ("male", "yes", "male; age 70; no ECOG performance status of the last year; on a GnRH analogue"),
        ("female", "no", "postmenopausal; not on ovarian suppression"),
    ],
)
def test_the_verbose_profile_line_names_a_mans_gnrh_analogue_not_ovarian_suppression(
    sex: str, suppressed: str, expected: str
) -> None:
    """Review 27: a man's profile read "menopausal status not known; on ovarian suppression"."""
    profile = hr_positive(
        sex=Fact(sex),
        age=Fact(70),
        menopausal_status=Fact("postmenopausal"),
        ovarian_suppression_current=Fact(suppressed),
    )
    drugs = load_knowledge(default_knowledge_dir()).drugs
    [patient] = [line for line in describe_profile(profile, drugs) if line.startswith("Patient:")]
    assert expected in patient

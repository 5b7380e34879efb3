"""docs/pathway.md is the pathway a clinician reviews: generated from cards/ and kept current."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.pathway import doc
from cds.pathway.knowledge import Knowledge
from cds.settings import default_knowledge_dir


def test_docs_pathway_md_is_current(knowledge: Knowledge) -> None:
    expected = doc.render(knowledge, default_knowledge_dir())
    assert doc.DOC.read_text(encoding="utf-8") == expected, "run: python -m cds.pathway.doc > docs/pathway.md"
    assert doc.main(["--check"]) == 0


def test_every_active_rule_is_on_the_page_under_its_subtype(knowledge: Knowledge) -> None:
    text = doc.DOC.read_text(encoding="utf-8")
    sections = {title: part for part in text.split("\n## ")[1:] for title in [part.splitlines()[0]]}
    for item in knowledge.rules:
        rule = item.rule
        assert f"`{rule.id}`" in text, rule.id
        if item.group == "therapy":
            assert rule.option and rule.option in text, rule.id
    hr_pos = sections["HR-positive, HER2-negative"]
    her2 = sections["HER2-positive (HR-positive or HR-negative)"]
    tnbc = sections["Triple-negative"]
    assert "`ai-cdk46-first-line`" in hr_pos and "`ai-cdk46-first-line`" not in her2 + tnbc
    assert "`t-dxd-her2-positive-second-line`" in her2 and "`t-dxd-her2-positive-second-line`" not in hr_pos
    assert "`pembrolizumab-chemotherapy-tnbc-cps-10`" in tnbc and "`sacituzumab-govitecan`" in hr_pos + tnbc
    assert "**Safety:**" in her2  # exclusions are on the page, safety ones marked


def test_check_fails_when_the_page_is_stale(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "pathway.md"
    stale.write_text("# old\n", encoding="utf-8")
    monkeypatch.setattr(doc, "DOC", stale)
    assert doc.main(["--check"]) == 1

"""A small knowledge base for the card tests: the real service.yaml and code lists, the rules in
tests/pathway/kb/rules (one per card group and decision point), and hand-built profiles."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from cds.pathway.knowledge import Knowledge, load_knowledge
from cds.profile.model import Evidence, Fact, PatientProfile
from cds.settings import default_knowledge_dir
from tests.fixtures_support import write_option_order

RULES = Path(__file__).resolve().parent / "kb" / "rules"


def knowledge_dir(tmp_path: Path, *extra_rules: dict[str, Any]) -> Path:
    """A knowledge folder: the real service.yaml and codes, the test rules and any extra rules."""
    real = default_knowledge_dir()
    folder = tmp_path / "kb"
    folder.mkdir()
    shutil.copy(real / "service.yaml", folder / "service.yaml")
    shutil.copytree(real / "codes", folder / "codes")
    shutil.copytree(RULES, folder / "rules")
    for rule in extra_rules:
        (folder / "rules" / f"{rule['id']}.yaml").write_text(yaml.safe_dump(rule))
    write_option_order(folder)
    return folder


def card_knowledge(tmp_path: Path, *extra_rules: dict[str, Any]) -> Knowledge:
    return load_knowledge(knowledge_dir(tmp_path, *extra_rules))


def ev(reference: str, date: str | None, text: str) -> tuple[Evidence, ...]:
    return (Evidence(reference, date, text),)


LETROZOLE_PALBOCICLIB = frozenset(
    {"endocrine_therapy", "aromatase_inhibitor", "letrozole", "cdk4_6_inhibitor", "palbociclib"}
)


def metastatic_profile(**facts: Any) -> PatientProfile:
    """A patient with metastatic breast cancer and ``facts`` (plain values are wrapped in a Fact)."""
    values: dict[str, Any] = {"breast_cancer": Fact("yes"), "metastatic": Fact("yes")}
    values.update({k: v if isinstance(v, Fact) else Fact(v) for k, v in facts.items()})
    return PatientProfile(patient_id="p1", **values)


def woman(**facts: Any) -> PatientProfile:
    """A postmenopausal woman with metastatic breast cancer, her medication history recorded, not on
    therapy; ``facts`` add to or replace these (plain values are wrapped in a Fact)."""
    values: dict[str, Any] = {
        "sex": "female",
        "menopausal_status": "postmenopausal",
        "medication_history": "yes",
        "on_therapy": "no",
    }
    values.update(facts)
    return metastatic_profile(**values)


def hr_positive(**facts: Any) -> PatientProfile:
    """A postmenopausal woman with HR-positive, HER2-low metastatic disease in bone and liver, PIK3CA
    mutated, not on therapy; ``facts`` replace any of these."""
    values: dict[str, Any] = {
        "breast_cancer": Fact("yes"),
        "metastatic": Fact("yes"),
        "sex": Fact("female"),
        "subtype": Fact("hr_positive_her2_negative"),
        "hormone_receptor_status": Fact("positive"),
        "er_status": Fact("positive", ev("Observation/er-1", "2025-01-10", "ER 90% of cells")),
        "her2_status": Fact("negative", ev("Observation/her2-1", "2025-01-10", "HER2 IHC 1+")),
        "her2_low": Fact("yes", ev("Observation/her2-1", "2025-01-10", "HER2 IHC 1+")),
        "menopausal_status": Fact("postmenopausal", ev("Observation/fsh-1", "2025-02-01", "FSH 62 IU/L")),
        "pik3ca_status": Fact("altered", ev("Observation/pik3ca-1", "2025-03-01", "PIK3CA H1047R")),
        "metastatic_sites": Fact(frozenset({"bone", "liver"})),
        "medication_history": Fact("yes"),
        "on_therapy": Fact("no"),
        "endocrine_resistance": Fact("sensitive"),
    }
    values.update({k: v if isinstance(v, Fact | tuple) else Fact(v) for k, v in facts.items()})
    return PatientProfile(patient_id="p1", **values)


def on_letrozole_palbociclib(**facts: Any) -> PatientProfile:
    return hr_positive(
        on_therapy="yes",
        current_therapies=Fact(
            LETROZOLE_PALBOCICLIB, ev("MedicationRequest/letrozole-1", "2025-03-05", "letrozole 2.5 mg daily")
        ),
        **facts,
    )


@cache
def real_knowledge() -> Knowledge:
    """The shipped knowledge base (cards/), loaded once for the test session."""
    return load_knowledge(default_knowledge_dir())

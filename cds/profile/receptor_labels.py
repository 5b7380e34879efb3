"""Receptor values in a clinician's words: "ER-low positive (1-10%)", "HER2-low (IHC 2+, ISH not amplified)".

The receptor notes read these; they name a value as a pathology report does, where cds.pathway.labels
phrases a whole profile for the cards."""

from __future__ import annotations

from typing import Final

#: What a clinician reads for each receptor field's values (the receptor notes print these, not the enum).
VALUE_LABELS: Final[dict[str, dict[str, str]]] = {
    "er_status": {
        "positive": "ER-positive",
        "low_positive": "ER-low positive (1-10%)",
        "negative": "ER-negative",
        "unknown": "ER not known",
        "conflicting": "ER results conflict",
    },
    "pr_status": {
        "positive": "PR-positive",
        "low_positive": "PR-positive (1-10%)",
        "negative": "PR-negative",
        "unknown": "PR not known",
        "conflicting": "PR results conflict",
    },
    "hormone_receptor_status": {
        "positive": "HR-positive",
        "negative": "HR-negative",
        "unknown": "HR status not known",
        "conflicting": "HR results conflict",
    },
    "her2_status": {
        "positive": "HER2-positive",
        "negative": "HER2-negative",
        "equivocal": "HER2 equivocal (IHC 2+, ISH needed)",
        "unknown": "HER2 not known",
        "conflicting": "HER2 results conflict",
    },
    "her2_ish": {
        "amplified": "ISH amplified",
        "not_amplified": "ISH not amplified",
        "equivocal": "ISH equivocal",
        "unknown": "ISH not known",
    },
    "subtype": {
        "hr_positive_her2_negative": "HR-positive, HER2-negative",
        "hr_positive_her2_positive": "HR-positive, HER2-positive",
        "hr_negative_her2_positive": "HR-negative, HER2-positive",
        "triple_negative": "Triple-negative",
        "unknown": "Subtype not known",
    },
    "discordant_markers": {"er": "ER", "pr": "PR", "her2": "HER2"},
}


def clinical_label(field: str, value: object) -> str:
    """``value`` of ``field`` in a clinician's words ("ER-low positive (1-10%)"), else the value."""
    return VALUE_LABELS.get(field, {}).get(str(value), str(value).replace("_", " "))


def her2_label(status: str, ihc: str, ish: str, low: str) -> str:
    """HER2 in a clinician's words: "HER2-low (IHC 2+, ISH not amplified)"."""
    detail = ", ".join(
        p
        for p in (
            f"IHC {ihc}" if ihc != "unknown" else "",
            clinical_label("her2_ish", ish) if ish != "unknown" else "",
        )
        if p
    )
    if status == "negative":
        head = "HER2-low" if low == "yes" else "HER2-negative"
    elif status == "equivocal":
        head = "HER2 equivocal"
    else:
        head = clinical_label("her2_status", status)
    said = f"{head} ({detail})" if detail else head
    return said + ("; ISH needed" if status == "equivocal" and ish == "unknown" else "")

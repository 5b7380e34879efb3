"""Age (from Patient.birthDate and today), sex (from Patient.gender) and whether the patient has died
(Patient.deceased[x])."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date
from typing import Final

from cds.fhir import models
from cds.profile.common import Context, evidence
from cds.profile.dates import date_key, fhir_date, years_between
from cds.profile.model import Fact, Sex, YesNoUnknown

_NO_AGE: Final[Fact[int | None]] = Fact(None)  # the same every call (and immutable): made once
_SEX: dict[str, Sex] = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}


def derive_patient(
    patients: Sequence[models.Patient], patient_id: str, ctx: Context
) -> tuple[Fact[int | None], Fact[Sex]]:
    if not patients:
        ctx.issue("age", "missing", "No Patient resource was received; age and sex are unknown.")
        return Fact(None), Fact("unknown")
    patient = next((p for p in patients if p.id == patient_id), patients[0])
    born = fhir_date(patient.birthDate)
    age = _NO_AGE
    if born:
        y, m, d = date_key(born)
        if m and d:
            years = years_between(date(y, m, d), ctx.today)
            age = Fact(years, (evidence(patient, None, "age from Patient.birthDate"),))
        else:
            # partial birth date: the youngest possible age, so thresholds are never over-called
            month = m or 12
            latest = date(y, month, calendar.monthrange(y, month)[1])
            years = years_between(latest, ctx.today)
            age = Fact(
                years,
                (evidence(patient, None, "age from a partial Patient.birthDate"),),
                "birth date is partial; the youngest possible age is used",
            )
        if years < 0 or years > 130:
            ctx.issue(
                "age",
                "unreadable",
                "Patient.birthDate gives an impossible age; age is unknown.",
                evidence(patient, None, "birthDate"),
            )
            age = Fact(None)
    gender = (patient.gender or "unknown").lower()
    sex: Fact[Sex] = Fact(_SEX.get(gender, "unknown"), (evidence(patient, None, f"gender {gender}"),))
    return age, sex


def derive_deceased(patients: Sequence[models.Patient], patient_id: str, ctx: Context) -> Fact[YesNoUnknown]:
    """``deceased`` from Patient.deceasedBoolean / deceasedDateTime.

    FHIR R4 Patient.deceased[x]: "If there's no value in the instance, it means there is no statement on
    whether or not the individual is deceased" -- so an absent element is "unknown", never "no".
    """
    if not patients:
        return Fact("unknown", (), "No Patient resource was received.")
    patient = next((p for p in patients if p.id == patient_id), patients[0])
    # deceased[x] is read as sent (the read model does not check it): any JSON value
    flag: object = patient.deceasedBoolean
    when_raw: object = patient.deceasedDateTime
    if when_raw is not None and when_raw != "":
        when = fhir_date(when_raw) if isinstance(when_raw, str) else None
        if when is None:
            ctx.issue(
                "deceased",
                "unreadable",
                "Patient.deceasedDateTime could not be read as a date; the patient was read as deceased.",
                evidence(patient, None, "deceasedDateTime unreadable"),
            )
            return Fact("yes", (evidence(patient, None, "Patient.deceasedDateTime (unreadable)"),))
        return Fact("yes", (evidence(patient, when, f"Died {when} (Patient.deceasedDateTime)"),))
    if flag is True:
        return Fact("yes", (evidence(patient, None, "Patient.deceasedBoolean is true"),))
    if flag is False:
        return Fact("no", (evidence(patient, None, "Patient.deceasedBoolean is false"),))
    return Fact("unknown", (), "The Patient record does not say whether the patient has died.")

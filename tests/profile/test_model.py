"""The profile's records behave as the frozen dataclasses they were, in the source and compiled builds."""

from __future__ import annotations

import dataclasses

import pytest

from cds.profile.model import FIELDS, DataIssue, Evidence, Fact, PatientProfile


def test_records_compare_hash_and_read_by_field() -> None:
    ev = Evidence("Observation/er-1", "2024-01-02", "ER: positive")
    assert ev == Evidence(reference="Observation/er-1", date="2024-01-02", text="ER: positive")
    assert ev != Evidence("Observation/er-1", None, "ER: positive")
    assert hash(ev) == hash(Evidence("Observation/er-1", "2024-01-02", "ER: positive"))
    assert repr(ev) == "Evidence(reference='Observation/er-1', date='2024-01-02', text='ER: positive')"
    fact = Fact("positive", (ev,), "a note")
    assert fact == Fact(value="positive", evidence=(ev,), note="a note") and fact != Fact("positive")
    assert len({fact, Fact("positive", (ev,), "a note")}) == 1
    assert repr(Fact(1)) == "Fact(value=1, evidence=(), note=None)"
    issue = DataIssue("er_status", "conflicting", "disagree", (ev,))
    assert (
        issue
        == DataIssue("er_status", "conflicting", "disagree", (ev,))
        != DataIssue("er_status", "missing", "x")
    )
    assert (
        repr(DataIssue("data", "missing", "m"))
        == "DataIssue(topic='data', kind='missing', message='m', evidence=())"
    )
    assert ev.__eq__(("Observation/er-1", "2024-01-02", "ER: positive")) is NotImplemented


@pytest.mark.parametrize(
    ("record", "name"),
    [
        (Evidence("r", None, "t"), "text"),
        (Fact("yes"), "value"),
        (DataIssue("data", "missing", "m"), "message"),
    ],
)
def test_records_cannot_be_changed(record: object, name: str) -> None:
    with pytest.raises(AttributeError):
        setattr(record, name, "changed")
    with pytest.raises(AttributeError):
        delattr(record, name)


def test_the_profile_is_a_frozen_dataclass_with_unknown_defaults() -> None:
    profile = PatientProfile(patient_id="p1", er_status=Fact("positive"))
    assert profile.er_status == Fact("positive") and profile.age == Fact(None) and profile.issues == ()
    assert profile.sex == Fact("unknown") and profile.ovarian_suppression_current == Fact("no")
    assert profile.metastatic_sites == Fact(frozenset()) and profile.metastatic_lines == Fact(0)
    assert profile.data_completeness == Fact("complete")
    not_rule_fields = {"patient_id", "issues", "resistance_at_progression"}
    assert {f.name for f in dataclasses.fields(PatientProfile)} == {*FIELDS, *not_rule_fields}
    incomplete = dataclasses.replace(profile, data_completeness=Fact("incomplete"))
    assert incomplete.data_completeness == Fact("incomplete") and incomplete.er_status is profile.er_status
    assert (
        incomplete != profile
        and dataclasses.replace(incomplete, data_completeness=Fact("complete")) == profile
    )
    assert hash(profile) == hash(PatientProfile(patient_id="p1", er_status=Fact("positive")))
    assert repr(profile).startswith(
        "PatientProfile(patient_id='p1', age=Fact(value=None, evidence=(), note=None)"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.age = Fact(3)  # type: ignore[misc]
    assert profile.fact("er_status") is profile.er_status and profile.facts()["her2_status"] == Fact(
        "unknown"
    )


def test_each_enum_field_allows_exactly_the_values_its_type_declares() -> None:
    """FIELDS (what rule files are checked against) and the profile's Literal types say the same."""
    import typing

    hints = typing.get_type_hints(PatientProfile)
    for name, spec in FIELDS.items():
        if spec.kind != "enum":
            continue
        (inner,) = typing.get_args(hints[name])  # Fact[Literal[...]]
        assert typing.get_origin(inner) is typing.Literal, name
        assert frozenset(typing.get_args(inner)) == spec.values, name

"""CDS Hooks 2.0.1 wire models for what clients send: the hook request and feedback.

Responses are built as plain dicts (cds.pathway.render) and checked against the spec in the tests.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)


def _not_a_path_segment(value: str) -> str:
    if set(value) == {"."}:  # "." and ".." match FHIR's id syntax but name a folder in a URL
        raise ValueError("must be a FHIR id, not a path segment")
    return value


FhirId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$"), AfterValidator(_not_a_path_segment)
]
UserRef = Annotated[
    str,
    StringConstraints(
        pattern=r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$"
    ),
]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


def _uuid_text(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise ValueError("must be a UUID") from exc
    return value


def _rfc3339(value: Any) -> datetime:
    """An RFC 3339 date-time string with a time zone (not a number, not a naive time)."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValueError("must be an RFC 3339 date-time") from exc
    if parsed.tzinfo is None:
        raise ValueError("must carry a time zone (RFC 3339), e.g. 2026-11-20T10:00:00Z")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+05:00 has no UTC equivalent
        raise ValueError("is out of range") from exc


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")) or len(value) > 2048:
        raise ValueError("must be an absolute http(s) URL")
    return value.rstrip("/")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class FhirAuthorization(_Wire):
    access_token: NonEmpty
    token_type: Annotated[str, StringConstraints(pattern=r"^[Bb]earer$")]
    expires_in: int
    scope: NonEmpty
    subject: NonEmpty
    patient: FhirId | None = None

    def __repr__(self) -> str:  # never show the token, even in a traceback
        return "FhirAuthorization(<redacted>)"

    __str__ = __repr__


class PatientViewContext(_Wire):
    userId: UserRef
    patientId: FhirId
    encounterId: FhirId | None = None


class HookRequest(_Wire):
    hook: NonEmpty
    hookInstance: Annotated[str, AfterValidator(_uuid_text)]
    fhirServer: Annotated[str, AfterValidator(_http_url)] | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @property
    def access_token(self) -> str | None:
        """The token to read fhirServer with (never logged), or None."""
        return self.fhirAuthorization.access_token if self.fhirAuthorization is not None else None

    @model_validator(mode="after")
    def _authorization_needs_server(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirAuthorization is present but fhirServer is missing (cds-r-1)")
        return self


class Coding(_Wire):
    code: NonEmpty
    system: NonEmpty | None = None
    display: str | None = None


class OverrideReasonIn(_Wire):
    reason: Coding | None = None
    userComment: Annotated[str, StringConstraints(max_length=4000)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> OverrideReasonIn:
        if self.reason is None and not self.userComment:
            raise ValueError("overrideReason needs a reason or a userComment (cds-fb-3)")
        return self


class AcceptedSuggestion(_Wire):
    id: NonEmpty


class FeedbackItem(_Wire):
    card: NonEmpty
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReasonIn | None = None
    outcomeTimestamp: Annotated[datetime, BeforeValidator(_rfc3339)]

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("accepted feedback needs acceptedSuggestions (cds-fb-1)")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("accepted feedback must not carry an overrideReason (cds-fb-2)")
        return self


class FeedbackRequest(_Wire):
    feedback: Annotated[list[FeedbackItem], Field(min_length=1, max_length=500)]

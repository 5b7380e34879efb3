"""The service's error tree and its one wire shape: a FHIR OperationOutcome.

Routes raise a ``ServiceError``; one exception handler (cds.app) turns it into a response.
"""

from __future__ import annotations

from typing import Any


def operation_outcome(
    diagnostics: str,
    *,
    code: str = "invalid",
    severity: str = "error",
    expression: str | None = None,
) -> dict[str, Any]:
    """A minimal R4 OperationOutcome. ``code`` is from http://hl7.org/fhir/issue-type."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


class ServiceError(Exception):
    """An error with a defined HTTP status and an OperationOutcome body."""

    status_code = 500
    issue_code = "exception"

    def __init__(self, diagnostics: str, *, expression: str | None = None) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = expression

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.diagnostics, code=self.issue_code, expression=self.expression)


class BadRequest(ServiceError):
    status_code = 400
    issue_code = "invalid"


class NotFound(ServiceError):
    status_code = 404
    issue_code = "not-found"


class PayloadTooLarge(ServiceError):
    status_code = 413
    issue_code = "too-costly"


class UnsupportedMediaType(ServiceError):
    status_code = 415
    issue_code = "not-supported"


class PreconditionFailed(ServiceError):
    """CDS Hooks: required data could be neither prefetched nor fetched (SHALL answer 412)."""

    status_code = 412
    issue_code = "processing"


class ServiceUnavailable(ServiceError):
    """Too busy for now: answered with ``Retry-After``."""

    status_code = 503
    issue_code = "transient"
    retry_after_s = 1


class Unauthorized(ServiceError):
    """401 with no detail in the body; the reason is only logged."""

    status_code = 401
    issue_code = "login"

    def outcome(self) -> dict[str, Any]:
        return operation_outcome("Unauthorized", code=self.issue_code)


class ConfigFileError(Exception):
    """A file read at start-up is invalid. The message names the file and the field; start-up stops."""

    def __init__(self, file: str, field: str, problem: str) -> None:
        super().__init__(f"{file}: {field}: {problem}")
        self.file = file
        self.field = field
        self.problem = problem


class KnowledgeError(ConfigFileError):
    """A knowledge-base file (cards/) is invalid."""

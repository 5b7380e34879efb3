"""The code list loader accepts exactly the systems matching knows (cds.fhir.vocabulary.SYSTEM_URIS)."""

from __future__ import annotations

import typing

from cds.fhir.codelists import System
from cds.fhir.vocabulary import SYSTEM_URIS


def test_a_code_list_may_name_every_system_matching_folds_and_no_other() -> None:
    assert set(typing.get_args(System)) == {*SYSTEM_URIS, "any"}

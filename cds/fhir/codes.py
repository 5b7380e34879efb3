"""Code lists (``cards/codes/*.yaml``) and coding helpers.

STUB interface, to be completed by the profile work: the loader, the cheap raw-JSON relevance filter
used before validation, and the drug-class vocabulary that rule conditions may name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Terminology:
    drug_class_names: frozenset[str]

    @classmethod
    def load(cls, codes_dir: Path) -> Terminology:
        return cls(drug_class_names=frozenset())

    def is_relevant(self, resource: Mapping[str, Any]) -> bool:
        """True when a raw resource may inform the profile (checked before any model validation)."""
        return True

    def drug_classes(self) -> frozenset[str]:
        return self.drug_class_names

"""Checks of CDS Hooks wire rules shared by the API, card and knowledge-base tests."""

from __future__ import annotations

import re
import uuid
from typing import Any

# The card groups in the order the service answers them
ORDER = ["warnings", "options-now", "at-progression", "tests", "supportive"]


def assert_no_empty_values(value: Any, path: str = "$") -> None:
    """Spec 1.1: no null, "", [] or {} anywhere (the caller exempts {"cards": []})."""
    assert value is not None, f"null at {path}"
    if isinstance(value, str):
        assert value != "", f'"" at {path}'
    elif isinstance(value, list):
        assert value, f"[] at {path}"
        for i, item in enumerate(value):
            assert_no_empty_values(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        assert value, f"{{}} at {path}"
        for key, item in value.items():
            assert_no_empty_values(item, f"{path}.{key}")


def check_card_rules(cards: list[dict[str, Any]]) -> None:
    """The CDS Hooks card checks (cds-hooks.md 1.6, 3; Inferno cards_validation.rb)."""
    if not cards:
        return  # {"cards": []} is the spec's "no guidance"
    assert_no_empty_values({"cards": cards})
    for card in cards:
        assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
        assert card["indicator"] in {"info", "warning", "critical"}
        assert uuid.UUID(card["uuid"]).version == 8
        assert card["source"]["label"] and card["source"]["url"].startswith("https://")
        assert card["source"]["topic"]["system"] and card["source"]["topic"]["code"]
        for link in card["links"]:
            assert link["type"] == "absolute" and link["url"].startswith("https://") and link["label"]
            assert "appContext" not in link
        for reason in card["overrideReasons"]:
            assert reason["code"] and reason["system"] and reason["display"]
        if "suggestions" in card:
            assert card["selectionBehavior"] in {"at-most-one", "any"}
            for suggestion in card["suggestions"]:
                assert suggestion["label"] and uuid.UUID(suggestion["uuid"]).version == 8
                assert suggestion.get("actions", [1])  # absent, or a non-empty list
            assert not [s for s in card["suggestions"] if s.get("isRecommended")]
        # no Markdown link or image in the detail: it would navigate the client's tab away
        assert not re.search(r"\]\(|<a |<img", card["detail"]), card["detail"]

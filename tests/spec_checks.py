"""Checks of CDS Hooks wire rules shared by the API and knowledge-base tests."""

from __future__ import annotations

from typing import Any


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

"""Mutated FHIR for property tests: the realistic requests in fhir_fixtures/ as seeds, and a hypothesis
strategy that changes values, codes, dates and types, deletes, wraps and unwraps anywhere in them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

from cds.settings import default_fixtures_dir


def _seed_requests() -> dict[str, dict[str, Any]]:
    """The fixture requests with a patient and a prefetch, by fixture name. Tests draw the name: hypothesis
    prints what it drew when it reports a failure, and a whole chart (up to 60 kB) makes it warn of an
    overly large repr, which pytest's filterwarnings=error turns into an error of the replay itself."""
    seeds = {}
    for path in sorted(Path(default_fixtures_dir()).glob("*/request.json")):
        try:
            request = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue  # the malformed-JSON fixture
        context = request.get("context") if isinstance(request, dict) else None
        if (
            isinstance(context, dict)
            and context.get("patientId")
            and isinstance(request.get("prefetch"), dict)
        ):
            seeds[path.parent.name] = request
    return seeds


SEEDS = _seed_requests()


WEIRD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "2020-13-45",
        "2020-02-30",
        "0000-00-00",
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00+09:13",
        "1960",
        "1960-07",
        "not a date",
        "http://loinc.org",
        "16112-5",
        "85319-2",
        "48676-1",
        "LA6576-8",
        "positive",
        "Negative",
        "3+",
        "< 1.8",
        "> 2.2",
        "NaN",
        "-1",
        "1e309",
        "\u0000",
        "\ud7ff",
        "a" * 5000,
        "Patient/other",
        "Patient/",
        "#contained",
    ]
)
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    WEIRD_STRINGS,
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def mutate(data: st.DataObject, target: Any, rounds: int) -> Any:
    target = copy.deepcopy(target)
    for _ in range(rounds):
        paths = [p for p in _paths(target) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = target
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = data.draw(st.sampled_from(["replace", "replace", "weird", "delete", "wrap", "unwrap"]))
        if action == "replace":
            parent[last] = data.draw(JSON_VALUES)
        elif action == "weird":
            parent[last] = data.draw(WEIRD_STRINGS)
        elif action == "delete":
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif action == "wrap":
            parent[last] = [parent[last]]
        elif isinstance(parent[last], list) and parent[last]:
            parent[last] = parent[last][0]
    return target

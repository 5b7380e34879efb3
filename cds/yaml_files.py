"""Reading the knowledge base's YAML files (cards/codes and cards/rules), one way for both.

Safe YAML with YAML 1.2's booleans only (``true``/``false``; a clinician's ``yes``/``no`` stays the word
it is), and a key given twice in one mapping is refused: plain YAML keeps the last one, silently dropping
the first, and a rule with two ``yields_to`` or two ``exclusions`` would lose one without a word. A
problem names the file.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from cds.errors import KnowledgeError


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"{key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.2's booleans only: true and false (code lists say ``counts_as_line: false``)
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def read_yaml(path: Path) -> Any:
    """The file's content; KnowledgeError naming the file when it cannot be read or is not valid YAML."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - safe loader subclass
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(path.name, "(file)", f"cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError(path.name, "(file)", f"is not valid YAML: {exc}") from exc

"""Text on a card: chart text escaped so that it can never become markup or a link (clients such as the
CDS Hooks Sandbox render card detail as Markdown *with raw HTML*), and a summary cut under the 140
characters CDS Hooks allows."""

from __future__ import annotations

from typing import Final

# The backslash first, and & before < and >, so no replacement is itself replaced by a later one.
_ESCAPES: Final = (
    ("\\", "\\\\"),
    *((c, f"\\{c}") for c in "`*_{}[]()#+!|~"),
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
)
_MD_SPECIAL = str.maketrans(dict(_ESCAPES))
# Every whitespace character but the space and the newline (none lies above U+3000).
_OTHER_SPACES: Final = tuple(c for c in map(chr, range(0x3001)) if c.isspace() and c not in " \n")
_ASCII_SPACES: Final = tuple(c for c in _OTHER_SPACES if c.isascii())
SUMMARY_MAX: Final = 139  # CDS Hooks: "<140-character"


def escape_md(text: str) -> str:
    """Escape Markdown and HTML so data can never become markup or a link."""
    return " ".join(text.split()).translate(_MD_SPECIAL)


def escape_all(texts: list[str]) -> list[str]:
    """``[escape_md(t) for t in texts]``, done on the texts joined by newlines when that is exact (no
    text needs its spacing collapsed or holds a newline); otherwise each text on its own."""
    joined = "\n".join(texts)
    spaced = joined.replace("\n", " ")
    if spaced.startswith(" ") or spaced.endswith(" ") or "  " in spaced:
        return [escape_md(text) for text in texts]
    for space in _ASCII_SPACES if joined.isascii() else _OTHER_SPACES:
        if space in joined:
            return [escape_md(text) for text in texts]
    for char, escaped in _ESCAPES:
        if char in joined:
            joined = joined.replace(char, escaped)
    escaped_texts = joined.split("\n")
    return escaped_texts if len(escaped_texts) == len(texts) else [escape_md(text) for text in texts]


def fit(text: str) -> str:
    """A summary under 140 characters: cut at a word, with an ellipsis, when longer."""
    if len(text) <= SUMMARY_MAX:
        return text
    cut = text[: SUMMARY_MAX - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > SUMMARY_MAX // 2 else cut).rstrip(" ,;:") + "…"

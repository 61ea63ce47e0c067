"""Entity tags: a task's `ETag` is its quoted version; `If-Match` and `If-None-Match` name them.

`If-Match` compares strongly (a weak tag never matches) and `If-None-Match` weakly, as RFC 9110
says. A tag that is not a version can never match.
"""

import re

from persistence.domain import Versions

_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
_VERSION_DIGITS = 10  # versions are PostgreSQL integers


def etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> list[tuple[bool, str]]:
    return [(bool(weak), opaque) for weak, opaque in _ENTITY_TAG.findall(header)]


def versions_named(if_match: str | None) -> Versions:
    """The versions a write may apply to; None when any will do (no header, or `*`)."""
    if if_match is None or if_match.strip() == "*":
        return None
    return frozenset(
        int(opaque) for weak, opaque in _tags(if_match) if not weak and _is_version(opaque)
    )


def _is_version(opaque: str) -> bool:
    return opaque.isascii() and opaque.isdigit() and len(opaque) <= _VERSION_DIGITS


def still_current(if_none_match: str | None, version: int) -> bool:
    """Whether the client's copy is the current version, so a GET can answer 304."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(opaque == str(version) for _, opaque in _tags(if_none_match))

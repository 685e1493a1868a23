"""The id an operator pasted, as the logs write it.

oslo.log writes request ids and UUIDs in lowercase, but an id reaches `kansoku trace` from
wherever the operator found it: an uppercased ticket, an HTTP header dump
(`X-OpenStack-Request-ID: req-…`), a log excerpt with its brackets and quotes
(`[req-… req-…`), a `request_id=…` field. The first `req-<uuid>` in the text, else the
first UUID, lowercased, is the id; text with neither is only trimmed and lowercased (the
lookup then says it found nothing for it).
"""

from __future__ import annotations

import re

_HEX = "[0-9a-fA-F]"
_UUID = rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_REQ_RE = re.compile(rf"(?<![0-9a-zA-Z])[rR][eE][qQ]-{_UUID}(?![0-9a-fA-F])")
_UUID_RE = re.compile(rf"(?<![0-9a-fA-F-]){_UUID}(?![0-9a-fA-F])")


def normalise_id(text: str) -> str:
    """`request_id=REQ-6F1C…` -> `req-6f1c…`; `'3F6C…',` -> `3f6c…` (see the module doc)."""
    m = _REQ_RE.search(text) or _UUID_RE.search(text)
    if m is not None:
        return m.group(0).lower()
    return text.strip().strip("'\"[](),;").lower()

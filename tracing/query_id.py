"""The id an operator pasted, as the logs write it.

oslo.log writes request ids and UUIDs in lowercase, but an id reaches `kansoku trace` from
wherever the operator found it: an uppercased ticket, an HTTP header dump
(`X-OpenStack-Request-ID: req-…`), a log excerpt with its brackets and quotes
(`[req-… req-…`), a `request_id=…` field. The first `req-<uuid>` in the text, else the
first UUID, lowercased, is the id; text with neither is only trimmed and lowercased (the
lookup then says it found nothing for it).
"""

from __future__ import annotations

from kansoku.ids import PASTED_REQUEST_ID_RE, PASTED_UUID_RE


def normalise_id(text: str) -> str:
    """`request_id=REQ-6F1C…` -> `req-6f1c…`; `'3F6C…',` -> `3f6c…` (see the module doc)."""
    m = PASTED_REQUEST_ID_RE.search(text) or PASTED_UUID_RE.search(text)
    if m is not None:
        return m.group(0).lower()
    return text.strip().strip("'\"[](),;").lower()

"""Authenticating Alertmanager: bearer token or basic auth, as its `http_config` sends them.

Why constant time: the comparison must not leak how many leading characters of a guess
were right. Why both schemes: Alertmanager's `http_config` offers `authorization`
(`Authorization: Bearer ...`, or `credentials_file`) and `basic_auth`; operators use
either. The header is never logged or journaled.
"""

from __future__ import annotations

import base64
import binascii
import hmac


class Authenticator:
    def __init__(self, token: str | None, basic: tuple[str, str] | None) -> None:
        if not token and basic is None:
            raise ValueError("an authenticator needs a bearer token or basic-auth credentials")
        self._token = f"Bearer {token}".encode() if token else None
        self._basic = f"{basic[0]}:{basic[1]}".encode() if basic else None

    def check(self, header: str | None) -> bool:
        """True when the Authorization header carries one of the configured credentials."""
        if not header:
            return False
        raw = header.strip().encode("utf-8", errors="replace")
        ok = False
        if self._token is not None:
            ok |= hmac.compare_digest(raw, self._token)
        if self._basic is not None and raw[:6].lower() == b"basic ":
            try:
                decoded = base64.b64decode(raw[6:].strip(), validate=True)
            except (binascii.Error, ValueError):
                decoded = b""
            ok |= hmac.compare_digest(decoded, self._basic)
        return ok

"""URLs from configuration and the command line: parse them safely, refuse inline passwords.

Why one module: a password written into a URL (`rabbit://user:secret@host`) ends up in
check reasons, logs, `kansoku check` output and the journal. Configuration must name a
file instead. The old test, `urlsplit(url).password is not None`, missed 5 of 12 forms that
oslo.messaging and HTTP clients accept: a password only on the second host of a
multi-host transport URL, no `//` (`rabbit:u:p@h`), a colon percent-encoded into the user
part, a `?password=` query parameter, and a malformed URL that made `urlsplit` raise (a
traceback instead of an error). `inline_secret` looks at every host's user part after
percent-decoding, and at the query; `redact` is what error messages print.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

#: query parameters that carry a secret in the clients we talk to
SECRET_PARAMS = frozenset(
    {"password", "passwd", "pass", "pwd", "secret", "token", "access_token", "api_key", "apikey"}
)
_AUTHORITY = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.\-]*:(?://)?([^/?#]*)")
_USERINFO = re.compile(r"(?<=[:/,])([^/@,?#\s]*)@")


def inline_secret(url: str) -> str | None:
    """What secret `url` carries inline ("a password", "a 'token' query parameter"), or None."""
    match = _AUTHORITY.match(url)
    authority = match.group(1) if match else ""
    for host in authority.split(","):  # oslo.messaging: user:pass@host1,user:pass@host2
        if "@" in host:
            userinfo = unquote(host.rpartition("@")[0])
            if ":" in userinfo:
                return "a password"
    query = url.partition("?")[2].partition("#")[0]
    for key, _ in parse_qsl(query, keep_blank_values=True):
        if key.lower() in SECRET_PARAMS:
            return f"a {key!r} query parameter"
    return None


def redact(url: str) -> str:
    """`url` with every user part and secret query value replaced by `***` (for messages)."""
    text = _USERINFO.sub("***@", url.strip())
    if "?" in text:
        base, _, rest = text.partition("?")
        query, hash_, frag = rest.partition("#")
        parts = [
            f"{k}=***" if k.lower() in SECRET_PARAMS else (f"{k}={v}" if v else k)
            for k, v in parse_qsl(query, keep_blank_values=True)
        ]
        text = base + "?" + "&".join(parts) + hash_ + frag
    return text


def check_url(url: str, what: str = "URL", schemes: tuple[str, ...] = (), one_host: bool = True) -> str:
    """`url` if it parses and carries no inline secret; otherwise ValueError saying why.

    The message names the URL only redacted. `schemes` (lowercase), when given, are the
    allowed schemes; `one_host=False` for oslo.messaging transport URLs (`h1:5672,h2:5672`).
    """
    secret = inline_secret(url)
    if secret is not None:
        raise ValueError(
            f"{what} {redact(url)} carries {secret} inline; keep secrets in a file the "
            "configuration names (token_file, password_file, transport_url_file...)"
        )
    try:
        parts = urlsplit(url.strip())
        if one_host:
            parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ValueError(f"{what} {redact(url)} is not a valid URL: {exc}") from None
    if schemes and parts.scheme.lower() not in schemes:
        raise ValueError(f"{what} {redact(url)}: expected a {' or '.join(schemes)} URL")
    if schemes and not parts.netloc:
        raise ValueError(f"{what} {redact(url)}: no host")
    return url

"""Request ids and UUIDs as OpenStack writes them: every id regex of kansoku, built once.

Why here, in the core, and standard-library only: the fleet models (`kansoku.models`,
pydantic), the health probes, the collectors and every tracing module (`kansoku trace`'s
fast path, which must not import pydantic) match the same ids; written once, a fix to the
pattern reaches all of them.
"""

from __future__ import annotations

import re

#: A lowercase dashed UUID (oslo.context and the services write ids in lowercase).
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: The same in any case (an id pasted from a ticket or a header dump).
HEX_ANY_CASE = "[0-9a-fA-F]"
UUID_ANY_CASE = (
    f"{HEX_ANY_CASE}{{8}}-{HEX_ANY_CASE}{{4}}-{HEX_ANY_CASE}{{4}}-{HEX_ANY_CASE}{{4}}-{HEX_ANY_CASE}{{12}}"
)
#: A UUID with or without its dashes, in any case (an id segment of a URL path).
UUID_OPTIONAL_DASHES = f"{HEX_ANY_CASE}{{8}}-?{HEX_ANY_CASE}{{4}}-?{HEX_ANY_CASE}{{4}}-?{HEX_ANY_CASE}{{4}}-?{HEX_ANY_CASE}{{12}}"

#: An OpenStack request id as oslo.context makes it: ``req-`` and a lowercase UUID4.
REQUEST_ID_RE = re.compile(f"req-{UUID}")
#: A request id as a log context field, loosely: 36 hex digits or dashes after ``req-``.
REQUEST_ID_LOOSE = r"req-[0-9a-f-]{36}"
#: A bare UUID (instance, server, port, volume ids).
UUID_RE = re.compile(UUID)
#: A UUID standing alone in text: not the tail of a longer hex run or of another UUID.
UUID_TOKEN_RE = re.compile(rf"(?<![0-9a-f-]){UUID}(?![0-9a-f])")
#: The `req-<uuid>` an operator pasted, in any case (`REQ-6F1C…`).
PASTED_REQUEST_ID_RE = re.compile(rf"(?<![0-9a-zA-Z])[rR][eE][qQ]-{UUID_ANY_CASE}(?![0-9a-fA-F])")
#: A UUID an operator pasted, in any case.
PASTED_UUID_RE = re.compile(rf"(?<![0-9a-fA-F-]){UUID_ANY_CASE}(?![0-9a-fA-F])")
#: A UUID in a URL path, in any case (route templates zero them).
PATH_UUID_RE = re.compile(UUID_ANY_CASE)
#: In the bytes of a URL path: a dashed UUID in any case, or a keystone id (32 hex digits) that
#: is a whole path segment (`trace stats` zeroes both to one route shape).
PATH_ID_BYTES_RE = re.compile(f"{UUID_ANY_CASE}|(?<=/){HEX_ANY_CASE}{{32}}(?=/|\\Z)".encode())

#: The last 17 characters of a UUID (`xxxx-xxxxxxxxxxxx`), what the index keys on: starting
#: the pattern with a literal `-` lets the regex engine skip to dashes (10x faster than a
#: full UUID pattern), and possessive counts (`{4}+`, Python 3.11) another ~1.5x (measured
#: on the demo logs).
ID_TAIL_RE = re.compile(r"-[0-9a-f]{4}-[0-9a-f]{4}-([0-9a-f]{4}-[0-9a-f]{12})")
ID_TAIL_BYTES_RE = re.compile(rb"-[0-9a-f]{4}+-[0-9a-f]{4}+-([0-9a-f]{4}+-[0-9a-f]{12}+)")

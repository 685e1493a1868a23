"""Route templates: turn a concrete request path into a bounded-cardinality label.

Metrics and `trace stats` group by route; a raw path carries instance UUIDs, project ids,
flavor names and query strings, which would give one series per request. The template keeps
the API's shape (`/v2.1/servers/{id}/action`) and drops everything that identifies a thing.

Rules, in order, per path segment:
1. anything that looks like an id (UUID, 32-hex keystone id, req- id, an integer, a long
   token with digits in it) becomes `{id}`;
2. a segment right after a known collection noun (`servers`, `images`, `ports`, ...) becomes
   `{id}` unless it is a known static word of the API (`detail`, `action`, `os-*`, ...),
   which catches names such as flavor `m1.small` or a keypair name.
The query string is dropped (its keys are not part of the route).
"""

from __future__ import annotations

import re

from kansoku.ids import PATH_UUID_RE, UUID_OPTIONAL_DASHES

_ID_SEGMENT = re.compile(
    r"""^(?:
        (?:req-)?"""
    + UUID_OPTIONAL_DASHES
    + r"""
      | [0-9a-fA-F]{16,}
      | \d+
      | (?=[^/]*\d)[A-Za-z0-9_-]{20,}
    )$""",
    re.VERBOSE,
)

#: Collection nouns of the OpenStack APIs whose next segment is a resource id or name.
COLLECTIONS = frozenset(
    {
        # nova
        "servers", "flavors", "images", "os-keypairs", "os-hypervisors", "os-aggregates",
        "os-services", "os-volume_attachments", "os-interface", "os-instance-actions",
        "os-server-groups", "os-availability-zone", "limits", "os-migrations", "migrations",
        # placement
        "resource_providers", "allocations", "inventories", "traits", "resource_classes",
        "allocation_candidates", "usages", "aggregates", "reshaper",
        # keystone
        "users", "projects", "domains", "roles", "groups", "credentials", "endpoints",
        "services", "regions", "role_assignments", "application_credentials", "tokens",
        # neutron
        "ports", "networks", "subnets", "routers", "floatingips", "security-groups",
        "security-group-rules", "agents", "subnetpools", "trunks", "qos", "policies",
        # glance
        "tasks", "members", "tags", "schemas", "stores",
        # cinder
        "volumes", "snapshots", "backups", "types", "attachments", "qos-specs",
        "os-volume-transfer", "group_snapshots", "clusters", "workers",
    }
)  # fmt: skip

#: Words that follow a collection but are part of the API, not a resource name.
STATIC = frozenset(
    {
        "detail", "action", "metadata", "tags", "diagnostics", "ips", "file", "stage",
        "import", "members", "os-security-groups", "remote-consoles", "consoles",
        "inventories", "usages", "traits", "aggregates", "allocations", "auth", "default",
        "os-volume_attachments", "os-interface", "os-instance-actions", "migrations",
        "add_router_interface", "remove_router_interface", "bindings", "summary", "extra_specs",
        "os-extra_specs", "os-flavor-access", "os-simple-tenant-usage", "capabilities",
        "statistics", "search", "discover", "entities", "image", "schemas", "v2", "catalog",
        "system", "OS-FEDERATION", "OS-TRUST", "OS-OAUTH1", "OS-INHERIT", "OS-EP-FILTER",
    }
)  # fmt: skip

_VERSION = re.compile(r"^v\d+(?:\.\d+)?$")


#: Segment kinds (context-free part of the rules; the collection rule needs the previous one).
_PLAIN, _VERSION_SEG, _ID = 0, 1, 2
#: Memos: API metrics template every access line (~1/3 of the per-line cost before). Paths
#: repeat (`/v2.1/servers/detail`) and words repeat (`servers`, `v2.1`); ids do not, so
#: id segments are not kept and both memos are emptied when full (memory stays bounded).
_MEMO_MAX = 65_536
_path_memo: dict[str, str] = {}
_word_kind: dict[str, int] = {}


def _kind(seg: str) -> int:
    kind = _word_kind.get(seg)
    if kind is None:
        if _VERSION.match(seg):
            kind = _VERSION_SEG
        elif _ID_SEGMENT.match(seg):
            return _ID
        else:
            kind = _PLAIN
        if len(_word_kind) >= _MEMO_MAX:
            _word_kind.clear()
        _word_kind[seg] = kind
    return kind


#: Dashed UUIDs are what makes most paths unique; every one is an id segment (rule 1) and
#: stays one as all zeros, so paths are memoised with their UUIDs zeroed: one memo entry per
#: route shape instead of one per server.
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def route_template(path: str) -> str:
    """`/v2.1/servers/3f6c...-.../action?x=1` -> `/v2.1/servers/{id}/action` (memoised)."""
    found = _path_memo.get(path)
    if found is None:
        shape = PATH_UUID_RE.sub(_ZERO_UUID, path)
        found = _path_memo.get(shape)
        if found is None:
            found = _route_template(shape)
            if len(_path_memo) >= _MEMO_MAX:
                _path_memo.clear()
            _path_memo[shape] = found
    return found


def _route_template(path: str) -> str:
    cut = len(path)
    for sep in ("?", "#"):
        i = path.find(sep)
        if i != -1 and i < cut:
            cut = i
    path = path[:cut]
    if not path:
        return "/"
    if "://" in path:  # absolute-form request target: keep only the path
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    parts = path.split("/")
    out: list[str] = []
    prev = ""
    for seg in parts:
        if not seg:
            out.append(seg)
            continue
        kind = _kind(seg)
        if kind == _VERSION_SEG:
            out.append(seg)
        elif kind == _ID or (prev in COLLECTIONS and seg not in STATIC and seg not in COLLECTIONS):
            seg = "{id}"
            out.append(seg)
        else:
            out.append(seg)
        prev = seg
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result

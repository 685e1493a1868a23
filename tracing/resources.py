"""Which cloud resources a log line names, and whether a line refuses a request for a resource's state.

A user's request often fails because an *earlier* request broke the resource it acts on: a
build failed in nova-compute and left the instance in ERROR, and the user's reboot is then
refused with 409. The two requests share no request id, only the resource's UUID, which
OpenStack logs in many places: the `[instance: <uuid>]` prefix, URLs of access lines
(`/v2.1/servers/<uuid>/action`, `/v3/<project>/volumes/<uuid>`), and messages
(`Attaching volume <uuid>`, `Cannot 'reboot' instance <uuid> while it is in vm_state error`).
The index already records every UUID of every line, so a resource's history is one lookup;
this module only says which UUIDs are which resource and what a refusal looks like.

`kansoku trace` imports it on every run but a request that failed on nothing never reads a
resource: the patterns compile on first use (`kansoku.lazyre`).
"""

from __future__ import annotations

from kansoku.ids import UUID
from kansoku.lazyre import LazyPattern
from kansoku.tracing.model import LogLine, ResourceRef
from kansoku.tracing.slotted import FrozenRecord

_U = f"({UUID})"

#: URL path segments that name a resource (nova, cinder, neutron, glance APIs), each with a
#: text every match contains: a line without it skips the pattern, which then never compiles.
_URL_RES: tuple[tuple[LazyPattern[str], str, str], ...] = (
    (LazyPattern(r"/servers/" + _U), "instance", "/servers/"),
    (LazyPattern(r"/os-volume_attachments/" + _U), "volume", "/os-volume_attachments/"),
    (LazyPattern(r"/volumes/" + _U), "volume", "/volumes/"),
    (LazyPattern(r"/ports/" + _U), "port", "/ports/"),
    (LazyPattern(r"/networks/" + _U), "network", "/networks/"),
    (LazyPattern(r"/images/" + _U), "image", "/images/"),
    (LazyPattern(r"/os-server-groups/" + _U), "server_group", "/os-server-groups/"),
)
#: Message words before a UUID (upstream texts: "Attaching volume X", "Binding failed for
#: port X", "Instance X could not be found", "volume-X" in iSCSI target names, ...), each
#: with a text every match contains.
_MSG_RES: tuple[tuple[LazyPattern[str], str, str], ...] = (
    (LazyPattern(r"\b[Ii]nstance(?:_uuid)?[ :='\"]{1,4}" + _U), "instance", "nstance"),
    (LazyPattern(r"\b(?:server|Server)[ :='\"]{1,4}" + _U), "instance", "erver"),
    (LazyPattern(r"\b[Vv]olume(?:_id|Id)?[ :='\"-]{1,4}" + _U), "volume", "olume"),
    (LazyPattern(r"\b[Pp]ort(?:_id)?[ :='\"]{1,4}" + _U), "port", "ort"),
    (LazyPattern(r"\b[Nn]etwork(?:_id)?[ :='\"]{1,4}" + _U), "network", "etwork"),
    (LazyPattern(r"\b[Ii]mage(?:_id|Ref)?[ :='\"]{1,4}" + _U), "image", "mage"),
    (LazyPattern(r"\b[Ss]erver [Gg]roup[ :='\"]{1,4}" + _U), "server_group", "erver "),
)


def resource_refs(line: LogLine) -> list[ResourceRef]:
    """Every resource the line names, the `[instance: ...]` field first, without repeats."""
    found: list[ResourceRef] = []

    def add(kind: str, uuid: str) -> None:
        ref = ResourceRef(kind, uuid)
        if ref not in found:
            found.append(ref)

    if line.instance:
        add("instance", line.instance)
    if line.access is not None:
        path = line.access.path
        for pattern, kind, needle in _URL_RES:
            if needle in path:
                for m in pattern.finditer(path):
                    add(kind, m.group(1))
    text = line.message.split("\n", 1)[0] if line.fmt != "unparsed" else line.raw.split("\n", 1)[0]
    for pattern, kind, needle in _MSG_RES:
        if needle in text:
            for m in pattern.finditer(text):
                add(kind, m.group(1))
    return found


class Refusal(FrozenRecord):
    """A line that refuses a request because of a resource's state (a consequence, not a cause)."""

    __slots__ = ("line", "resource", "kind", "state")  # noqa: RUF023 (the fields, in order)

    line: LogLine
    resource: ResourceRef | None  # None when the text names no UUID (cinder's reserve check)
    kind: str  # the resource kind the refusal is about
    state: str  # "vm_state error", "status error"

    def __init__(self, line: LogLine, resource: ResourceRef | None, kind: str, state: str) -> None:
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "state", state)


#: nova's InstanceInvalidState (`Cannot '%(action)s' instance %(uuid)s while it is in %(attr)s %(state)s`,
#: and the older `Instance %(uuid)s in %(attr)s %(state)s. Cannot %(method)s while ...`).
_NOVA_STATE_RE = LazyPattern(
    r"Cannot '?\w+'? instance "
    + _U
    + r" while it is in (\w+) (\w+)|Instance "
    + _U
    + r" in (\w+) (\w+)\. Cannot"
)
#: cinder's reserve/attach checks (`Volume status must be available to reserve, but the status
#: is error.`, `Volume <uuid> status must be available or downloading to reserve, but the
#: current status is error.`, `Invalid volume: ... status is error`).
_CINDER_STATE_RE = LazyPattern(
    r"[Vv]olume(?: " + _U + r")? status must be [\w ,]+? to \w+, but the (?:current )?status is (\w+)"
)
#: neutron/glance/generic "... is in <state> state" refusals of a named resource.
_GENERIC_STATE_RE = LazyPattern(
    r"\b(instance|volume|port|image|network|snapshot) "
    + _U
    + r" (?:is )?in (?:an? )?(error|ERROR) (?:state|status)"
)
#: State-check exceptions (short names) whose lines are refusals even when reworded.
STATE_EXCEPTIONS = frozenset({"InstanceInvalidState", "InvalidVolume", "InstanceNotReady", "InvalidInstance"})


def refusal(line: LogLine) -> Refusal | None:
    """The state refusal on `line`, if it is one."""
    text = line.message if line.fmt != "unparsed" else line.raw
    # Each pattern runs only on a line with a text every match of it contains.
    m = _NOVA_STATE_RE.search(text) if "Cannot" in text else None
    if m:
        uuid = m.group(1) or m.group(4)
        attr, state = (m.group(2), m.group(3)) if m.group(1) else (m.group(5), m.group(6))
        return Refusal(line, ResourceRef("instance", uuid), "instance", f"{attr} {state}")
    m = _CINDER_STATE_RE.search(text) if "status must be " in text else None
    if m:
        ref = ResourceRef("volume", m.group(1)) if m.group(1) else None
        return Refusal(line, ref, "volume", f"status {m.group(2)}")
    m = _GENERIC_STATE_RE.search(text) if "error" in text or "ERROR" in text else None
    if m:
        kind = m.group(1).lower()
        return Refusal(line, ResourceRef(kind, m.group(2)), kind, f"status {m.group(3).lower()}")
    if line.exception and line.exception.rsplit(".", 1)[-1].replace("_Remote", "") in STATE_EXCEPTIONS:
        refs = resource_refs(line)
        kind = "volume" if "Volume" in line.exception else "instance"
        ref = next((r for r in refs if r.kind == kind), None)
        return Refusal(line, ref, kind, "invalid state")
    return None


#: Lines that say a request left a resource broken, even at WARNING (nova's conductor logs
#: `Setting instance to ERROR state.` as a warning after NoValidHost; nova-compute logs
#: `Build of instance X aborted: ...`; cinder marks a failed create `error`).
_LEFT_BROKEN_RE = LazyPattern(
    r"Setting instance to ERROR state|Build of instance \S+ aborted|Instance failed to spawn"
    r"|Unexpected build failure|[Vv]olume \S+: create failed|status (?:to|=) '?error'?"
    r"|set(?:ting)? (?:the )?(?:volume|instance) (?:status |state )?to '?error'?",
)


#: Every match of `_LEFT_BROKEN_RE` contains one of these (a line without skips the regex).
_LEFT_BROKEN_WORDS = ("ERROR", "aborted", "fail", "error")


def leaves_broken(line: LogLine) -> bool:
    """Does the line say the request left the resource in an error state?"""
    first = line.message.split("\n", 1)[0]
    if not any(word in first for word in _LEFT_BROKEN_WORDS):
        return False
    return _LEFT_BROKEN_RE.search(first) is not None

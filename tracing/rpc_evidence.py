"""What a log line says about its span's role: RPC callee or caller, periodic task, reschedule.

Time order is no reliable caller/callee signal: an agent that logs nothing before its call
(or a log excerpt that starts mid-request) puts the callee's lines first. The lines
themselves say it: oslo.messaging's RPC server logs "Exception during message handling"
and "Returning exception ... to caller" (logger `oslo_messaging.rpc.server`, before Ocata
`oslo_messaging.rpc.dispatcher` / `oslo_messaging._drivers.common`, before Icehouse
`<project>.openstack.common.rpc.amqp`), while the caller gets `RemoteError` /
"Remote error:" / `..._Remote` back, or `MessagingTimeout`.
"""

from __future__ import annotations

import re

from kansoku.lazyre import LazyPattern
from kansoku.tracing.model import LogLine
from kansoku.tracing.slotted import FrozenRecord

_CALLEE_MESSAGES = ("Exception during message handling", "Returning exception")
_CALLER_RE = LazyPattern(
    r"RemoteError|Remote error: |_Remote\b|MessagingTimeout|Timed out waiting for a reply"
)
#: nova-conductor (nova-scheduler before the conductor built instances, Havana) logs the
#: failed build of the previous attempt: `Error from last host: cmp-2 (node cmp-2): [...]`.
_LAST_HOST_RE = LazyPattern(
    r"Error from last host: (?P<host>\S+) \(node (?P<node>[^)]*)\): (?P<exc>.*)", re.DOTALL
)
#: The exception inside the stringified traceback list: `u"RescheduledException: Build of ..."`.
_LIST_EXC_RE = LazyPattern(
    r"""[u]?['"]((?:[A-Za-z_]\w*\.)*[A-Z]\w*): ((?:[^'"\\]|\\.)*?)(?:\\n)?['"]\]?\s*$"""
)


def is_rpc_callee_line(line: LogLine) -> bool:
    """The RPC server side of a failed call: oslo.messaging's dispatcher logging the error."""
    return line.message.startswith(_CALLEE_MESSAGES) or (
        line.logger is not None
        and "rpc" in line.logger
        and "Exception during message handling" in line.message[:200]
    )


def is_rpc_caller_line(line: LogLine) -> bool:
    """The caller side: it received a remote exception or gave up waiting for the reply."""
    if line.level not in ("ERROR", "CRITICAL", "WARNING", "TRACE") and line.exception is None:
        return False
    return _CALLER_RE.search(line.message) is not None or _CALLER_RE.search(line.exception or "") is not None


def is_periodic_task(line: LogLine) -> bool:
    """A periodic task's record: it runs under whatever context the thread last had (a stale
    request id in Kilo-era nova), so it is never evidence about that request."""
    return (line.logger or "").endswith("periodic_task") or line.message.startswith("Running periodic task")


class LastHostError(FrozenRecord):
    """`Error from last host: H (node N): [traceback]`: the compute build that failed first."""

    __slots__ = ("host", "node", "exception", "message")  # noqa: RUF023 (the fields, in order)

    host: str
    node: str
    exception: str | None
    message: str

    def __init__(self, host: str, node: str, exception: str | None, message: str) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "exception", exception)
        object.__setattr__(self, "message", message)


def last_host_error(line: LogLine) -> LastHostError | None:
    if "Error from last host: " not in line.message:  # every match has it: skip the regex
        return None
    m = _LAST_HOST_RE.search(line.message)
    if m is None:
        return None
    exc_text = m.group("exc").strip()
    em = _LIST_EXC_RE.search(exc_text)
    if em is not None:
        name, msg = em.group(1), em.group(2).replace("\\'", "'")
    else:  # newer nova logs the exception's text, not a traceback list: `[ Build of ... ]`
        name, msg = None, exc_text.strip("[] ")
    return LastHostError(m.group("host"), m.group("node"), name, msg)

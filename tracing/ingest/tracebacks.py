"""Which exception a record names: the last line of a traceback, an error summary, a RemoteError."""

from __future__ import annotations

from collections.abc import Iterable

from kansoku.lazyre import LazyPattern

# Compiled on first use (`kansoku.lazyre`): most `kansoku trace` runs meet no traceback.

#: The final line of a traceback: `nova.exception.NoValidHost: msg`, `ValueError`, ...
_EXC_LINE_RE = LazyPattern(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::\s?(.*))?$")


#: An exception named inside a first line's error summary (`...: nova.exception.Foo: msg`).
_EXC_IN_MSG_RE = LazyPattern(
    r"(?:^|: |\s)((?:[a-z_]\w*\.)+[A-Z]\w*|[A-Z]\w*(?:Error|Exception|Timeout|Failure|Failed))(?:_Remote)?: "
)


_REMOTE_ERR_RE = LazyPattern(r"Remote error: ([A-Za-z_][\w.]*)")


_EXC_NAME_HINT = LazyPattern(
    r"(?:Error|Exception|Timeout|Failure|Failed|NotFound|Conflict|Invalid|Exit|Interrupt)"
)


def exception_type(lines: Iterable[str]) -> str | None:
    """The exception a traceback ended with, oslo.messaging's `_Remote` classes unwrapped.

    `lines` are the traceback's text lines (without the log prefix). After a `Traceback
    (most recent call last):` the frames are indented; the first line that is not is the
    exception (`Name: message`, or a bare `Name` as Python 2 writes an exception without a
    message). Lines after it continue its message (`Command: ...`, `Stderr: ...` of a
    ProcessExecutionError, PostgreSQL's `DETAIL: ...`) until the next `Traceback` header,
    so a chained exception reports the one finally raised.
    """
    found: str | None = None
    in_tb = False  # inside a traceback's frames, the exception line not seen yet
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            in_tb = True
            continue
        if not in_tb or not line.strip() or line[0] in " \t":
            continue
        in_tb = False  # this is the exception line; what follows is its message
        m = _EXC_LINE_RE.match(line.rstrip())
        if m is None:
            continue
        name = m.group(1)
        last = name.rsplit(".", 1)[-1]
        if not (last[:1].isupper() or _EXC_NAME_HINT.search(last)):
            continue
        found = _unremote(name)
        remote = _REMOTE_ERR_RE.search(m.group(2) or "")
        if remote is not None:
            found = _unremote(remote.group(1))
    return found


def _unremote(name: str) -> str:
    """oslo.messaging re-raises remote errors as `nova.exception_Remote.NoValidHost_Remote`."""
    return name.replace("_Remote", "")


def exception_in_message(message: str) -> str | None:
    remote = _REMOTE_ERR_RE.search(message)
    if remote is not None:
        return _unremote(remote.group(1))
    m = _EXC_IN_MSG_RE.search(message)
    return _unremote(m.group(1)) if m is not None else None

"""Find log files, name their service and host, and read them (plain, rotated, gzipped).

Service and host come from the path because OpenStack log lines do not carry them: a
deployment writes `/var/log/<project>/<service>.log` on each machine, and collected trees
are `<host>/<service>.log` or `<host>/<project>/<service>.log`. A `PathRule` turns a path
into (service, host); the default tries those three layouts, and a pattern such as
`"{host}/{project}/{service}"` or `"{host}/{service}"` forces one (matched against the
end of the path, rotation suffix removed).

Rotation suffixes (`.1`, `.2.gz`, `-20261120`, `-20261120.gz`) map to the same service so
that `nova-api.log.1` and `nova-api.log` are one stream. Gzip is read transparently with a
streaming zlib decoder, so a truncated or corrupt `.gz` yields everything before the damage
and then raises `LogReadError` naming the file.
"""

from __future__ import annotations

import os
import re
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from kansoku.config import DEFAULT_STORE
from kansoku.errors import KansokuError
from kansoku.lazyre import LazyPattern
from kansoku.tracing.slotted import FrozenRecord

#: Rotation suffixes logrotate writes (numbered or dated, optionally compressed).
_ROTATION_RE = LazyPattern(r"(?:\.\d+|-\d{8}(?:\d{2})?|\.\d{4}-\d{2}-\d{2})?(?:\.gz)?$")
#: Names a directory walk takes as logs: `x.log`, rotated or not. oslo.log writes JSON logs
#: to `.log` files too; other names (`ground-truth.json`, `x.txt`) are indexed only when
#: given explicitly as files.
_LOG_NAME_RE = LazyPattern(r"\.log(?:\.\d+|-\d{8}(?:\d{2})?|\.\d{4}-\d{2}-\d{2})?(?:\.gz)?$")
#: devstack CI jobs (Zuul) export each unit's journal as `screen-<service>.txt[.gz]`.
_SCREEN_NAME_RE = LazyPattern(r"^screen-[^/]+\.txt(?:\.gz)?$")
#: Directory names that are an OpenStack project (so their parent is the host).
PROJECTS = frozenset(
    {
        "nova", "neutron", "glance", "cinder", "keystone", "placement", "heat", "octavia",
        "swift", "horizon", "barbican", "designate", "manila", "ironic", "magnum", "aodh",
        "ceilometer", "gnocchi", "panko", "trove", "zun", "kuryr", "senlin", "masakari",
        "apache2", "httpd", "nginx", "openvswitch", "rabbitmq", "libvirt", "haproxy", "mysql",
    }
)  # fmt: skip
_GENERIC_DIRS = frozenset({"log", "logs", "var", "tmp", "", ".", "/"})
#: Directories of software that is not an OpenStack service: their files keep their names.
_NOT_OPENSTACK = frozenset(
    {"apache2", "httpd", "nginx", "openvswitch", "rabbitmq", "libvirt", "haproxy", "mysql"}
)
#: RDO/packstack file names that are not `<project>-<file>` (nova's placement API before
#: placement left nova; devstack and kolla call it `placement-api`).
_PACKAGED_NAMES = {("nova", "nova-placement-api"): "placement-api"}


def packaged_service(project: str, name: str) -> str:
    """The service a file in `<project>/` is from: RDO and packstack write
    `/var/log/cinder/api.log`, `/var/log/neutron/server.log`, `openvswitch-agent.log`, so
    the bare file name would put cinder's and glance's API (or neutron's server and some
    other `server`) into one service. `cinder/api.log` -> `cinder-api`; names that already
    start with the project (`nova-api`, `neutron-server`, `keystone`) are kept."""
    if project not in PROJECTS or project in _NOT_OPENSTACK:
        return name
    known = _PACKAGED_NAMES.get((project, name))
    if known is not None:
        return known
    if name == project or name.startswith((f"{project}-", f"{project}_")):
        return name
    return f"{project}-{name}"


_SKIP_DIRS = frozenset({DEFAULT_STORE.name, ".git", "__pycache__"})


def _hostname() -> str:
    """This machine's name; `socket` is imported here, not at module load (it is ~2 ms of
    the `kansoku trace ID` start, which never needs it)."""
    import socket

    return socket.gethostname()


class LogReadError(KansokuError):
    """A file could not be (fully) read: names the file and what went wrong."""


class LogFile(FrozenRecord):
    """One file to index: where it is, which service on which host wrote it (a frozen record,
    `kansoku.tracing.slotted`: `kansoku trace` imports this module and needs no dataclass)."""

    __slots__ = ("path", "service", "host", "compressed", "rotation")  # noqa: RUF023 (the fields, in order)

    path: str  # absolute path
    service: str
    host: str
    compressed: bool
    rotation: str  # the suffix removed to find the service ("" for the live file)

    def __init__(self, path: str, service: str, host: str, compressed: bool, rotation: str) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "service", service)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "compressed", compressed)
        object.__setattr__(self, "rotation", rotation)


class PathRule(Protocol):
    """(service, host) for a log file path; chosen by configuration (a pattern string)."""

    def __call__(self, path: Path) -> tuple[str, str]: ...


def strip_rotation(name: str) -> tuple[str, str]:
    """`nova-api.log.2.gz` -> (`nova-api.log`, `.2.gz`)."""
    m = _ROTATION_RE.search(name)
    if m is None or not m.group(0):
        return name, ""
    base = name[: m.start()]
    if not base or ("." not in base and not m.group(0).endswith(".gz")):
        return name, ""
    return base, m.group(0)


def service_name(filename: str) -> str:
    """`nova-api.log.1` -> `nova-api`; `keystone_access.log` -> `keystone_access`;
    devstack's `screen-n-cond-cell1.txt.gz` -> `n-cond-cell1` (its short names are kept)."""
    base, _ = strip_rotation(filename)
    base = base.removeprefix("screen-")
    for ext in (".log", ".json", ".txt"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


class DefaultRule:
    """`/var/log/<project>/<service>.log` (host: this machine or `--host`),
    `<host>/<project>/<service>.log` (when the middle directory is a known project or the
    service's prefix), otherwise `<host>/<service>.log`; kolla-ansible's
    `[<host>/]kolla/<project>/<service>.log`; devstack CI's `<node>/logs/screen-<svc>.txt`;
    sosreport / Ansible fetch / os-log-merger bundles `<host>/var/log/<project>/<file>.log`
    (the host is the component before `var`, never this machine). RDO/packstack file
    names are qualified by their project (`neutron/server.log` -> `neutron-server`).

    A file written through journald names its host on every line
    (`Nov 23 10:15:02.123456 np0038123456 devstack@n-api.service[85011]: ...`): that host is
    taken over the path (a CI job's `controller/` or `compute1/` directory is a role, and the
    parser gives every line the host of its own prefix, so the two must agree).
    """

    def __init__(self, host: str | None = None) -> None:
        self.default_host = host or _hostname()

    def __call__(self, path: Path) -> tuple[str, str]:
        service = service_name(path.name)
        parts = path.parts[:-1]
        if not parts:
            return service, self.default_host
        parent = parts[-1]
        project = service.split("-", 1)[0].split("_", 1)[0]
        if parent in PROJECTS or parent == project:
            service = packaged_service(parent, service)
            up = len(parts) - 2
            if up >= 0 and parts[up] in ("kolla", "logs"):  # kolla's and a CI job's <node>/logs/
                up -= 1
            host = parts[up] if up >= 0 else ""
            if up >= 1 and parts[up - 1] == "var" and host == "log":
                # `<host>/var/log/<project>/`: a collected bundle names its host before `var`
                host = parts[up - 2] if up >= 2 else ""
        elif parent == "logs" and _SCREEN_NAME_RE.match(path.name) and len(parts) >= 2:
            host = parts[-2]
        else:
            host = parent
        if host in _GENERIC_DIRS:
            host = self.default_host
        host = journal_host(str(path)) or host
        return service, host


class PatternRule:
    """A fixed layout such as `{host}/{project}/{service}`, matched on the path's tail."""

    def __init__(self, pattern: str, host: str | None = None) -> None:
        fields = pattern.strip("/").split("/")
        if "{service}" not in fields[-1]:
            raise KansokuError(f"path rule {pattern!r}: the last part must contain {{service}}")
        self.fields = fields
        self.default_host = host or _hostname()
        self.pattern = pattern

    def __call__(self, path: Path) -> tuple[str, str]:
        parts = path.parts
        if len(parts) < len(self.fields):
            raise KansokuError(f"{path}: does not match path rule {self.pattern!r}")
        values: dict[str, str] = {}
        for field, part in zip(self.fields, parts[-len(self.fields) :], strict=True):
            if field.startswith("{") and field.endswith("}"):
                values[field[1:-1]] = part
        values["service"] = service_name(parts[-1])
        if "project" in values:
            values["service"] = packaged_service(values["project"], values["service"])
        return values["service"], values.get("host") or self.default_host


class RegexRule:
    """A regular expression with `(?P<service>...)` and optionally `(?P<host>...)`, searched
    in the absolute path; the service has its rotation suffix and `.log` removed."""

    def __init__(self, regex: str, host: str | None = None) -> None:
        try:
            self.regex = re.compile(regex)
        except re.error as err:
            raise KansokuError(f"path rule {regex!r}: not a valid regular expression ({err})") from None
        if "service" not in self.regex.groupindex:
            raise KansokuError(f"path rule {regex!r}: needs a (?P<service>...) group")
        self.default_host = host or _hostname()

    def __call__(self, path: Path) -> tuple[str, str]:
        m = self.regex.search(str(path))
        if m is None:
            raise KansokuError(f"{path}: does not match path rule {self.regex.pattern!r}")
        host = m.groupdict().get("host") or self.default_host
        return service_name(m.group("service")), host


def make_rule(spec: str | None = None, host: str | None = None) -> PathRule:
    """The rule a configuration string names: `None`/`"default"` -> DefaultRule, a regex
    with named groups (`(?P<service>...)`) -> RegexRule, else a `{host}/{service}` pattern."""
    if spec is None or spec == "default":
        return DefaultRule(host)
    if "(?P<" in spec:
        return RegexRule(spec, host)
    return PatternRule(spec, host)


def is_log_name(name: str) -> bool:
    return (bool(_LOG_NAME_RE.search(name)) or bool(_SCREEN_NAME_RE.match(name))) and not name.startswith(".")


#: journald's `short[-precise]` / `short-iso[-precise]` prefix, up to the host.
_JOURNAL_HOST_RE = LazyPattern(
    rb"(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    rb" ([^\s\[\]]+) [^\s\[\]:]+(?:\[\d+\])?: "
)


def journal_host(path: str) -> str | None:
    """The host named by the first journald-prefixed line in the file's first 8 KiB, if any.

    journalctl starts an export with `-- Logs begin at ... --` (or `-- No entries --`), so
    the first few lines are looked at, not only the first.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
            if path.endswith(".gz"):
                head = zlib.decompressobj(wbits=31).decompress(head, 8192)
    except (OSError, zlib.error):
        return None  # discovery stays quiet: reading the file later names the problem
    for line in head.split(b"\n")[:8]:
        m = _JOURNAL_HOST_RE.match(line)
        if m is not None:
            return m.group(1).decode("utf-8", "replace")
    return None


def discover(
    paths: Iterable[str | Path], rule: PathRule | None = None, follow_links: bool = False
) -> tuple[list[LogFile], list[str]]:
    """Every log file under `paths` (files are taken as given, directories walked).

    Returns the files (oldest rotation first within a stream, so lines come out in time
    order) and problems (unreadable directories, missing paths) as messages naming the path.
    A symbolic link met in a walk is followed only when it stays inside the given paths
    (unless `follow_links`): a log tree is often writable by the services that log, and a
    link to `/etc/shadow` must not end up in the store. A path given explicitly is the
    operator's choice and is followed.
    """
    rule = rule or DefaultRule()
    given_paths = [Path(g) for g in paths]
    roots = [os.path.realpath(g) for g in given_paths]
    found: list[LogFile] = []
    problems: list[str] = []
    for p in given_paths:
        try:
            st = p.stat()
        except FileNotFoundError:
            problems.append(f"{p}: no such file or directory")
            continue
        except PermissionError:
            problems.append(f"{p}: permission denied")
            continue
        if stat.S_ISDIR(st.st_mode):
            _walk(p, rule, roots, follow_links, found, problems)
        elif stat.S_ISREG(st.st_mode):
            _add(found, problems, p, rule)
        else:
            problems.append(f"{p}: not a regular file")
    found.sort(key=_order_key)
    return _unique(found), problems


def _inside(target: str, roots: list[str]) -> bool:
    return any(target == r or target.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _walk(
    top: Path, rule: PathRule, roots: list[str], follow: bool, found: list[LogFile], problems: list[str]
) -> None:
    visited: set[tuple[int, int]] = set()
    for root, dirs, names in os.walk(
        top, followlinks=follow, onerror=lambda e: problems.append(_os_problem(e))
    ):
        if follow:  # a link loop would be walked forever: each real directory once
            try:
                st = os.stat(root)
            except OSError:
                dirs[:] = []
                continue
            if (st.st_dev, st.st_ino) in visited:
                dirs[:] = []
                continue
            visited.add((st.st_dev, st.st_ino))
        kept = []
        for d in sorted(dirs):
            if d in _SKIP_DIRS:
                continue
            sub = os.path.join(root, d)
            if not follow and os.path.islink(sub):
                target = os.path.realpath(sub)
                if not _inside(target, roots):  # inside: walked through its real path anyway
                    problems.append(_link_problem(sub, target))
                continue
            kept.append(d)
        dirs[:] = kept
        for name in sorted(names):
            if not is_log_name(name):
                continue
            full = Path(root) / name
            if not follow and full.is_symlink():
                target = os.path.realpath(full)
                if not _inside(target, roots):
                    problems.append(_link_problem(str(full), target))
                    continue
            if full.is_file():
                _add(found, problems, full, rule)


def _link_problem(path: str, target: str) -> str:
    return f"{path}: symbolic link to {target}, outside the given paths; not followed (--follow-links follows it)"


def _unique(found: list[LogFile]) -> list[LogFile]:
    """One entry per file: the same path twice, or one file reached through a link too (its
    own path is kept; the index would otherwise take the second name for a rename)."""
    by_path: dict[str, LogFile] = {}
    for f in found:
        by_path.setdefault(f.path, f)
    by_inode: dict[tuple[int, int], LogFile] = {}
    out: list[LogFile] = []
    for f in by_path.values():
        try:
            st = os.stat(f.path)
        except OSError:
            out.append(f)  # reading it later names the problem
            continue
        key = (st.st_dev, st.st_ino)
        other = by_inode.get(key)
        if other is None:
            by_inode[key] = f
            out.append(f)
        elif os.path.islink(other.path) and not os.path.islink(f.path):
            out[out.index(other)] = f
            by_inode[key] = f
    return out


def _add(found: list[LogFile], problems: list[str], path: Path, rule: PathRule) -> None:
    try:
        found.append(_logfile(path, rule))
    except KansokuError as err:  # the path rule does not fit this file: say so, index the rest
        problems.append(str(err))


def _os_problem(err: OSError) -> str:
    reason = "permission denied" if isinstance(err, PermissionError) else (err.strerror or str(err))
    return f"{err.filename}: {reason}"


def _logfile(path: Path, rule: PathRule) -> LogFile:
    absolute = path.absolute()
    service, host = rule(absolute)
    _, rotation = strip_rotation(path.name)
    return LogFile(str(absolute), service, host, path.name.endswith(".gz"), rotation)


def _rotation_rank(rotation: str) -> tuple[int, str]:
    """Older first: `.3.gz` < `.2` < `.1` < live; dated suffixes by date."""
    core = rotation.removesuffix(".gz")
    if not core:
        return (2, "")
    if core.startswith(".") and core[1:].isdigit():
        return (0, f"{10**9 - int(core[1:]):012d}")
    return (1, core)


def _order_key(f: LogFile) -> tuple[str, str, tuple[int, str], str]:
    return (f.host, f.service, _rotation_rank(f.rotation), f.path)


def open_error(path: str, err: OSError) -> LogReadError:
    """The user-facing message for a file that cannot be opened."""
    if isinstance(err, PermissionError):
        return LogReadError(f"{path}: permission denied")
    if isinstance(err, FileNotFoundError):
        return LogReadError(f"{path}: no such file (removed or rotated away)")
    return LogReadError(f"{path}: {err.strerror or err}")


def read_chunks(path: str, start: int = 0, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Raw bytes of `path` from uncompressed offset `start`, in chunks; gzip decoded.

    A damaged gzip stream yields everything decoded before the damage, then raises
    LogReadError naming the file. Opening problems raise LogReadError too.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally, generator-owned
    except OSError as err:
        raise open_error(path, err) from None
    try:
        if path.endswith(".gz"):
            yield from _gunzip(fh, path, start, chunk_size)
            return
        fh.seek(start)
        while True:
            data = _read_chunk(fh, path, chunk_size)
            if not data:
                return
            yield data
    finally:
        fh.close()


def _read_chunk(fh: BinaryIO, path: str, size: int) -> bytes:
    """Up to `size` bytes; a read error (a disk error, a file cut short by NFS) names the file."""
    try:
        return fh.read(size)
    except OSError as err:
        raise open_error(path, err) from None


_MAX_OUT = 8 << 20


def gzip_inflater() -> tuple[Callable[[], Any], tuple[type[Exception], ...]]:
    """A zlib-compatible streaming gzip decoder factory and the errors it raises.

    python-isal (Intel ISA-L) inflates these logs ~4x faster than zlib (12 vs 52 ms for a
    39 MB rotated neutron log), and rotated `.gz` files are most of what an index build or
    `trace stats` reads; zlib where no isal wheel exists. Imported on first use, so
    `kansoku trace` on plain files does not load it.
    """
    try:
        from isal import isal_zlib
    except ImportError:  # a platform without an isal wheel
        return (lambda: zlib.decompressobj(wbits=31)), (zlib.error,)
    isal_error: type[Exception] = isal_zlib.error  # type: ignore[assignment]  # the stub says an instance
    return (lambda: isal_zlib.decompressobj(wbits=31)), (isal_error, zlib.error)


def _gunzip(fh: BinaryIO, path: str, start: int, chunk_size: int) -> Iterator[bytes]:
    """Stream-decode a (multi-member) gzip file, skipping the first `start` output bytes.

    Damage raises `LogReadError` after everything decodable before it was yielded (see
    `_salvage`: a decoder that fails drops the output of the whole chunk it was given).
    """
    new_decoder, errors = gzip_inflater()
    skip = start
    produced = 0  # decoded bytes so far, skipped ones included
    dec = new_decoder()
    in_member = False

    def fresh(out: bytes) -> bytes:
        nonlocal skip
        if skip and out:
            if len(out) <= skip:
                skip -= len(out)
                return b""
            out, skip = out[skip:], 0
        return out

    def damaged(err: Exception) -> Iterator[bytes]:
        for piece in _salvage(path, produced):
            if piece := fresh(piece):
                yield piece
        raise LogReadError(f"{path}: corrupt gzip data ({err}); lines before the damage were read") from None

    while True:
        comp = _read_chunk(fh, path, chunk_size)
        if not comp:
            break
        while comp:
            in_member = True
            try:
                # bounded output per step: a 1 MiB chunk of a highly repetitive log can
                # inflate to hundreds of MiB
                out = dec.decompress(comp, _MAX_OUT)
            except errors as err:
                yield from damaged(err)
            produced += len(out)
            if out := fresh(out):
                yield out
            if dec.eof:  # a member ended; another may follow (concatenated gzip)
                comp = dec.unused_data  # (unconsumed_tail repeats it at eof)
                dec = new_decoder()
                in_member = False
            else:
                comp = dec.unconsumed_tail
    while in_member and not dec.eof:  # output a decoder holds back once the input is all fed
        try:
            out = dec.decompress(b"", _MAX_OUT)
        except errors as err:
            yield from damaged(err)
        if not out:
            break
        produced += len(out)
        if out := fresh(out):
            yield out
    if in_member and not dec.eof:
        raise LogReadError(f"{path}: truncated gzip file; lines before the damage were read")


_SALVAGE_STEP = 1024


def _salvage(path: str, done: int) -> Iterator[bytes]:
    """The decodable output of a damaged gzip file past its first `done` bytes, up to the damage.

    Decoded again from the start with zlib, 1 KiB of input per step, so at most the output
    of the step that meets the damage is lost (a decoder that raises returns nothing of that
    call; in the normal 1 MiB steps that was megabytes of log lines). Damage is rare, so the
    slow second pass costs nothing in the normal case.
    """
    dec = zlib.decompressobj(wbits=31)
    pos = 0
    try:
        with open(path, "rb") as fh:
            while data := fh.read(_SALVAGE_STEP):
                while data:
                    out = dec.decompress(data)
                    if pos + len(out) > done:
                        yield out[max(0, done - pos) :]
                    pos += len(out)
                    if dec.eof:
                        data = dec.unused_data
                        dec = zlib.decompressobj(wbits=31)
                    else:
                        data = b""
    except (OSError, zlib.error):
        return


def fingerprint(path: str, size: int = 64) -> bytes:
    """The first bytes of the file as stored on disk: tells a rewritten file from an appended one."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as err:
        raise open_error(path, err) from None

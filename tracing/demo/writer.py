"""The one oslo.log writer of the demo cloud: contexts, files and record formatting.

Speed matters (the tracing benchmark needs >= 1 GB in minutes): lines are built from
templates with string formatting, timestamps come from a per-second cache, JSON records are
assembled from precomputed pieces with the C string encoder, and output is written in large
buffered chunks, sorted per file within a time window.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from kansoku.tracing.demo.catalog import GENERIC_SRC, LEVELNO, PROJECT_OF, S_NEUTRON_WSGI, Src
from kansoku.tracing.demo.truth import Tracker


class Ctx:
    """An oslo.context RequestContext as it appears in log lines (text and JSON forms)."""

    __slots__ = ("_json", "global_id", "is_admin", "legacy", "project", "request_id", "text", "track", "user")

    def __init__(
        self,
        request_id: str,
        global_id: str | None,
        user: str | None,
        project: str | None,
        is_admin: bool = False,
        track: Tracker | None = None,
    ) -> None:
        self.request_id = request_id
        self.global_id = global_id
        self.user = user
        self.project = project
        self.is_admin = is_admin
        self.track = track
        if user:
            ident = f"{user} {project or '-'} - - default default"
            legacy_ident = f"{user} {project or '-'} - - -"
        else:
            ident = "- - - - - -"
            legacy_ident = "- - - - -"
        self.text = f"{global_id} {request_id} {ident}"
        self.legacy = f"{request_id} {legacy_ident}"
        self._json: str | None = None

    def json(self) -> str:
        """The nested ``context`` object of oslo.log's JSONFormatter (get_logging_values).

        Assembled as text (ids and hex user/project ids never need escaping): json.dumps of a
        dict per request was the generator's largest single cost.
        """
        if self._json is None:
            u = self.user
            if u:
                p = f'"{self.project}"'
                who = (
                    f'"user": "{u}", "project_id": {p}, "system_scope": null, "project": {p}, "domain": null, '
                    '"user_domain": "default", "project_domain": "default"'
                )
                token, roles = '"***"', '["member", "reader"]'
                ident = f"{u} {self.project} - default default"
            else:
                who = (
                    '"user": null, "project_id": null, "system_scope": null, "project": null, "domain": null, '
                    '"user_domain": null, "project_domain": null'
                )
                token, roles, ident = "null", "[]", "- - - - -"
            gid = f'"{self.global_id}"' if self.global_id else "null"
            self._json = (
                '{"user_name": null, "project_name": null, "domain_name": null, "user_domain_name": null, '
                f'"project_domain_name": null, {who}, "is_admin": {"true" if self.is_admin else "false"}, '
                f'"read_only": false, "show_deleted": false, "auth_token": {token}, '
                f'"request_id": "{self.request_id}", "global_request_id": {gid}, "resource_uuid": null, '
                f'"roles": {roles}, "user_identity": "{ident}", "is_admin_project": true}}'
            )
        return self._json


class LogFile:
    """One ``<host>/<service>.log`` being written: pending records sorted per time window."""

    __slots__ = (
        "bytes",
        "fmt",
        "handle",
        "host",
        "lines",
        "out_dir",
        "pending",
        "pid",
        "seg_paths",
        "segment",
        "service",
    )

    def __init__(self, out_dir: Path, host: str, service: str, pid: int, fmt: str) -> None:
        self.out_dir = out_dir
        self.host = host
        self.service = service
        self.pid = pid
        self.fmt = fmt  # text | json | legacy
        self.pending: list[tuple[float, str]] = []
        self.segment = 0
        self.handle: Any = None
        self.lines = 0
        self.bytes = 0
        self.seg_paths: list[Path] = []

    def _open(self) -> Any:
        if self.handle is None:
            path = self.out_dir / self.host / f"{self.service}.log.seg{self.segment}"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.seg_paths.append(path)
            self.handle = open(path, "w", encoding="utf-8", buffering=1 << 18)  # noqa: SIM115
        return self.handle

    def flush(self, upto: float | None) -> None:
        """Write every pending record older than `upto` (all of them when None), in time order."""
        if not self.pending:
            return
        self.pending.sort(key=_first)
        if upto is None:
            out, self.pending = self.pending, []
        else:
            cut = bisect_right(self.pending, upto, key=_first)
            if cut == 0:
                return
            out, self.pending = self.pending[:cut], self.pending[cut:]
        text = "\n".join([r[1] for r in out]) + "\n"
        self._open().write(text)
        self.lines += text.count("\n")
        self.bytes += len(text)

    def rotate(self) -> None:
        """Start the next segment (logrotate's daily cut); a quiet file still gets an empty one,
        so every service has the same `.log`, `.log.1`, `.log.2.gz` set."""
        self._open().close()
        self.handle = None
        self.segment += 1

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _first(rec: tuple[float, str]) -> float:
    return rec[0]


def text_record(
    stamp: str,
    pid: int,
    level: str,
    logger: str,
    context: str,
    inst: str | None,
    msg: str,
    summary: str | None = None,
    src: Src | None = None,
    tb: list[str] | None = None,
) -> str:
    """One oslo.log text record as ContextFormatter writes it (lines joined by ``\\n``).

    `context` is what goes between the brackets (``-`` without a request context);
    `summary` is the error summary appended to WARNING and above; `src` the DEBUG suffix;
    `tb` the traceback, every line behind ``logging_exception_prefix`` and a last, empty one
    (the traceback text ends with a newline). The demo cloud and the tests' hand-written
    scenarios (tests/support/scenarios.py) both write through here.
    """
    inst_s = f"[instance: {inst}] " if inst else ""
    text = f"{stamp} {pid} {level} {logger} [{context}] {inst_s}{msg}"
    if summary is not None and level != "DEBUG" and level != "INFO":
        text += ": " + summary
    if level == "DEBUG" and src is not None:
        text += f" {src.func} {src.path}:{src.line}"
    if tb:
        prefix = f"\n{stamp} {pid} ERROR {logger} {inst_s}"
        text += prefix + prefix.join(tb) + prefix
    return text


class OsloLogWriter:
    """Formats records as oslo.log does and queues them in per-host, per-service files.

    The demo cloud's only writer: text (context and legacy forms) and JSONFormatter lines,
    the DEBUG suffix, error summaries and prefixed tracebacks. `logs` is filled by the cloud.
    """

    def __init__(self, start: float) -> None:
        self.start = start
        self.logs: dict[tuple[str, str], LogFile] = {}
        self._sec_cache: dict[int, str] = {}
        self._asc_cache: dict[int, str] = {}

    def stamp(self, ts: float) -> str:
        sec = int(ts)
        base = self._sec_cache.get(sec)
        if base is None:
            if len(self._sec_cache) > 50000:
                self._sec_cache.clear()
            base = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%d %H:%M:%S")
            self._sec_cache[sec] = base
        return f"{base}.{int((ts - sec) * 1000):03d}"

    def asctime(self, ts: float) -> str:
        sec = int(ts)
        return f"{self.stamp(float(sec))[:-4]},{int((ts - sec) * 1000):03d}"

    def emit(
        self,
        host: str,
        service: str,
        ts: float,
        level: str,
        logger: str,
        ctx: Ctx | None,
        msg: str,
        *,
        inst: str | None = None,
        src: Src | None = None,
        summary: str | None = None,
        tb: list[str] | None = None,
    ) -> None:
        log = self.logs[(host, service)]
        if ctx is not None and ctx.track is not None:
            tr = ctx.track
            key = (service, host)
            rid = tr.request_id
            direct = ctx.request_id == rid or (ctx.global_id == rid and log.fmt != "legacy")
            bucket = tr.direct if direct else tr.indirect
            bucket[key] = bucket.get(key, 0) + 1
            tr.segments.add((host, service, log.segment))
            tr.lines += 1
        if log.fmt == "json":
            log.pending.append(
                (ts, self._json_record(log, ts, level, logger, ctx, msg, inst, src, summary, tb))
            )
            return
        if ctx is None:
            cstr = "-"
        elif log.fmt == "legacy":
            cstr = ctx.legacy
        else:
            cstr = ctx.text
        log.pending.append(
            (ts, text_record(self.stamp(ts), log.pid, level, logger, cstr, inst, msg, summary, src, tb))
        )

    def _json_record(
        self,
        log: LogFile,
        ts: float,
        level: str,
        logger: str,
        ctx: Ctx | None,
        msg: str,
        inst: str | None,
        src: Src | None,
        summary: str | None,
        tb: list[str] | None,
    ) -> str:
        """oslo.log JSONFormatter's object, assembled from pieces (same keys, same order)."""
        src = src or GENERIC_SRC.get(log.service, S_NEUTRON_WSGI)
        m = encode_basestring_ascii(msg)
        sec = int(ts)
        msecs = (ts - sec) * 1000
        extra = f'{{"project": "{PROJECT_OF[log.service]}", "version": "unknown"'
        if inst:
            extra += f', "instance": {{"uuid": "{inst}"}}'
        extra += "}"
        err = encode_basestring_ascii(summary) if summary is not None and LEVELNO[level] >= 30 else '""'
        tbs = encode_basestring_ascii("\n".join(tb)) if tb else "null"
        return (
            f'{{"message": {m}, "asctime": "{self.asctime(ts)}", "name": "{logger}", "msg": {m}, "args": [], '
            f'"levelname": "{level}", "levelno": {LEVELNO[level]}, "pathname": "{src.path}", '
            f'"filename": "{src.filename}", "module": "{src.module}", "lineno": {src.line}, '
            f'"funcname": "{src.func}", "created": {ts:.6f}, "msecs": {msecs:.1f}, '
            f'"relative_created": {(ts - self.start) * 1000:.3f}, "thread": 140245{log.pid % 9999:04d}112, '
            f'"thread_name": "MainThread", "process_name": "MainProcess", "process": {log.pid}, '
            f'"traceback": {tbs}, "hostname": "{log.host}", "error_summary": {err}, '
            f'"context": {ctx.json() if ctx is not None else "{}"}, "extra": {extra}}}'
        )

    def flush(self, upto: float | None) -> None:
        for log in self.logs.values():
            log.flush(upto)

    def rotate(self) -> None:
        for log in self.logs.values():
            log.rotate()

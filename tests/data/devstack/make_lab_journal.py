"""Re-render the real lab logs (tests/data/real-openstack) as a devstack CI job writes them.

Why: no public excerpt shows both sides of one request (n-api and placement, or n-api and
n-cpu) in devstack's journald form, but the lab logs are real records of such requests.
Every record keeps its time, pid, level, logger, ids, message and traceback; only the
layout changes, to devstack's oslo.log settings (`setup_systemd_logging` in devstack's
functions-common) behind journalctl's `short-precise` prefix:

    <Mon DD HH:MM:SS.ffffff> <host> <ident>[<pid>]: %(levelname)s %(name)s
        [%(global_request_id)s %(request_id)s %(project_name)s %(user_name)s] %(instance)s%(message)s
    DEBUG suffix: {{(pid=%(process)d) %(funcName)s %(pathname)s:%(lineno)d}}
    traceback lines: ERROR %(name)s %(instance)s<line>

The lab records ids, not names, so project_name/user_name are the project and user ids.
Run: .venv/bin/python tests/data/devstack/make_lab_journal.py
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from kansoku.tracing.ingest.oslo_format import HEADER_RE
from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.model import LogLine

HERE = Path(__file__).parent
LAB = HERE.parent / "real-openstack"
OUT = HERE / "lab-journal" / "controller" / "logs"
HOST = "vm"  # the lab machine's hostname, as placement's JSON records name it
#: lab file -> (devstack screen file, journald ident)
FILES = {
    "nova-api.log": ("screen-n-api.txt", "devstack@n-api.service"),
    "placement.log": ("screen-placement-api.txt", "devstack@placement-api.service"),
    "nova-compute.log": ("screen-n-cpu.txt", "nova-compute"),
    "nova-conductor.log": ("screen-n-cond-cell1.txt", "nova-conductor"),
}
_TEXT_SUFFIX = re.compile(r" (\S+) (\S+\.py):(\d+)$")


def _prefix(line: LogLine, ident: str) -> str:
    ts = line.ts or 0.0
    stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(ts)) + f".{round(ts % 1 * 1e6) % 1_000_000:06d}"
    return f"{stamp} {HOST} {ident}[{line.pid}]: "


def _suffix(line: LogLine) -> str:
    if line.level != "DEBUG":
        return ""
    if line.fmt == "json":
        obj = json.loads(line.raw)
        return f" {{{{(pid={line.pid}) {obj['funcname']} {obj['pathname']}:{obj['lineno']}}}}}"
    m = _TEXT_SUFFIX.search(line.raw.partition("\n")[0])
    return f" {{{{(pid={line.pid}) {m.group(1)} {m.group(2)}:{m.group(3)}}}}}" if m else ""


def _names(line: LogLine) -> tuple[str, str]:
    if line.fmt == "json":
        ctx = json.loads(line.raw).get("context") or {}
        return str(ctx.get("project_name") or ctx.get("project_id") or "None"), str(
            ctx.get("user_name") or ctx.get("user_id") or "None"
        )
    tokens = (line.user_identity or "").split()
    return (tokens[1] if len(tokens) > 1 else "None"), (tokens[0] if tokens else "None")


def render(line: LogLine, ident: str) -> list[str]:
    prefix = _prefix(line, ident)
    if line.fmt not in ("text", "json") or line.logger is None:
        return [prefix + raw for raw in line.raw.split("\n")]
    first, *rest = line.message.split("\n")
    if line.fmt == "json":  # ContextFormatter appends `: %(error_summary)s` when there is one
        summary = json.loads(line.raw).get("error_summary")
        if summary:
            first = f"{first}: {summary}"
    instance = f"[instance: {line.instance}] " if line.instance else ""
    if line.local_id is None and line.global_id is None:
        ctx = "[-]"
    else:
        project, user = _names(line)
        ctx = f"[{line.global_id or 'None'} {line.local_id} {project} {user}]"
    out = [f"{prefix}{line.level} {line.logger} {ctx} {instance}{first}{_suffix(line)}"]
    if line.fmt == "text":  # keep plain continuation lines plain, exception-prefixed ones prefixed
        raw_rest = line.raw.split("\n")[1:]
        for raw, text in zip(raw_rest, rest, strict=True):
            plain = HEADER_RE.match(raw) is None
            out.append(f"{prefix}{text}" if plain else f"{prefix}ERROR {line.logger} {instance}{text}")
    else:
        out.extend(f"{prefix}ERROR {line.logger} {instance}{text}" for text in rest)
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (screen, ident) in FILES.items():
        path = LAB / name
        lines: list[str] = []
        with open(path, "rb") as fh:
            for rec in iter_records(fh, str(path)):
                if isinstance(rec, LogLine):
                    lines.extend(render(rec, ident))
        (OUT / screen).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

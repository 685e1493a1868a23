"""The trace page (waterfall, verdict with its evidence, links and why) and the heal page.

Why from `tracing.outputs.json_doc.trace_document`: the JSON document is the trace's contract (schema in
docs/trace-json-schema.json) and what `--html` embeds, so the web page shows exactly what
`kansoku trace ID --json` says: no second stitcher, no second verdict.
"""

from __future__ import annotations

from typing import Any

from .pages import clock, e, layout, trace_href
from .state import WebState
from .svg import waterfall

#: Lines shown per span (a 2,000-line span stays one scroll, the rest is in `kansoku trace`).
MAX_LINES_PER_SPAN = 200


def _error_html(doc: dict[str, Any], err: dict[str, Any], title: str) -> str:
    line = doc["lines"][err["line"]] if err.get("line") is not None else None
    raw = f'<pre class="mono raw">{e(line["raw"])}</pre>' if line else ""
    what = err.get("exception_short") or (f"HTTP {err['status']}" if err.get("status") else "error")
    return (
        f'<div class="evidence"><b>{e(title)}</b>: <a href="#{e(err["span"])}">{e(err["service"])}@{e(err["host"])}</a> '
        f'{e(what)} <span class="muted">at {e(err["location"])}</span><div>{e(err["message"])}</div>{raw}</div>'
    )


def trace_page(state: WebState, doc: dict[str, Any]) -> str:
    v = doc["verdict"]
    status = v["status"]
    ev = ""
    if v["root_cause"]:
        ev += _error_html(doc, v["root_cause"], "root cause")
    ev += "".join(_error_html(doc, p, "propagated") for p in v["propagated"])
    ev += "".join(_error_html(doc, o, "other error (off the call path)") for o in v["others"])
    spans = {s["id"]: s for s in doc["spans"]}
    links = "".join(
        f'<li class="{e(link["strength"])}"><b>{e(spans[link["source"]]["service"])}</b> → '
        f"<b>{e(spans[link['target']]['service'])}</b> via {e(link['kind'])}: {e(link['explanation'])}"
        f"{' (' + e(link['detail']) + ')' if link['detail'] else ''}</li>"
        for link in doc["links"]
    )
    details = []
    for s in doc["spans"]:
        lines = s["lines"][:MAX_LINES_PER_SPAN]
        rows = "".join(
            f'<tr class="{"err" if ln["level"] in ("ERROR", "CRITICAL") else ""}"><td class="mono muted">'
            f"{e(ln['file'].rsplit('/', 2)[-2] + '/' + ln['file'].rsplit('/', 1)[-1] if '/' in ln['file'] else ln['file'])}:{ln['line_no']}</td>"
            f'<td class="mono">{e(ln["level"] or "")}</td><td class="mono">{e(ln["message"][:400])}</td></tr>'
            for ln in (doc["lines"][i] for i in lines)
        )
        more = len(s["lines"]) - len(lines)
        details.append(
            f'<details id="{e(s["id"])}"{" open" if s["errors"] else ""}><summary>{e(s["service"])}@{e(s["host"])} '
            f'<span class="mono muted">{e(s["request_id"])}</span> {len(s["lines"])} lines'
            f"{', ' + str(len(s['errors'])) + ' errors' if s['errors'] else ''}</summary><table>{rows}</table>"
            + (f'<p class="muted">{more} more lines: kansoku trace {e(doc["query"])}</p>' if more else "")
            + "</details>"
        )
    body = (
        f'<h2 class="id">trace {e(doc["query"])}</h2><p class="muted">{len(doc["spans"])} spans, {len(doc["lines"])} lines, '
        f"{len(doc['ids'])} ids, from {e(clock(doc['start']))}; {doc['files_searched']} files searched</p>"
        + (f'<div class="note">{e(doc["truncated"])}</div>' if doc["truncated"] else "")
        + f'<div id="verdict" class="{e(status)}">{e(v["summary"])}</div>'
        + f"<h2>evidence</h2>{ev or '<p class=muted>no error lines</p>'}"
        + "<h2>waterfall</h2>"
        + waterfall(doc)
        + f"<h2>links and why each exists</h2><ul class='links'>{links or '<li>a single span</li>'}</ul>"
        + "<h2>lines by span</h2>"
        + "".join(details)
    )
    css = (
        "<style>#verdict{padding:10px 14px;border-radius:6px;font-weight:600;white-space:pre-wrap}"
        "#verdict.failed{background:#fdecee;color:#c8323c;border:1px solid #f3c1c6}"
        "#verdict.ok{background:#e9f7ee;color:#1f7a43;border:1px solid #bfe6cc}"
        ".evidence{margin:6px 0;padding:6px 10px;border-left:3px solid #c8323c;background:#fafbfc}"
        "pre.raw{white-space:pre-wrap;word-break:break-all;margin:4px 0;max-height:220px;overflow:auto}"
        "svg.waterfall .row-bg{fill:transparent}svg.waterfall g:hover .row-bg{fill:#eef2f8}"
        "svg.waterfall .name,svg.waterfall .rid{font:12px ui-monospace,monospace;fill:#1d2330}"
        "svg.waterfall .bar{fill:#2f7fd8}svg.waterfall .failing .bar{fill:#c8323c}"
        "svg.waterfall .root-cause .bar{fill:#c8323c}svg.waterfall .root-cause .name{fill:#c8323c;font-weight:700}"
        "svg.waterfall .weak .bar{fill:#9aa1ad}ul.links li.weak{color:#6b7385}"
        "details{margin:4px 0}tr.err td{color:#c8323c}</style>"
    )
    return layout(f"kansoku trace {doc['query']}", css + body, state, doc["query"])


def heal_page(
    state: WebState, hist: dict[str, Any] | None, budget: tuple[int, int] | None, problem: str = ""
) -> str:
    if hist is None:
        return layout(
            "kansoku: heal",
            f"<h2>heal</h2><p class='muted'>{e(problem or 'no heal journal (give --heal-config)')}</p>",
            state,
        )
    paused = hist["paused"]
    head = (
        '<div class="summary">'
        + (
            f'<div class="err"><b>paused</b>: {e(paused)}</div>'
            if paused
            else "<div><b>healing active</b></div>"
        )
        + (f"<div>budget left this hour: <b>{budget[0]}</b> of {budget[1]}</div>" if budget else "")
        + f"<div>open actions: <b>{hist['open_actions']}</b></div></div>"
    )
    rates = "".join(
        f"<tr><td>{e(name)}</td><td>{c['success']}</td><td>{c['failed']}</td><td>{c['skipped']}</td><td>{c['open']}</td>"
        f"<td>{'-' if c['success_rate'] is None else format(c['success_rate'], '.0%')}</td></tr>"
        for name, c in hist["per_action"].items()
    )
    actions = "".join(
        f"<tr><td>{a['id']}</td><td>{e(a['action'])}</td><td>{e(a['cluster'])}/{e(a['target'])}</td>"
        f"<td>{e(a['state'])}{' (dry run)' if a['dry_run'] and a['state'] != 'dry_run' else ''}</td>"
        f'<td><a class="mono" href="{trace_href(a["request_id"])}">{e(a["request_id"])}</a></td>'
        f"<td class='mono'>{e(a['planned_at'])}</td><td>{e(a['detail'] or '')}</td></tr>"
        for a in reversed(hist["actions"])
    )
    decisions = "".join(
        f"<tr><td class='mono'>{e(d['received_at'])}</td><td>{e(d['alert'])}</td><td>{e(d['cluster'])}/{e(d['target'])}</td>"
        f"<td>{e(d['status'])}</td><td><b>{e(d['decision'] or 'undecided')}</b></td><td>{e(d['reason'] or '')}</td></tr>"
        for d in reversed(hist["decisions"])
    )
    events = "".join(
        f"<tr><td class='mono'>{e(x['ts'])}</td><td>{e(x['kind'])}</td><td>{e(x['message'])}</td></tr>"
        for x in hist["events"]
    )
    body = (
        "<h2>heal</h2>"
        + head
        + "<h2>success rate per action</h2><table><tr><th>action</th><th>success</th><th>failed</th><th>skipped</th>"
        f"<th>open</th><th>success rate</th></tr>{rates or '<tr><td colspan=6 class=muted>no real (non-dry-run) actions yet</td></tr>'}</table>"
        + "<h2>actions</h2><table><tr><th>#</th><th>action</th><th>target</th><th>state</th><th>request id</th>"
        f"<th>planned</th><th>detail</th></tr>{actions}</table>"
        + "<h2>decisions</h2><table><tr><th>received</th><th>alert</th><th>target</th><th>status</th><th>decision</th>"
        f"<th>why</th></tr>{decisions}</table>"
        + (f"<h2>events</h2><table>{events}</table>" if events else "")
    )
    return layout("kansoku: heal", body, state)

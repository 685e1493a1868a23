"""Server-rendered pages: the layout, the fleet overview and one cluster.

Why plain string building with `html.escape` (no template engine): the pages are small,
every value that comes from logs, checks or the inventory goes through one `e()` call, and
there is nothing to install or compile. No JavaScript: links and one form are enough.
"""

from __future__ import annotations

import time
from html import escape
from urllib.parse import quote

from kansoku.health.crosslayer import IAAS, KUBERNETES, CrossVerdict
from kansoku.health.model import CheckStatus
from kansoku.models import CheckState

from .controlplane import ServiceSeries
from .state import ClusterRow, Snapshot, WebState
from .svg import line_chart


def e(value: object) -> str:
    return escape(str(value), quote=True)


def trace_href(rid: str) -> str:
    return "/trace/" + quote(rid, safe="")


def ago(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "never"
    secs = max(0, int((now or time.time()) - ts))
    if secs < 120:
        return f"{secs}s ago"
    if secs < 7200:
        return f"{secs // 60}m ago"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def clock(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;color:#1d2330;background:#fff}
header{display:flex;gap:18px;align-items:center;padding:10px 20px;border-bottom:1px solid #e3e6ec;background:#f5f6f9}
header h1{font-size:17px;margin:0}header a{color:#1d2330;text-decoration:none;font-weight:600}
header form{margin-left:auto}header input[type=search]{width:380px;padding:5px 8px;font:inherit}
main{padding:10px 20px 30px}h2{font-size:15px;margin:22px 0 8px;color:#4a5263;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse}td,th{padding:3px 7px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
th{font-size:12px;color:#6b7385;font-weight:600}
td.cell{text-align:center;font-size:12px;min-width:62px}
td.ok{background:#d8f0df;color:#1f6b3a}td.failing{background:#f6c9cd;color:#8a1620;font-weight:700}
td.unknown{background:#fbe7b5;color:#7a5200}td.absent{background:#f5f6f9;color:#aab}
.label{display:inline-block;padding:1px 6px;border-radius:4px;font-size:12px;font-weight:700;white-space:nowrap}
.label-iaas{background:#7b2cbf;color:#fff}.label-cluster{background:#c8323c;color:#fff}
.label-mgmt{background:#e69f00;color:#1d2330}.label-unreachable{background:#6b7385;color:#fff}
.verdict{font-size:12px;color:#4a5263}tr.verdict-row td{border-bottom:2px solid #e3e6ec;padding-top:0}td.name{white-space:nowrap}h2.id{text-transform:none}
table.fleet td.cell{padding:1px 4px;min-width:54px}table.fleet td{padding:2px 6px}.verdict.iaas{color:#5a189a;font-weight:600}
.summary{display:flex;gap:14px;flex-wrap:wrap;margin:8px 0}.summary div{padding:6px 12px;border-radius:6px;background:#f5f6f9}
.charts{display:flex;flex-wrap:wrap;gap:10px}.svc{border:1px solid #e3e6ec;border-radius:6px;padding:6px}
.svc h3{margin:0 0 4px;font-size:13px}
svg .plot{fill:#fafbfc;stroke:#e3e6ec}svg .grid{stroke:#e3e6ec}svg .axis,svg .legend{font:10px sans-serif;fill:#6b7385}
svg .chart-title{font:600 11px sans-serif;fill:#1d2330}svg .muted{fill:#aab;font:11px sans-serif}
code,.mono{font:12px ui-monospace,Menlo,monospace}.muted{color:#6b7385}a{color:#0b5cad}
.err{color:#c8323c}.note{background:#fff7e0;border:1px solid #f1dca0;padding:6px 10px;border-radius:6px;margin:8px 0}
"""


def layout(title: str, body: str, state: WebState, query: str = "") -> str:
    notes = "".join(f'<div class="note">{e(n)}</div>' for n in state.sources.notes + state.errors[-3:])
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>kansoku · {e(state.sources.title)}</h1><a href="/">fleet</a><a href="/controlplane">control plane</a><a href="/heal">heal</a>'
        '<form action="/search" method="get" role="search">'
        f'<input type="search" name="q" value="{e(query)}" '
        'placeholder="request id, instance UUID or cluster name" aria-label="search">'
        ' <button type="submit">find</button></form></header>'
        f"<main>{notes}{body}</main></body></html>"
    )


LABEL_CLASS = {
    "IaaS suspected": "label-iaas",
    "cluster fault": "label-cluster",
    "management plane fault": "label-mgmt",
    "unreachable": "label-unreachable",
}


def label_html(label: str | None) -> str:
    if not label:
        return ""
    return f'<span class="label {LABEL_CLASS.get(label, "label-cluster")}">{e(label)}</span>'


def _cell(s: CheckStatus | None, now: float) -> str:
    if s is None:
        return '<td class="cell absent">-</td>'
    text = str(s.state)
    if s.state is CheckState.UNKNOWN:
        text = f"unknown<br>stale since {e(ago(s.stale_since, now))}"
    title = f"{s.check}: {s.state} since {clock(s.since)}: {s.reason}"
    if s.request_id and s.state is not CheckState.OK:
        text += f'<br><a href="{trace_href(s.request_id)}">trace</a>'
    return f'<td class="cell {s.state}" title="{e(title)}">{text}</td>'


def verdict_html(v: CrossVerdict | None, short: bool = True) -> str:
    if v is None:
        return ""
    links = " ".join(f'<a href="{trace_href(r)}">{e(r)}</a>' for r in v.request_ids[:3])
    cls = "iaas" if v.kind == IAAS else v.kind
    out = f'<div class="verdict {cls}">{e(v.summary)}{" " + links if links else ""}</div>'
    if not short and v.evidence:
        out += "<ul>" + "".join(f"<li class='mono'>{e(x)}</li>" for x in v.evidence) + "</ul>"
    return out


def fleet_grid(snap: Snapshot, rows: tuple[ClusterRow, ...] | None = None) -> str:
    now = time.time()
    rows = snap.rows if rows is None else rows
    head = "".join(f"<th>{e(c)}</th>" for c in snap.columns)
    out = [
        f'<table class="fleet"><thead><tr><th>cluster</th><th>region/az</th><th>fault</th>{head}'
        "</tr></thead><tbody>"
    ]
    for r in rows:
        c = r.cluster
        cells = "".join(_cell(r.checks.get(col), now) for col in snap.columns)
        out.append(
            f'<tr class="{"failing" if r.failing else "healthy"}" data-cluster="{e(c.id)}">'
            f'<td class="name"><a href="/cluster/{quote(c.id)}">{e(c.id)}</a></td>'
            f'<td class="name">{e(c.region)}{"/" + e(c.az) if c.az else ""}</td>'
            f'<td class="name">{label_html(r.label)}</td>{cells}</tr>'
        )
        if r.verdict is not None:  # Kubernetes or IaaS, under the cluster's row, across its checks
            out.append(
                f'<tr class="verdict-row" data-verdict="{e(c.id)}"><td colspan="3"></td>'
                f'<td colspan="{len(snap.columns)}">{verdict_html(r.verdict)}</td></tr>'
            )
    out.append("</tbody></table>")
    return "".join(out)


def control_plane_html(series: list[ServiceSeries]) -> str:
    if not series:
        return '<p class="muted">no access lines indexed (give --store with OpenStack API logs)</p>'
    out = ['<div class="charts">']
    for s in series:
        rate = {"5xx %": [(b.start, (b.error_rate or 0.0) * 100 if b.count else None) for b in s.buckets]}
        lat = {
            "p50": [(b.start, b.p50) for b in s.buckets],
            "p95": [(b.start, b.p95) for b in s.buckets],
            "p99": [(b.start, b.p99) for b in s.buckets],
        }
        out.append(
            f'<div class="svc" data-service="{e(s.service)}"><h3>{e(s.service)} '
            f'<span class="muted">{s.total:,} requests, {s.errors:,} 5xx</span></h3>'
            + line_chart("error rate (5xx)", rate, unit="%", bars=True)
            + line_chart("latency p50 / p95 / p99", lat, unit="s")
            + "</div>"
        )
    out.append("</div>")
    return "".join(out)


def recent_failures_html(state: WebState, limit: int = 15) -> str:
    if state.scan is None:
        return '<p class="muted">no log store</p>'
    seen: dict[str, int] = {}
    picked = []
    for f in reversed(state.scan.failed):
        if f.request_id in seen:
            continue
        seen[f.request_id] = 1
        picked.append(f)
        if len(picked) >= limit:
            break
    if not picked:
        return '<p class="muted">no failed requests in the indexed logs</p>'
    rows = "".join(
        f'<tr><td class="mono">{e(clock(f.ts))}</td><td><a class="mono" href="{trace_href(f.request_id)}">'
        f"{e(f.request_id)}</a></td><td>{e(f.service)}@{e(f.host)}</td>"
        f'<td class="mono">{e(f.message[:180])}</td></tr>'
        for f in picked
    )
    return f'<table class="failed"><thead><tr><th>time</th><th>request</th><th>where</th><th>error</th></tr></thead><tbody>{rows}</tbody></table>'


def overview(state: WebState) -> str:
    snap = state.snapshot
    failing = [r for r in snap.rows if r.failing]
    by_label: dict[str, int] = {}
    for r in failing:
        by_label[r.label or "failing"] = by_label.get(r.label or "failing", 0) + 1
    kinds = {v.kind for r in failing if (v := r.verdict) is not None}
    summary = (
        f'<div class="summary"><div><b>{len(snap.rows)}</b> clusters</div>'
        f"<div><b>{len(snap.rows) - len(failing)}</b> healthy</div>"
        + "".join(f"<div>{label_html(k)} <b>{n}</b></div>" for k, n in sorted(by_label.items()))
        + (
            f'<div class="muted">round {snap.rounds} took {snap.round_s:.1f}s, {e(ago(snap.taken))}</div>'
            if snap.rounds
            else '<div class="muted">first check round running…</div>'
        )
        + "</div>"
    )
    cloud = ""
    if snap.cloud_checks:
        cloud = (
            "<h2>OpenStack checks</h2><table>"
            + "".join(
                f"<tr><td>{e(s.check)}</td>{_cell(s, time.time())}<td>{e(s.reason)}</td></tr>"
                for s in snap.cloud_checks
            )
            + "</table>"
        )
    legend = ""
    if KUBERNETES in kinds or IAAS in kinds:
        legend = '<p class="muted">fault: IaaS suspected = the node VMs\' hypervisor, nova-compute/neutron agents or failed OpenStack requests point below Kubernetes.</p>'
    body = (
        "<h2>fleet at a glance</h2>"
        + summary
        + legend
        + fleet_grid(snap)
        + cloud
        + "<h2>OpenStack control plane</h2>"
        + control_plane_html(state.control_plane)
        + "<h2>most recent failed requests</h2>"
        + recent_failures_html(state)
    )
    return layout("kansoku: fleet", body, state)


def control_plane_page(state: WebState) -> str:
    body = (
        "<h2>OpenStack control plane</h2>"
        + control_plane_html(state.control_plane)
        + "<h2>most recent failed requests</h2>"
        + recent_failures_html(state, limit=50)
    )
    return layout("kansoku: control plane", body, state)


def cluster_page(state: WebState, row: ClusterRow) -> str:
    now = time.time()
    c = row.cluster
    checks = "".join(
        f"<tr><td>{e(s.check)}</td>{_cell(s, now)}<td>{e(s.reason)}</td><td>{e(ago(s.since, now))}</td></tr>"
        for s in sorted(row.checks.values(), key=lambda s: s.check)
    )
    nodes = "".join(
        f"<tr><td>{e(s.subject_label)} {e(s.subject)}</td>{_cell(s, now)}<td>{e(s.reason)}</td></tr>"
        for s in row.nodes
    )
    body = (
        f"<h2>cluster {e(c.id)}</h2><p>{label_html(row.label)} region {e(c.region)}"
        f"{' / AZ ' + e(c.az) if c.az else ''}{' / project ' + e(c.openstack_project) if c.openstack_project else ''}</p>"
        + (f"<h2>Kubernetes or IaaS?</h2>{verdict_html(row.verdict, short=False)}" if row.verdict else "")
        + f"<h2>checks</h2><table><tr><th>check</th><th>state</th><th>reason</th><th>since</th></tr>{checks}</table>"
        + (f"<h2>nodes and etcd members</h2><table>{nodes}</table>" if nodes else "")
    )
    return layout(f"kansoku: {c.id}", body, state)


def message_page(state: WebState, title: str, text: str, query: str = "") -> str:
    return layout(f"kansoku: {title}", f"<h2>{e(title)}</h2><p>{e(text)}</p>", state, query)

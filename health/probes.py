"""The binary checks: each asks one real API one question and answers ok / failing / unknown.

Why one Protocol and a registry: the runner treats every check the same way (own timeout,
bounded concurrency, errors turned into reasons); adding a check is adding a class to
`BINARY_CHECKS`. Transport trouble (refused, timeout, TLS, DNS) and answers we cannot read
(garbage JSON, 401/403) are UNKNOWN: we could not tell. An answer that says "not healthy" is
FAILING. The one exception is the management agent's TCP check, whose whole question is
"does the agent accept connections", so a refused connection there is FAILING.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from kansoku.ids import REQUEST_ID_RE
from kansoku.models import Cluster

from .httpclient import ProbeError, Response
from .httpclient import request as http_request
from .model import Outcome, Part

_REQUEST_ID_HEADERS = ("x-openstack-request-id", "x-compute-request-id", "openstack-request-id")


@dataclass
class Probe:
    """Everything a check needs to ask one cluster: where, with which client and headers."""

    cluster: Cluster
    ssl_context: ssl.SSLContext | bool
    headers: dict[str, str]
    timeout: float

    async def request(self, method: str, url: str, body: Any = None) -> Response | Outcome:
        data = json.dumps(body).encode() if body is not None else None
        try:
            return await asyncio.wait_for(
                http_request(method, url, headers=self.headers, body=data, ssl_context=self.ssl_context),
                self.timeout,
            )
        except TimeoutError:
            return Outcome(None, f"timed out after {self.timeout:g}s ({url.split('/')[2]})")
        except ProbeError as exc:
            return Outcome(None, str(exc))

    async def get_json(self, url: str, method: str = "GET", body: Any = None) -> Any | Outcome:
        """The decoded JSON body of a 2xx answer, or an Outcome saying why there is none."""
        resp = await self.request(method, url, body)
        if isinstance(resp, Outcome):
            return resp
        if resp.status >= 300:
            return http_outcome(resp, url)
        try:
            return resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            snippet = resp.text[:60].replace("\n", " ")
            return Outcome(None, f"invalid JSON from {url}: {snippet!r}", find_request_id(resp))


def find_request_id(resp: Response) -> str | None:
    """An OpenStack request id in the response headers or body, to link the result to a trace."""
    for name in _REQUEST_ID_HEADERS:
        value = resp.headers.get(name)
        if value and REQUEST_ID_RE.fullmatch(value):
            return str(value)
    match = REQUEST_ID_RE.search(resp.text[:65536])
    return match.group(0) if match else None


def http_outcome(resp: Response, url: str) -> Outcome:
    """A non-2xx answer: 401/403 mean we could not look (UNKNOWN), the rest is FAILING."""
    rid = find_request_id(resp)
    if resp.status in (401, 403):
        return Outcome(
            None,
            f"HTTP {resp.status} from {url}: credentials rejected (check token_file/kubeconfig)",
            rid,
        )
    return Outcome(False, f"HTTP {resp.status} from {url}: {_error_text(resp)}", rid)


def _error_text(resp: Response) -> str:
    """The message of a Kubernetes `Status` / Rancher error body, else its last line."""
    try:
        doc = resp.json()
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return str(doc["message"])[:160]
    except (ValueError, UnicodeDecodeError):
        pass
    text = resp.text.strip()
    return text.splitlines()[-1][:160] if text else resp.reason


class Check(Protocol):
    """One binary check. `applies` says whether the inventory gives it something to probe.

    `subject_label` names what the check's `Outcome.parts` are about (`node`, `member`) and
    becomes that label on the exported series; None for checks with one verdict per cluster.
    """

    name: str
    subject_label: str | None

    def applies(self, cluster: Cluster) -> bool: ...

    async def run(self, probe: Probe) -> Outcome: ...


def _failed_healthz(text: str) -> list[str]:
    """Names of failed checks in a `/readyz?verbose` body (`[-]etcd failed: reason withheld`)."""
    return [line[3:].split(" ", 1)[0] for line in text.splitlines() if line.startswith("[-]")]


class HealthzCheck:
    """`/readyz?verbose` or `/livez?verbose`: 200 is healthy; the body names what failed."""

    subject_label: str | None = None

    def __init__(self, name: str, path: str, via_management: bool = False) -> None:
        self.name = name
        self.path = path
        self.via_management = via_management

    def _base(self, cluster: Cluster) -> str | None:
        return cluster.management_api_url if self.via_management else cluster.api_url

    def applies(self, cluster: Cluster) -> bool:
        return self._base(cluster) is not None

    async def run(self, probe: Probe) -> Outcome:
        base = self._base(probe.cluster) or ""
        url = f"{base.rstrip('/')}{self.path}?verbose"
        resp = await probe.request("GET", url)
        if isinstance(resp, Outcome):
            return resp
        if resp.status == 200:
            passed = sum(1 for line in resp.text.splitlines() if line.startswith("[+]"))
            return Outcome(True, f"{passed} checks passed" if passed else "ok")
        failed = _failed_healthz(resp.text)
        if failed and resp.status >= 500:
            return Outcome(False, f"{self.path} failed: {', '.join(failed)}", find_request_id(resp))
        return http_outcome(resp, url)


class AgentTcpCheck:
    """A TCP connection to the management agent (e.g. Rancher's cattle-cluster-agent tunnel)."""

    name = "agent_connected"
    subject_label: str | None = None

    def applies(self, cluster: Cluster) -> bool:
        return cluster.agent_addr is not None

    async def run(self, probe: Probe) -> Outcome:
        host, _, port = (probe.cluster.agent_addr or "").rpartition(":")
        host = host.strip("[]")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), probe.timeout)
        except TimeoutError:
            return Outcome(
                None, f"TCP to agent {probe.cluster.agent_addr} timed out after {probe.timeout:g}s"
            )
        except ConnectionRefusedError:
            return Outcome(False, f"agent {probe.cluster.agent_addr} refused the connection (agent down)")
        except (OSError, ValueError) as exc:
            return Outcome(None, f"cannot reach agent {probe.cluster.agent_addr}: {exc}")
        writer.close()
        return Outcome(True, f"agent {probe.cluster.agent_addr} accepts connections")


class NodesReadyCheck:
    """Every node's `Ready` condition is True (`GET /api/v1/nodes`, paginated).

    One part per node (label `node`), so an alert names the node to replace; the summary
    names up to five failing nodes for the table.
    """

    name = "kubelet_ready"
    subject_label: str | None = "node"
    page_size: ClassVar[int] = 500

    def applies(self, cluster: Cluster) -> bool:
        return True

    async def run(self, probe: Probe) -> Outcome:
        base = f"{probe.cluster.api_url.rstrip('/')}/api/v1/nodes?limit={self.page_size}"
        url, parts, bad = base, [], []
        while True:
            doc = await probe.get_json(url)
            if isinstance(doc, Outcome):
                return doc
            try:
                items = doc["items"] or []
                for node in items:
                    conds = {c["type"]: c for c in (node.get("status") or {}).get("conditions") or []}
                    ready = conds.get("Ready")
                    name = str(node["metadata"]["name"])
                    if ready is None or ready.get("status") != "True":
                        why = (
                            "no Ready condition"
                            if ready is None
                            else (
                                f"Ready={ready.get('status')} {ready.get('reason', '')}: {ready.get('message', '')}"
                            )
                        )
                        bad.append(f"{name} ({why.strip()})")
                        parts.append(Part(name, False, why.strip()))
                    else:
                        parts.append(Part(name, True, "Ready"))
                token = (doc.get("metadata") or {}).get("continue")
            except (KeyError, TypeError, AttributeError) as exc:
                return Outcome(None, f"unexpected NodeList from {url}: missing {exc}")
            if not token:
                break
            url = f"{base}&continue={token}"
        total = len(parts)
        if total == 0:
            return Outcome(False, "no nodes registered")
        if bad:
            more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
            return Outcome(
                False, f"{len(bad)}/{total} nodes NotReady: " + "; ".join(bad[:5]) + more, parts=tuple(parts)
            )
        return Outcome(True, f"{total}/{total} nodes Ready", parts=tuple(parts))


class ComponentStatusCheck:
    """`GET /api/v1/componentstatuses`: scheduler, controller-manager, etcd report Healthy."""

    name = "componentstatus"
    subject_label: str | None = None

    def applies(self, cluster: Cluster) -> bool:
        return True

    async def run(self, probe: Probe) -> Outcome:
        url = f"{probe.cluster.api_url.rstrip('/')}/api/v1/componentstatuses"
        doc = await probe.get_json(url)
        if isinstance(doc, Outcome):
            return doc
        try:
            bad, names = [], []
            for item in doc["items"] or []:
                name = item["metadata"]["name"]
                names.append(name)
                healthy = [c for c in item.get("conditions") or [] if c.get("type") == "Healthy"]
                if not healthy or healthy[0].get("status") != "True":
                    msg = (healthy[0].get("message") or healthy[0].get("error") or "") if healthy else ""
                    bad.append(f"{name}: {msg}".rstrip(": "))
        except (KeyError, TypeError, AttributeError) as exc:
            return Outcome(None, f"unexpected ComponentStatusList from {url}: missing {exc}")
        if bad:
            return Outcome(False, "unhealthy: " + "; ".join(bad))
        return Outcome(True, f"{len(names)} components healthy")


def member_names(urls: list[str]) -> list[str]:
    """The `member` label of each etcd client URL: the shortest of host, host:port and
    host:port/path that tells the cluster's endpoints apart (several members on one machine
    in a lab, or behind one proxy in the simulated fleet).

    Why the host: etcd members are conventionally named after their host, and the healer's
    `etcd_restore` uses `member` as the etcd name and peer host; the /health answer itself
    carries no name, and asking the member list for it would cost a request per round.
    """
    parsed = [urlsplit(u) for u in urls]
    forms = [
        [p.hostname or u, p.netloc or u, f"{p.netloc}{p.path.rstrip('/')}" or u]
        for p, u in zip(parsed, urls, strict=True)
    ]
    for level in range(3):
        names = [f[level] for f in forms]
        if len(set(names)) == len(names):
            return names
    return [f[2] for f in forms]


class EtcdHealthCheck:
    """`GET /health` on every etcd client URL; all unreachable is UNKNOWN, some is FAILING.

    One part per member (label `member`): an unreachable member while others answer is
    failing (it is down for its peers too); when none answers we cannot tell, so all unknown.
    """

    name = "etcd_health"
    subject_label: str | None = "member"

    def applies(self, cluster: Cluster) -> bool:
        return bool(cluster.etcd)

    async def run(self, probe: Probe) -> Outcome:
        urls = list(probe.cluster.etcd)
        answers = await asyncio.gather(*(probe.get_json(f"{u.rstrip('/')}/health") for u in urls))
        bad: list[str] = []
        unreachable: list[str] = []
        verdicts: list[tuple[bool | None, str]] = []
        for url, doc in zip(urls, answers, strict=True):
            if isinstance(doc, Outcome):
                (unreachable if doc.ok is None else bad).append(f"{url}: {doc.reason}")
                verdicts.append((doc.ok, doc.reason))
            elif not isinstance(doc, dict) or str(doc.get("health")).lower() != "true":
                reason = doc.get("reason") if isinstance(doc, dict) else None
                text = f"health={doc.get('health') if isinstance(doc, dict) else doc!r}" + (
                    f" ({reason})" if reason else ""
                )
                bad.append(f"{url}: {text}")
                verdicts.append((False, text))
            else:
                verdicts.append((True, "healthy"))
        n = len(urls)
        if len(unreachable) == n:
            parts = tuple(
                Part(m, None, why) for m, (_, why) in zip(member_names(urls), verdicts, strict=True)
            )
            return Outcome(None, "no etcd member reachable: " + "; ".join(unreachable[:3]), parts=parts)
        parts = tuple(
            Part(m, False if ok is None else ok, why)
            for m, (ok, why) in zip(member_names(urls), verdicts, strict=True)
        )
        if bad or unreachable:
            return Outcome(
                False,
                f"{len(bad) + len(unreachable)}/{n} etcd members unhealthy: "
                + "; ".join((bad + unreachable)[:3]),
                parts=parts,
            )
        return Outcome(True, f"{n}/{n} etcd members healthy", parts=parts)


class EtcdMembersCheck:
    """`POST /v3/cluster/member/list` (grpc-gateway): as many started members as endpoints."""

    name = "etcd_members"
    subject_label: str | None = None

    def applies(self, cluster: Cluster) -> bool:
        return bool(cluster.etcd)

    async def run(self, probe: Probe) -> Outcome:
        last: Outcome | None = None
        for url in probe.cluster.etcd:
            doc = await probe.get_json(f"{url.rstrip('/')}/v3/cluster/member/list", "POST", {})
            if isinstance(doc, Outcome):
                last = doc
                continue
            try:
                members = doc.get("members") or []
                names = [m.get("name") or "" for m in members]
                unstarted = [
                    m.get("ID", "?") for m in members if not m.get("name") or not m.get("clientURLs")
                ]
                learners = [m.get("name") for m in members if m.get("isLearner")]
            except AttributeError:
                return Outcome(None, f"unexpected member list from {url}: {str(doc)[:60]!r}")
            want = len(probe.cluster.etcd)
            voting = len(members) - len(learners)
            if unstarted:
                return Outcome(False, f"{len(unstarted)} etcd members not started: {', '.join(unstarted)}")
            if voting < want:
                return Outcome(False, f"{voting} voting members, inventory lists {want}: {', '.join(names)}")
            return Outcome(True, f"{voting} members: {', '.join(sorted(names))}")
        return last or Outcome(None, "no etcd endpoints")


#: Every binary check by its `check` label (docs/contracts.md).
BINARY_CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        HealthzCheck("apiserver_readyz", "/readyz"),
        HealthzCheck("apiserver_livez", "/livez"),
        HealthzCheck("apiserver_mgmt_readyz", "/readyz", via_management=True),
        AgentTcpCheck(),
        NodesReadyCheck(),
        ComponentStatusCheck(),
        EtcdHealthCheck(),
        EtcdMembersCheck(),
    )
}

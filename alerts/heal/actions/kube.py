"""Kubernetes-side actions: restart the management agent, scale out, sync storage ACLs,
replace a node (with the Nova pre-check in heal.nova).

Why the same calls kubectl makes: `rollout restart` is a patch of the pod template's
`kubectl.kubernetes.io/restartedAt` annotation; `cordon` patches `spec.unschedulable`;
`drain` posts policy/v1 Evictions (which respect PodDisruptionBudgets, unlike deletes) and
skips DaemonSet and mirror pods; scaling uses the `/scale` subresource.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from kansoku.alerts.heal.base import ActionContext, ActionFailed, KubeApi
from kansoku.alerts.heal.kube import internal_addresses, node_ready
from kansoku.alerts.heal.model import Outcome
from kansoku.alerts.heal.nova import boot_server, delete_server, inspect_server


def _kube(ctx: ActionContext) -> KubeApi:
    return ctx.services.kube(ctx.need_cluster(), ctx.request_id)


def _poll(ctx: ActionContext, what: str, probe: Any, interval: float = 1.0) -> None:
    while True:
        if probe():
            return
        if ctx.remaining() <= interval:
            raise ActionFailed(f"{ctx.action}: {what} not reached within {ctx.timeout:.0f}s")
        time.sleep(interval)


class RestartAgent:
    """`kubectl rollout restart` of the management agent (Rancher's cattle-cluster-agent)."""

    name = "restart_agent"
    required_labels: tuple[str, ...] = ("cluster",)

    def _path(self, ctx: ActionContext) -> str:
        ns = ctx.str_param("namespace", "cattle-system")
        return (
            f"/apis/apps/v1/namespaces/{ns}/deployments/{ctx.str_param('deployment', 'cattle-cluster-agent')}"
        )

    def plan(self, ctx: ActionContext) -> list[str]:
        return [
            f"PATCH {self._path(ctx)} restartedAt (rollout restart)",
            "wait until the rollout is complete",
        ]

    def execute(self, ctx: ActionContext) -> Outcome:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}
        }
        dep = _kube(ctx).patch(self._path(ctx), body, "application/strategic-merge-patch+json")
        return Outcome(
            True,
            f"rollout restart of {dep.get('metadata', {}).get('name')} at {now}",
            data={"generation": str(dep.get("metadata", {}).get("generation", 0))},
        )

    def verify(self, ctx: ActionContext, done: Outcome) -> Outcome:
        kube, path, want = _kube(ctx), self._path(ctx), int(done.data.get("generation", "0"))

        def rolled() -> bool:
            dep = kube.get(path)
            spec, status = dep.get("spec", {}), dep.get("status", {})
            replicas = spec.get("replicas", 1)
            return bool(
                status.get("observedGeneration", 0) >= want
                and status.get("updatedReplicas", 0) == replicas
                and status.get("availableReplicas", 0) == replicas
            )

        _poll(ctx, "rollout complete", rolled)
        return Outcome(True, "agent rollout complete", data=done.data)


class ScaleOut:
    """Add nodes to a pool through the `/scale` subresource (a Cluster API MachineDeployment)."""

    name = "scale_out"
    required_labels: tuple[str, ...] = ("cluster",)

    def _path(self, ctx: ActionContext) -> str:
        ns = ctx.str_param("namespace", "default")
        return (
            f"/apis/{ctx.str_param('api', 'cluster.x-k8s.io/v1beta1')}/namespaces/{ns}/"
            f"{ctx.str_param('resource', 'machinedeployments')}/{ctx.str_param('pool')}/scale"
        )

    def plan(self, ctx: ActionContext) -> list[str]:
        return [
            f"GET {self._path(ctx)}",
            f"raise spec.replicas by {ctx.int_param('step', 1)} "
            f"(at most {ctx.int_param('max_replicas', 100)})",
        ]

    def execute(self, ctx: ActionContext) -> Outcome:
        kube, path = _kube(ctx), self._path(ctx)
        current = int(kube.get(path).get("spec", {}).get("replicas", 0))
        limit = ctx.int_param("max_replicas", 100)
        if current >= limit:
            return Outcome(False, f"pool already at {current} replicas (max_replicas {limit})", refused=True)
        want = min(current + ctx.int_param("step", 1), limit)
        kube.patch(path, {"spec": {"replicas": want}}, "application/merge-patch+json")
        return Outcome(True, f"replicas {current} -> {want}", data={"replicas": str(want)})

    def verify(self, ctx: ActionContext, done: Outcome) -> Outcome:
        kube, path, want = _kube(ctx), self._path(ctx), int(done.data["replicas"])
        _poll(
            ctx, f"{want} replicas", lambda: int(kube.get(path).get("status", {}).get("replicas", 0)) >= want
        )
        return Outcome(True, f"{want} replicas", data=done.data)


class StorageAclSync:
    """Set the cluster's export policy to exactly its current nodes' InternalIP addresses."""

    name = "storage_acl_sync"
    required_labels: tuple[str, ...] = ("cluster",)

    def plan(self, ctx: ActionContext) -> list[str]:
        return [
            "GET /api/v1/nodes (InternalIP addresses)",
            f"set export policy {ctx.str_param('policy', '{cluster}')} to exactly those addresses",
        ]

    def execute(self, ctx: ActionContext) -> Outcome:
        addresses = internal_addresses(_kube(ctx).get("/api/v1/nodes"))
        if not addresses:
            return Outcome(
                False, "the cluster lists no node addresses; not emptying the policy", refused=True
            )
        storage, policy = ctx.services.storage(), ctx.str_param("policy", "{cluster}")
        before = set(storage.get_policy(policy))
        storage.set_policy(policy, addresses, ctx.request_id)
        added, removed = sorted(set(addresses) - before), sorted(before - set(addresses))
        return Outcome(
            True,
            f"policy {policy}: +{added} -{removed}",
            data={"policy": policy, "addresses": ",".join(addresses)},
        )

    def verify(self, ctx: ActionContext, done: Outcome) -> Outcome:
        got = ctx.services.storage().get_policy(done.data["policy"])
        ok = got == done.data["addresses"].split(",")
        return Outcome(
            ok, "policy matches the nodes" if ok else f"policy reads back as {got}", data=done.data
        )


class ReplaceNode:
    """Cordon, drain, delete and recreate the node's server, wait for the new node Ready."""

    name = "replace_node"
    required_labels: tuple[str, ...] = ("cluster", "node")

    def plan(self, ctx: ActionContext) -> list[str]:
        node = ctx.labels.get("node", "?")
        return [
            f"nova: read server {node}, its hypervisor and volume attachments; stop if the fault is IaaS",
            f"kubernetes: cordon {node} (spec.unschedulable=true)",
            f"kubernetes: evict pods on {node} (policy/v1 Eviction; DaemonSet and mirror pods stay)",
            f"nova: delete server {node}; kubernetes: delete node object {node}",
            f"nova: boot {node} again with the same flavor and image; wait for the new node Ready",
        ]

    def execute(self, ctx: ActionContext) -> Outcome:
        node = ctx.label("node")
        conn = ctx.services.openstack(ctx.request_id)
        view = inspect_server(conn, node, bool(ctx.params.get("allow_attached_volumes", False)))
        if view.fault is not None:
            return Outcome(False, f"{view.fault} ({view.summary()})", refused=True)
        kube = _kube(ctx)
        kube.patch(
            f"/api/v1/nodes/{node}",
            {"spec": {"unschedulable": True}},
            "application/strategic-merge-patch+json",
        )
        evicted = self._drain(ctx, kube, node)
        params = {k: str(v) for k, v in ctx.params.items() if isinstance(v, str)}
        delete_server(conn, view, ctx.remaining() / 2)
        # the old Node object goes before the new VM boots, so the new kubelet registers fresh
        kube.delete(f"/api/v1/nodes/{node}")
        new_id = boot_server(conn, node, view, params, ctx.remaining())
        return Outcome(
            True,
            f"{view.summary()}; cordoned, evicted {evicted} pod(s); new server {new_id}",
            data={"server": new_id},
        )

    def _drain(self, ctx: ActionContext, kube: KubeApi, node: str) -> int:
        pods = kube.get("/api/v1/pods", {"fieldSelector": f"spec.nodeName={node}"}).get("items", [])
        count = 0
        for pod in pods:
            meta = pod.get("metadata", {})
            if any(o.get("kind") == "DaemonSet" for o in meta.get("ownerReferences", [])):
                continue
            if "kubernetes.io/config.mirror" in meta.get("annotations", {}):
                continue
            ns, name = meta.get("namespace", "default"), meta.get("name", "")
            body = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": name, "namespace": ns},
            }
            while True:
                try:
                    kube.post(f"/api/v1/namespaces/{ns}/pods/{name}/eviction", body)
                    break
                except ActionFailed as exc:
                    # 429: a PodDisruptionBudget says not now; retry until the timeout.
                    if getattr(exc, "status", 0) == 404:
                        break
                    if getattr(exc, "status", 0) != 429 or ctx.remaining() < 2:
                        raise
                    time.sleep(1)
            count += 1
        return count

    def verify(self, ctx: ActionContext, done: Outcome) -> Outcome:
        kube, node = _kube(ctx), ctx.label("node")

        def ready() -> bool:
            try:
                return bool(node_ready(kube.get(f"/api/v1/nodes/{node}")))
            except ActionFailed as exc:
                if getattr(exc, "status", 0) == 404:
                    return False
                raise

        _poll(ctx, f"node {node} Ready", ready)
        return Outcome(True, f"new node {node} is Ready", data=done.data)

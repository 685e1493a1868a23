"""The IaaS side of a node, through openstacksdk (Nova): look before replacing.

Why: a node VM that is NotReady because its hypervisor is down is an IaaS fault. Deleting
and recreating it schedules into the same failing zone (or fails), and during an AZ
outage that is fifty clusters' worth of deletes. So replace_node first reads the server,
its hypervisor and its volume attachments, and refuses with a clear verdict when the fault
is below the VM. Every call carries the action's `req-<uuid>` as X-OpenStack-Request-ID
(openstacksdk `global_request_id`), so `kansoku trace` shows what Nova did with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kansoku.alerts.heal.base import ActionFailed


def connect(request_id: str, cloud: str | None, options: dict[str, Any]) -> Any:
    """An openstacksdk Connection whose every request carries `request_id`."""
    import openstack.config
    from openstack.connection import Connection

    try:
        region = openstack.config.get_cloud_region(cloud=cloud, **options)
    except Exception as exc:  # openstacksdk raises several config error types
        raise ActionFailed(f"openstack: cannot configure cloud {cloud!r}: {exc}") from None
    return Connection(config=region, global_request_id=request_id)


@dataclass
class IaasView:
    """What Nova says about a node's server; `fault` set means: do not recreate."""

    server_id: str
    status: str
    hypervisor: str | None
    hypervisor_state: str | None
    flavor: str | None
    image: str | None
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    fault: str | None = None

    def summary(self) -> str:
        return (
            f"server {self.server_id} {self.status} on {self.hypervisor or '?'} "
            f"(hypervisor {self.hypervisor_state or '?'}), {len(self.volumes)} volume(s)"
        )


def inspect_server(conn: Any, name: str, allow_volumes: bool) -> IaasView:
    """Read server, hypervisor and volume attachments and judge whether the fault is IaaS."""
    from openstack import exceptions

    try:
        server = conn.compute.find_server(name, ignore_missing=True)
        if server is None:
            raise ActionFailed(f"nova: no server named {name!r}")
        server = conn.compute.get_server(server.id)
        host = server.hypervisor_hostname or server.compute_host
        state = None
        if host:
            for hyp in conn.compute.hypervisors(details=True, hypervisor_hostname_pattern=host):
                if hyp.name == host:
                    state = f"{hyp.state}/{hyp.status}"
        volumes = [a.volume_id for a in conn.compute.volume_attachments(server)]
    except exceptions.SDKException as exc:
        raise ActionFailed(f"nova: {type(exc).__name__}: {exc}") from None
    flavor = server.flavor
    image = server.image
    view = IaasView(
        server_id=server.id,
        status=server.status,
        hypervisor=host,
        hypervisor_state=state,
        flavor=(flavor.get("id") or flavor.get("original_name")) if flavor else None,
        image=image.get("id") if image else None,
        networks=sorted((server.addresses or {}).keys()),
        volumes=volumes,
    )
    if state is not None and state.split("/")[0] == "down":
        view.fault = f"IaaS fault: hypervisor {host} is down; not recreating {name} into the same failure"
    elif state is not None and state.split("/")[1] == "disabled":
        view.fault = f"IaaS fault: hypervisor {host} is disabled (maintenance?); leaving {name} to operators"
    elif view.volumes and not allow_volumes:
        view.fault = (
            f"{name} still has {len(view.volumes)} volume attachment(s) "
            f"({', '.join(view.volumes)}); recreate would strand them"
        )
    return view


def delete_server(conn: Any, view: IaasView, timeout: float) -> None:
    """Delete the node's server and wait until Nova no longer has it."""
    from openstack import exceptions

    try:
        old = conn.compute.get_server(view.server_id)
        conn.compute.delete_server(old)
        conn.compute.wait_for_delete(old, interval=1, wait=max(int(timeout), 1))
    except exceptions.SDKException as exc:
        raise ActionFailed(f"nova: delete {view.server_id}: {type(exc).__name__}: {exc}") from None


def boot_server(conn: Any, name: str, view: IaasView, params: dict[str, str], timeout: float) -> str:
    """Boot the replacement with the same name, flavor and image (or the hook's overrides)."""
    from openstack import exceptions

    try:
        networks = [{"uuid": params["network_id"]}] if params.get("network_id") else "auto"
        new = conn.compute.create_server(
            name=name,
            flavor_id=params.get("flavor_id") or view.flavor,
            image_id=params.get("image_id") or view.image,
            networks=networks,
        )
        new = conn.compute.wait_for_server(new, status="ACTIVE", interval=1, wait=max(int(timeout), 1))
    except exceptions.SDKException as exc:
        raise ActionFailed(f"nova: boot {name}: {type(exc).__name__}: {exc}") from None
    return str(new.id)

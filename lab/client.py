"""A keystoneauth client for the running lab that records the request ids it sent and got back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kansoku.errors import KansokuError
from kansoku.lab.services import ADMIN_PASSWORD, ADMIN_USER, LabPaths, LabState, read_state
from kansoku.process import pid_exists

REQUEST_ID_HEADER = "X-OpenStack-Request-ID"


class LabClient:
    """keystoneauth sessions against the lab: one authenticated, one bare (for token calls)."""

    def __init__(self, state: LabState) -> None:
        from keystoneauth1 import session as ks_session
        from keystoneauth1.identity import v3

        self.state = state
        self.bare = ks_session.Session()
        auth = v3.Password(
            auth_url=state.auth_url,
            username=ADMIN_USER,
            password=ADMIN_PASSWORD,
            project_name="admin",
            user_domain_name="Default",
            project_domain_name="Default",
        )
        self.session = ks_session.Session(auth=auth)

    def call(
        self,
        url: str,
        method: str = "GET",
        global_id: str | None = None,
        raw_header: str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        auth: bool = True,
        data: bytes | None = None,
    ) -> tuple[int, str | None, Any]:
        hdrs = dict(headers or {})
        if global_id is not None or raw_header is not None:
            hdrs[REQUEST_ID_HEADER] = raw_header if raw_header is not None else str(global_id)
        if token is not None:
            hdrs["X-Auth-Token"] = token
        sess = self.session if auth and token is None else self.bare
        from keystoneauth1 import exceptions as ks_exc

        try:
            resp = sess.request(
                url, method, headers=hdrs, json=body, data=data, raise_exc=False, authenticated=None
            )
        except ks_exc.ConnectionError as exc:
            raise KansokuError(f"the lab does not answer at {url}: {exc}; see `kansoku lab status`") from None
        try:
            payload = resp.json()
        except ValueError:
            payload = resp.text
        return int(resp.status_code), resp.headers.get("x-openstack-request-id"), payload


def running_lab(root: Path) -> tuple[LabPaths, LabState]:
    """The lab in `root`, or a KansokuError naming the processes that stopped."""
    paths = LabPaths(root.resolve())
    state = read_state(paths)
    stopped = [s.name for s in state.services if s.pid and not pid_exists(s.pid)]
    if stopped:
        raise KansokuError(
            f"the lab in {paths.root} is not running ({', '.join(stopped)} stopped): "
            f"`kansoku lab down --dir {root}` then `kansoku lab up --dir {root}`"
        )
    return paths, state

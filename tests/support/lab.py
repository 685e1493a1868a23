"""openstacksdk's settings for the admin of a running `kansoku lab` (the real-lab tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kansoku.lab.services import LabState


def lab_cloud(state: LabState) -> dict[str, Any]:
    """The cloud config of the lab's admin in `admin`, read from nothing else (no clouds.yaml,
    no OS_* variables): `openstack.config.get_cloud_region(**lab_cloud(state))`, or the
    `nova` settings of a heal action."""
    from kansoku.lab.services import REGION

    return {
        "auth_type": "password",
        "load_yaml_config": False,
        "load_envvars": False,
        "region_name": REGION,
        "auth": {
            "auth_url": state.auth_url,
            "username": state.admin_user,
            "password": state.admin_password,
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
    }

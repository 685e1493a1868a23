"""The registry of heal actions by name (names fixed in docs/contracts.md).

Why a dict: heal hooks name actions in YAML; the config loader checks names against this
registry at start, and adding an action is one class plus one line here.
"""

from __future__ import annotations

from kansoku.alerts.heal.actions.etcd import EtcdRestore, EtcdSnapshot
from kansoku.alerts.heal.actions.kube import ReplaceNode, RestartAgent, ScaleOut, StorageAclSync
from kansoku.alerts.heal.actions.ops import RunCommand, Webhook
from kansoku.alerts.heal.base import Action

ACTIONS: dict[str, Action] = {
    "replace_node": ReplaceNode(),
    "restart_agent": RestartAgent(),
    "etcd_snapshot": EtcdSnapshot(),
    "etcd_restore": EtcdRestore(),
    "scale_out": ScaleOut(),
    "storage_acl_sync": StorageAclSync(),
    "run_command": RunCommand(),
    "webhook": Webhook(),
}

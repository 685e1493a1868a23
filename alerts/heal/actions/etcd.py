"""etcd remediation with the real `etcdctl` (API v3): snapshot save, and restore a member.

Why our own timeouts on every call: `etcdctl snapshot save` against an unreachable endpoint
hangs forever (other etcdctl commands give up after 5 s), and a healer that hangs holds a
worker and its target's cooldown. Each call gets what is left of the action's timeout and
is killed (with its process group) when that runs out.

"Latest good snapshot" means the newest file in the snapshot directory that
`etcdctl snapshot status` can read: a half-written or corrupt file is skipped, not restored.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from kansoku.alerts.heal.base import ActionContext, ActionFailed
from kansoku.alerts.heal.model import Outcome

ETCDCTL = "etcdctl"


def etcdctl(args: list[str], timeout: float) -> str:
    """Run etcdctl with ETCDCTL_API=3 and a hard timeout; its stdout, or ActionFailed."""
    if timeout <= 0:
        raise ActionFailed("etcdctl: no time left in the action's timeout")
    env = {**os.environ, "ETCDCTL_API": "3"}
    try:
        proc = subprocess.Popen(
            [ETCDCTL, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ActionFailed("etcdctl not found: install the Debian package etcd-client") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ActionFailed(f"etcdctl {args[0] if args else ''} timed out after {timeout:.1f}s") from None
    if proc.returncode != 0:
        msg = err.decode(errors="replace").strip().splitlines()
        raise ActionFailed(
            f"etcdctl {' '.join(a for a in args if not a.startswith('--'))}: "
            f"{msg[-1] if msg else f'exit {proc.returncode}'}"
        )
    return out.decode(errors="replace")


def snapshot_status(path: Path, timeout: float) -> dict[str, int]:
    data = json.loads(etcdctl(["snapshot", "status", str(path), "-w", "json"], timeout))
    return {k: int(v) for k, v in data.items() if isinstance(v, int)}


def save_snapshot(ctx: ActionContext, directory: Path) -> tuple[Path, str]:
    """Save a snapshot from the first endpoint that answers; returns (file, endpoint)."""
    cluster = ctx.need_cluster()
    endpoints = ctx.list_param("endpoints", list(cluster.etcd))
    if not endpoints:
        raise ActionFailed(f"{ctx.action}: cluster {cluster.id} lists no etcd endpoints")
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    errors = []
    for endpoint in endpoints:
        target = directory / f"{cluster.id}-{stamp}-{ctx.request_id[4:12]}.db"
        part = target.with_suffix(".part")
        try:
            etcdctl([f"--endpoints={endpoint}", "snapshot", "save", str(part)], ctx.remaining())
        except ActionFailed as exc:
            errors.append(f"{endpoint}: {exc}")
            part.unlink(missing_ok=True)
            continue
        part.rename(target)  # only complete snapshots get the .db name
        return target, endpoint
    raise ActionFailed("no etcd endpoint gave a snapshot: " + "; ".join(errors))


def latest_good(directory: Path, ctx: ActionContext) -> tuple[Path, dict[str, int]] | None:
    """The newest snapshot that `etcdctl snapshot status` reads; corrupt ones are skipped."""
    files = sorted(directory.glob("*.db"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files:
        try:
            return path, snapshot_status(path, min(10.0, ctx.remaining()))
        except (ActionFailed, ValueError):
            continue
    return None


class EtcdSnapshot:
    """Take a snapshot of a cluster's etcd (e.g. on EtcdBackupStale)."""

    name = "etcd_snapshot"
    required_labels: tuple[str, ...] = ("cluster",)

    def plan(self, ctx: ActionContext) -> list[str]:
        directory = ctx.path_param("dir", "etcd-snapshots/{cluster}")
        return [
            f"etcdctl snapshot save from the first healthy endpoint of {ctx.labels.get('cluster')}"
            f" into {directory}",
            "etcdctl snapshot status on the new file",
        ]

    def execute(self, ctx: ActionContext) -> Outcome:
        path, endpoint = save_snapshot(ctx, ctx.path_param("dir", "etcd-snapshots/{cluster}"))
        return Outcome(True, f"snapshot {path.name} from {endpoint}", data={"file": str(path)})

    def verify(self, ctx: ActionContext, done: Outcome) -> Outcome:
        status = snapshot_status(Path(done.data["file"]), ctx.remaining())
        return Outcome(
            True,
            f"snapshot readable: revision {status.get('revision')}, {status.get('totalKey')} keys",
            data=done.data,
        )


class EtcdRestore:
    """Restore a member from the latest good snapshot into a fresh data directory.

    Why a fresh directory (named after the request id): a restore must never overwrite the
    failed member's data, which is evidence and the way back. Starting the restored member
    is deployment specific (systemd unit, static pod): `start_command` runs it if given.
    """

    name = "etcd_restore"
    required_labels: tuple[str, ...] = ("cluster", "member")

    def plan(self, ctx: ActionContext) -> list[str]:
        return [
            f"find the newest readable snapshot in {ctx.path_param('snapshot_dir', 'etcd-snapshots/{cluster}')}"
            " (else save one from a healthy endpoint)",
            f"etcdctl snapshot restore --name {ctx.label('member')} into"
            f" {ctx.path_param('data_dir', 'etcd-restore/{member}-{request_id}')}",
            "start the member with start_command"
            if "start_command" in ctx.params
            else "leave starting the member to its unit (no start_command)",
        ]

    def execute(self, ctx: ActionContext) -> Outcome:
        member = ctx.label("member")
        snapdir = ctx.path_param("snapshot_dir", "etcd-snapshots/{cluster}")
        found = latest_good(snapdir, ctx) if snapdir.exists() else None
        if found is None:
            path, _ = save_snapshot(ctx, snapdir)
            found = (path, snapshot_status(path, ctx.remaining()))
        snapshot, status = found
        data_dir = ctx.path_param("data_dir", "etcd-restore/{member}-{request_id}")
        if data_dir.exists():
            raise ActionFailed(f"etcd_restore: {data_dir} already exists; refusing to overwrite")
        peer = ctx.str_param("peer_url", "http://127.0.0.1:2380")
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        etcdctl(
            [
                "snapshot",
                "restore",
                str(snapshot),
                "--data-dir",
                str(data_dir),
                "--name",
                member,
                "--initial-cluster",
                ctx.str_param("initial_cluster", f"{member}={peer}"),
                "--initial-advertise-peer-urls",
                peer,
            ],
            ctx.remaining(),
        )
        if "start_command" in ctx.params:
            argv = ctx.list_param("start_command", extra={"data_dir": str(data_dir)})
            subprocess.run(
                argv,
                check=True,
                timeout=max(ctx.remaining(), 0.1),
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
        return Outcome(
            True,
            f"restored {snapshot.name} (revision {status.get('revision')}) into {data_dir}",
            data={"data_dir": str(data_dir), "snapshot": str(snapshot)},
        )

    def verify(self, ctx: ActionContext, done: Outcome) -> Outcome:
        db = Path(done.data["data_dir"]) / "member" / "snap" / "db"
        if not db.is_file():
            return Outcome(False, f"restore left no {db}", data=done.data)
        return Outcome(True, f"restored data dir has {db.stat().st_size} bytes of keyspace", data=done.data)

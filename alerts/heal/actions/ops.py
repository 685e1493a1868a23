"""Operator-supplied remediations: run a command, or call a webhook.

Why argv lists and never a shell: alert labels are filled into the command, and a label is
attacker-influenced text (anyone who can push a metric can shape one); with an argv list a
label can never become shell syntax.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess

from kansoku.alerts.heal.base import ActionContext, ActionFailed
from kansoku.alerts.heal.model import Outcome


def _run(argv: list[str], ctx: ActionContext) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "KANSOKU_REQUEST_ID": ctx.request_id,
        "KANSOKU_ALERT_LABELS": json.dumps(ctx.labels, sort_keys=True),
    }
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        raise ActionFailed(f"{ctx.action}: cannot run {argv[0]}: {exc.strerror}") from None
    try:
        out, _ = proc.communicate(timeout=max(ctx.remaining(), 0.01))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ActionFailed(f"{ctx.action}: {argv[0]} killed after the {ctx.timeout:.0f}s timeout") from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, b"")


def _argv(ctx: ActionContext) -> list[str]:
    """`argv` (a list), or `command` (a string split like a shell would, but never run by one)."""
    if "argv" in ctx.params:
        return [str(a) for a in ctx.list_param("argv")]
    if "command" in ctx.params:
        raw = ctx.params["command"]
        if not isinstance(raw, str):
            raise ActionFailed(f"{ctx.action}: parameter 'command' must be a string")
        return [ctx.expand(part) for part in shlex.split(raw)]
    raise ActionFailed(f"{ctx.action}: needs parameter 'argv' (list) or 'command' (string)")


class RunCommand:
    name = "run_command"
    required_labels: tuple[str, ...] = ()

    def plan(self, ctx: ActionContext) -> list[str]:
        steps = [f"run {_argv(ctx)}"]
        if "verify_argv" in ctx.params:
            steps.append(f"verify with {ctx.list_param('verify_argv')}")
        return steps

    def execute(self, ctx: ActionContext) -> Outcome:
        done = _run(_argv(ctx), ctx)
        tail = done.stdout.decode(errors="replace").strip()[-300:]
        return Outcome(done.returncode == 0, f"exit {done.returncode}: {tail}")

    def verify(self, ctx: ActionContext, done: Outcome) -> Outcome:
        if "verify_argv" not in ctx.params:
            return done
        check = _run(ctx.list_param("verify_argv"), ctx)
        return Outcome(check.returncode == 0, f"verify exit {check.returncode}")


class Webhook:
    """POST the alert to an operator's endpoint, with the action's request id as header."""

    name = "webhook"
    required_labels: tuple[str, ...] = ()

    def plan(self, ctx: ActionContext) -> list[str]:
        return [f"POST the alert to {ctx.str_param('url')} with X-OpenStack-Request-ID {ctx.request_id}"]

    def execute(self, ctx: ActionContext) -> Outcome:
        import httpx

        body = {
            "action": ctx.action,
            "labels": ctx.labels,
            "annotations": ctx.annotations,
            "request_id": ctx.request_id,
        }
        try:
            resp = httpx.post(
                ctx.str_param("url"),
                json=body,
                timeout=max(ctx.remaining(), 0.01),
                headers={"X-OpenStack-Request-ID": ctx.request_id},
            )
        except httpx.HTTPError as exc:
            raise ActionFailed(f"webhook: {type(exc).__name__}: {exc}") from None
        return Outcome(resp.is_success, f"HTTP {resp.status_code}")

    def verify(self, ctx: ActionContext, done: Outcome) -> Outcome:
        return done

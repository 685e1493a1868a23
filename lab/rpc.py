"""An RPC pair on nova's own oslo.messaging plumbing, over the lab's real RabbitMQ.

Why not nova-conductor, nova-scheduler and nova-compute: a server create in nova 34 needs an
image from glance (or a volume from cinder) before anything reaches RPC, and neither is part
of the lab. So the lab runs the part that matters for tracing the way nova's services do it:
`nova.rpc.get_server`/`get_client` (which wrap `nova.rpc.RequestContextSerializer`), a
`nova.context.RequestContext` carrying request_id and global_request_id across RabbitMQ, and
oslo.log on both sides configured by `nova.config.parse_args` like any nova service.

The server (`python -m kansoku.lab.rpc server CONF`) offers three methods: `ping` answers,
`fail` raises `nova.exception.InstanceNotFound` (the caller gets it re-raised as a remote
exception), `slow` sleeps past the caller's timeout (the caller gets MessagingTimeout).
The client (`python -m kansoku.lab.rpc client CONF PLAN`) runs a list of calls and prints
what each one sent and got as JSON, for `lab_traffic` to record.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

#: The RabbitMQ topic (queue) the lab's RPC server listens on.
TOPIC = "kansoku-lab"
SERVER_HOST = "kansoku-lab-rpc"
READY_LINE = "RPC server started"


class RpcCall(BaseModel):
    """One call the client makes: which method, with which ids and timeout."""

    name: str
    method: str
    arguments: dict[str, Any] = {}
    global_request_id: str | None = None
    timeout: float = 5.0


class RpcOutcome(BaseModel):
    """What one call did: its ids as sent and the outcome the client saw."""

    name: str
    method: str
    request_id: str
    global_request_id: str | None
    outcome: str  # ok | timeout | remote_error
    exception: str | None = None
    message: str | None = None


def rpc_conf_text(log_file: Path, transport_url: str, use_json: bool, host: str) -> str:
    """A nova-style config for one side of the pair: oslo.log to `log_file`, DEBUG on."""
    return (
        "[DEFAULT]\n"
        "debug = True\n"
        f"log_file = {log_file}\n"
        f"use_json = {use_json}\n"
        "use_stderr = False\n"
        f"transport_url = {transport_url}\n"
        f"host = {host}\n"
        "rpc_response_timeout = 10\n"
    )


def _setup(conf_path: str, prog: str) -> Any:
    """Configure nova's CONF, oslo.log and RPC exactly as a nova service's main() does."""
    from nova import monkey_patch

    monkey_patch.patch(backend="threading")
    import nova.conf
    from nova import config
    from oslo_log import log as logging

    sys.argv = [prog]
    config.parse_args([prog, "--config-file", conf_path], configure_db=False, prog=prog)
    logging.setup(nova.conf.CONF, "nova")
    return nova.conf.CONF


class LabEndpoint:
    """The server's methods; each logs under the caller's context, as nova's managers do."""

    def __init__(self) -> None:
        from oslo_log import log as logging

        self.log = logging.getLogger("nova.kansoku_lab.manager")

    def ping(self, ctxt: Any, payload: str) -> dict[str, str]:
        self.log.info("ping received with payload %s", payload)
        return {"pong": payload}

    def fail(self, ctxt: Any, instance_uuid: str) -> None:
        from nova import exception

        self.log.info("looking up instance %s", instance_uuid)
        raise exception.InstanceNotFound(instance_id=instance_uuid)

    def slow(self, ctxt: Any, seconds: float) -> dict[str, float]:
        self.log.info("slow call: sleeping %.1f s", seconds)
        time.sleep(seconds)
        self.log.info("slow call done after %.1f s", seconds)
        return {"slept": seconds}


def run_server(conf_path: str) -> None:
    conf = _setup(conf_path, "kansoku-lab-rpc-server")
    import oslo_messaging
    from nova import rpc
    from oslo_log import log as logging

    target = oslo_messaging.Target(topic=TOPIC, server=conf.host)
    server = rpc.get_server(target, [LabEndpoint()])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    # Our own line: oslo.messaging logs nothing at INFO when a consumer starts, and `lab up`
    # must know when calls will be answered.
    logging.getLogger("nova.kansoku_lab.service").info("%s %s on topic %s", READY_LINE, conf.host, TOPIC)
    stop.wait()
    server.stop()
    server.wait()


def run_client(conf_path: str, plan_path: str) -> list[RpcOutcome]:
    _setup(conf_path, "kansoku-lab-rpc-client")
    import oslo_messaging
    from nova import context as nova_context
    from nova import rpc
    from oslo_log import log as logging

    log = logging.getLogger("nova.kansoku_lab.rpcapi")
    calls = [RpcCall.model_validate(c) for c in json.loads(Path(plan_path).read_text())]
    client = rpc.get_client(oslo_messaging.Target(topic=TOPIC, version="1.0"))
    outcomes: list[RpcOutcome] = []
    for call in calls:
        ctxt = nova_context.RequestContext(
            user_id="lab-user", project_id="lab-project", global_request_id=call.global_request_id
        )
        ctxt.update_store()
        log.info("calling %s on topic %s", call.method, TOPIC)
        outcome = RpcOutcome(
            name=call.name,
            method=call.method,
            request_id=ctxt.request_id,
            global_request_id=call.global_request_id,
            outcome="ok",
        )
        try:
            client.prepare(timeout=call.timeout).call(ctxt, call.method, **call.arguments)
            log.info("%s returned", call.method)
        except oslo_messaging.MessagingTimeout as exc:
            log.error("%s timed out: %s", call.method, exc)
            outcome.outcome, outcome.exception, outcome.message = "timeout", "MessagingTimeout", str(exc)
        except Exception as exc:  # a remote exception arrives as a dynamically made *_Remote class
            log.error("%s raised %s: %s", call.method, type(exc).__name__, exc)
            name = type(exc).__name__.removesuffix("_Remote")
            outcome.outcome, outcome.exception = "remote_error", name
            outcome.message = str(exc).splitlines()[0] if str(exc) else ""
        outcomes.append(outcome)
    return outcomes


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "server":
        run_server(argv[1])
        return
    if len(argv) == 3 and argv[0] == "client":
        outcomes = run_client(argv[1], argv[2])
        sys.stdout.write(json.dumps([o.model_dump() for o in outcomes]) + "\n")
        sys.stdout.flush()
        return
    sys.stderr.write("usage: python -m kansoku.lab.rpc server CONF | client CONF PLAN.json\n")
    sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])

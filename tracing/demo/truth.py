"""The demo cloud's ground truth: what kansoku must answer for each injected fault.

Written next to the logs as ``ground-truth.json``; the demo, the end-to-end tests and the
benchmarks compare verdicts with it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class FaultRecord:
    """One injected fault: the id the user would report and what kansoku must answer."""

    kind: str
    request_id: str  # what the user reports (nova-api's x-openstack-request-id)
    root_service: str
    root_host: str
    exception: str | None  # exception type the root-cause line names, if it names one
    status: int | None  # HTTP status of the root-cause line, if it is an access line
    evidence: str  # a substring of the root-cause line
    propagated: list[str]  # services whose errors are only consequences
    services: list[str] = field(default_factory=list)  # "service@host" lines with the reported id
    reachable: list[str] = field(default_factory=list)  # "service@host" joined only via other ids
    files: list[str] = field(default_factory=list)  # files with lines of this request
    time: str = ""
    note: str = ""
    # two-step faults: the earlier request that broke the resource, and the resource's UUID
    earlier_request_id: str = ""
    resource: str = ""


@dataclass
class BigRequest:
    """One request spanning many services and thousands of lines (trace assembly benchmark)."""

    request_id: str
    services: list[str]
    lines: int
    files: list[str]


@dataclass
class GroundTruth:
    seed: int
    scale: int
    start: str
    end: str
    hosts: dict[str, list[str]]
    json_services: list[str]
    legacy_services: list[str]
    files: list[str]
    total_bytes: int
    total_lines: int
    requests: int
    faults: list[FaultRecord]
    big_request: BigRequest | None
    # two-step faults (tracing.demo.chains): the reported request was refused for a resource
    # an earlier request broke; `earlier_request_id` names that request
    chain_faults: list[FaultRecord] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @staticmethod
    def load(path: Path) -> GroundTruth:
        """Read a ``ground-truth.json`` written by `generate`."""
        data = json.loads(path.read_text())
        faults = [FaultRecord(**f) for f in data.pop("faults")]
        chains = [FaultRecord(**f) for f in data.pop("chain_faults", [])]
        big = data.pop("big_request")
        return GroundTruth(
            **data, faults=faults, big_request=BigRequest(**big) if big else None, chain_faults=chains
        )


class Tracker:
    """Counts where one request's lines land, to write a ground truth that matches the logs."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.direct: dict[tuple[str, str], int] = {}
        self.indirect: dict[tuple[str, str], int] = {}
        self.segments: set[tuple[str, str, int]] = set()
        self.lines = 0

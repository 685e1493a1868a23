"""Where the code ran vs where the fault is: the service that wrote the data another one crashed on.

nova-compute raising `AttributeError: 'NoneType' object has no attribute 'get'` inside
`nova/virt/block_device.py` is where the code crashed, but the block-device mapping it read
was written by nova-api at `POST /servers`. The root cause stays the crash (that is where
the operator sees it), and the writer is listed as a suspect with the traceback frame that
names the data. Only programming errors on data count (AttributeError, KeyError, TypeError,
ValueError, IndexError): a timeout or a refused call says nothing about who wrote what.
"""

from __future__ import annotations

from kansoku.lazyre import LazyPattern
from kansoku.tracing.isolate import short_exception, short_location
from kansoku.tracing.model import Span, Suspect, Trace, Verdict, replace
from kansoku.tracing.stitch import canonical_service

#: Exceptions that mean "the code met data it did not expect".
DATA_CRASHES = frozenset({"AttributeError", "KeyError", "TypeError", "ValueError", "IndexError"})


class DataRule:
    """A traceback frame or message that names data one service writes and another reads.

    A plain class and a pattern compiled on first use: `kansoku trace` imports this module on
    every run, and only a data crash (AttributeError, KeyError, ...) reads the rules."""

    __slots__ = ("data", "pattern", "why", "writer")

    def __init__(self, pattern: str, data: str, writer: str, why: str) -> None:
        self.pattern = LazyPattern(pattern)
        self.data = data
        self.writer = writer
        self.why = why


RULES: tuple[DataRule, ...] = (
    DataRule(
        r"nova/(?:virt|objects)/block_device\.py|\bblock_device_mapping\b|\bbdms?\b",
        "block-device mapping",
        "nova-api",
        "nova-api writes a server's block-device mappings (POST /servers block_device_mapping_v2, volume attach)",
    ),
    DataRule(
        r"nova/objects/request_spec\.py",
        "request spec",
        "nova-api",
        "nova-api writes the request spec at POST /servers",
    ),
    DataRule(
        r"nova/objects/flavor\.py|\bextra_specs\b",
        "flavor extra specs",
        "nova-api",
        "flavors and their extra specs are written through nova-api",
    ),
    DataRule(
        r"nova/objects/image_meta\.py|\bimage_meta\b",
        "image properties",
        "glance-api",
        "image properties are written to glance",
    ),
    DataRule(
        r"\bvif_details\b|binding:profile|nova/network/model\.py",
        "port binding details",
        "neutron-server",
        "neutron-server writes a port's binding details",
    ),
    DataRule(
        r"\bconnection_info\b",
        "volume connection info",
        "cinder-volume",
        "cinder-volume's driver returns the connection info at initialize_connection",
    ),
)


def _writer_span(trace: Trace, writer: str, request_id: str) -> Span | None:
    spans = [s for s in trace.spans if canonical_service(s.service) == writer]
    same = [s for s in spans if s.request_id == request_id]
    pool = same or spans
    return pool[0] if pool else None


def find_suspects(trace: Trace, verdict: Verdict) -> list[Suspect]:
    """The writer of the data the root cause crashed on, if its traceback names such data."""
    rc = verdict.root_cause
    if rc is None or short_exception(rc.exception) not in DATA_CRASHES:
        return []
    crashed_in = canonical_service(rc.span.service)
    physical = rc.line.raw.split("\n")
    for rule in RULES:
        if rule.writer == crashed_in:
            continue
        # the innermost frame that names the data (tracebacks read outermost first)
        hit = next((k for k in range(len(physical) - 1, -1, -1) if rule.pattern.search(physical[k])), None)
        if hit is None:
            continue
        where = short_location(rc.line).rsplit(":", 1)[0]
        evidence = f"{where}:{rc.line.line_no + hit}"
        span = _writer_span(trace, rule.writer, rc.span.request_id)
        reason = (
            f"{rc.span.service} crashed ({short_exception(rc.exception)}) on the {rule.data}, which "
            f"{rule.writer} wrote: {rule.why}"
        )
        return [
            Suspect(
                service=rule.writer,
                data=rule.data,
                evidence=evidence,
                reason=reason,
                host=span.host if span is not None else None,
                request_id=span.request_id if span is not None else None,
            )
        ]
    return []


def with_suspects(trace: Trace, verdict: Verdict) -> Verdict:
    """The verdict with its suspects listed and said in the explanation."""
    found = [s for s in find_suspects(trace, verdict) if s not in verdict.suspects]
    if not found:
        return verdict
    text = verdict.explanation
    for s in found:
        who = s.service + (f" on {s.host}" if s.host else "") + (f" ({s.request_id})" if s.request_id else "")
        text += f"; it crashed on the {s.data} {s.service} wrote ({s.evidence}): suspect {who}"
    return replace(verdict, explanation=text, suspects=[*verdict.suspects, *found])

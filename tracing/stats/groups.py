"""Groups of `kansoku trace stats`: counts and durations per (service, method, route, status).

Shared by the per-line scan (`stats.scan`) and the bulk one (`stats.bulk`): the group of an
access line is memoised on its path's *shape* (`_shape`: ids zeroed, query dropped), which
always has the same route as the path.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator

from kansoku.ids import PATH_ID_BYTES_RE
from kansoku.tracing.ingest.routes import route_template
from kansoku.tracing.model import AccessInfo

ZERO_ID = b"00000000-0000-0000-0000-000000000000"
#: What `_shape` zeroes: every dashed UUID (as `route_template` does) and a keystone id (32 hex
#: digits) that is a whole path segment; both become the zero UUID, an id by route rule 1.
IDS_B = PATH_ID_BYTES_RE


def cut_query(path: bytes) -> bytes:
    for sep in (b"?", b"#"):
        cut = path.find(sep)
        if cut != -1:
            path = path[:cut]
    return path


def _shape(path: bytes) -> bytes:
    """`path` with what cannot change its route made constant, so routes memoise per shape.

    `route_template` drops the query and fragment first and turns every dashed UUID into
    `{id}` (it memoises with them zeroed too); a segment of 32 hex digits (a keystone
    project id in cinder's `/v3/{project}/volumes`) or of a UUID is an id by its first
    rule. A path and its shape therefore always have the same route.
    """
    if b"?" in path or b"#" in path:
        path = cut_query(path)
    if len(path) >= 33:  # room for "/" and a 32-digit id, or a UUID
        path = IDS_B.sub(ZERO_ID, path)
    return path


GroupKey = tuple[str, str, str, int]  # service, method, route, status (as stats.GroupKey)


class Groups:
    """Counts and durations per (service, method, route, status), in first-seen order.

    The dicts are the caller's (`stats.StatsInput`'s), filled in place; `general` is the
    per-line parser for the other lines (passed in: `stats` imports this module).
    """

    def __init__(
        self,
        counts: dict[GroupKey, int],
        durations: dict[GroupKey, array[float]],
        general: Callable[[Iterable[bytes]], Iterator[AccessInfo]],
    ) -> None:
        self.counts = counts
        self.general = general  # stats.access_infos: every line off the two shapes
        self.durations = durations
        self.lines = 0  # access lines seen
        self.memo: dict[tuple[str, bytes, bytes, bytes], GroupKey] = {}  # (service, method, shape, status)
        self.bulk_memo: dict[tuple[str, bytes], GroupKey] = {}  # (service, stats.bulk key)

    def key(self, service: str, method: bytes, path: bytes, status: bytes) -> GroupKey:
        """The group of one access line; memoised on the path's shape (`_shape`)."""
        shape = _shape(path)  # idempotent: a shape may be passed in
        memo_key = (service, method, shape, status)
        found = self.memo.get(memo_key)
        if found is None:
            found = (service, method.decode(), route_template(shape.decode("ascii")), int(status))
            if len(self.memo) > 65_536:  # route shapes are few; a flood of odd paths stays bounded
                self.memo.clear()
            self.memo[memo_key] = found
        return found

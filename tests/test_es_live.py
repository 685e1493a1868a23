"""Opt-in: ship real oslo.log files into a real Elasticsearch, then trace from it.

Set `KANSOKU_TEST_ES_URL` (e.g. `http://elastic:changeme@127.0.0.1:9200`) to run it; it
writes to a fresh index `kansoku-test-<random>` and deletes it afterwards.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from kansoku.tracing.ship import ship
from kansoku.tracing.sources.es import ElasticsearchSource, connect
from tests.support.es import GLOBAL_ID, INSTANCE, PLACEMENT_CALLEE_ID, make_oslo_tree

ES_URL = os.environ.get("KANSOKU_TEST_ES_URL")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not ES_URL, reason="opt-in: set KANSOKU_TEST_ES_URL to a real Elasticsearch 8 or 9"),
]


def test_ship_then_trace_against_real_elasticsearch(tmp_path: Path) -> None:
    assert ES_URL is not None
    tree = make_oslo_tree(tmp_path / "logs")
    index = f"kansoku-test-{uuid.uuid4().hex[:12]}"
    client, major = connect(ES_URL)
    assert major in (8, 9)
    try:
        first = ship([tree], ES_URL, index=index)
        assert first.ok and first.created == first.records > 0
        again = ship([tree], ES_URL, index=index)
        assert (again.created, again.already_present) == (0, first.records)
        client.indices.refresh(index=index)

        for use_pit in (True, False):
            src = ElasticsearchSource(ES_URL, index, use_pit=use_pit, page_size=2)
            got = list(src.lines_for([GLOBAL_ID]))
            on_disk = {
                (str(p), n)
                for p in tree.rglob("*.log")
                for n, line in enumerate(p.read_text().splitlines(), 1)
                if GLOBAL_ID in line
            }
            assert {(line.file, line.line_no) for line in got} == on_disk, src.stats.paging
            # Ids that only live in the message text (match_phrase on the analysed Payload).
            assert [line.instance for line in src.lines_for([INSTANCE])] == [INSTANCE]
            callee = {line.service for line in src.lines_for([PLACEMENT_CALLEE_ID])}
            assert callee == {"nova-api", "placement-api"}
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)

"""ElasticsearchSource through the real elasticsearch-py 9 client against the loopback server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kansoku.errors import KansokuError
from kansoku.process import free_port
from kansoku.tracing import es_shape
from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.model import LogLine
from kansoku.tracing.sources import open_source
from kansoku.tracing.sources.es import ElasticsearchSource, TimeWindow
from tests.support.es import (
    GLOBAL_ID,
    INSTANCE,
    PLACEMENT_CALLEE_ID,
    FakeES,
)

INDEX = "flog-2026.11.23"


def load(fake: FakeES, tree: Path) -> list[LogLine]:
    """Index every record of the oslo.log tree as Fluentd would have (kolla shape)."""
    lines: list[LogLine] = []
    for path in sorted(tree.rglob("*.log")):
        service = path.stem
        with path.open("rb") as fh:
            for rec in iter_records(fh, str(path), service, "ctl1"):
                if isinstance(rec, LogLine):
                    lines.append(rec)
                    doc = es_shape.to_document(rec.raw, host="ctl1", service=service, ts=rec.ts or 0.0)
                    fake.add(INDEX, f"doc{len(fake.docs)}", doc, int((rec.ts or 0.0) * 1000))
    return lines


def test_trace_by_global_id_with_pit_paging_on_es8(fake_es: FakeES, oslo_tree: Path) -> None:
    files = load(fake_es, oslo_tree)
    src = ElasticsearchSource(fake_es.url, "flog-*", TimeWindow(1.0e9, 4.0e9), page_size=2)
    got = list(src.lines_for([GLOBAL_ID]))

    expected = [r.raw for r in files if GLOBAL_ID in r.raw]
    assert sorted(line.raw for line in got) == sorted(expected)
    assert not any("Unrelated" in line.raw for line in got)  # returned by the server, filtered by id
    assert {line.service for line in got} == {"nova-api", "placement-api"}
    failing = next(line for line in got if line.level == "ERROR")
    assert failing.exception is not None and "ValueError" in failing.exception
    assert failing.n_lines > 1 and failing.file.startswith(f"{INDEX}/doc")
    assert src.stats.paging == "pit+search_after" and src.stats.pages >= 3 and not src.stats.problems

    # What the client sent: plain JSON for the version probe, then compatible-with=8.
    probe = fake_es.requests[0]
    assert (probe.method, probe.path, probe.headers["accept"]) == ("GET", "/", "application/json")
    later = fake_es.requests[1:]
    assert all(r.headers["accept"].endswith("compatible-with=8") for r in later)
    pit_open = fake_es.of("POST", "/_pit")[0]
    assert pit_open.path == "/flog-*/_pit" and pit_open.query["keep_alive"] == ["2m"]
    searches = fake_es.of("POST", "/_search")
    issued = fake_es.pit_ids
    for n, search in enumerate(searches):
        req = search.json()
        assert search.path == "/_search"  # with a PIT the index is not in the path
        assert req["pit"]["id"] == issued[n], "each search must carry the newest PIT id"
        assert req["sort"] == [
            {"@timestamp": {"order": "asc", "unmapped_type": "date"}},
            {"_shard_doc": "asc"},
        ]
        if n:
            prev_hits = fake_es_hits_sorted(fake_es)[: 2 * n]
            assert req["search_after"] == [prev_hits[-1].ts_ms, prev_hits[-1].seq]
        else:
            assert "search_after" not in req
    assert fake_es.closed_pits == [issued[-1]]

    query = searches[0].json()["query"]["bool"]
    bare = GLOBAL_ID.removeprefix("req-")
    assert {"terms": {"request_id": [GLOBAL_ID, bare]}} in query["should"]
    assert {"terms": {"global_request_id.keyword": [GLOBAL_ID, bare]}} in query["should"]
    assert {"match_phrase": {"Payload": GLOBAL_ID}} in query["should"]
    assert {"match_phrase": {"message": GLOBAL_ID}} in query["should"]
    assert query["filter"] == [
        {"range": {"@timestamp": {"format": "epoch_millis", "gte": 1000000000000, "lte": 4000000000000}}}
    ]


def fake_es_hits_sorted(fake: FakeES) -> list:  # type: ignore[type-arg]
    return sorted(fake.docs.values(), key=lambda d: (d.ts_ms, d.seq))


def test_ids_only_in_the_message_are_found(fake_es: FakeES, oslo_tree: Path) -> None:
    load(fake_es, oslo_tree)
    src = ElasticsearchSource(fake_es.url, "flog-*")
    by_instance = list(src.lines_for([INSTANCE]))
    assert [line.instance for line in by_instance] == [INSTANCE]
    callee = list(src.lines_for([PLACEMENT_CALLEE_ID]))
    # nova's DEBUG line names the callee id in its text; placement logged it as its own id.
    assert {line.service for line in callee} == {"nova-api", "placement-api"}


def test_es9_gets_its_own_compat_header(fake_es: FakeES, oslo_tree: Path) -> None:
    fake_es.major, fake_es.version = 9, "9.0.3"
    load(fake_es, oslo_tree)
    got = list(ElasticsearchSource(fake_es.url, "flog-*").lines_for([GLOBAL_ID]))
    assert got
    assert all(r.headers["accept"].endswith("compatible-with=9") for r in fake_es.requests[1:])


def test_keyset_fallback_without_pit_returns_each_hit_once(fake_es: FakeES) -> None:
    fake_es.pit_supported = False
    base = "2026-11-23 10:00:00.000 77 INFO nova.compute.manager [{g} req-{n:08d}-2222-4333-8444-555555555555 u p - - - -] step {n}"
    for n in range(7):
        raw = base.format(g=GLOBAL_ID, n=n)
        doc = es_shape.to_document(raw, host="cmp1", service="nova-compute", ts=1795428000.0)
        fake_es.add(INDEX, f"same-ms-{n}", doc, 1795428000000)  # seven hits in one millisecond
    src = ElasticsearchSource(fake_es.url, "flog-*", page_size=3)
    got = [line.message for line in src.lines_for([GLOBAL_ID])]
    assert sorted(got) == sorted(f"step {n}" for n in range(7))
    assert src.stats.paging == "timestamp keyset" and src.stats.pages == 3
    searches = fake_es.of("POST", "/_search")
    assert all(s.path == "/flog-*/_search" for s in searches)
    assert searches[1].json()["query"]["bool"]["must_not"] == [
        {"ids": {"values": ["same-ms-0", "same-ms-1", "same-ms-2"]}}
    ]


def test_malformed_documents_are_counted_not_dropped_silently(fake_es: FakeES) -> None:
    good = (
        f"2026-11-23 10:00:00.000 77 INFO nova.compute.manager [{GLOBAL_ID} "
        "req-586f9a0e-df69-4416-ad10-6fd88c4447b7 u p - - - -] ok"
    )
    fake_es.add(INDEX, "good", es_shape.to_document(good, host="h", service="nova-compute", ts=1.0), 1000)
    fake_es.add(
        INDEX, "bad", {"Hostname": "h", "@timestamp": "2026-11-23T10:00:00Z", "note": GLOBAL_ID}, 2000
    )
    fake_es.add(INDEX, "junk", {"message": f"garbage mentioning {GLOBAL_ID}", "Hostname": "h"}, 3000)
    src = ElasticsearchSource(fake_es.url, "flog-*")
    got = list(src.lines_for([GLOBAL_ID]))
    assert [line.message for line in got if line.fmt != "unparsed"] == ["ok"]
    assert any(line.fmt == "unparsed" and line.raw.startswith("garbage") for line in got)
    reasons = {p.file: p.reason for p in src.stats.problems}
    assert "malformed document" in reasons[f"{INDEX}/bad"]
    assert reasons[f"{INDEX}/junk"] == "not an oslo.log record"


def test_unreachable_es_is_one_clear_error() -> None:
    src = ElasticsearchSource(f"http://127.0.0.1:{free_port()}", "flog-*")
    with pytest.raises(KansokuError, match=r"cannot reach Elasticsearch at http://127\.0\.0\.1:\d+") as err:
        list(src.lines_for([GLOBAL_ID]))
    assert "Connection refused" in str(err.value) and "object at 0x" not in str(err.value)


def test_401_says_how_to_log_in(fake_es: FakeES) -> None:
    fake_es.auth_required = True
    with pytest.raises(
        KansokuError, match=r"401 unauthenticated.*missing authentication credentials.*KANSOKU_ES_API_KEY"
    ):
        list(ElasticsearchSource(fake_es.url, "flog-*").lines_for([GLOBAL_ID]))
    fake_es.requests.clear()
    raw = f"2026-11-23 10:00:00.000 77 INFO nova.api [{GLOBAL_ID} req-586f9a0e-df69-4416-ad10-6fd88c4447b7 u p - - - -] in"
    fake_es.add(INDEX, "one", es_shape.to_document(raw, host="h", service="nova-api", ts=1.0), 1000)
    user_url = fake_es.url.replace("http://", "http://kansoku:s3cret@")
    assert [line.message for line in ElasticsearchSource(user_url, "flog-*").lines_for([GLOBAL_ID])] == ["in"]
    assert {r.headers["authorization"] for r in fake_es.requests} == {"Basic a2Fuc29rdTpzM2NyZXQ="}


def test_missing_index_and_empty_pattern(fake_es: FakeES) -> None:
    fake_es.missing_index = "flog-2020.01.01"
    with pytest.raises(KansokuError, match=r"index 'flog-2020\.01\.01' does not exist"):
        list(ElasticsearchSource(fake_es.url, "flog-2020.01.01").lines_for([GLOBAL_ID]))
    with pytest.raises(KansokuError, match=r"no index on .* matches 'nolog-\*'"):
        list(ElasticsearchSource(fake_es.url, "nolog-*").lines_for([GLOBAL_ID]))


def test_not_elasticsearch_or_wrong_major(fake_es: FakeES) -> None:
    fake_es.no_product_header = True
    with pytest.raises(KansokuError, match="is not Elasticsearch"):
        list(ElasticsearchSource(fake_es.url).lines_for([GLOBAL_ID]))
    fake_es.no_product_header = False
    fake_es.major, fake_es.version = 7, "7.17.9"
    with pytest.raises(
        KansokuError, match=r"runs Elasticsearch 7\.17\.9; kansoku talks to Elasticsearch 8 and 9"
    ):
        list(ElasticsearchSource(fake_es.url).lines_for([GLOBAL_ID]))


def test_open_source_registry_by_scheme(tmp_path: Path) -> None:
    src = open_source("elasticsearch://es.example:9200/flog-*?since=2026-11-23T10:00:00Z&window=2h")
    assert isinstance(src, ElasticsearchSource)
    assert (src.url, src.index_pattern) == ("http://es.example:9200", "flog-*")
    assert (src.window.start, src.window.end) == (1795428000.0, 1795435200.0)
    https = open_source("https://u:p@es.example:9243/proxy?index=logstash-*&until=1795435200")
    assert isinstance(https, ElasticsearchSource)
    assert (https.url, https.index_pattern, https.window.end) == (
        "https://es.example:9243/proxy",
        "logstash-*",
        1795435200.0,
    )
    assert "logstash-*" in https.describe()
    tls = open_source("elasticsearch+https://es.example:9200/")
    assert (
        isinstance(tls, ElasticsearchSource)
        and tls.url.startswith("https://")
        and tls.index_pattern == "flog-*"
    )
    with pytest.raises(KansokuError, match="unknown source scheme 'kafka'"):
        open_source("kafka://broker:9092/logs")
    with pytest.raises(KansokuError, match="no index store here"):
        open_source(tmp_path / "nothing")
    with pytest.raises(KansokuError, match="window='2 weeks'"):
        open_source("elasticsearch://es:9200/flog-*?window=2 weeks")


def test_open_source_on_a_path_is_the_file_index(oslo_tree: Path, tmp_path: Path) -> None:
    from kansoku.tracing.index import build_index

    store = tmp_path / "store"
    build_index([oslo_tree], store)
    for target in (str(store), f"file://{store}"):
        src = open_source(target)
        assert type(src).__name__ == "IndexSource"
        assert {line.service for line in src.lines_for([GLOBAL_ID])} == {"nova-api", "placement-api"}

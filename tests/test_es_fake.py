"""The Elasticsearch loopback server (tests/support/es.py) answers as the documented bodies say."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.es import FakeES, body, serve_fake_es


@pytest.fixture
def fake_es() -> Iterator[FakeES]:
    with serve_fake_es() as state:
        yield state


def test_fixture_bodies_have_documented_shape() -> None:
    assert body("info-8.12.1.json")["version"]["number"] == "8.12.1"
    assert body("open-pit.json")["id"].startswith("46ToAw")
    page = body("search-pit-page.json")
    assert "pit_id" in page and page["hits"]["hits"][0]["sort"] == [4098435132000, "FaslK3QBySSL_rrj9zM5"]
    assert body("close-pit.json") == {"succeeded": True, "num_freed": 3}
    assert body("bulk-conflict-item.json")["create"]["status"] == 409
    assert body("error-index-not-found.json")["error"]["type"] == "index_not_found_exception"
    assert body("error-401.json")["status"] == 401


def test_loopback_rejects_foreign_compat_major_like_es8(fake_es: FakeES) -> None:
    import httpx

    r = httpx.get(
        fake_es.url + "/", headers={"accept": "application/vnd.elasticsearch+json; compatible-with=9"}
    )
    assert r.status_code == 400
    assert "must be either version 8 or 7, but found 9" in r.json()["error"]["reason"]
    ok = httpx.get(fake_es.url + "/", headers={"accept": "application/json"})
    assert ok.status_code == 200 and ok.headers["x-elastic-product"] == "Elasticsearch"

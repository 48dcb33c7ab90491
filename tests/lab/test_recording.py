import httpx

from lab.recording import record_requests
from servers import serve
from servers.feed import Feed, make_app


def test_each_request_is_remembered_with_its_query_and_the_headers_that_matter():
    app = make_app(Feed())
    seen = record_requests(app)
    with serve(app) as server:
        httpx.get(server.url + "/posts", params={"since": 0}, headers={"If-None-Match": '"x"'})
        httpx.post(server.url + "/posts", json={"text": "hi"})
    assert [(r["method"], r["path"]) for r in seen] == [("GET", "/posts"), ("POST", "/posts")]
    assert seen[0]["query"] == {"since": "0"} and seen[0]["If-None-Match"] == '"x"'
    assert seen[1]["Last-Event-ID"] is None and seen[0]["at"] <= seen[1]["at"]

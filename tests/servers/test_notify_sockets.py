"""The notification service's WebSocket, for clients that also send (lesson 14): read marks,
shared by every backend and only moving forward, within the socket's rate; posts both ways.

The peer is the ``websockets`` library's client; two apps on one backplane play two backends.
"""

from __future__ import annotations

import json

import httpx
import pytest
from notify_support import login, post
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from servers import serve
from servers.notify import MemoryBrokers, Signer, make_app
from servers.timing import scaled
from servers.ws_limits import WSLimits


def socket(url: str, channel: str, token: str | None = None, since: int = 0):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    address = url.replace("http", "ws") + f"/channels/{channel}/ws?since={since}"
    return connect(address, additional_headers=headers, open_timeout=scaled(10))


def receive(ws) -> dict:
    return json.loads(ws.recv(timeout=scaled(10)))


@pytest.fixture
def service():
    with serve(make_app(limits=WSLimits(rate=5, per=60)), name="test-notify-ws") as server:
        yield server.url


def test_a_logged_in_socket_is_told_its_read_mark_gets_the_posts_and_marks_them_read(service):
    alice = login(service, "alice")
    post(service, "alice", "one", alice)
    post(service, "alice", "two", alice)
    with socket(service, "alice", alice) as ws:
        assert receive(ws) == {"channel": "alice", "read": 0, "unread": 2}
        assert [receive(ws)["text"] for _ in range(2)] == ["one", "two"]
        ws.send(json.dumps({"read": 2}))
        assert receive(ws) == {"channel": "alice", "read": 2, "unread": 0}
        post(service, "alice", "three", alice)
        assert receive(ws)["text"] == "three"
        ws.send(json.dumps({"read": 1}))  # an older tab's mark moves nothing back
        assert receive(ws) == {"channel": "alice", "read": 2, "unread": 1}


def test_a_read_mark_is_seen_by_another_backend_of_the_same_backplane():
    brokers, signer = MemoryBrokers(), Signer(b"shared")
    with (
        serve(make_app(brokers=brokers, signer=signer), name="test-notify-ws-b1") as b1,
        serve(make_app(brokers=brokers, signer=signer), name="test-notify-ws-b2") as b2,
    ):
        alice = login(b1.url, "alice")
        for text in ("one", "two", "three"):
            post(b1.url, "alice", text, alice)
        with socket(b1.url, "alice", alice, since=3) as ws:
            receive(ws)  # the greeting
            ws.send(json.dumps({"read": 2}))
            assert receive(ws)["read"] == 2
        answer = httpx.get(
            f"{b2.url}/channels/alice/read", headers={"Authorization": f"Bearer {alice}"}
        )
    assert answer.json() == {"channel": "alice", "read": 2, "unread": 1}


@pytest.mark.parametrize(
    "mark, says",
    [
        (99, "\"read\" must be the id of a post of 'alice' (0 to 1), got 99"),
        ("1", "\"read\" must be the id of a post of 'alice' (0 to 1), got '1'"),
        (True, "\"read\" must be the id of a post of 'alice' (0 to 1), got True"),
        (-1, "\"read\" must be the id of a post of 'alice' (0 to 1), got -1"),
    ],
)
def test_a_mark_that_is_not_a_post_of_the_channel_is_answered_with_why(service, mark, says):
    alice = login(service, "alice")
    post(service, "alice", "one", alice)
    with socket(service, "alice", alice, since=1) as ws:
        receive(ws)
        ws.send(json.dumps({"read": mark}))
        assert receive(ws) == {"error": says}
        ws.send(json.dumps({"read": 1}))  # and the socket goes on
        assert receive(ws)["read"] == 1
    answer = httpx.post(
        f"{service}/channels/alice/read",
        json={"read": mark},
        headers={"Authorization": f"Bearer {alice}"},
    )
    assert answer.status_code == 400 and answer.json() == {"error": says}


def test_a_socket_without_a_login_reads_broadcast_and_posts_but_cannot_mark(service):
    with socket(service, "broadcast") as ws:
        ws.send(json.dumps({"read": 0}))
        assert receive(ws) == {"error": "log in (POST /login) to mark posts read"}
        ws.send(json.dumps({"text": "from a socket"}))  # the feed socket's own path, reused
        assert receive(ws)["text"] == "from a socket"


def test_read_marks_count_against_the_sockets_message_rate(service):
    alice = login(service, "alice")
    with socket(service, "alice", alice) as ws:
        receive(ws)
        answers = []
        for _ in range(6):
            ws.send(json.dumps({"read": 0}))
            answers.append(receive(ws))
    assert answers[:5] == [{"channel": "alice", "read": 0, "unread": 0}] * 5
    assert "error" in answers[5], f"a sixth mark within 5 a minute was taken: {answers[5]}"
    assert answers[5]["error"].startswith("rate limit: at most 5 messages per 60 s")


@pytest.mark.parametrize("token_of, status", [(None, 401), ("bob", 403)])
def test_a_handshake_to_another_users_channel_is_refused(service, token_of, status):
    token = login(service, token_of) if token_of else None
    with pytest.raises(InvalidStatus) as refused:
        socket(service, "alice", token)
    assert refused.value.response.status_code == status


def test_reading_the_mark_over_http_needs_a_login_and_a_read_field(service):
    assert httpx.get(f"{service}/channels/broadcast/read").status_code == 401
    alice = login(service, "alice")
    answer = httpx.post(
        f"{service}/channels/broadcast/read",
        json={"seen": 1},
        headers={"Authorization": f"Bearer {alice}"},
    )
    assert answer.status_code == 400 and 'missing "read"' in answer.json()["error"]

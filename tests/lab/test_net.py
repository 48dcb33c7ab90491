import socket

from lab.net import is_loopback, listening_sockets
from servers import serve
from servers.feed import make_app


def test_a_served_app_is_listed_and_only_on_loopback():
    with serve(make_app()) as server:
        assert ("127.0.0.1", server.port) in listening_sockets()
        assert all(is_loopback(ip) for ip, port in listening_sockets() if port == server.port)
    assert ("127.0.0.1", server.port) not in listening_sockets()


def test_a_socket_on_all_interfaces_is_seen_as_not_loopback():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert ("0.0.0.0", port) in listening_sockets()
    assert not is_loopback("0.0.0.0")
    assert is_loopback("127.0.0.2") and is_loopback("::1")

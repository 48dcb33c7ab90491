"""lab.socket_buffers: the kernel's socket buffers as the system reports them."""

from __future__ import annotations

import socket

import pytest

from lab.socket_buffers import Buffers, inq, outq, small_receiver, stall_one_stream, tcp_mem_sysctl
from servers.stalls import SEND_BUFFER
from servers.timing import wait_until


def test_bytes_sent_and_not_read_wait_in_the_receivers_queue():
    listener = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(listener.getsockname())
    receiver, _ = listener.accept()
    with listener, sender, receiver:
        sender.sendall(b"x" * 5000)
        wait_until(lambda: inq(receiver) == 5000, 5, "the bytes to arrive")
        assert outq(sender) == 0  # acknowledged: TCP's job is done, nobody has read them
        seen = Buffers.of(receiver)
        assert seen.inq == 5000 and seen.outq == 0 and seen.rcvbuf > 0 and seen.sndbuf > 0
        receiver.recv(5000)
        assert inq(receiver) == 0


def test_a_receive_buffer_set_before_connecting_is_doubled_by_linux():
    sock = small_receiver(4096)
    with sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 8192
        assert not sock.getblocking()


def test_the_tcp_buffer_sysctls_are_three_rising_sizes():
    for name in ("tcp_wmem", "tcp_rmem"):
        low, default, high = tcp_mem_sysctl(name)
        assert 0 < low <= default <= high
    with pytest.raises(ValueError, match="tcp_wmem"):
        tcp_mem_sysctl("tcp_mem")


def test_every_byte_a_stalled_stream_was_written_is_in_the_process_or_a_kernel():
    stalled = stall_one_stream(sndbuf=SEND_BUFFER)
    accounted = stalled.process + stalled.server.outq + stalled.client.inq
    assert 0 <= accounted - stalled.published < 1024  # the response head, under a KiB
    assert stalled.server.sndbuf == 2 * SEND_BUFFER
    assert stalled.server.outq > 0 and stalled.client.inq > 0  # both kernels hold some

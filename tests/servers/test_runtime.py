"""servers.serve: the in-kernel runtime keeps each promise DESIGN.md makes."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import nbclient
import nbformat
import psutil
import pytest
from aiohttp import web

from servers import Server, runtime, serve
from servers.feed import Feed, make_app

ROOT = Path(__file__).resolve().parents[2]


def hello_app(word: str = "hello") -> web.Application:
    async def hello(request):
        return web.Response(text=word)

    app = web.Application()
    app.router.add_get("/", hello)
    return app


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def run_script(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_serve_binds_loopback_by_default_and_reports_its_url():
    with serve(hello_app()) as server:
        assert isinstance(server, Server)
        assert server.host == "127.0.0.1"
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        listening = [
            c.laddr
            for c in psutil.Process().net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == server.port
        ]
        assert [addr.ip for addr in listening] == ["127.0.0.1"]
        assert httpx.get(server.url).text == "hello"


def test_sync_and_async_clients_reach_it_from_inside_a_running_event_loop():
    async def inside_a_loop():
        asyncio.get_running_loop()  # a running loop, as in a Jupyter kernel
        with serve(hello_app()) as server:
            blocking = httpx.get(server.url).text
            async with httpx.AsyncClient() as client:
                awaited = (await client.get(server.url)).text
        return blocking, awaited

    assert asyncio.run(inside_a_loop()) == ("hello", "hello")


def test_serving_a_name_again_stops_the_old_server_first():
    first = serve(hello_app("first"), name="twice")
    second = serve(hello_app("second"), name="twice")
    try:
        assert not first.running and second.running
        assert refuses_connections(first.port)
        assert httpx.get(second.url).text == "second"
    finally:
        second.stop()


def test_stop_is_idempotent_and_the_context_manager_stops():
    with serve(hello_app()) as server:
        port = server.port
    assert not server.running
    assert refuses_connections(port)
    server.stop()
    server.stop()
    assert server not in runtime.running_servers()


def test_a_port_in_use_is_a_clear_error_and_leaves_nothing_running():
    with serve(hello_app()) as server:
        before = runtime.running_servers()
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{server.port}"):
            serve(hello_app(), port=server.port)
        assert runtime.running_servers() == before
        assert httpx.get(server.url).text == "hello"


def test_stop_ends_open_streams_and_websockets_and_leaves_no_tasks_and_no_noise():
    # In a child process so that anything printed at exit (destroyed tasks) is seen too.
    # The streams never end on their own, so stop() returning at all means it ended them.
    result = run_script(
        """
        import json, logging, socket
        from lab.frames import read_head, read_to_end
        from lab.streams import open_streams
        from servers import runtime, serve
        from servers.feed import Feed, make_app
        from servers.timing import wait_until

        logging.basicConfig(level=logging.DEBUG)
        logging.getLogger("asyncio").setLevel(logging.WARNING)

        feed = Feed()
        server = serve(make_app(feed, heartbeat=0.05))
        streams = open_streams(server.host, server.port, "/events", 30)
        upgrade = (
            "GET /ws HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n"
        )
        sockets = [socket.create_connection((server.host, server.port)) for _ in range(20)]
        for sock in sockets:
            sock.sendall(upgrade.encode())
            assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        wait_until(lambda: feed.waiting == 50, what="30 streams and 20 sockets waiting")
        server.stop()
        server.stop()
        ended = [len(read_to_end(sock)) >= 0 for sock in streams + sockets]
        print(json.dumps({"ended": sum(ended), "pending": len(runtime.pending_tasks())}))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ended": 50, "pending": 0}
    assert result.stderr == ""


def test_a_plain_script_works_and_everything_is_stopped_at_exit():
    result = run_script(
        """
        import atexit, socket
        port = None

        def still_listening_after_exit():  # registered first, so it runs last
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                print("still listening")
            except OSError:
                print("stopped at exit")

        atexit.register(still_listening_after_exit)

        import httpx
        from servers import serve
        from servers.feed import Feed, make_app

        server = serve(make_app(Feed()), name="script")
        port = server.port
        print(httpx.post(server.url + "/posts", json={"text": "from a script"}).status_code)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["201", "stopped", "at", "exit"]
    assert result.stderr == ""


def test_it_works_inside_a_jupyter_kernel_with_blocking_and_awaited_clients():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import asyncio, httpx\n"
            "from servers import serve\n"
            "from servers.feed import Feed, make_app\n"
            "asyncio.get_running_loop()  # the kernel's loop is running\n"
            "feed = Feed()\n"
            "server = serve(make_app(feed), name='kernel')\n"
            "server = serve(make_app(feed), name='kernel')  # a re-run cell\n"
            "feed.publish('from the kernel')"
        ),
        nbformat.v4.new_code_cell("print(httpx.get(server.url + '/posts').json()[0]['text'])"),
        nbformat.v4.new_code_cell(
            "async with httpx.AsyncClient() as client:\n"
            "    print((await client.get(server.url + '/posts')).json()[0]['text'])"
        ),
    ]
    nbclient.NotebookClient(
        notebook, timeout=60, resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    printed = [cell.outputs[0]["text"] for cell in notebook.cells[1:]]
    assert printed == ["from the kernel\n", "from the kernel\n"]


def test_a_blocking_call_from_the_servers_loop_is_refused_not_deadlocked():
    async def stop_from_inside(request):
        try:
            runtime.run(asyncio.sleep(0))
        except RuntimeError as error:
            return web.Response(text=str(error))
        return web.Response(text="no error")

    app = web.Application()
    app.router.add_get("/", stop_from_inside)
    with serve(app) as server:
        assert "cannot be made from that loop" in httpx.get(server.url).text


def test_feed_publish_from_a_cell_reaches_a_server_on_the_background_loop():
    feed = Feed()
    with serve(make_app(feed)) as server:
        feed.publish("main thread")
        assert httpx.get(server.url + "/posts").json()[0]["text"] == "main thread"


def test_stopping_everything_kept_stops_every_server_and_its_streams_and_serving_works_again():
    result = run_script(
        """
        import json
        import httpx
        from lab.streams import open_streams, read_to_end
        from servers import lifecycle, runtime, serve
        from servers.clock import make_clock_app
        from servers.feed import Feed, make_app

        named = serve(make_clock_app(interval=0.05), name="named")
        unnamed = serve(make_app(Feed()))
        streams = open_streams(named.host, named.port, "/time", 3)
        lifecycle.stop_all()  # what the interpreter's exit runs
        ended = sum(1 for sock in streams if read_to_end(sock) >= 0)
        again = serve(make_app(Feed()), name="named")
        print(json.dumps({
            "running": [named.running, unnamed.running], "ended": ended,
            "accepting": [runtime.accepts_connections(s.port) for s in (named, unnamed)],
            "again": httpx.get(again.url + "/posts").status_code,
            "kept": [s is again for s in runtime.running_servers()],
        }))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "running": [False, False],
        "ended": 3,
        "accepting": [False, False],
        "again": 200,
        "kept": [True],
    }
    assert result.stderr == ""


def test_free_port_is_below_the_ephemeral_range_bindable_and_never_handed_out_twice():
    # Mutant: the old free_port (bind port 0) gave ports inside the ephemeral range, which an
    # outgoing connection or a kernel's own port pick can take before the child binds it.
    low, _ = runtime.ephemeral_range()
    ports = [runtime.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(max(1024, low - 16384) <= port < low for port in ports)
    for port in ports[:20]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_free_port_skips_a_port_someone_listens_on(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            spare = probe.getsockname()[1]
        monkeypatch.setattr(runtime.random, "sample", lambda ports, k: [taken, spare])
        assert runtime.free_port() == spare


def test_free_port_falls_back_to_port_zero_when_nothing_is_below_the_ephemeral_range(
    monkeypatch, tmp_path
):
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("1024\t65535\n")
    monkeypatch.setattr(runtime, "EPHEMERAL_RANGE_FILE", range_file)
    assert runtime.ephemeral_range() == (1024, 65535)
    port = runtime.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    monkeypatch.setattr(runtime, "EPHEMERAL_RANGE_FILE", tmp_path / "missing")
    assert runtime.ephemeral_range() == runtime.DYNAMIC_PORTS

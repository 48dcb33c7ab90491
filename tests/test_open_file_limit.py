"""servers.limits, lab.loadgen and lab.shootout under a laptop's open-file limit (256).

Each test runs a child Python under ``bash -c 'ulimit ...'``, since the limit is per process.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from servers.timing import scaled

ROOT = Path(__file__).resolve().parents[1]
HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
needs_a_high_hard_limit = pytest.mark.skipif(
    HARD != resource.RLIM_INFINITY and HARD < 4096,
    reason=f"this machine's hard open-file limit ({HARD}) is below the 4096 the test needs",
)


def run_limited(limits: str, code: str) -> str:
    """Run ``code`` in a child Python after the shell's ``ulimit`` commands; its stdout."""
    script = f"{limits}; exec {sys.executable} -c {_quote(textwrap.dedent(code))}"
    done = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=scaled(120)
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _quote(code: str) -> str:
    return "'" + code.replace("'", "'\\''") + "'"


@needs_a_high_hard_limit
def test_a_process_started_with_a_soft_limit_of_256_raises_it_and_then_opens_a_thousand_sockets():
    out = run_limited(
        "ulimit -Sn 256",
        """
        import json, resource, socket
        from servers.limits import raise_open_file_limit

        before = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            held = [socket.socket() for _ in range(1000)]
            refused = None
        except OSError as error:
            refused = error.strerror
        held = None
        now = raise_open_file_limit()
        held = [socket.socket() for _ in range(1000)]
        print(json.dumps({"before": before, "now": now, "refused": refused}))
        """,
    )
    result = json.loads(out)
    assert result["before"][0] == 256
    assert result["refused"] == "Too many open files"  # what lesson 08 ran into
    assert result["now"] == min(result["before"][1], 1 << 20)  # the hard limit


def test_a_hard_limit_too_low_for_the_client_counts_scales_them_down_and_says_so():
    out = run_limited(
        "ulimit -Sn 256; ulimit -Hn 400",
        """
        import json
        from lab.shootout import affordable_counts

        said = []
        counts = affordable_counts([10, 100, 1000], say=said.append)
        print(json.dumps({"counts": counts, "said": said}))
        """,
    )
    result = json.loads(out)
    assert result["counts"] == [10, 100, (400 - 64) // 3]  # the soft limit went up to 400
    [message] = result["said"]
    assert "open-file limit 400 (hard limit 400)" in message
    assert "uses [10, 100, 112] clients instead of [10, 100, 1000]" in message


def test_counts_that_fit_are_kept_and_nothing_is_said():
    out = run_limited(
        "ulimit -Sn 256; ulimit -Hn 400",
        """
        from lab.shootout import affordable_counts

        print(affordable_counts([3, 10], say=lambda text: print("said", text)))
        """,
    )
    assert out == "[3, 10]\n"


@needs_a_high_hard_limit
def test_a_load_generator_parks_three_hundred_clients_under_a_soft_limit_of_256():
    out = run_limited(
        "ulimit -Sn 256",
        """
        import resource
        from lab.loadgen import Group, LoadGenerator
        from servers import serve
        from servers.feed import Feed, make_app
        from servers.timing import wait_until

        feed = Feed()
        with serve(make_app(feed)) as server:
            with LoadGenerator(server.url, [Group("sse", "sse", 300)]) as load:
                wait_until(lambda: feed.waiting >= 300, 30, "300 parked SSE clients")
                post = feed.publish("to all")["id"]
                wait_until(lambda: load.mark()["sse"]["deliveries"] >= 300, 30, "300 deliveries")
        print(feed.waiting, load.results["sse"].received_ids() == [[post]] * 300)
        """,
    )
    assert out.split() == ["0", "True"]


@needs_a_high_hard_limit
def test_the_notification_cluster_started_under_a_soft_limit_of_256_gives_its_servers_more():
    out = run_limited(
        "ulimit -Sn 256",
        """
        import json, psutil
        from urllib.parse import urlsplit
        from lab.notify_cluster import NotifyCluster
        from lab.slo import listeners

        cluster = NotifyCluster.start(1)  # nginx (or the fallback), a backend, Redis
        try:
            ports = {"backend": cluster.backends[0].port, "front": urlsplit(cluster.url).port}
            found = listeners(ports)
            print(json.dumps({name: [psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)[0]
                                     for pid in pids] for name, pids in found.items()}))
        finally:
            cluster.stop()
        """,
    )
    limits = json.loads(out)
    assert limits and all(soft > 256 for pids in limits.values() for soft in pids), limits

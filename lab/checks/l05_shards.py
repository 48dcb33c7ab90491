"""Checks for exercise 05.2: shard streams over origins so that none waits for a connection.

``shard(count, origins, per_origin=6)`` gives each of ``count`` streams an origin, none used
more than ``per_origin`` times, and raises ``ValueError`` when they cannot fit. The check
tries it on made-up origins, then on one feed served on two ports, where the learner's own
``first_events`` (exercise 05.1) must see every stream's first event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from lab.checks.core import call, expect, fail, learner_line, not_written, passed, short
from lab.checks.l05 import PER_HOST, run_first_events
from lab.connection_limit import feed_origin
from servers import runtime
from servers.feed import Feed
from servers.timing import scaled

ORIGINS = ["http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:8003"]
CASES = [
    (8, ORIGINS[:2], 6),
    (12, ORIGINS[:2], 6),
    (3, ORIGINS, 1),
    (5, ORIGINS, 2),
    (0, ORIGINS, 6),
]


def check_05_shard(shard: Callable[..., Any], first_events: Callable[..., Any]) -> None:
    """Exercise 05.2: ``shard`` on five spreads and one that cannot fit; then twelve streams
    sharded over two ports of one feed, watched by the learner's ``first_events``."""
    for count, origins, per_origin in CASES:
        result = call("05.2", shard, count, origins, per_origin=per_origin)
        _judge(result, count, origins, per_origin)
    _refuses(shard, 2 * PER_HOST + 1, ORIGINS[:2], PER_HOST)
    feed = Feed()
    feed.publish("the post every new stream replays")
    ports = [feed_origin(feed, name=f"check-05-shard-{k}") for k in (1, 2)]
    origins = [server.url for server, _ in ports]
    count = 2 * PER_HOST
    placed = call("05.2", shard, count, origins)
    _judge(placed, count, origins, PER_HOST)
    urls = [f"{origin}/events?lastEventId=0&stream={k}" for k, origin in enumerate(placed)]
    try:
        firsts, _ = runtime.run(
            run_first_events(first_events, urls, scaled(1.5), tuple(c for _, c in ports)),
            timeout=scaled(30),
        )
    finally:
        for server, _ in ports:
            server.stop()
    waited = [url for url, first in zip(urls, firsts, strict=False) if first is None]
    expect(
        isinstance(firsts, list) and len(firsts) == count and not waited,
        "05.2",
        f"your shards put {dict(Counter(placed))} streams on the two ports, which fits, yet "
        f"first_events gave no first event for {short(waited)}: first_events is not right yet.",
        "make the check of exercise 05.1 pass first; this one runs your first_events.",
    )
    passed(
        "05.2",
        f"five spreads kept every origin at or under its limit, {2 * PER_HOST + 1} streams on "
        f"two origins of {PER_HOST} were refused with ValueError, and {count} streams sharded "
        f"over two ports ({' and '.join(map(str, Counter(placed).values()))}) all had their first "
        "event: none waited for a connection.",
    )


def _judge(result: Any, count: int, origins: list[str], per_origin: int) -> None:
    asked = f"shard({count}, {short(origins, 60)}, per_origin={per_origin})"
    expect(
        isinstance(result, list) and len(result) == count,
        "05.2",
        f"{asked} returned {short(result)}; expected a list of {count} origins, one per stream.",
        "return a list with one entry per stream: the origin that stream should use.",
    )
    strangers = [value for value in result if value not in origins]
    expect(
        not strangers,
        "05.2",
        f"{asked} returned {short(strangers[0]) if strangers else ''}, which is not one of the "
        "origins given.",
        "return the origins themselves (the check builds each stream's URL from them).",
    )
    crowded = {o: n for o, n in Counter(result).items() if n > per_origin}
    expect(
        not crowded,
        "05.2",
        f"{asked} put {short(crowded)} streams on one origin: more than per_origin={per_origin}, "
        "so a browser would hold the extra ones back until another stream closed.",
        "count the streams given to each origin and move on to the next one once it holds "
        "per_origin (use the argument, not the number 6).",
    )


def _refuses(shard: Callable[..., Any], count: int, origins: list[str], per_origin: int) -> None:
    asked = f"shard({count}, {short(origins, 60)}, per_origin={per_origin})"
    try:
        result = shard(count, origins, per_origin=per_origin)
    except ValueError:
        return
    except NotImplementedError:
        raise not_written("05.2", getattr(shard, "__name__", "shard")) from None
    except Exception as error:
        where = learner_line(error, getattr(shard, "__name__", "shard"))
        raise fail(
            "05.2",
            f"{asked} raised {type(error).__name__}: {error}{' (' + where + ')' if where else ''}; "
            "expected ValueError.",
            "check `count > per_origin * len(origins)` first, and `raise ValueError(...)`.",
        ) from None
    raise fail(
        "05.2",
        f"{asked} returned {short(result)}: {count} streams cannot fit in {len(origins)} origins "
        f"of {per_origin} connections, so one would wait, and the caller must be told.",
        "check `count > per_origin * len(origins)` first, and `raise ValueError(...)`.",
    )

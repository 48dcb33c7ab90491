"""A pub/sub backplane between feed backends, and the relay that joins one to it (lesson 10).

Several backends behind a balancer each hold their own clients. A post taken by one backend
must reach the clients of all of them, so every backend publishes what it takes to a shared
**broker** and relays what the broker delivers into its own feed. One contract, two brokers:

- ``RedisBroker(url)``: Redis pub/sub, for backends in separate processes (``python -m
  servers.backend --backplane redis://127.0.0.1:PORT``);
- ``MemoryBroker()``: the same contract in one process, for machines without
  ``redis-server``. It cannot link processes: backends sharing one run in the same kernel.

A broker (``Broker``, every method async) does three things::

    post = await broker.publish(text, ts=...)     # numbers the post, keeps it, fans it out
    async with broker.subscribe() as posts:       # subscribed from here on
        async for post in posts: ...              # every post published from now on
    await broker.since(post_id)                   # the shared history after post_id

**Ids are the broker's.** Each backend's ``Feed`` numbers its own posts from 1, so two
backends would give different posts the same id, and ``Last-Event-ID`` would mean nothing on
another backend. With a backplane the broker numbers every post (Redis: ``INCR`` in the same
script that stores and publishes it, so ids and delivery order agree) and backends insert
posts with ``Feed.add(post)``, which keeps the id. A backend never adds the posts it takes
itself: they come back through the backplane like everyone else's, in the one order.

**Pub/sub is at-most-once.** A message published while a subscriber is away is gone for that
subscriber. So the relay subscribes first, then reads what it missed from the shared history
(``since``), and does that again after every reconnection: ``relay(feed, broker)``.

**Ids only rise.** A backplane that loses its counter (Redis restarted without persistence)
numbers new posts from 1 again, ids every running feed has passed: ``Feed.add`` would drop them
all. The relay logs each such post as an error, and ``publish_through`` refuses to say a post
was taken when its own backend cannot show it (``IdsWentBack``).

**A failed publish may have happened.** Redis may have run the script before the connection
broke, so a publish is never retried by the client (only a connection is re-opened), and a
``BackplaneUnavailable`` from ``publish`` means "may not have been published".

**Errors are the domain's.** Brokers raise ``BackplaneUnavailable``; a backend's feed turns a
failed post into ``BackplaneDown`` or ``IdsWentBack`` (both ``servers.feed.PostNotTaken``), and
only the HTTP edge (``servers.polling``, ``servers.ws``) turns those into 503 and 500.

**A retry can be told apart** (lesson 14). Because a failed publish may have happened, a
publisher that retries may post twice. ``broker.publish_once(text, key)`` (both brokers are
``OnceBroker``s; lesson 10's ``Broker`` contract does not ask for it) publishes under an
idempotency key and, in the same step, remembers the key (Redis: in the same script): the
same key again answers the first post, publishing nothing. ``BackplaneFeed.submit_once`` is
the backend's side of it.

The modules, each importing only those above it: ``contract`` (the ``Broker`` and
``OnceBroker`` protocols, ``BackplaneUnavailable`` and ``KeyReused``), ``memory_broker``,
``redis_broker``, ``relaying`` (the relay and its ``RelayStatus``), ``feed``
(``BackplaneFeed``, ``publish_through``, ``attach``, ``join``).
"""

from servers.backplane.contract import (
    HISTORY,
    KEYS_KEPT,
    BackplaneUnavailable,
    Broker,
    KeyReused,
    OnceBroker,
)
from servers.backplane.feed import (
    RELAY_STATUS,
    BackplaneDown,
    BackplaneFeed,
    IdsWentBack,
    LocalPublish,
    attach,
    join,
    publish_through,
)
from servers.backplane.memory_broker import MemoryBroker
from servers.backplane.redis_broker import RedisBroker, connect
from servers.backplane.relaying import RETRY, RelayStatus, relay

__all__ = [
    "HISTORY",
    "KEYS_KEPT",
    "RELAY_STATUS",
    "RETRY",
    "BackplaneDown",
    "BackplaneFeed",
    "BackplaneUnavailable",
    "Broker",
    "IdsWentBack",
    "KeyReused",
    "LocalPublish",
    "MemoryBroker",
    "OnceBroker",
    "RedisBroker",
    "RelayStatus",
    "attach",
    "connect",
    "join",
    "publish_through",
    "relay",
]

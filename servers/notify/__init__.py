"""The capstone: a notification service built from lessons 00-12 (lesson 14).

``make_app()`` serves per-user channels and a ``broadcast`` channel: a login issuing a
short-lived token and a session cookie, SSE with ``Last-Event-ID`` resume and ``gap``
notices, a WebSocket path that also marks posts read, posts numbered once per channel by the
backplane, who is online in each channel (presence), ``/health`` and ``/metrics``.
``python -m servers.notify --port 8000 [--redis
redis://127.0.0.1:6379]`` runs it on its own.

The modules, each importing only those above it: ``auth`` (tokens, the session cookie,
users), ``channels`` (a channel is a feed on its own broker), ``reads`` (read marks, kept on
the backplane), ``sockets`` (the WebSocket that also takes read marks), ``presence`` (who is
online: entries per backend and user in a shared store, with an expiry), ``roster`` (the
service's side of it: a ``Presence`` per channel, the heartbeat), ``metrics`` (what a person
reads), ``app`` (the routes), ``__main__`` (the command).
"""

from servers.notify.app import make_app
from servers.notify.auth import Signer
from servers.notify.channels import BROADCAST, MemoryBrokers, RedisBrokers

__all__ = ["BROADCAST", "MemoryBrokers", "RedisBrokers", "Signer", "make_app"]

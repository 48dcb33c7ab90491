"""The notification service's HTTP app: login, channels over SSE and WebSocket (lesson 14).

Routes (every error a JSON ``{"error": why}``):

- ``POST /login`` ``{"user", "password"?}``: 200 with ``{"user", "token", "expires", "ttl"}``
  and the session cookie (``servers.notify.auth``); 400 for a bad body, 401 refused.
- ``GET /channels/{name}/events``: the channel as SSE, lesson 04's ``Last-Event-ID`` resume
  and lesson 11's fan-out and write timeout (``servers.events.stream_events``), with a ``gap``
  event when the channel's history no longer reaches back to the client's id.
- ``GET /channels/{name}/ws``: the same posts over a WebSocket (``servers.ws.websocket``:
  lesson 12's ``Origin`` check and limits; ``?since=ID`` resumes); ``{"text"}`` sent up posts.
  With a login, ``{"read": ID}`` marks posts read (``servers.notify.sockets``).
- ``GET``, ``POST /channels/{name}/read`` ``{"read": ID}``: the user's read mark and unread
  count on the channel (``servers.notify.reads``), and marking posts read.
- ``POST /channels/{name}/posts`` ``{"text"}``: 201 with the post, numbered by the channel's
  broker (``servers.notify.channels``); 400 for bad input, 503 when the backplane is down.
  With an ``Idempotency-Key`` (``servers.notify.idempotency``) a retry is answered with the
  post first taken under that key and ``Idempotent-Replayed: true``; 422 if its text differs.
- ``GET /``: the service's own page, a badge and a list (``servers.notify.page``).
- ``GET /channels/{name}/presence``: ``{"channel", "online": [users]}``, who has a stream or
  socket of the channel open with a login, on any backend (``servers.notify.roster``).
- ``GET /health``: 200 ``{"status": "ok", ...}``; ``GET /metrics``: text a person reads.

Reading ``broadcast`` needs no login; a user's channel is readable only with that user's
token (401 without a valid one, 403 with another user's); posting needs a login (any user may
notify any channel). On shutdown every SSE stream gets a ``shutdown`` event and its body is
ended, and every WebSocket is closed with 1001 (going away): clients reconnect elsewhere and
resume.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Iterable, Mapping

from aiohttp import web

from servers import events, origins, runtime, ws, ws_limits
from servers.backplane import BackplaneUnavailable, KeyReused
from servers.fanout import Hubs, chunk
from servers.feed.model import PostNotTaken
from servers.http import json_error, make_base_app
from servers.notify import idempotency, metrics, page
from servers.notify.auth import (
    Refused,
    Signer,
    Users,
    check_user_name,
    credential,
    identify,
    session_cookie,
)
from servers.notify.channels import (
    Channel,
    Channels,
    MemoryBrokers,
    NoSuchChannel,
    RedisBrokers,
    TooManyChannels,
    check_channel,
    owner,
)
from servers.notify.cors import allow_origins, guard_cookie_writes
from servers.notify.reads import ReadMarks
from servers.notify.roster import PresenceSetup, Roster, user_or_none
from servers.notify.sockets import ReadingGuard
from servers.sse import encode_event
from servers.stalls import STALLS, WRITE_TIMEOUT, StallWatch, let_go

SERVICE = web.AppKey("notify_service", object)

SHUTDOWN_EVENT = encode_event(
    json.dumps({"reason": "server shutting down: reconnect with your Last-Event-ID"}),
    event="shutdown",
)


class Service:
    """What the routes share: channels, who is who, open streams and sockets, counters."""

    def __init__(self, brokers, signer: Signer, users: Users, write_timeout: float) -> None:
        self.lag = metrics.DeliveryLag()
        self.channels = Channels(brokers, on_open=lambda channel: self.lag.watch(channel.feed))
        self.reads = ReadMarks(self.channels)
        self.brokers, self.signer, self.users = brokers, signer, users
        self.streams: dict[int, web.Request] = {}  # the open SSE streams' requests, by id
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.posts = metrics.PostRate()
        self.stalls = StallWatch(write_timeout)
        self.started = time.monotonic()

    def numbers(self) -> dict:
        return {
            "broker": self.brokers.kind,
            "uptime": time.monotonic() - self.started,
            "clients": len(self.streams) + len(self.sockets),
            "streams": len(self.streams),
            "sockets": len(self.sockets),
            "channels": len(self.channels),
            "subscribed": self.channels.subscribed(),
            "posts": self.posts.total,
            "replayed": self.posts.replayed,
            "posts_per_s": self.posts.per_second(),
            "window": self.posts.window,
            "lag_p99": self.lag.p99(),
            "lag_samples": self.lag.count(),
            "lag_window": self.lag.window,
            "let_go": self.stalls.let_go_count,
            "write_timeout": self.stalls.write_timeout,
        }


def make_app(
    *,
    brokers: MemoryBrokers | RedisBrokers | None = None,
    signer: Signer | None = None,
    passwords: Mapping[str, str] | None = None,
    retry_ms: int = events.RETRY_MS,
    heartbeat: float = events.HEARTBEAT,
    write_timeout: float = WRITE_TIMEOUT,
    allowed_origins: Iterable[str] | None = None,
    limits: ws_limits.WSLimits | None = None,
    presence: PresenceSetup | None = None,
) -> web.Application:
    """The service (see the module's docstring). ``brokers``: ``MemoryBrokers()`` by default
    (one process), ``RedisBrokers(url)`` to share channels between backends; ``signer``: the
    tokens (share one secret between backends); ``passwords``: who may log in (None: a demo
    login); ``presence``: whose ``Presence``, on which store, with which ttl (exercise 14's
    checks give theirs). The rest are lessons 03, 11 and 12's options, as
    ``servers.feed.make_app`` has."""
    service = Service(
        brokers or MemoryBrokers(), signer or Signer(), Users(passwords), write_timeout
    )
    app = make_base_app(cors=False)
    allowed = origins.allow_list(allowed_origins) if allowed_origins is not None else None
    allow_origins(app, allowed)
    guard_cookie_writes(app, allowed)
    app[SERVICE] = service
    roster = Roster(presence or PresenceSetup(), service.brokers)
    app[STALLS] = service.stalls
    app[runtime.HEAD_TIMEOUT_KEY] = runtime.HEAD_TIMEOUT
    options = events.EventOptions(retry_ms=retry_ms, heartbeat=heartbeat)
    sse_hubs, ws_hubs = Hubs(heartbeat), Hubs()
    guard = ws_limits.Guard(limits)

    async def login(request: web.Request) -> web.Response:
        body = await _json_object(request)
        try:
            user = check_user_name(body.get("user"))
        except ValueError as error:
            return json_error(400, str(error))
        service.users.check(user, body.get("password"))
        token, expires = service.signer.issue(user)
        answer = {"user": user, "token": token, "expires": expires, "ttl": service.signer.ttl}
        response = web.json_response(answer)
        session_cookie(response, token, service.signer.ttl)
        return response

    async def channel_events(request: web.Request) -> web.StreamResponse:
        channel = await _readable(request, service)
        service.streams[id(request)] = request
        try:
            async with roster.present(channel.name, user_or_none(request, service.signer)):
                return await events.stream_events(request, channel.feed, options, sse_hubs)
        finally:
            del service.streams[id(request)]

    async def channel_socket(request: web.Request) -> web.StreamResponse:
        channel = await _readable(request, service)
        user, on_read, greeting = _user_if_any(request, service.signer), None, None
        if user is not None:  # a logged-in socket marks posts read, and is told its mark
            name = channel.name

            async def on_read(post_id: object) -> dict:
                return await service.reads.mark(user, name, post_id)

            greeting = await service.reads.state(user, name)
        socket_guard = ReadingGuard(guard, on_read, greeting)
        async with roster.present(channel.name, user):
            return await ws.websocket(
                request, channel.feed, service.sockets, allowed, socket_guard, ws_hubs
            )

    async def presence_of(request: web.Request) -> web.Response:
        name = (await _readable(request, service)).name
        try:
            return web.json_response({"channel": name, "online": await roster.online(name)})
        except BackplaneUnavailable as error:
            return json_error(503, f"presence is unavailable: {error}")

    async def read_state(request: web.Request) -> web.Response:
        user = identify(request, service.signer)
        name = (await _readable(request, service)).name
        if request.method == "GET":
            return web.json_response(await service.reads.state(user, name))
        body = await _json_object(request)
        if "read" not in body:
            return json_error(400, 'missing "read": send {"read": POST_ID}')
        try:
            return web.json_response(await service.reads.mark(user, name, body["read"]))
        except ValueError as error:
            return json_error(400, str(error))

    async def post(request: web.Request) -> web.Response:
        user = identify(request, service.signer)
        name = check_channel(request.match_info["name"])
        try:
            key = idempotency.key_of(request)
        except idempotency.BadKey as error:
            return json_error(400, str(error))
        body = await _json_object(request)
        if "text" not in body:
            return json_error(400, 'missing "text": send {"text": "..."}')
        channel = await service.channels.get(name)
        try:
            if key is None:
                taken, replayed = await channel.feed.submit(body["text"]), False
            else:
                taken, replayed = await channel.feed.submit_once(body["text"], f"{user}:{key}")
        except KeyReused as error:
            return json_error(422, str(error))
        except ValueError as error:
            return json_error(400, str(error))
        if replayed:
            service.posts.replay()
            return web.json_response(taken, status=201, headers={idempotency.REPLAYED: "true"})
        service.posts.taken()
        return web.json_response(taken, status=201)

    async def health(request: web.Request) -> web.Response:
        numbers = service.numbers()
        keys = ("broker", "clients", "channels", "subscribed", "posts", "lag_p99")
        small = {key: numbers[key] for key in keys}
        return web.json_response({"status": "ok", **small, "drops": numbers["let_go"]})

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(service.numbers()))

    app.middlewares.append(_refusals)
    app.add_routes(
        [
            web.get("/", page.serve_page),
            web.post("/login", login),
            web.get("/channels/{name}/events", channel_events),
            web.get("/channels/{name}/ws", channel_socket),
            web.post("/channels/{name}/posts", post),
            web.get("/channels/{name}/read", read_state),
            web.get("/channels/{name}/presence", presence_of),
            web.post("/channels/{name}/read", read_state),
            web.get("/health", health),
            web.get("/metrics", metrics_page),
        ]
    )
    app.on_shutdown.append(_say_goodbye)
    app.on_cleanup.append(lambda app: app[SERVICE].channels.close())
    app.on_startup.append(roster.start)
    app.on_cleanup.append(roster.stop)
    return app


@web.middleware
async def _refusals(request: web.Request, handler):
    """The domain's refusals as JSON statuses: who (401, 403), which channel (404), how many
    (503), the backplane (503, or 500 for a fault someone must fix)."""
    try:
        return await handler(request)
    except Refused as refused:
        return json_error(refused.status, refused.reason)
    except NoSuchChannel as error:
        return json_error(404, str(error))
    except TooManyChannels as error:
        return json_error(503, str(error))
    except PostNotTaken as error:
        return json_error(503 if error.temporary else 500, str(error))


async def _readable(request: web.Request, service: Service) -> Channel:
    """The channel of the request's path, if its sender may read it (``Refused`` otherwise)."""
    name = check_channel(request.match_info["name"])  # a 404 first: it says nothing of users
    private_to = owner(name)
    if private_to is not None:  # refused before the channel is opened: a refusal costs nothing
        user = identify(request, service.signer)
        if user != private_to:
            raise Refused(403, f"channel {name!r} is {private_to}'s; you are {user}")
    return await service.channels.get(name)


def _user_if_any(request: web.Request, signer: Signer) -> str | None:
    """The request's user, None when it carries no credentials (``Refused``: invalid ones)."""
    return None if credential(request) is None else identify(request, signer)


async def _json_object(request: web.Request) -> dict:
    """The request's JSON object body, or a 400 saying what is wrong with it."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=f"the body must be a JSON object, got {type(body).__name__}")
    return body


async def _say_goodbye(app: web.Application) -> None:
    """On shutdown: each SSE stream a ``shutdown`` event and the end of its body (lesson 11's
    ``let_go``: queued, closed, reset if the peer does not take it), each WebSocket 1001."""
    service = app[SERVICE]
    for request in list(service.streams.values()):
        transport = request.transport
        if transport is None or transport.is_closing():
            continue
        chunked = request.version >= (1, 1)  # aiohttp streams an HTTP/1.1 body in chunks
        let_go(transport, chunk(SHUTDOWN_EVENT) + b"0\r\n\r\n" if chunked else SHUTDOWN_EVENT)
    await ws.close_all(service.sockets)
    await asyncio.sleep(0)

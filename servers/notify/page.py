"""The notification service's own page: a badge and a list, live (lesson 14).

``GET /`` serves one small HTML page (no build step, no framework) that puts the course's
transports to work in a browser:

- a login by name (``POST /login``): the answer sets lesson 12's ``HttpOnly``,
  ``SameSite=Strict`` session cookie, which every later request of the page carries by itself;
  the page keeps only the name (``sessionStorage``), so a reload goes on without a new login;
- lesson 03's ``EventSource`` on the user's channel and on ``broadcast``, from their first
  post held (``?lastEventId=0``): the list, each notification written as text, never as HTML;
  the browser reconnects by itself and sends lesson 04's ``Last-Event-ID``, so nothing is
  missed or repeated; if it gives up (an HTTP error such as a proxy's 502), the page opens a
  new one from its last id;
- lesson 07's WebSocket on each channel, for what the page *sends*: "mark all read" sends
  ``{"read": ID}`` (``servers.notify.sockets``) and the answer moves the badge. A browser does
  not reconnect a WebSocket: the page does, backing off from 0.25 s to 4 s, and sends a mark
  still wanted once the socket is back. A socket closed before the service greeted it is
  reported: a script never sees the status, and a refusal (lesson 12's ``Origin`` check)
  looks like that.

The badge is the sum over the two channels of ``newest id - read mark``, both from the server
(``GET /channels/NAME/read``, the socket's greeting and answers, the posts' ids), so it
survives a reload and counts each post once whichever transport brought it.

Tests and the lesson's headless Chromium read stable hooks (``IDS``): ``#badge`` (its
``data-unread``), ``#state`` (``data-state``: ``logged-out``, ``connected``,
``reconnecting``), ``#list li`` (``data-channel``, ``data-id``, class ``unread``),
``#mark-read``, ``#user`` and ``#login``; ``#state``'s ``data-drops`` counts the times the
page went from connected to reconnecting. The page is served with a Content-Security-Policy
that allows only its own inline script and style (by hash) and connections to its own origin.
"""

from __future__ import annotations

import base64
import hashlib

from aiohttp import web

IDS = ("login", "user", "inbox", "who", "badge", "state", "mark-read", "transports", "list",
       "error")  # fmt: skip
"""The ids of the page's elements that tests and the lesson read."""

STORAGE_KEY = "notify-user"
"""The ``sessionStorage`` key that remembers who logged in, across a reload."""

STYLE = """
body { font: 15px system-ui, sans-serif; margin: 1em; max-width: 42em; }
h1 { font-size: 1.3em; margin: 0 0 .4em; }
#badge { display: inline-block; min-width: 1.4em; padding: 0 .4em; border-radius: 1em;
         background: #c44e52; color: white; text-align: center; }
#badge[data-unread="0"] { background: #999; }
#state { font-size: 85%; }
#state[data-state="connected"] { color: #2a7a3a; }
#state[data-state="reconnecting"] { color: #b06000; }
#transports { color: #666; font-size: 85%; }
#list li.unread { font-weight: bold; }
#error { color: #c44e52; }
"""

SCRIPT = """
"use strict";
const $ = id => document.getElementById(id);
const RETRY_MIN = 250, RETRY_MAX = 4000;
const channels = new Map();  // name -> {name, read, newest, wanted, lastEventId, source, socket}
const shown = new Map();     // "channel:id" -> the <li> of that notification
let user = null;

const say = text => { $("error").textContent = text; };
const remember = name => {  // a page framed by another site may have no storage: no matter
  try {
    if (name) sessionStorage.setItem(STORAGE_KEY, name);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch (error) { /* then a reload asks for the name again */ }
};
const NO_SOCKET = "the WebSocket closed before the service greeted it (the service is " +
  "down, or its Origin check refused this page: lesson 12); trying again";
const EXPIRED = "your session has expired: log in again";
const NO_COOKIE = "logged in, but the session cookie did not come back: a page framed by " +
  "another site gets no SameSite=Strict cookie (lesson 12); open the page on its own";
const address = (path, socket) => {  // relative: right behind nginx or Jupyter's proxy too
  const url = new URL(path, location.href);
  if (socket) url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
};

function unreadOf(channel) { return Math.max(0, channel.newest - channel.read); }

let drops = 0;  // how often the page went from connected to reconnecting

function render() {
  let unread = 0, open = true;
  const lines = [];
  for (const channel of channels.values()) {
    unread += unreadOf(channel);
    const sse = channel.source !== null && channel.source.readyState === EventSource.OPEN;
    const ws = channel.socket !== null && channel.socket.readyState === WebSocket.OPEN;
    open = open && sse && ws;
    lines.push(`${channel.name}: SSE ${sse ? "open" : "reconnecting"}, ` +
               `WebSocket ${ws ? "open" : "reconnecting"}`);
  }
  $("badge").textContent = unread;
  $("badge").dataset.unread = unread;
  document.title = unread ? `(${unread}) Notifications` : "Notifications";
  for (const li of shown.values()) {
    const channel = channels.get(li.dataset.channel);
    li.classList.toggle("unread", channel !== undefined && Number(li.dataset.id) > channel.read);
  }
  const state = user === null ? "logged-out" : open ? "connected" : "reconnecting";
  if ($("state").dataset.state === "connected" && state === "reconnecting") drops += 1;
  $("state").dataset.state = state;
  $("state").dataset.drops = drops;
  $("state").textContent = state.replace("-", " ");
  $("transports").textContent = lines.join(" · ");
}

function arrived(channel, post) {  // a post, from the SSE stream or from the WebSocket
  channel.newest = Math.max(channel.newest, post.id);
  const key = `${channel.name}:${post.id}`;
  if (!shown.has(key)) {  // both transports bring each post: it is listed once
    const li = document.createElement("li");
    li.dataset.channel = channel.name;
    li.dataset.id = post.id;
    li.textContent = `${channel.name === "broadcast" ? "everyone" : "you"} #${post.id}: ` +
                     post.text;
    $("list").prepend(li);
    shown.set(key, li);
  }
  render();
}

function listen(channel) {  // lesson 04: the browser reconnects with Last-Event-ID by itself
  const path = `channels/${channel.name}/events?lastEventId=${channel.lastEventId}`;
  const source = channel.source = new EventSource(address(path));
  source.onopen = render;
  source.onmessage = event => {
    channel.lastEventId = Number(event.lastEventId);
    arrived(channel, JSON.parse(event.data));
  };
  source.addEventListener("gap", event => say(`${channel.name}: the server no longer holds ` +
                                              `some notifications (${event.data})`));
  source.addEventListener("reset", event => say(`${channel.name}: ${event.data}`));
  source.onerror = () => {
    render();
    if (source.readyState === EventSource.CLOSED && channel.source === source) {
      setTimeout(() => reopen(channel, source), 1000);  // it gave up (an HTTP error): we retry
    }
  };
}

async function reopen(channel, source) {
  if (channels.get(channel.name) !== channel || channel.source !== source) return;
  try {
    const answer = await fetch(address(`channels/${channel.name}/read`));
    if (answer.status === 401) return loggedOut(EXPIRED);
  } catch (error) { /* still unreachable: the new EventSource retries by itself */ }
  listen(channel);
}

function connect(channel) {  // lesson 07: a browser never reconnects a WebSocket; we do
  const path = `channels/${channel.name}/ws?since=${channel.newest}`;
  const socket = channel.socket = new WebSocket(address(path, true));
  let greeted = false;  // a proxy may accept a socket that the service then refuses
  socket.onopen = () => { sendMark(channel); render(); };
  socket.onmessage = event => {
    const message = JSON.parse(event.data);
    if ("error" in message) return say(`${channel.name}: ${message.error}`);
    if ("unread" in message) {  // the greeting, or the answer to a read mark
      if (!greeted && $("error").textContent.endsWith(NO_SOCKET)) say("");
      if (!greeted) channel.retry = RETRY_MIN;
      greeted = true;
      channel.read = message.read;
      channel.newest = Math.max(channel.newest, message.read + message.unread);
      return render();
    }
    arrived(channel, message);
  };
  socket.onclose = () => {
    if (channel.socket !== socket) return;  // closed on purpose
    if (!greeted) say(`${channel.name}: ${NO_SOCKET}`);  // a script never sees the status
    render();
    setTimeout(() => { if (channel.socket === socket) connect(channel); }, channel.retry);
    channel.retry = Math.min(RETRY_MAX, channel.retry * 2);
  };
}

function sendMark(channel) {
  if (channel.wanted > channel.read && channel.socket?.readyState === WebSocket.OPEN) {
    channel.socket.send(JSON.stringify({read: channel.wanted}));
  }
}

function stop() {
  for (const channel of channels.values()) {
    const {source, socket} = channel;
    channel.source = channel.socket = null;
    source?.close();
    socket?.close(1000, "logged out");
  }
  channels.clear();
  shown.clear();
  $("list").replaceChildren();
}

function loggedOut(reason) {
  stop();
  user = null;
  remember(null);
  $("login").hidden = false;
  $("inbox").hidden = true;
  say(reason);
  render();
}

async function start(name, fresh = false) {
  stop();
  user = name;
  $("who").textContent = name;
  $("login").hidden = true;
  $("inbox").hidden = false;
  try {
    for (const channelName of [name, "broadcast"]) {
      const answer = await fetch(address(`channels/${channelName}/read`));
      if (answer.status === 401) return loggedOut(fresh ? NO_COOKIE : EXPIRED);
      if (!answer.ok) throw new Error(`HTTP ${answer.status}: ${await answer.text()}`);
      const {read, unread} = await answer.json();
      channels.set(channelName, {name: channelName, read, newest: read + unread, wanted: 0,
                                 lastEventId: 0, source: null, socket: null, retry: RETRY_MIN});
    }
  } catch (error) {
    say(`cannot reach the service (${error.message}): trying again`);
    render();
    return setTimeout(() => { if (user === name) start(name); }, 1000);
  }
  for (const channel of channels.values()) { listen(channel); connect(channel); }
  render();
}

$("mark-read").onclick = () => {
  for (const channel of channels.values()) {
    channel.wanted = channel.newest;
    sendMark(channel);
  }
};

$("login").onsubmit = async event => {
  event.preventDefault();
  const answer = await fetch(address("login"), {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({user: $("user").value.trim()}),
  });
  const body = await answer.json();
  if (!answer.ok) return say(body.error);
  say("");
  remember(body.user);
  start(body.user, true);
};

let remembered = null;
try { remembered = sessionStorage.getItem(STORAGE_KEY); } catch (error) { /* none */ }
if (remembered) { $("user").value = remembered; start(remembered); } else render();
"""

BODY = """<h1>Notifications <span id="badge" data-unread="0" title="unread">0</span></h1>
<p><span id="state" data-state="logged-out">logged out</span></p>
<form id="login">
  <label>Your name <input id="user" name="user" autocomplete="username" required
         placeholder="alice"></label>
  <button>Log in</button>
</form>
<section id="inbox" hidden>
  <p>Logged in as <b id="who"></b> <button id="mark-read">Mark all read</button></p>
  <p id="transports"></p>
  <ol id="list" reversed></ol>
</section>
<p id="error" role="alert"></p>"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page_html(script: str | None = None) -> str:
    """The page: ``BODY`` with ``STYLE`` and ``script`` (default: ``SCRIPT``) inline."""
    script = (SCRIPT if script is None else script).replace("STORAGE_KEY", repr(STORAGE_KEY))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f"<title>Notifications</title>\n<style>{STYLE}</style></head>\n<body>\n{BODY}\n"
        f"<script>{script}</script>\n</body></html>\n"
    )


def policy(page: str) -> str:
    """A Content-Security-Policy for ``page``: its inline ``<script>`` and ``<style>`` by hash,
    connections (``fetch``, ``EventSource``, WebSocket) to its own origin, nothing else."""
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    return (
        f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'"
    )


def page_response(page: str | None = None) -> web.Response:
    """``page`` (default: ``page_html()``) with its policy, never cached stale."""
    page = page_html() if page is None else page
    headers = {
        "Content-Security-Policy": policy(page),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers=headers)


async def serve_page(request: web.Request) -> web.Response:
    """``GET /``: the page."""
    return page_response()

"""The feed's ``/ws`` in the learner's browser: posts down, a message up, on one socket
(lesson 07).

``feed_socket_html(url)`` is an HTML snippet whose script opens ``new WebSocket(url)`` on the
feed's ``/ws`` (``url`` as given, or a ``lab.reach.BrowserURL``: ``show_feed_socket`` routes
the learner's browser), sends ``{"text": "hello from your browser"}`` up as soon as it opens,
and lists every post that comes down, its own among them. The element's ``data-posts`` holds
the texts received, as JSON, for a headless browser to read, and ``data-address`` (also its
tooltip) the address it opened. A re-run closes the previous
run's socket; removing the output closes it too. The box is ``lab.live_output``'s.
"""

from __future__ import annotations

import json

from lab.live_output import live_box
from lab.reach import BrowserURL, browser_url, js_address

HELLO = "hello from your browser"

SCRIPT = """  const list = element.querySelector(".posts"), texts = [];
  const say = text => {{
    const line = document.createElement("div");
    line.textContent = text;
    list.appendChild(line);
  }};
  const url = {url};
  element.dataset.address = element.title = url;
  const ws = replacing({key}, () => new WebSocket(url));
  whenRemoved(() => ws.close(1000, "output removed"));
  ws.onopen = () => {{
    state.textContent = "open";
    ws.send(JSON.stringify({{text: {hello}}}));
    say(`sent up: ${{{hello}}}`);
  }};
  ws.onmessage = event => {{
    const post = JSON.parse(event.data);
    if (post.error) return say(`error: ${{post.error}}`);
    texts.push(post.text);
    element.dataset.posts = JSON.stringify(texts);
    say(`down: #${{post.id}} ${{post.text}}`);
  }};
  ws.onerror = () => say("error: no connection (is the server's cell running? a page on " +
    "another site than loopback or this proxy is refused by the feed's Origin check)");
  ws.onclose = event => {{ state.textContent = `closed, code ${{event.code}}`; }};"""


def feed_socket_html(url: str | BrowserURL, *, title: str = "") -> str:
    """HTML whose script talks both ways with the feed's ``/ws`` at ``url``."""
    script = SCRIPT.format(
        url=js_address(url),
        key=json.dumps(str(url)),
        hello=json.dumps(HELLO),
    )
    return live_box("course-feed-socket", script, title=title or str(url), colour="#4C72B0",
                    body="posts")  # fmt: skip


def show_feed_socket(url: str, *, title: str = ""):
    """Display the two-way socket on the feed's ``/ws`` at ``url`` (its loopback ``ws://``
    address) in this cell's output, reached the way the learner's browser can (``lab.reach``)."""
    from IPython.display import HTML

    return HTML(feed_socket_html(browser_url(url), title=title))

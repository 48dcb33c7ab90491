"""A browser's ``WebSocket`` talking to an echo server, in a notebook cell's output (lesson 06).

``echo_html(url)`` is an HTML snippet whose script opens ``new WebSocket(url)`` (``url`` as
given, or a ``lab.reach.BrowserURL``: ``show_echo`` routes the learner's browser), sends a text
message, a binary one and a text of 70 000 characters (more than 64 KiB, so the 64-bit length
form), writes what came back into the page, then closes the socket itself with code 1000: a
re-run leaves nothing open. When it is done, the element's ``data-result`` holds the log as
JSON, for a headless browser to read. The box around it is ``lab.live_output``'s.
"""

from __future__ import annotations

from lab.live_output import live_box
from lab.reach import BrowserURL, browser_url, js_address

SCRIPT = """  const log = element.querySelector(".log");
  const lines = [];
  const say = text => {{
    lines.push(text);
    const line = document.createElement("div");
    line.textContent = text;
    log.appendChild(line);
  }};
  const describe = data => typeof data === "string"
    ? (data.length > 40 ? `text of ${{data.length}} characters` : `text ${{JSON.stringify(data)}}`)
    : `binary [${{Array.from(new Uint8Array(data))}}]`;
  const messages = [
    "hello from your browser",
    new Uint8Array([0, 1, 2, 253, 254, 255]).buffer,
    "x".repeat(70000),
  ];
  const ws = new WebSocket({url});
  ws.binaryType = "arraybuffer";
  let sent = 0;
  const sendNext = () => {{
    const message = messages[sent++];
    say(`sent ${{describe(message)}}`);
    ws.send(message);
  }};
  ws.onopen = () => {{ state.textContent = "open"; sendNext(); }};
  ws.onmessage = event => {{
    say(`echoed ${{describe(event.data)}}`);
    if (sent < messages.length) sendNext(); else ws.close(1000, "done");
  }};
  ws.onerror = () => say("error: could not talk to the server (is its cell running?)");
  ws.onclose = event => {{
    state.textContent = `closed, code ${{event.code}}` + (event.wasClean ? " (clean)" : "");
    element.dataset.result = JSON.stringify(lines.concat([state.textContent]));
  }};"""


def echo_html(url: str | BrowserURL, *, title: str = "") -> str:
    """HTML whose script exchanges three messages with the echo server at ``url``."""
    script = SCRIPT.format(url=js_address(url))
    return live_box(
        "course-websocket", script, title=title or str(url), colour="#C44E52", body="log"
    )


def show_echo(url: str, *, title: str = ""):
    """Display the exchange with the echo server at ``url`` (its loopback ``ws://`` address) in
    this cell's output, reached the way the learner's browser can (``lab.reach``)."""
    from IPython.display import HTML

    return HTML(echo_html(browser_url(url), title=title))

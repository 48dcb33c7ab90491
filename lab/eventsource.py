"""A live ``EventSource`` in a notebook cell's output, tidy or leaky (lesson 03).

``eventsource_html(url)`` is an HTML snippet whose script opens an ``EventSource`` and writes
each event into the output: ``url`` as given (a headless Chromium on the kernel's machine), or
a ``lab.reach.BrowserURL``, the route from the learner's browser, which ``show_stream`` uses.
The tidy version (the default) does what a React component's cleanup does in the seed's
example: before opening its stream it closes the one the previous run of the same cell opened,
and it closes its own when its output is removed from the page. The leaky version just opens
another stream every time the cell runs, and a browser allows only six connections per origin
over HTTP/1.1. The address opened is the box's ``data-address`` (and its tooltip). The box
around it is ``lab.live_output``'s.
"""

from __future__ import annotations

import json

from lab.live_output import live_box
from lab.reach import BrowserURL, browser_url, js_address

SCRIPT = """  const url = {url}, key = {key}, tidy = {tidy};
  const list = element.querySelector(".events");
  element.dataset.address = element.title = url;
  const source = tidy ? replacing(key, () => new EventSource(url)) : new EventSource(url);
  if (tidy) whenRemoved(() => source.close());
  source.onopen = () => {{ state.textContent = "open"; }};
  source.onerror = () => {{
    state.textContent = source.readyState === 2 ? "closed" : "reconnecting…";
  }};
  source.onmessage = event => {{
    const line = document.createElement("div");
    line.textContent = `#${{event.lastEventId}} ${{event.data}}`;
    list.prepend(line);
    while (list.children.length > {keep}) list.lastChild.remove();
  }};"""


def eventsource_html(
    url: str | BrowserURL, *, tidy: bool = True, title: str = "", keep: int = 5
) -> str:
    """HTML that shows the last ``keep`` events of the stream at ``url``."""
    opened = js_address(url)
    script = SCRIPT.format(
        url=opened, key=json.dumps(str(url)), tidy="true" if tidy else "false", keep=keep
    )
    return live_box(
        "course-eventsource", script, title=title or str(url), colour="#55A868", body="events"
    )


def show_stream(url: str, *, tidy: bool = True, title: str = ""):
    """Display the live stream at ``url`` (an in-kernel server's loopback address) in this
    cell's output, reached the way the learner's browser can (``lab.reach``)."""
    from IPython.display import HTML

    return HTML(eventsource_html(browser_url(url), tidy=tidy, title=title))

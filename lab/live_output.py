"""A live box in a notebook cell's output: a titled element with a state line, and the script
that drives it (lesson 03, for ``lab.eventsource``; lesson 06's ``lab.websocket_page`` uses it
too).

``live_box(kind, script, ...)`` is the HTML of one such box: a ``<div class=kind>`` with a unique
id, its title, a ``<span class="state">connecting…</span>`` and an empty ``<div class=body>``,
then ``script`` run once inside a function where ``element`` and ``state`` are the box and its
state line, ``replacing(key, open)`` closes what the previous run under ``key`` opened before it
calls ``open()`` (a re-run of the cell) and ``whenRemoved(then)`` calls ``then`` once the box
leaves the page (its output cleared). A headless browser finds the box by ``kind``
(``tests/lab/test_frames.py``).
"""

from __future__ import annotations

import html
import itertools
import json

_counter = itertools.count(1)

BOX = """<div class="{kind}" id="{element}"
     style="font-family: monospace; border-left: 3px solid {colour}; padding: 4px 8px">
  <b>{title}</b> <span class="state">connecting…</span>
  <div class="{body}"></div>
</div>
<script>
(() => {{
  const element = document.getElementById({element_json});
  const state = element.querySelector(".state");
  const replacing = (key, open) => {{
    window.courseLive = window.courseLive || {{}};
    if (window.courseLive[key]) window.courseLive[key].close();
    return (window.courseLive[key] = open());
  }};
  const whenRemoved = then => {{
    const watcher = new MutationObserver(() => {{
      if (!document.body.contains(element)) {{ watcher.disconnect(); then(); }}
    }});
    watcher.observe(document.body, {{childList: true, subtree: true}});
  }};
{script}
}})();
</script>"""


def live_box(kind: str, script: str, *, title: str, colour: str, body: str) -> str:
    """The HTML of a box of class ``kind`` titled ``title`` (escaped), with a left border of
    ``colour`` and an empty ``<div class=body>``, driven by ``script`` (JavaScript)."""
    element = f"{kind}-{next(_counter)}"
    return BOX.format(
        kind=kind,
        element=element,
        element_json=json.dumps(element),
        colour=colour,
        title=html.escape(title),
        body=body,
        script=script,
    )

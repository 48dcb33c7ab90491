"""lab.reach: the learner's browser goes direct on a local JupyterLab and through
jupyter-server-proxy everywhere else, and the page turns the proxied path into an address."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from support import chromium_page, needs

from lab import reach
from lab.reach import Decision, browser_url, decide
from servers import serve

LOCAL_LAB = {"hostname": "127.0.0.1", "port": 8888, "sock": "", "base_url": "/"}
PROXY = Decision("proxy", "test")
DIRECT = Decision("direct", "test")


@pytest.mark.parametrize(
    ("environ", "server", "mode"),
    [
        ({}, LOCAL_LAB, "direct"),
        ({}, {**LOCAL_LAB, "hostname": "localhost"}, "direct"),
        ({}, {}, "direct"),
        ({}, {**LOCAL_LAB, "hostname": "0.0.0.0"}, "proxy"),
        ({}, {**LOCAL_LAB, "hostname": "10.1.2.3"}, "proxy"),
        ({}, {**LOCAL_LAB, "sock": "/tmp/jupyter.sock"}, "proxy"),
        ({"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}, LOCAL_LAB, "proxy"),
        ({"BINDER_REQUEST": "v2/gh/x/y/main"}, LOCAL_LAB, "proxy"),
        ({"COURSE_BROWSER": "proxy"}, LOCAL_LAB, "proxy"),
        ({"COURSE_BROWSER": "direct", "JUPYTERHUB_API_URL": "http://hub/api"}, {}, "direct"),
    ],
    ids=[
        "make lab on loopback goes direct",
        "localhost is loopback too",
        "no Jupyter server (nbval, a script) goes direct",
        "a server on every address goes through the proxy",
        "a server on another address goes through the proxy",
        "a server on a Unix socket goes through the proxy",
        "a JupyterHub goes through the proxy",
        "Binder goes through the proxy",
        "COURSE_BROWSER=proxy forces the proxy",
        "COURSE_BROWSER=direct wins even on a hub",
    ],
)
def test_the_route_is_decided_from_the_setting_the_hub_and_the_jupyter_server(
    environ, server, mode
):
    decision = decide(environ, server)
    assert decision.mode == mode and decision.reason


def test_a_wrong_setting_is_refused_naming_the_values_it_takes():
    with pytest.raises(ValueError, match="COURSE_BROWSER='tunnel': it takes direct or proxy"):
        decide({"COURSE_BROWSER": "tunnel"}, {})


def test_the_kernel_finds_the_jupyter_server_that_started_it(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    assert reach.parent_server() == {}
    (tmp_path / f"jpserver-{reach.os.getppid()}.json").write_text(json.dumps(LOCAL_LAB))
    assert reach.parent_server() == LOCAL_LAB


def test_a_direct_url_is_the_loopback_address_itself():
    url = browser_url("http://127.0.0.1:8123/events?stream=1", decision=DIRECT)
    assert json.loads(url.js) == str(url) == "http://127.0.0.1:8123/events?stream=1"


def test_a_proxied_url_is_the_port_and_path_under_jupyters_base_url():
    url = browser_url("ws://127.0.0.1:8123/ws?since=4", decision=PROXY)
    assert (url.path, url.websocket, str(url)) == (
        "proxy/8123/ws?since=4", True, "<Jupyter>/proxy/8123/ws?since=4"
    )
    assert url.loopback not in url.js


@pytest.mark.parametrize("url", ["http://example.org:80/", "https://127.0.0.1:8443/", "/events"])
def test_only_an_in_kernel_servers_loopback_address_is_routed(url):
    with pytest.raises(ValueError, match="loopback address"):
        browser_url(url, decision=PROXY)


CONFIGURED = """<script id="jupyter-config-data" type="application/json">
{"baseUrl": "/user/ada/", "appName": "JupyterLab"}</script>"""


async def resolved_in(page_url: str, *loopbacks: str) -> list[str]:
    async with chromium_page(page_url) as page:
        return [await page.evaluate(browser_url(u, decision=PROXY).js) for u in loopbacks]


def test_the_page_resolves_a_proxied_url_against_its_own_origin_and_jupyters_base_url():
    needs("chromium")

    async def lab_page(request):
        body = CONFIGURED if request.path.startswith("/user/ada/") else "no config here"
        return web.Response(text=f"<html><body>{body}</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", lab_page)
    with serve(app) as page_server:
        origin = page_server.url
        configured = asyncio.run(resolved_in(
            origin + "/user/ada/lab/tree/notebooks/03.ipynb",
            "http://127.0.0.1:9001/time", "ws://127.0.0.1:9002/ws?since=3",
        ))
        from_path = asyncio.run(resolved_in(
            origin + "/user/bob/lab/tree/x.ipynb", "http://127.0.0.1:9001/time"
        ))
    ws_origin = origin.replace("http://", "ws://")
    assert configured == [
        f"{origin}/user/ada/proxy/9001/time", f"{ws_origin}/user/ada/proxy/9002/ws?since=3"
    ]
    assert from_path == [f"{origin}/user/bob/proxy/9001/time"]


async def resolved_over_https(page_url: str, loopback: str) -> str:
    from lab.browser import open_browser

    async with open_browser(extra_args=["--ignore-certificate-errors"]) as browser:
        page = await browser.new_page()
        await page.goto(page_url)
        return await page.evaluate(browser_url(loopback, decision=PROXY).js)


def test_on_an_https_page_a_proxied_websocket_uses_wss():
    needs("chromium")
    from servers.http2 import serve_tls

    with serve_tls(http2=False) as origin:
        resolved = asyncio.run(resolved_over_https(origin.url + "/", "ws://127.0.0.1:9002/ws"))
    assert resolved == origin.url.replace("https://", "wss://") + "/proxy/9002/ws"

"""lab.front: nginx in front of lesson 09's backends, or the labelled fallback, or a CI failure."""

from __future__ import annotations

import pytest
from support import needs

from lab.front import PROXY, describe, front
from servers.balancer import Balancer
from servers.nginx import Nginx
from servers.system import MissingPart


@pytest.fixture
def no_nginx(monkeypatch):
    """nginx made unfindable, as on a machine without it."""
    monkeypatch.setattr("servers.system.find_tool", lambda name: None)
    monkeypatch.delenv("COURSE_FALLBACK", raising=False)


def test_without_nginx_front_falls_back_to_the_python_balancer_and_says_why(no_nginx, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    location = PROXY.replace("proxy_read_timeout 1h;", "proxy_read_timeout 1m30s;")
    balancer = front(["127.0.0.1:9"], location=location, name="test-front")
    try:
        assert isinstance(balancer, Balancer)
        assert "fallback" in balancer.kind and "not installed" in balancer.kind
        assert balancer.idle_timeout == 90 and not balancer.sticky
    finally:
        balancer.stop()


def test_a_hashing_balance_line_makes_the_fallback_sticky(no_nginx, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with front(["127.0.0.1:9"], balance="ip_hash;") as balancer:
        assert balancer.sticky and balancer.idle_timeout == 3600


def test_in_ci_front_refuses_to_fall_back_when_nginx_is_missing(no_nginx, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(MissingPart, match="CI must run on the real thing"):
        front(["127.0.0.1:9"], name="test-front-ci")


def test_a_forced_fallback_runs_the_python_balancer_even_in_ci_where_nginx_is_installed(
    monkeypatch,
):
    needs("nginx")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("COURSE_FALLBACK", "nginx")
    with front(["127.0.0.1:9"], name="test-front-forced") as balancer:
        assert isinstance(balancer, Balancer)
        assert "COURSE_FALLBACK=nginx" in balancer.kind


def test_with_nginx_front_is_nginx_with_the_lessons_block(monkeypatch):
    needs("nginx")
    monkeypatch.delenv("COURSE_FALLBACK", raising=False)
    with front(["127.0.0.1:9"], name="test-front-nginx") as proxy:
        assert isinstance(proxy, Nginx) and proxy.kind == "nginx"
        assert proxy.location == PROXY


def test_describe_follows_the_balancer_that_ran(no_nginx, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with front(["127.0.0.1:9"], name="test-front-describe") as fallback:
        for topic in ("balancer", "headers", "buffering"):
            said = describe(fallback, topic)
            assert "fallback" in said and "nginx" in said  # says nginx did not run
        assert "not in use" in describe(fallback, "balancer")


def test_describe_under_nginx_says_nginx_ran_and_never_fallback(monkeypatch):
    needs("nginx")
    monkeypatch.delenv("COURSE_FALLBACK", raising=False)
    with front(["127.0.0.1:9"], name="test-front-describe-nginx") as proxy:
        for topic in ("balancer", "buffering"):
            assert "nginx" in describe(proxy, topic) and "fallback" not in describe(proxy, topic)

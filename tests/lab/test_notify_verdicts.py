"""The notification page's verdicts (lesson 14), without a browser: each wrong page state is
named, a right one passes."""

from __future__ import annotations

from lab.notify_verdicts import Step, live, marked, one_more, reloaded

FIVE = [("alice", 1), ("alice", 2), ("alice", 3), ("broadcast", 1), ("broadcast", 2)]


def shown(badge, listed=FIVE, missing=(), server=None) -> Step:
    return Step("a step", 0, badge, list(listed), server=server or {}, missing=list(missing))


def test_a_right_page_passes_every_verdict():
    assert live(shown(5), 5) is None
    assert marked(shown(0, server={"alice": 0, "broadcast": 0}), 5) is None
    assert reloaded(shown(0), 5) is None
    assert one_more(shown(1, FIVE + [("alice", 4)]), 5) is None


def test_a_badge_above_the_posts_listed_is_named_as_counting_twice():
    assert "it counts a notification more than once" in live(shown(10), 5)
    assert live(shown(4), 5) == "the badge shows 4 with 5 unread notifications listed"


def test_a_post_listed_twice_or_missing_is_named():
    assert "[('alice', 1)] more than once" in live(shown(5, FIVE + [("alice", 1)]), 5)
    says = live(shown(4, FIVE[1:], missing=FIVE[:1]), 5)
    assert says == "the page received 4 of the 5 notifications posted (missing: [('alice', 1)])"


def test_a_badge_cleared_only_in_the_page_is_named_by_the_servers_count():
    says = marked(shown(0, server={"alice": 3, "broadcast": 2}), 5)
    assert "the server still counts 5 unread" in says and "never reached it" in says
    assert "but the badge shows 2" in marked(shown(2, server={"alice": 0, "broadcast": 0}), 5)


def test_after_a_reload_a_badge_back_or_a_list_not_replayed_is_named():
    assert "after a reload the badge shows 5, not 0" in reloaded(shown(5), 5)
    says = reloaded(shown(0, [], missing=FIVE), 5)
    assert says.startswith("after a reload the list shows 0 of 5 notifications")
    assert "the badge shows 2, not 1" in one_more(shown(2), 5)

import pytest

from servers.timing import scaled, timeout_factor


def test_waits_are_unscaled_by_default(monkeypatch):
    monkeypatch.delenv("COURSE_TIMEOUT_FACTOR", raising=False)
    assert scaled(2) == 2


def test_the_factor_from_the_environment_stretches_every_wait(monkeypatch):
    monkeypatch.setenv("COURSE_TIMEOUT_FACTOR", "3")
    assert scaled(2) == 6


@pytest.mark.parametrize("value", ["slow", "0", "-1"])
def test_a_bad_factor_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("COURSE_TIMEOUT_FACTOR", value)
    with pytest.raises(ValueError, match="COURSE_TIMEOUT_FACTOR"):
        timeout_factor()


def test_wait_until_returns_once_the_condition_holds_and_times_out_clearly():
    from servers.timing import wait_until

    calls = iter([False, False, True])
    wait_until(lambda: next(calls))
    with pytest.raises(TimeoutError, match="gave up waiting for the moon"):
        wait_until(lambda: False, timeout=0.05, what="the moon")

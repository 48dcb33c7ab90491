import pytest
from support import needs

from servers import system


@pytest.mark.parametrize("tool", ["chromium", "nginx", "redis-server"])
def test_the_system_parts_the_lessons_drive_are_installed(tool):
    assert needs(tool)


@pytest.mark.parametrize("value", [None, "", "0", "false", "False", "no", " "])
def test_ci_is_off_when_the_variable_is_unset_empty_or_false(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not system.in_ci()


@pytest.mark.parametrize("value", ["true", "1", "yes", "TRUE"])
def test_ci_is_on_for_any_other_value(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert system.in_ci()


@pytest.fixture
def nothing_installed(monkeypatch):
    monkeypatch.setattr(system, "find_chromium", lambda: None)
    monkeypatch.setattr(system.shutil, "which", lambda name: None)
    monkeypatch.setattr(system, "_sbin", lambda name: None)
    monkeypatch.delenv("COURSE_FALLBACK", raising=False)


def test_a_missing_part_is_the_fallback_with_its_install_hint_outside_ci(
    nothing_installed, monkeypatch
):
    monkeypatch.delenv("CI", raising=False)
    part = system.real_part("nginx")
    assert not part.real and not part.forced
    assert part.note == "nginx: not installed (apt-get install nginx)"


@pytest.mark.parametrize("tool", ["chromium", "nginx", "redis-server"])
def test_a_missing_part_in_ci_is_an_error_naming_the_switch(nothing_installed, monkeypatch, tool):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(system.MissingPart, match=f"COURSE_FALLBACK={system.SWITCH_NAMES[tool]}"):
        system.real_part(tool)


@pytest.mark.parametrize(
    ("switch", "forced"),
    [("nginx", {"nginx"}), ("redis", {"redis-server"}), ("nginx, chromium", {"nginx", "chromium"}),
     ("all", {"nginx", "redis-server", "chromium"}), ("", set())],
)  # fmt: skip
def test_course_fallback_forces_the_parts_it_names_even_in_ci(monkeypatch, switch, forced):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("COURSE_FALLBACK", switch)
    monkeypatch.setattr(system, "find_chromium", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(system.shutil, "which", lambda name: f"/usr/bin/{name}")
    for tool in ["nginx", "redis-server", "chromium"]:
        part = system.real_part(tool)
        assert part.forced == (tool in forced) and part.real == (tool not in forced)
        assert (system.find_tool(tool) is None) == (tool in forced)
        if part.forced:
            assert part.note == f"{tool}: fallback forced by COURSE_FALLBACK={switch}"


def test_nginx_in_sbin_is_found_off_the_path_but_the_switch_hides_it(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_FALLBACK", raising=False)
    monkeypatch.setattr(system.shutil, "which", lambda name: None)
    monkeypatch.setattr(system, "_sbin", lambda name: f"/usr/sbin/{name}")
    assert system.find_tool("nginx") == "/usr/sbin/nginx"
    monkeypatch.setenv("COURSE_FALLBACK", "nginx")
    assert system.find_tool("nginx") is None


def test_a_misspelt_switch_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_FALLBACK", "ngnix")
    with pytest.raises(ValueError, match="COURSE_FALLBACK names ngnix"):
        system.real_part("nginx")

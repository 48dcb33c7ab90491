"""tools/navigation.py writes the navigation from lessons.toml; tools/links.py finds dead links."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import links
import make_exercises
import mistune
import navigation
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]

LIST = """
[[lesson]]
number = 0
slug = "welcome"
title = "welcome"
part = "Orientation"
question = "how do I start?"
measures = "a server in the kernel"
exercise = "a first client"

[[lesson]]
number = 1
slug = "alpha"
title = "alpha"
part = "Polling"
question = "what does alpha cost?"
measures = "alpha's delay"

[[lesson]]
number = 2
slug = "later"
title = "later"
part = "Polling"
question = "what comes later?"
status = "in preparation"
"""


def write_notebook(path: Path, *cells) -> None:
    path.parent.mkdir(exist_ok=True)
    nbformat.write(new_notebook(cells=list(cells)), path)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course of two written lessons (one with an exercise) and one in preparation."""
    (tmp_path / "lessons.toml").write_text(LIST)
    (tmp_path / "README.md").write_text(
        f"# A course\n\n{navigation.TABLE[0]}\nold table\n{navigation.TABLE[1]}\n\n## Set up\n"
    )
    write_notebook(
        tmp_path / "notebooks/00-welcome.ipynb",
        new_markdown_cell("# 00 · Welcome"),
        new_markdown_cell(
            f"## The course map\n\nIntro.\n\n{navigation.MAP[0]}\n{navigation.MAP[1]}"
        ),
        new_markdown_cell("## Takeaways\n\n- one\n\n**Next**: lesson 01, alpha.\n\nA last word."),
        new_code_cell("server.stop()"),
    )
    write_notebook(
        tmp_path / "notebooks/01-alpha.ipynb",
        new_markdown_cell("# 01 · Alpha"),
        new_markdown_cell("## Takeaways\n\n- alpha is slow\n\n**Next**: lesson 02, later."),
    )
    write_notebook(
        tmp_path / "solutions/00-welcome.ipynb",
        new_markdown_cell("# Exercise 00"),
        new_code_cell("checks.check_00(client)"),
    )
    return tmp_path


def generated(course: Path) -> dict[str, str]:
    return {
        str(path.relative_to(course)): text for path, text in navigation.expected(course).items()
    }


def cells(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells]


def test_a_course_is_stale_until_written_and_then_a_second_run_changes_nothing(course):
    assert navigation.main(["--check", "--root", str(course)]) == 1
    assert "notebooks/01-alpha.ipynb: navigation out of date" in navigation.stale(course)
    assert navigation.main(["--root", str(course)]) == 0
    assert navigation.stale(course) == []
    assert navigation.main(["--check", "--root", str(course)]) == 0
    before = {p: p.read_text() for p in course.rglob("*") if p.is_file()}
    assert navigation.write(course) == []
    assert {p: p.read_text() for p in course.rglob("*") if p.is_file()} == before


def test_every_lesson_opens_and_ends_with_its_bar_and_hand_written_next_paragraphs_go(course):
    navigation.write(course)
    alpha = cells(course / "notebooks/01-alpha.ipynb")
    bar = (
        f"{navigation.NAV_MARK}\n[← 00 welcome](00-welcome.ipynb) · "
        "[contents](00-welcome.ipynb#The-course-map) · next: 02 later (in preparation)"
    )
    assert alpha == [bar, "# 01 · Alpha", "## Takeaways\n\n- alpha is slow", bar]
    welcome = cells(course / "notebooks/00-welcome.ipynb")
    assert (
        welcome[0]
        == welcome[-1]
        == (
            f"{navigation.NAV_MARK}\n[contents](#The-course-map) · "
            "[exercise 00](../exercises/00-welcome.ipynb) · [01 alpha →](01-alpha.ipynb)"
        )
    )
    assert welcome[3] == "## Takeaways\n\n- one\n\nA last word."
    assert cells(course / "solutions/00-welcome.ipynb")[0] == (
        f"{navigation.NAV_MARK}\n[← lesson 00 welcome](../notebooks/00-welcome.ipynb) · "
        "[contents](../notebooks/00-welcome.ipynb#The-course-map)"
    )


def test_the_readme_table_and_the_map_list_the_lessons_between_their_markers(course):
    navigation.write(course)
    readme = (course / "README.md").read_text()
    assert "old table" not in readme and readme.endswith("\n\n## Set up\n")
    assert "| [01 alpha](notebooks/01-alpha.ipynb) | alpha's delay | — |" in readme
    assert "| [00 welcome](notebooks/00-welcome.ipynb) | a server in the kernel | " in readme
    assert "Lesson 02 is in preparation: 02 later." in readme
    course_map = cells(course / "notebooks/00-welcome.ipynb")[2]
    assert course_map.startswith("## The course map\n\nIntro.\n\n" + navigation.MAP[0])
    assert "| 1 Polling | [01 alpha](01-alpha.ipynb) | what does alpha cost? | — |" in course_map
    assert "|  | 02 later (in preparation) | what comes later? | — |" in course_map
    assert "Lesson 01 has no exercise yet. Lesson 02 is in preparation." in course_map


def rendered_rows(markdown: str) -> list[str]:
    """The first link of each table row, as a GitHub-flavoured renderer draws the markdown."""
    html = mistune.create_markdown(plugins=["table"])(markdown)
    rows = re.findall(r"<tr>.*?</tr>", "".join(re.findall(r"<table>.*?</table>", html, re.S)), re.S)
    return [found[0] for row in rows if (found := re.findall(r'href="([^"]+)"', row))]


def test_the_readme_table_renders_one_row_per_written_lesson(course):
    navigation.write(course)
    rows = rendered_rows((course / "README.md").read_text())
    assert rows == ["notebooks/00-welcome.ipynb", "notebooks/01-alpha.ipynb"]
    cut = (
        "| lesson | measures |\n| --- | --- |\n| [00](n/00.ipynb) | a |\n\n| [01](n/01.ipynb) | b |"
    )
    assert rendered_rows(cut) == ["n/00.ipynb"]  # a blank line ends a table: 01 is loose text


def test_a_lesson_in_preparation_is_named_but_never_a_link(course):
    texts = generated(course)
    assert sorted(texts) == [
        "README.md",
        "notebooks/00-welcome.ipynb",
        "notebooks/01-alpha.ipynb",
        "solutions/00-welcome.ipynb",
    ]
    for name, text in texts.items():
        assert name.startswith("solutions/") or "02 later" in text, name
        assert not [target for target in links.links(text) if "later" in target], name


def test_editing_a_generated_part_by_hand_makes_the_check_fail(course):
    navigation.write(course)
    path = course / "notebooks/01-alpha.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[-1].source += " · [home](00-welcome.ipynb)"
    notebook.cells[1].source += "\n\n**Next**: lesson 02, written by hand again."
    nbformat.write(notebook, path)
    readme = course / "README.md"
    readme.write_text(readme.read_text().replace("alpha's delay", "alpha's delay, by hand"))
    assert navigation.stale(course) == [
        "README.md: navigation out of date",
        "notebooks/01-alpha.ipynb: navigation out of date",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: (c / "notebooks/02-later.ipynb").write_text("{}"), "exists: remove the lesson"),
        (lambda c: (c / "notebooks/01-alpha.ipynb").unlink(), "has no notebooks/01-alpha"),
        (lambda c: (c / "solutions/00-welcome.ipynb").unlink(), "has no solutions/00-welcome"),
        (lambda c: (c / "solutions/01-alpha.ipynb").write_text("{}"), "give the lesson an exer"),
        (lambda c: (c / "notebooks/07-stray.ipynb").write_text("{}"), "07-stray.ipynb is not in"),
    ],
)
def test_the_list_and_the_notebooks_on_disk_must_agree(course, change, message):
    change(course)
    with pytest.raises(navigation.ListError, match=message):
        navigation.expected(course)
    assert navigation.main(["--check", "--root", str(course)]) == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("number = 1", "number = 3"), "number 3, expected 1"),
        (lambda t: t.replace('slug = "alpha"', 'slug = "alpha"\ncolour = "red"'), "unknown keys"),
        (
            lambda t: t.replace("Orientation", "Polling").replace(
                'alpha"\npart = "Polling', 'alpha"\npart = "Other'
            ),
            "not together",
        ),
        (lambda t: t.replace('status = "in preparation"', 'status = "soon"'), "status is"),
        (lambda t: t.replace('measures = "alpha\'s delay"\n', ""), "says what it `measures`"),
        (lambda t: t.replace('question = "how do I start?"\n', ""), "question"),
    ],
)
def test_a_wrong_list_is_refused_saying_where(course, edit, message):
    path = course / "lessons.toml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(navigation.ListError, match=message):
        navigation.load(path)


def test_a_marker_region_missing_is_an_error_that_names_the_markers(course):
    (course / "README.md").write_text("# A course without a table\n")
    with pytest.raises(navigation.ListError, match="README: needs one line"):
        navigation.expected(course)


def test_lesson_numbers_read_as_runs():
    assert navigation.spans([5, 8, 11, 12, 13, 14]) == "05, 08 and 11–14"
    assert navigation.spans([11, 12]) == "11 and 12"
    assert navigation.spans([3]) == "03"


def test_links_in_code_comments_and_to_the_web_are_not_checked_but_the_rest_are():
    markdown = textwrap.dedent(
        """\
        [a](a.ipynb) and ![plot](img/p.png "title") and <a href="b.md#x">b</a>
        `[not](code.ipynb)` and [web](https://example.org/x) <!-- [hidden](h.ipynb) -->

        ```python
        print("[fenced](f.ipynb)")
        ```

        [ref]: c.ipynb
        """
    )
    assert links.links(markdown) == [
        "a.ipynb",
        "img/p.png",
        "b.md#x",
        "https://example.org/x",
        "c.ipynb",
    ]


def test_a_dead_link_or_a_missing_heading_is_caught_and_a_live_one_is_not(course):
    navigation.write(course)
    make_exercises.write(course / "solutions", course / "exercises")
    assert links.dead_links(course) == []
    path = course / "notebooks/01-alpha.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[2].source += (
        "\n\nSee [lesson 02](02-later.ipynb), [the map](00-welcome.ipynb#The-map),"
        " [the intro](00-welcome.ipynb#The-course-map), [GitHub's](00-welcome.ipynb#the-course-map)"
        " and [up](../../x.md)."
    )
    nbformat.write(notebook, path)
    (course / "README.md").write_text("[set up](#set-up) [gone](notebooks/99-gone.ipynb)\n")
    assert links.dead_links(course) == [
        "README.md: #set-up: no heading #set-up in README.md",
        "README.md: notebooks/99-gone.ipynb: no such file",
        "notebooks/01-alpha.ipynb cell 2: 02-later.ipynb: no such file",
        "notebooks/01-alpha.ipynb cell 2: 00-welcome.ipynb#The-map: "
        "no heading #The-map in 00-welcome.ipynb",
        "notebooks/01-alpha.ipynb cell 2: ../../x.md: points outside the repository",
    ]


def test_no_link_in_the_course_points_at_a_missing_file():
    assert links.dead_links(ROOT) == []


def test_the_course_navigation_is_in_step_with_lessons_toml():
    assert navigation.stale(ROOT) == []


def test_the_readme_table_renders_a_row_for_every_written_lesson():
    written = [f"notebooks/{x.file}" for x in navigation.load(ROOT / "lessons.toml") if x.ready]
    rows = rendered_rows((ROOT / "README.md").read_text())
    assert [row for row in rows if row.startswith("notebooks/")] == written

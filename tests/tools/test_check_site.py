"""tools/check_site.py finds what is missing or broken in the built book."""

from __future__ import annotations

from pathlib import Path

import check_site
import navigation

LESSONS = [
    navigation.Lesson(0, "welcome", "welcome", "Orientation", "q?", "m", "a first client"),
    navigation.Lesson(1, "alpha", "alpha", "Polling", "q?", "m"),
    navigation.Lesson(2, "later", "later", "Polling", "q?", status="in preparation"),
]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def page(body: str) -> str:
    return f"<html><head><link href='../_static/x.css'></head><body>{body}</body></html>"


def sound_book(html: Path) -> Path:
    """A book as make_site writes it for LESSONS: contents, two lessons, one exercise."""
    for folder in ("notebooks", "exercises", "_static", "_images"):
        (html / folder).mkdir(parents=True)
    (html / "_static/x.css").write_text("")
    (html / "_images/plot.png").write_bytes(PNG)
    (html / "index.html").write_text(
        "<a href='notebooks/00-welcome.html'>00</a><a href='notebooks/01-alpha.html'>01</a>"
        "<a href='exercises/00-welcome.html'>exercise 00</a>"
    )
    (html / "notebooks/00-welcome.html").write_text(
        page(
            "<h2 id='the-course-map'>map</h2><a href='01-alpha.html#delay'>01</a>"
            "<a href='../exercises/00-welcome.html'>exercise</a><a href='http://127.0.0.1:9/x'>x</a>"
        )
    )
    (html / "notebooks/01-alpha.html").write_text(
        page("<section id='delay'><img src='../_images/plot.png'></section>")
    )
    (html / "exercises/00-welcome.html").write_text(
        page("<a href='../notebooks/00-welcome.html#the-course-map'>contents</a>")
    )
    return html


def test_a_sound_book_has_no_problems(tmp_path):
    assert check_site.problems(sound_book(tmp_path), LESSONS) == []


def test_a_written_lesson_without_a_page_is_named(tmp_path):
    html = sound_book(tmp_path)
    (html / "notebooks/01-alpha.html").unlink()
    found = check_site.problems(html, LESSONS)
    assert "notebooks/01-alpha.html: missing (lesson 01 alpha is written)" in found


def test_a_lesson_the_contents_do_not_link_is_named(tmp_path):
    html = sound_book(tmp_path)
    (html / "index.html").write_text("<a href='notebooks/00-welcome.html'>00</a>")
    found = check_site.problems(html, LESSONS)
    assert "index.html: the contents do not link to notebooks/01-alpha.html" in found
    assert "index.html: the contents do not link to exercises/00-welcome.html" in found


def problems_with(tmp_path: Path, name: str, body: str) -> list[str]:
    """The problems of the sound book once ``body`` is added to its page ``name``."""
    html = sound_book(tmp_path)
    (html / name).write_text((html / name).read_text().replace("</body>", body + "</body>"))
    return check_site.problems(html, LESSONS)


def test_an_error_output_or_stderr_on_a_page_is_named(tmp_path):
    found = problems_with(
        tmp_path,
        "notebooks/01-alpha.html",
        "<div class='output traceback ipythontb'>ZeroDivisionError</div>"
        "<div class='output stderr'>Task was destroyed</div>",
    )
    assert found == [
        "notebooks/01-alpha.html: shows an error (<div class='output traceback ipythontb'>)",
        "notebooks/01-alpha.html: shows an error (<div class='output stderr'>)",
    ]


def test_a_link_to_a_missing_page_or_anchor_is_named(tmp_path):
    found = problems_with(
        tmp_path,
        "notebooks/00-welcome.html",
        "<a href='02-later.html'>02</a><a href='01-alpha.html#nowhere'>01</a>"
        "<a href='#02-later.ipynb'>unresolved by myst</a>",
    )
    assert found == [
        "notebooks/00-welcome.html: link 02-later.html: no such file",
        "notebooks/00-welcome.html: link 01-alpha.html#nowhere: "
        "no element #nowhere in notebooks/01-alpha.html",
        "notebooks/00-welcome.html: link #02-later.ipynb: "
        "no element #02-later.ipynb in notebooks/00-welcome.html",
    ]


def test_a_missing_or_empty_image_is_named(tmp_path):
    found = problems_with(tmp_path, "notebooks/00-welcome.html", "<img src='../_images/gone.png'>")
    assert "notebooks/00-welcome.html: image ../_images/gone.png: no such file" in found
    (tmp_path / "_images/plot.png").write_bytes(b"")
    found = check_site.problems(tmp_path, LESSONS)
    assert "notebooks/01-alpha.html: image ../_images/plot.png: empty file" in found


def test_published_solutions_are_named_unless_asked_for(tmp_path):
    html = sound_book(tmp_path)
    (html / "solutions").mkdir()
    (html / "solutions/00-welcome.html").write_text(page(""))
    assert any("solutions/: published" in p for p in check_site.problems(html, LESSONS))
    assert check_site.problems(html, LESSONS, solutions=True) == []


def test_a_folder_with_no_book_says_how_to_build_one(tmp_path):
    assert check_site.problems(tmp_path, LESSONS) == [
        f"{tmp_path}: no index.html (run `make site`)"
    ]

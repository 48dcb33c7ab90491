"""tools/make_site.py lays out the book from lessons.toml; keep_executed fills its cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import make_site
import navigation
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
LESSONS = [
    navigation.Lesson(0, "welcome", "welcome", "Orientation", "q?", "m", "a first client"),
    navigation.Lesson(1, "alpha", "alpha", "Polling", "q?", "m"),
    navigation.Lesson(2, "later", "later", "Polling", "q?", status="in preparation"),
    navigation.Lesson(3, "beta", "beta", "Scaling", "q?", "m", "a relay"),
]


def test_the_contents_list_every_written_lesson_by_part_and_their_exercises():
    text = make_site.index_page(LESSONS, make_site.shown_lessons(LESSONS, []), solutions=False)
    assert ":caption: 0 Orientation\n:maxdepth: 1\n\nnotebooks/00-welcome\n```" in text
    assert ":caption: 1 Polling\n:maxdepth: 1\n\nnotebooks/01-alpha\n```" in text
    assert ":caption: 2 Scaling\n:maxdepth: 1\n\nnotebooks/03-beta\n```" in text
    assert (
        ":caption: Exercises\n:maxdepth: 1\n\nexercises/00-welcome\nexercises/03-beta\n```" in text
    )
    assert "solutions/" not in text


def test_a_lesson_in_preparation_is_named_but_never_linked():
    text = make_site.index_page(LESSONS, make_site.shown_lessons(LESSONS, []), solutions=False)
    assert "02-later" not in text
    assert "Lesson 02 is in preparation: 02 later." in text


def test_solutions_are_listed_only_when_asked_for():
    shown = make_site.shown_lessons(LESSONS, [])
    text = make_site.index_page(LESSONS, shown, solutions=True)
    assert (
        ":caption: Solutions\n:maxdepth: 1\n\nsolutions/00-welcome\nsolutions/03-beta\n```" in text
    )


def test_only_keeps_the_lessons_it_names():
    assert [lesson.number for lesson in make_site.shown_lessons(LESSONS, ["00", "3"])] == [0, 3]


def test_the_source_folder_holds_copies_of_the_shown_notebooks_only(tmp_path, monkeypatch):
    for folder in ("notebooks", "exercises", "solutions"):
        (tmp_path / "repo" / folder).mkdir(parents=True)
        for lesson in LESSONS:
            (tmp_path / "repo" / folder / lesson.file).write_text("{}")
    monkeypatch.setattr(make_site, "ROOT", tmp_path / "repo")
    source = tmp_path / "src"
    (source / "notebooks").mkdir(parents=True)
    (source / "notebooks" / "09-gone.ipynb").write_text("{}")  # a lesson removed since
    make_site.lay_out(source, LESSONS, make_site.shown_lessons(LESSONS, ["0"]), solutions=False)
    assert sorted(p.name for p in (source / "notebooks").iterdir()) == ["00-welcome.ipynb"]
    assert sorted(p.name for p in (source / "exercises").iterdir()) == ["00-welcome.ipynb"]
    assert list((source / "solutions").iterdir()) == []
    assert not (source / "notebooks" / "00-welcome.ipynb").is_symlink()
    assert "notebooks/00-welcome" in (source / "index.md").read_text()


def test_headings_get_the_anchors_the_navigation_links_use():
    assert make_site.heading_anchor("The course map") == "The-course-map"
    assert make_site.heading_anchor("The course map") == navigation.CONTENTS_ANCHOR


def book_cache_after_nbval(tmp_path: Path, cells: list) -> tuple[Path, nbformat.NotebookNode, str]:
    """Run nbval with keep_executed over one notebook: its cache, the notebook, pytest's output."""
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "lesson.ipynb"
    nbformat.write(notebook, path)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tools")}
    command = [sys.executable, "-m", "pytest", str(path), "--nbval-lax", "--nbval-current-env"]
    command += [
        "-p",
        "keep_executed",
        f"--keep-executed={tmp_path / 'cache'}",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    return tmp_path / "cache", nbformat.read(path, as_version=4), run.stdout


@pytest.mark.timeout(180)
def test_a_green_nbval_run_is_cached_with_the_outputs_nbclient_would_give(tmp_path):
    from jupyter_cache import get_cache

    cache, notebook, report = book_cache_after_nbval(
        tmp_path,
        [
            new_markdown_cell("# A lesson"),
            new_code_cell("print('one'); print('two')"),
            new_code_cell("h = display('starting', display_id=True)\nh.update('done')"),
            new_code_cell(
                "from IPython.display import clear_output\nprint('old')\n"
                "clear_output()\nprint('new')"
            ),
            new_code_cell("6 * 7"),
        ],
    )
    assert "4 passed" in report
    _, merged = get_cache(str(cache)).merge_match_into_notebook(notebook)
    outputs = [cell.outputs for cell in merged.cells if cell.cell_type == "code"]
    assert outputs[0] == [{"output_type": "stream", "name": "stdout", "text": "one\ntwo\n"}]
    assert outputs[1][0]["data"]["text/plain"] == "'done'"
    assert [o["text"] for o in outputs[2]] == ["new\n"]
    assert outputs[3][0]["data"]["text/plain"] == "42"


@pytest.mark.timeout(180)
def test_a_notebook_with_a_failing_cell_is_not_cached(tmp_path):
    from jupyter_cache import get_cache

    cache, notebook, report = book_cache_after_nbval(
        tmp_path, [new_code_cell("x = 1"), new_code_cell("1 / 0"), new_code_cell("x")]
    )
    assert "1 failed, 2 passed" in report
    if cache.exists():  # nothing stored at all is right too
        with pytest.raises(KeyError):
            get_cache(str(cache)).match_cache_notebook(notebook)


def test_pages_of_notebooks_no_longer_in_the_book_are_removed(tmp_path):
    for folder in ("src/notebooks", "html/notebooks", "html/solutions"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "src/notebooks/00-welcome.ipynb").write_text("{}")
    for page in (
        "notebooks/00-welcome.html",
        "notebooks/01-alpha.html",
        "solutions/00-welcome.html",
    ):
        (tmp_path / "html" / page).write_text("")
    make_site.drop_stale_pages(tmp_path)
    kept = sorted(
        str(p.relative_to(tmp_path / "html")) for p in (tmp_path / "html").rglob("*.html")
    )
    assert kept == ["notebooks/00-welcome.html"]

"""Build the course as a book (`make site`): every written lesson, executed, as a website.

The table of contents comes from ``lessons.toml`` (through ``navigation.load``): one section
per part, each written lesson in it, its exercise under "Exercises"; a lesson in preparation
is named, never linked. This script lays out the book's source in ``build/site/src`` (an
``index.md`` and copies of the notebooks, so the lessons' relative links to each other and to
``../exercises/`` keep working), then runs Sphinx with myst-nb and sphinx-book-theme
(``book/conf.py``) into ``build/site/html``. Lessons execute during the build through
jupyter-cache (``build/site/cache``), keyed on each notebook's code: a rebuild after editing
one lesson runs that lesson only, and a prose edit runs none. `make test` fills the same cache
from its nbval run (tools/keep_executed.py), so the book it builds next executes nothing.
Exercises are shown as the learner gets them, not executed; solutions are left out unless
``--solutions`` is given (an instructor's copy).

    python tools/make_site.py                # the book, in build/site/html
    python tools/make_site.py --solutions    # with the worked solutions too
    python tools/make_site.py --only 00 03   # a few lessons (build/site-partial), sharing the cache
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import navigation

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "site"
PARTIAL = ROOT / "build" / "site-partial"
FOLDERS = ("notebooks", "exercises", "solutions")
EXECUTED = re.compile(r"Executed notebook in")
FROM_CACHE = re.compile(r"Using cached notebook")


def heading_anchor(text: str) -> str:
    """A heading's anchor as JupyterLab spells it ("The course map" -> "The-course-map")."""
    return re.sub(r"\s+", "-", text.strip())


def toctree(caption: str, entries: list[str]) -> str:
    lines = ["```{toctree}", f":caption: {caption}", ":maxdepth: 1", "", *entries, "```"]
    return "\n".join(lines)


def index_page(
    lessons: list[navigation.Lesson], shown: list[navigation.Lesson], solutions: bool
) -> str:
    """The book's first page: what the course is, and its table of contents by part."""
    text = [
        "# Real-time web, hands on",
        "",
        "How servers push updates to clients — short and long polling, Server-Sent Events,"
        " WebSockets — and what happens when you scale them. Every lesson starts a small server"
        " inside the notebook, talks to it with real clients, measures what happened and plots"
        " it; this book shows each lesson as it ran when the book was built. To run the cells"
        " and do the exercises, open the notebooks in JupyterLab (`make lab`): the live"
        " in-browser demos need the lesson's kernel, which a book page does not have.",
    ]
    parts: list[str] = []
    for lesson in lessons:
        if lesson.part not in parts:
            parts.append(lesson.part)
    for number, part in enumerate(parts):
        entries = [f"notebooks/{lesson.file[:-6]}" for lesson in shown if lesson.part == part]
        if entries:
            text += ["", toctree(f"{number} {part}", entries)]
    exercises = [lesson for lesson in shown if lesson.exercise]
    if exercises:
        text += ["", toctree("Exercises", [f"exercises/{e.file[:-6]}" for e in exercises])]
    if solutions and exercises:
        text += ["", toctree("Solutions", [f"solutions/{e.file[:-6]}" for e in exercises])]
    later = [lesson for lesson in lessons if not lesson.ready]
    if later:
        names = ", ".join(lesson.name for lesson in later)
        state = navigation.lessons_are([lesson.number for lesson in later], "in preparation")
        text += ["", f"{state}: {names}."]
    return "\n".join(text) + "\n"


def shown_lessons(lessons: list[navigation.Lesson], only: list[str]) -> list[navigation.Lesson]:
    """The written lessons, or those of them whose numbers ``only`` names."""
    wanted = {int(number) for number in only}
    return [
        lesson for lesson in lessons if lesson.ready and (not wanted or lesson.number in wanted)
    ]


def lay_out(source: Path, lessons, shown, solutions: bool) -> None:
    """Write the book's source folder: index.md and a copy of each notebook shown (a copy:
    myst resolves a symbolic link's relative links from where it points)."""
    files = {"notebooks": shown, "exercises": [lesson for lesson in shown if lesson.exercise]}
    files["solutions"] = files["exercises"] if solutions else []
    for folder in FOLDERS:
        (source / folder).mkdir(parents=True, exist_ok=True)
        wanted = {lesson.file for lesson in files[folder]}
        for old in (source / folder).iterdir():
            if old.name not in wanted:
                old.unlink()
        for name in wanted:
            copy, original = source / folder / name, ROOT / folder / name
            if copy.is_symlink() or not copy.exists() or copy.read_bytes() != original.read_bytes():
                copy.unlink(missing_ok=True)
                shutil.copy2(original, copy)  # keeps the time: Sphinx re-reads changed pages only
    index = source / "index.md"
    text = index_page(lessons, shown, solutions)
    if not index.exists() or index.read_text() != text:
        index.write_text(text)


def drop_stale_pages(out: Path) -> None:
    """Remove the pages of notebooks no longer in the book (Sphinx leaves them behind)."""
    for folder in FOLDERS:
        for page in (out / "html" / folder).glob("*.html"):
            if not (out / "src" / folder / f"{page.stem}.ipynb").exists():
                page.unlink()


def build(out: Path, *, strict: bool) -> tuple[int, int, int]:
    """Run Sphinx; return its exit code and how many notebooks it executed and took cached."""
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(ROOT / "book")]
    command += [str(out / "src"), str(out / "html"), "-d", str(out / "doctrees")]
    command += ["-W", "--keep-going"] if strict else []
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "tools"), os.environ.get("PYTHONPATH")])
        ),
    }
    executed = cached = 0
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as sphinx:
        for line in sphinx.stdout:
            print(line, end="", flush=True)
            executed += bool(EXECUTED.search(line))
            cached += bool(FROM_CACHE.search(line))
    return sphinx.returncode, executed, cached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", action="store_true", help="publish solutions/ too")
    parser.add_argument("--only", nargs="*", default=[], metavar="NN", help="only these lessons")
    parser.add_argument("--out", type=Path, help=f"the build folder ({OUT}; {PARTIAL} with --only)")
    parser.add_argument("--clean", action="store_true", help="rebuild every page (keeps the cache)")
    args = parser.parse_args(argv)
    try:
        lessons = navigation.load(ROOT / navigation.LIST)
    except navigation.ListError as error:
        print(error, file=sys.stderr)
        return 1
    missing = [
        f"{navigation.LIST}: {lesson.name} is written but notebooks/{lesson.file} is missing"
        for lesson in lessons
        if lesson.ready and not (ROOT / "notebooks" / lesson.file).exists()
    ]
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 1
    for problem in navigation.mismatches(lessons, ROOT):  # `make test` fails on these
        print(f"warning: {problem} (the book shows what {navigation.LIST} lists)", file=sys.stderr)
    if args.clean:
        for folder in ("html", "doctrees", "src"):
            shutil.rmtree(args.out / folder, ignore_errors=True)
    args.out = args.out or (PARTIAL if args.only else OUT)  # a partial book never passes for whole
    shown = shown_lessons(lessons, args.only)
    lay_out(args.out / "src", lessons, shown, args.solutions)
    drop_stale_pages(args.out)
    code, executed, cached = build(args.out, strict=not args.only)
    print(
        f"book: {len(shown)} lessons; {executed} notebooks executed, {cached} taken from the cache"
    )
    if code == 0:
        print(f"open {args.out / 'html' / 'index.html'} in a browser")
    return code


if __name__ == "__main__":
    sys.exit(main())

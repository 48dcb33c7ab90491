"""Check the book `make site` built: the lessons are there, whole, and nothing in it is broken.

It reads ``build/site/html`` (tools/make_site.py writes it) and ``lessons.toml``, and fails
when:

- a written lesson (or its exercise) has no page, or the contents page does not link to it;
- a page shows an error: a traceback, a cell's stderr, or a Sphinx/docutils error message;
- a relative link (``href``, ``src``) names a file the book does not have, or an anchor
  (``page.html#part``) that page has no element for;
- an image is missing or empty;
- a solution is published although the book was built without ``--solutions``.

Links to web addresses are not followed (the book is read offline; a lesson's in-browser demo
points at a server that ran during the build and is gone).

    python tools/check_site.py            # exit 1, listing each problem, when there is one
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import navigation

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "build" / "site" / "html"
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")
ERROR_CLASSES = {"traceback", "stderr", "system-message", "problematic"}
"""myst-nb's classes for an error output and a cell's stderr; docutils' for a markup error."""
GENERATED = ("_static/", "_sources/", "genindex.html", "search.html")
"""Sphinx's own pages and assets, whose links Sphinx writes: not the course's to check."""


class Page(HTMLParser):
    """What the checks need from one HTML page: its links, images, ids and error blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name in ("id", "name"):
            if values.get(name):
                self.ids.add(values[name])
        if tag in ("a", "link") and "href" in values:
            self.links.append(values["href"])
        if tag in ("img", "script", "source") and "src" in values:
            (self.images if tag == "img" else self.links).append(values["src"])
        shown = ERROR_CLASSES & set(values.get("class", "").split())
        if shown:
            self.errors.append(f"<{tag} class={values['class']!r}>")


def read(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(errors="replace"))
    return page


def local(target: str) -> bool:
    return bool(target) and not SCHEME.match(target)


def broken(page_path: Path, target: str, html: Path, pages: dict[Path, Page]) -> str:
    """Why a relative link from a page leads nowhere ('' when it leads somewhere)."""
    parts = urlsplit(target)
    file = (page_path.parent / unquote(parts.path)).resolve() if parts.path else page_path
    if html.resolve() not in file.parents:
        return "points outside the book"
    if file.is_dir():
        file = file / "index.html"
    if not file.exists():
        return "no such file"
    anchor = unquote(parts.fragment)
    if anchor and file.suffix == ".html":
        if file not in pages:
            pages[file] = read(file)
        if anchor not in pages[file].ids:
            return f"no element #{anchor} in {file.relative_to(html.resolve())}"
    return ""


def problems(html: Path, lessons: list[navigation.Lesson], *, solutions: bool = False) -> list[str]:
    """Every problem of the book in ``html``, one line each (empty when it is sound)."""
    html = html.resolve()
    if not (html / "index.html").exists():
        return [f"{html}: no index.html (run `make site`)"]
    found = []
    pages = {path: read(path) for path in sorted(html.rglob("*.html"))}
    contents = set(pages[html / "index.html"].links)
    for lesson in (lesson for lesson in lessons if lesson.ready):
        wanted = [f"notebooks/{lesson.file[:-6]}.html"]
        wanted += [f"exercises/{lesson.file[:-6]}.html"] if lesson.exercise else []
        for name in wanted:
            if not (html / name).exists():
                found.append(f"{name}: missing (lesson {lesson.name} is written)")
            elif name not in contents:
                found.append(f"index.html: the contents do not link to {name}")
    if not solutions and (html / "solutions").exists():
        found.append("solutions/: published, though the book was built without --solutions")
    for path, page in pages.items():
        name = path.relative_to(html)
        if str(name).startswith(GENERATED):
            continue
        found += [f"{name}: shows an error ({error})" for error in page.errors]
        for target in filter(local, page.links):
            why = broken(path, target, html, pages)
            if why:
                found.append(f"{name}: link {target}: {why}")
        for source in page.images:
            if not local(source):
                if not source.startswith("data:"):
                    found.append(f"{name}: image {source[:60]}: not in the book")
                continue
            why = broken(path, source, html, pages)
            file = (path.parent / unquote(urlsplit(source).path)).resolve()
            if not why and file.stat().st_size == 0:
                why = "empty file"
            if why:
                found.append(f"{name}: image {source}: {why}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=HTML, help="the built book")
    parser.add_argument("--solutions", action="store_true", help="solutions are meant to be in")
    args = parser.parse_args(argv)
    lessons = navigation.load(ROOT / navigation.LIST)
    found = problems(args.html, lessons, solutions=args.solutions)
    for problem in found:
        print(f"book: {problem}", file=sys.stderr)
    written = sum(lesson.ready for lesson in lessons)
    print(f"book: {len(found)} problems" if found else f"book: {written} lessons, no problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

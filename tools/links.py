"""Find the relative links in the course's markdown that point at nothing.

It reads the README (and any other ``*.md`` at the top) and every markdown cell of the
notebooks in notebooks/, exercises/ and solutions/. A link to a web address is not followed;
a relative link must name a file that exists in the repository, and an anchor after it
(``00-welcome.ipynb#The-course-map``, ``#setup``) must name a heading of that notebook or
markdown file, as JupyterLab (``The-course-map``) or GitHub (``the-course-map``) spells it.
Links inside code (between backticks, or in a fenced block) are not links.

    python tools/links.py     # list the dead links; exit 1 when there is one
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote

import nbformat

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("notebooks", "exercises", "solutions")
FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HTML = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']*)["']""", re.I)
HTML_ID = re.compile(r"""<[a-z]+\b[^>]*?\b(?:id|name)\s*=\s*["']([^"']*)["']""", re.I)
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def prose(markdown: str) -> str:
    """Markdown without its code and comments, where a link is a link."""
    return CODE_SPAN.sub("", FENCE.sub("", COMMENT.sub("", markdown)))


def links(markdown: str) -> list[str]:
    """Every link target in a piece of markdown, in order."""
    text = prose(markdown)
    found = [(m.start(), m.group(1)) for m in INLINE.finditer(text)]
    found += [(m.start(), m.group(1)) for m in REFERENCE.finditer(text)]
    found += [(m.start(), m.group(1)) for m in HTML.finditer(text)]
    return [target for _, target in sorted(found)]


def slugs(heading: str) -> set[str]:
    """The anchors a heading gets: JupyterLab's (spaces to '-') and GitHub's."""
    text = re.sub(r"[`*_]|<[^>]+>", "", re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)).strip()
    github = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
    return {text.replace(" ", "-"), github}


def texts(path: Path) -> list[tuple[str, str]]:
    """A file's markdown, as (where, text): the file itself, or each markdown cell."""
    if path.suffix != ".ipynb":
        return [("", path.read_text())]
    notebook = nbformat.read(path, as_version=4)
    return [
        (f" cell {index}", cell.source)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown"
    ]


def anchors(path: Path) -> set[str]:
    """The anchors a notebook or markdown file offers."""
    found: set[str] = set()
    for _, text in texts(path):
        for heading in HEADING.findall(FENCE.sub("", text)):
            found |= slugs(heading)
        found |= set(HTML_ID.findall(text))
    return found


def markdown_files(root: Path) -> list[Path]:
    """The README and the notebooks whose links are checked."""
    files = sorted(root.glob("*.md"))
    for folder in FOLDERS:
        files += sorted((root / folder).glob("*.ipynb"))
    return files


def dead_links(root: Path) -> list[str]:
    """ "file cell N: target: why" for each relative link that points at nothing."""
    root = root.resolve()
    problems = []
    for path in markdown_files(root):
        name = path.relative_to(root)
        for where, text in texts(path):
            for target in links(text):
                if not target or SCHEME.match(target):
                    continue
                why = dead(path, unquote(target), root)
                if why:
                    problems.append(f"{name}{where}: {target}: {why}")
    return problems


def dead(source: Path, target: str, root: Path) -> str:
    """Why a relative link from ``source`` leads nowhere ('' when it leads somewhere)."""
    file, _, anchor = target.partition("#")
    destination = (source.parent / file).resolve() if file else source
    if root not in destination.parents and destination != root:
        return "points outside the repository"
    if not destination.exists():
        return "no such file"
    if anchor and destination.suffix in (".ipynb", ".md") and anchor not in anchors(destination):
        return f"no heading #{anchor} in {destination.name}"
    return ""


def main() -> int:
    problems = dead_links(ROOT)
    for problem in problems:
        print(f"dead link: {problem}", file=sys.stderr)
    count = len(markdown_files(ROOT))
    print(
        f"{len(problems)} dead links in {count} files"
        if problems
        else f"{count} files: no dead links"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

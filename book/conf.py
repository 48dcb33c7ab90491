"""Sphinx configuration of the course as a book: `make site` (tools/make_site.py) builds it.

The source folder is made by tools/make_site.py (an index and the table of contents from
lessons.toml, links to the lessons and exercises); this file only says how to render it:
myst-nb executes each lesson through jupyter-cache, so a rebuild re-runs only the lessons
whose code changed, and sphinx-book-theme gives the navigation and the search.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from servers.timing import scaled  # noqa: E402

project = "Real-time web, hands on"
extensions = ["myst_nb"]
exclude_patterns = ["**.ipynb_checkpoints"]

html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,
    "footer_content_items": [],
}
html_show_copyright = False
html_show_sourcelink = False

# Execution: each lesson once, in its own folder (as `make lab` runs it), cached by its code.
nb_execution_mode = os.environ.get("BOOK_EXECUTION", "cache")
nb_execution_cache_path = os.environ.get("BOOK_CACHE", str(ROOT / "build" / "site" / "cache"))
nb_execution_excludepatterns = ["exercises/*"]  # a learner's work: they raise until solved
nb_execution_timeout = int(scaled(180))  # per cell, as nbval's in `make test`
nb_execution_raise_on_error = True
nb_execution_show_tb = True

# Anchors as JupyterLab spells them ("#The-course-map"), the ones the navigation links use.
myst_heading_anchors = 3
myst_heading_slug_func = "make_site.heading_anchor"

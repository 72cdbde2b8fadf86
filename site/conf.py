"""Sphinx configuration of the course site (copied into each build's source folder).

``course_lib.lecture.site`` lays out the sources (chapters with outputs, exercises, results,
and for the instructor build the teaching guide) and runs Sphinx twice. Everything a page
loads is local: MathJax, RequireJS and the widgets' HTML manager come from ``_static``.
"""

import os

project = "Sequence Models, from n-grams to Transformers"
author = "the course authors"
copyright = "the course authors, MIT licence"
extensions = ["myst_nb"]
html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_vendor"]
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
}
html_last_updated_fmt = None
html_favicon = "favicon.svg"
exclude_patterns = ["_build", "_vendor", "**.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
# The chapters come executed by `make executed`; the site never runs code.
nb_execution_mode = "off"
nb_merge_streams = True
# Long code cells carry the tag "hide-input": folded behind a toggle.
# Local copies instead of CDNs (paths relative to _static).
mathjax_path = "mathjax/tex-chtml.js"
mathjax3_config = {"tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]}}
nb_ipywidgets_js = {
    "require.js": {},
    "html-manager/embed-amd.js": {},
}
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]
instructor = os.environ.get("COURSE_SITE_EDITION") == "instructor"
html_context = {"course_edition": "instructor" if instructor else "student",
                "default_mode": "light"}
